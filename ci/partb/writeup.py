"""Writes report.md: the method, the numbers and what they mean. Every
figure in it comes from the results of this run, and sentences that
compare are worded from the numbers, so that the report stays true on
another machine or under another accelerator. The three parts' sections
are in sections.py; this file holds the frame around them."""

import os

import sections
import stats
from fmt import mib, ms, rps, table, times


def write(out, results):
    parts = [
        head(results),
        key_figures(results),
        method(results),
        sections.startup(results),
        sections.memory(results),
        sections.throughput(results),
        virtualisation(results),
        caveats(results),
        FILES,
    ]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n\n".join(parts) + "\n")


def head(r):
    m = r["machine"]
    lines = [
        "# Containers against virtual machines: start-up, memory, throughput",
        "",
        f"Measured by `ci/partb/run{' --quick' if r['mode'] == 'quick' else ''}` on "
        f"{m['date']}: {m['os']}, kernel {m['kernel']}, {m['cpus']} x {m['cpu']}, "
        f"{m['memory_kib'] / 1024 / 1024:.0f} GiB, cgroup {m['cgroup']}"
        + (", itself a virtual machine" if m["runs_under_hypervisor"] else "")
        + f". nsbox `{m['git']}`. The run took {r['duration_s'] / 60:.1f} minutes.",
        "",
        f"**Accelerator of every VM result: {r['accel']}** ({r['accel_reason']}).",
    ]
    if r["mode"] == "quick":
        lines += [
            "",
            (
                "> A `--quick` run: few samples and 1-second load levels. It proves that the "
                "pipeline works; its numbers are not the comparison."
            ),
        ]
    if r["accel"] == "tcg":
        lines += [
            "",
            (
                "> **Read the VM numbers as emulation, not virtualisation.** KVM does not work "
                "on this machine, so QEMU ran its guests under TCG, which translates every guest "
                "instruction into host code in software. A VM with hardware virtualisation (KVM) "
                "runs guest code natively and is far faster than the VMs below. The section "
                "[Virtualisation or emulation](#virtualisation-or-emulation) says which "
                "differences belong to which; run `ci/partb/run` on a KVM host for the real "
                "VM figures."
            ),
        ]
    return "\n".join(lines)


def key_figures(r):
    s, mem = r["startup"], r["memory"]
    vm_name = s["vm_variant"]
    c_up = s["summary"][sections.NSBOX_FULL]["median"]
    v_up = s["summary"][vm_name]["median"]
    c_mem, v_mem = mem["containers_median_kib"], mem["vms_median_kib"]
    sat = sections.saturation_table(r["throughput"])
    c_rps = sat.get("nsbox container", {}).get("rps")
    v_rps = sat.get(vm_name, {}).get("rps")
    b_rps = sat.get("bare (loopback)", {}).get("rps")
    rows = [
        [
            "Start-up to the first line (median)",
            ms(c_up),
            ms(v_up),
            times(stats.ratio(v_up, c_up)) + " slower",
        ],
        [
            "Idle host memory (median, measured)",
            mib(c_mem),
            mib(v_mem),
            times(stats.ratio(v_mem, c_mem)) + " more",
        ],
        [
            f"Idle instances in {mem['budget_gib']:g} GiB (computed)",
            f"{mem['containers_fit']:,}",
            f"{mem['vms_fit']:,}",
            "",
        ],
        [
            "echo-server at saturation, 1 CPU",
            rps(c_rps),
            rps(v_rps),
            times(stats.ratio(c_rps, v_rps)) + " lower",
        ],
        ["... the same server bare on the host", rps(b_rps), "", ""],
    ]
    return "\n".join(
        [
            "## Key figures",
            "",
            table(["", "nsbox container", f"QEMU VM ({r['accel']})", "VM against container"], rows),
            "",
            (
                "The container is nsbox with its bridge, veth and cgroup limits (`--cpus 1 "
                "--memory 256m`), the set-up used for throughput; the other container runtimes and "
                "nsbox without network or limits are in part 1."
            ),
        ]
    )


