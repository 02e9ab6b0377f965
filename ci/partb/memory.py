"""Part 2, memory footprint: what an idle container and an idle VM running
the same program (echo-server, waiting for requests) cost the host, as the
host's kernel accounts it, and how many of each fit in a fixed budget.

- Container: the proportional set size (PSS) of its processes (its init
  and echo-server) and of nsbox's monitor, the host process that holds it,
  plus the kernel memory its cgroup is charged. The veth pair and the
  namespaces themselves are kernel memory charged to no cgroup, and are
  not counted.
- VM: the PSS of its QEMU process: guest RAM the guest has touched,
  QEMU's own heap and, under TCG, the cache of translated guest code.

PSS counts a page shared by n processes as 1/n to each, so the nsbox and
QEMU binaries' pages are shared out between the instances running."""

import subprocess
import time

import containers
import stats
import vm
from host import (
    cgroup_memory,
    cgroup_pids,
    free_port,
    mappings,
    memory_cgroup,
    pss_kib,
    rss_kib,
    say,
    wait_http,
)

GIB = 1024 * 1024 * 1024
SERVER = ["/usr/bin/echo-server", "--port", "8080"]
LIMITS = ["--cpus", "1", "--memory", "256m"]


def container_footprint(info):
    """The container's processes and nsbox's monitor by PSS, as QEMU is
    counted, plus the kernel memory its cgroup is charged (slab, page
    tables, socket buffers: the cgroup's total less its anonymous and
    file pages). The cgroup's own anonymous and file pages are not added:
    the processes' PSS holds the mapped ones, and file pages that an
    earlier container (or the host) brought in are charged to that one's
    group, not to this; PSS shares them out fairly."""
    path, version = memory_cgroup(info["cgroups"])
    charged = cgroup_memory(path, version)
    monitor = pss_kib(info["owner_pid"])
    inside = sum(pss_kib(pid) for pid in cgroup_pids(path))
    kernel = max(0, charged["total_kib"] - charged["anon_kib"] - charged["file_kib"])
    return {
        "footprint_kib": monitor + inside + kernel,
        "cgroup_kernel_kib": kernel,
        "cgroup_kib": charged["total_kib"],
        "cgroup_anon_kib": charged["anon_kib"],
        "cgroup_file_kib": charged["file_kib"],
        "monitor_pss_kib": monitor,
        "processes_pss_kib": inside,
        "cgroup_version": version,
    }


def vm_footprint(proc_pid, memory_mib):
    """QEMU's PSS, and which of its mappings hold it: the guest's RAM (the
    one anonymous mapping of exactly the configured size) and, under TCG,
    the translated-code cache (large anonymous executable mappings)."""
    guest = tcg = huge = 0
    for m in mappings(proc_pid):
        size = m["end"] - m["start"]
        anonymous = m["name"] == "" or m["name"].startswith("[anon")
        if anonymous and size == memory_mib * 1024 * 1024:
            guest += m.get("Pss", 0)
            huge += m.get("AnonHugePages", 0)
        elif anonymous and "x" in m["perms"] and size >= 32 * 1024 * 1024:
            tcg += m.get("Pss", 0)
    pss = pss_kib(proc_pid)
    return {
        "footprint_kib": pss,
        "qemu_pss_kib": pss,
        "qemu_rss_kib": rss_kib(proc_pid),
        "guest_ram_pss_kib": guest,
        "guest_ram_hugepages_kib": huge,
        "tcg_cache_pss_kib": tcg,
        "qemu_other_pss_kib": pss - guest - tcg,
    }