def method(r):
    m, t = r["machine"], r["throughput"]
    tools = m["tools"]
    if t["server_cpu"] is not None:
        pin = (
            f"the server side is pinned to CPU {t['server_cpu']} and the load generator to "
            f"CPU {t['client_cpu']}"
        )
    else:
        pin = "nothing is pinned (one CPU)"
    size = r["initramfs_bytes"] / 1e6
    lines = [
        "## Method",
        "",
        (
            "Everything runs on this one machine, one measurement at a time, started by the "
            "benchmark itself. The guest program is the same static binary everywhere: the "
            "fixture rootfs's `echo-server` (HTTP/1.1, a thread per connection, every reply "
            "closes its connection) or, for start-up, busybox `echo` from the same rootfs."
        ),
        "",
        (
            "- **Containers**: nsbox (`--net none`; the default bridge and veth; bridge plus "
            "`--cpus 1 --memory 256m`), and as references `unshare` and `bwrap` with the same "
            "namespaces (no cgroups, no network set-up), and `crun` with its cgroup manager "
            "disabled where it runs. runc is left out: it always makes cgroups of its own, "
            "which this project's host rules forbid."
        ),
        (
            f"- **VMs**: QEMU with the Debian kernel `{tools['guest_kernel']}` (the one "
            f"`ci/vm/kernel` fetches) and a {size:.1f} MB initramfs: busybox, echo-server, the "
            "virtio-net modules and an init (`ci/partb/guest-init`). 1 vCPU, 256 MiB, no disk, "
            "the serial console on QEMU's stdout. For start-up the VM has no network device; for "
            "memory and throughput it has QEMU's user-mode network with `restrict=on` (the guest "
            "can reach nothing outside QEMU) and one port forwarded from 127.0.0.1."
        ),
        (
            "- **Equal resources**: container `--cpus 1 --memory 256m`; VM `-smp 1 -m 256M`; "
            f"the bare server is not limited. For throughput, {pin}; the whole QEMU process "
            "(vCPU and network thread) shares its one CPU."
        ),
        (
            "- **Load**: wrk, one thread, at rising connection counts, "
            f"{t['level_s']} s per level (levels {', '.join(map(str, t['levels']))}) until the "
            f"saturation rule stops it; {t['rounds']} round(s), each level interleaved across the "
            "targets, a level's figure the median of its rounds. For the container the load "
            "generator runs in another nsbox container on the same bridge (wrk cannot bind to a "
            "device, and a host client must), so no request leaves nsbox's network."
        ),
        (
            "- **Statistics** (`ci/partb/stats.py`, unit-tested): medians, percentiles by linear "
            "interpolation, spread as p10-p90. Saturation: a load level improves only when it "
            "beats the best so far by more than 5%; after two levels in a row without improvement, "
            "throughput has stopped rising and no higher level is run. The saturation throughput "
            "is the highest level median; the knee is the lowest load within 5% of it."
        ),
        "",
        "Versions: " + ", ".join(f"{k} `{v}`" for k, v in tools.items() if v) + ".",
        "",
        (
            f"Host load average before: `{r['load_before']}`, after: `{r['load_after']}`. Other "
            "work on this shared machine (builds, test suites) ran at the same time; container "
            "variants take turns in a shuffled order, and load levels target by target, so "
            "that it falls on them alike."
        ),
    ]
    return "\n".join(lines)