def measure(cfg, janitor):
    out = {
        "instances": cfg.mem_instances,
        "settle_s": cfg.settle_s,
        "budget_gib": cfg.budget_gib,
        "containers": [],
        "vms": [],
    }

    say(
        f"memory: {cfg.mem_instances} idle echo-server container(s) "
        "(nsbox -d, bridge, --cpus 1 --memory 256m)"
    )
    names = []
    try:
        for i in range(cfg.mem_instances):
            name = janitor.container(f"{cfg.prefix}-m{i}")
            argv = containers.nsbox_run(
                cfg.nsbox, cfg.rootfs, SERVER, name=name, detach=True, limits=LIMITS
            )
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=30)
            names.append(name)
            info = containers.inspect(cfg.nsbox, name)
            deadline = time.monotonic() + 20
            if not wait_http(containers.address(info), 8080, device=cfg.bridge, deadline=deadline):
                raise RuntimeError(f"container {name} does not answer on {cfg.bridge}")
        time.sleep(cfg.settle_s)
        for name in names:
            out["containers"].append(container_footprint(containers.inspect(cfg.nsbox, name)))
    finally:
        for name in names:
            janitor.remove(name)
    for i, c in enumerate(out["containers"]):
        say(
            f"memory: container {i + 1}: {c['footprint_kib'] / 1024:.1f} MiB (PSS: "
            f"processes {c['processes_pss_kib'] / 1024:.1f} MiB, monitor "
            f"{c['monitor_pss_kib'] / 1024:.1f} MiB; cgroup kernel memory "
            f"{c['cgroup_kernel_kib'] / 1024:.1f} MiB)"
        )

    say(f"memory: {cfg.mem_instances} idle echo-server VM(s) ({cfg.accel}, 1 vCPU, 256 MiB)")
    machine = vm.Machine(cfg.kernel, cfg.initramfs, cfg.accel)
    procs = []
    try:
        for i in range(cfg.mem_instances):
            port = free_port()
            proc = vm.serve(machine, janitor, port, timeout=cfg.vm_timeout)
            procs.append(proc)
            if not wait_http("127.0.0.1", port, deadline=time.monotonic() + 20):
                raise RuntimeError("the VM's echo-server does not answer through hostfwd")
        time.sleep(cfg.settle_s)
        for proc in procs:
            v = vm_footprint(proc.pid, machine.memory_mib)
            v["guest_used_kib"] = proc.guest_meminfo["total_kib"] - proc.guest_meminfo["free_kib"]
            v["guest_total_kib"] = proc.guest_meminfo["total_kib"]
            out["vms"].append(v)
    finally:
        for proc in procs:
            janitor.stop(proc)
    for i, v in enumerate(out["vms"]):
        say(
            f"memory: VM {i + 1}: QEMU PSS {v['qemu_pss_kib'] / 1024:.1f} MiB (guest RAM "
            f"{v['guest_ram_pss_kib'] / 1024:.1f}, TCG cache {v['tcg_cache_pss_kib'] / 1024:.1f})"
        )

    budget = cfg.budget_gib * GIB
    for kind in ("containers", "vms"):
        footprints = [x["footprint_kib"] for x in out[kind]]
        mean_kib = sum(footprints) / len(footprints)
        out[f"{kind}_mean_kib"] = mean_kib
        out[f"{kind}_median_kib"] = stats.median(footprints)
        out[f"{kind}_fit"] = stats.fit_in_budget(budget, mean_kib * 1024)
    # If every instance used all of its 256 MiB: the limit (which on the
    # container's side covers its kernel memory too) plus what the instance
    # costs outside it: nsbox's monitor, or QEMU beside the guest's RAM.
    c_over = stats.median([x["monitor_pss_kib"] for x in out["containers"]])
    v_over = stats.median([x["qemu_pss_kib"] - x["guest_ram_pss_kib"] for x in out["vms"]])
    out["containers_fit_full"] = stats.fit_in_budget(budget, (256 * 1024 + c_over) * 1024)
    out["vms_fit_full"] = stats.fit_in_budget(budget, (256 * 1024 + v_over) * 1024)
    say(
        f"memory: in {cfg.budget_gib} GiB: {out['containers_fit']} idle containers, "
        f"{out['vms_fit']} idle VMs"
    )
    return out