def virtualisation(r):
    lines = [
        "## Virtualisation or emulation",
        "",
        "What separates a container from a VM whatever the accelerator (virtualisation itself):",
        "",
        (
            "- **Start-up**: a VM boots a second kernel, firmware first; a container is a few "
            "system calls of the running kernel. Even under KVM, QEMU's own start, the firmware, "
            "the kernel's decompression and its device probing remain; a container does none "
            "of it."
        ),
        (
            "- **Memory**: a VM carries a whole guest kernel, and every page its guest has "
            "touched, plus QEMU's device models and, here, a user-mode network stack; a "
            "container shares the host's kernel and costs only its own processes."
        ),
        (
            "- **I/O path**: each request to the VM crosses a virtual NIC (virtio-net) and, with "
            "user-mode networking, QEMU's own TCP/IP stack (slirp), which copies every packet in "
            "a host process; the container's requests cross a veth pair and a bridge in the "
            "same kernel."
        ),
        "",
    ]
    if r["accel"] == "tcg":
        lines += [
            "What here comes from emulation, and would mostly go away with KVM:",
            "",
            (
                "- TCG translates every guest instruction, so the guest's CPU work (the kernel "
                "decompressing and booting itself; echo-server and the guest's TCP stack serving "
                "each request) runs many times slower than natively. Most of the VM's start-up "
                "time and nearly all of its throughput deficit belong here. With KVM the guest's "
                "code runs on the CPU itself and only its exits (I/O, interrupts) cost extra."
            ),
            "- The cache of translated code in the VM's memory exists only under TCG.",
            "- Emulated timers and interrupts make the guest's latency noisier.",
            "",
            (
                "What would stay under KVM: QEMU's start and the firmware, the guest kernel's RAM "
                "and QEMU's own memory, and the cost of the user-mode network (a tap device with "
                "vhost-net would be faster, but would attach the VM to a host network, which this "
                "machine's rules forbid). So on a KVM host expect the VM's start-up and throughput "
                "to move much closer to the container's, and its memory to drop by about the TCG "
                "cache; the gap would narrow, not close. This machine cannot say by how much."
            ),
        ]
    else:
        lines += [
            (
                "These VMs ran under KVM: guest code runs natively, so the gaps measured here "
                "are those of virtualisation (a second kernel, firmware, virtual devices, "
                "user-mode networking), not of emulation."
            ),
        ]
    return "\n".join(lines)


def caveats(r):
    m = r["machine"]
    lines = [
        "## Caveats",
        "",
        (
            "- One machine, one run, shared with other work: medians and p10-p90 spreads resist "
            "the odd outlier, but not a neighbour busy for a whole phase; the load averages and "
            "the `other work` CPU column say how busy the machine was."
        ),
    ]
    if m["runs_under_hypervisor"]:
        lines.append(
            "- The host is itself a virtual machine: the bare and container numbers run on "
            "virtual CPUs too, and the VMs here are nested inside it."
        )
    if m["cgroup"].startswith("v1"):
        lines.append(
            "- cgroup v1 host: moving a container into its groups waits for RCU grace "
            "periods, which nsbox avoids on a cgroup v2 host by cloning the container straight "
            "into its group (README, Limitations)."
        )
    lines += [
        (
            "- The load generator has one CPU and wrk one thread; the server side has the "
            "other. Part of the kernel's network work for a request is done on the sender's CPU, "
            "so the server's CPU is not the only one its requests use."
        ),
        "- Latency percentiles are wrk's (from its histogram); start-up statistics are ours.",
        (
            "- Connection-per-request HTTP weighs connection handling more than data transfer; "
            "a keep-alive or bulk workload would weigh the VM's network path differently."
        ),
    ]
    return "\n".join(lines)


FILES = """## Files and how to reproduce

- `results.json`: everything, with every sample and every round; `machine.json`: the
  machine, kernel, versions, accelerator and date.
- `startup.csv` (one row per start), `startup_steps.csv` (nsbox's steps per --debug
  run), `memory.csv` (one row per instance), `throughput.csv` (one row per target and
  load level); the `accel` column labels VM rows.
- `startup.png`, `startup_steps.png`, `memory.png`, `throughput.png`.

```sh
ci/partb/run                 # the full comparison into docs/partb (as root)
ci/partb/run --quick         # the short CI run into target/partb/quick
python3 -m unittest discover -s ci/partb -v   # unit tests of the statistics
```"""
