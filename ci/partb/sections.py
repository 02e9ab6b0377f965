"""report.md's sections on the three parts (start-up, memory,
throughput), written from the results; writeup.py puts them together."""

import stats
import trail
from fmt import mib, ms, rps, share, table, times

NSBOX_FULL = "nsbox (bridge, --cpus 1 --memory 256m)"


def startup(r):
    s = r["startup"]
    rows = []
    for name, summ in s["summary"].items():
        rows.append(
            [
                name,
                summ["n"],
                ms(summ["median"]),
                f"{ms(summ['p10'])} - {ms(summ['p90'])}",
                f"{ms(summ['min'])} - {ms(summ['max'])}",
                ms(s["exit_summary"][name]["median"]),
            ]
        )
    vm_up = s["summary"][s["vm_variant"]]["median"]
    containers = [k for k in s["summary"] if k != s["vm_variant"]]
    fastest = min(containers, key=lambda k: s["summary"][k]["median"])
    fast_up = s["summary"][fastest]["median"]

    def median_of(name):
        return s["summary"].get(name, {}).get("median")

    skipped = "; ".join(f"{k}: {v}" for k, v in s["skipped"].items())
    lines = [
        "## 1. Start-up latency",
        "",
        (
            f"{s['runs']} rounds in which each container variant starts once, in a shuffled "
            f"order (after {s['warmup_runs']} warm-up rounds), then {s['vm_runs']} VM boots one "
            "after another. Time from "
            "the spawn of the runtime to the line that proves the guest is up (the container's "
            "`echo partb-up`; the VM init's marker on the serial console), and to the runtime's "
            "exit (container removed; VM powered off)."
        ),
        "",
        table(
            ["variant", "runs", "median to 'up'", "p10 - p90", "min - max", "median to exit"], rows
        ),
        "",
        "![Start-up latency](startup.png)",
        "",
        f"Left out here: {skipped}.",
        "",
        (
            f"The fastest container start was {fastest} ({ms(fast_up)}); a VM took {ms(vm_up)}, "
            f"{times(stats.ratio(vm_up, fast_up))} as long. nsbox without network started in "
            f"{ms(median_of('nsbox --net none'))}; with its bridge and veth in "
            f"{ms(median_of('nsbox (bridge + veth)'))}, and with cgroup limits too in "
            f"{ms(median_of(NSBOX_FULL))}."
        ),
        "",
        steps_section(s),
        "",
        "### Where a VM's start-up goes",
        "",
        vm_boot_text(s),
    ]
    return "\n".join(lines)


def steps_section(s):
    st = s["nsbox_steps"]
    up_to_exec = sum(st["median_ms"][k] for k in trail.UP_TO_EXEC)
    rows = [
        [
            k,
            ms(st["median_ms"][k]),
            f"{ms(st['p10_ms'][k])} - {ms(st['p90_ms'][k])}",
            share(st["median_ms"][k] / up_to_exec if up_to_exec else None),
        ]
        for k in trail.UP_TO_EXEC
    ]
    biggest = max(trail.UP_TO_EXEC, key=lambda k: st["median_ms"][k])
    widest = max(trail.UP_TO_EXEC, key=lambda k: st["p90_ms"][k] - st["p10_ms"][k])
    plain = s["summary"][NSBOX_FULL]
    lines = [
        "### Where nsbox's start-up goes",
        "",
        (
            f"`nsbox --debug` took its turn in the same rounds: {len(st['runs'])} runs of the "
            f"bridge and limits variant, median to 'up' {ms(st['median_up_ms'])} with the trail "
            f"against {ms(plain['median'])} without it (writing the trail costs a little; the "
            "step that varies most, below, can weigh more). The trail "
            "gives each kernel step a time on nsbox's clock; the time between two lines is charged "
            f"to the step of the later line. The command was exec'd at {ms(st['median_exec_ms'])} "
            "(median); the rest of the time to 'up' is nsbox's own process start, echo, and the "
            "line's way back through the pipe."
        ),
        "",
        table(["step", "median", "p10 - p90", "share of the medians"], rows),
        "",
        "![nsbox steps and VM boot phases](startup_steps.png)",
        "",
        (
            f"The largest step by median is *{biggest}* ({ms(st['median_ms'][biggest])}), and "
            + (
                "it is also the most variable"
                if widest == biggest
                else f"the most variable is *{widest}*"
            )
            + f" (p10 - p90: {ms(st['p10_ms'][widest])} - {ms(st['p90_ms'][widest])})."
        ),
    ]
    if "move the init in" in widest:
        lines[-1] += " " + (
            "On a cgroup v1 host each move into a hierarchy's `cgroup.procs` may wait for an "
            "RCU grace period in the kernel (README, Limitations), and how long that takes "
            "depends on what else the kernel is doing: this is what spreads the limits "
            f"variant's start-up ({ms(plain['p10'])} - {ms(plain['p90'])}) so much wider than "
            "the others'. On cgroup v2 nsbox clones the container straight into its group "
            "(`clone3` with `CLONE_INTO_CGROUP`) and makes no such move."
        )
    return "\n".join(lines)


def vm_boot_text(s):
    runs = s["samples"][s["vm_variant"]]
    up = s["summary"][s["vm_variant"]]["median"]
    before = stats.median([x["up_ms"] - x["guest_uptime_ms"] for x in runs])
    kernel = stats.median([x["guest_uptime_ms"] for x in runs])
    return (
        f"The guest's own clock (`/proc/uptime` at the marker) splits a boot of {ms(up)} into "
        f"{ms(before)} before the guest kernel's clock starts (QEMU's start, the SeaBIOS "
        "firmware, loading the kernel and the initramfs, the kernel decompressing itself) "
        f"and {ms(kernel)} of guest kernel boot up to the init's marker (medians). A "
        "container has neither phase: it is a group of processes of the host's running "
        "kernel, and pays only for the namespaces, mounts, cgroups and links it sets up."
    )


def memory(r):
    m = r["memory"]
    rows = []
    for i, c in enumerate(m["containers"]):
        rows.append(
            [
                f"container {i + 1}",
                mib(c["footprint_kib"]),
                (
                    f"PSS of its processes (init, echo-server) {mib(c['processes_pss_kib'])}, of "
                    f"nsbox's monitor {mib(c['monitor_pss_kib'])}; cgroup kernel memory "
                    f"{mib(c['cgroup_kernel_kib'])} (the cgroup is charged {mib(c['cgroup_kib'])} "
                    "in all)"
                ),
            ]
        )
    for i, v in enumerate(m["vms"]):
        rows.append(
            [
                f"VM {i + 1} ({r['accel']})",
                mib(v["footprint_kib"]),
                (
                    f"QEMU's PSS: guest RAM {mib(v['guest_ram_pss_kib'])}, TCG code cache "
                    f"{mib(v['tcg_cache_pss_kib'])}, the rest of QEMU "
                    f"{mib(v['qemu_other_pss_kib'])} (RSS {mib(v['qemu_rss_kib'])})"
                ),
            ]
        )
    c_med, v_med = m["containers_median_kib"], m["vms_median_kib"]

    def vm_median(key):
        return stats.median([v[key] for v in m["vms"]])

    guest, huge = vm_median("guest_ram_pss_kib"), vm_median("guest_ram_hugepages_kib")
    used, total = vm_median("guest_used_kib"), vm_median("guest_total_kib")
    reserved = 256 * 1024 - total
    thp = r["machine"].get("thp")
    lines = [
        "## 2. Memory footprint",
        "",
        (
            f"{m['instances']} idle container(s) and {m['instances']} idle VM(s), each running "
            f"echo-server and having answered one request, measured {m['settle_s']:g} s later "
            "while all were up (so that pages they share are shared out between them). Host memory "
            "as the host's kernel accounts it, by proportional set size (PSS: a page shared by n "
            "processes counts 1/n to each): for a container, the PSS of its processes and of "
            "nsbox's monitor, plus the kernel memory charged to its cgroup; for a VM, the PSS of "
            "its QEMU process, split by mapping."
        ),
        "",
        table(["instance", "host memory", "made of"], rows),
        "",
        "![Memory footprint](memory.png)",
        "",
        (
            f"An idle VM costs {times(stats.ratio(v_med, c_med))} the host memory of an idle "
            f"container ({mib(v_med)} against {mib(c_med)}, medians). In a budget of "
            f"{m['budget_gib']:g} GiB that makes {m['containers_fit']:,} idle containers or "
            f"{m['vms_fit']:,} idle VMs (computed; {m['instances']} of each were started). If "
            f"every instance used all of its 256 MiB, {m['containers_fit_full']:,} containers or "
            f"{m['vms_fit_full']:,} VMs would fit: under full load the program's own memory "
            "dominates both, and what remains is the VM's fixed overhead."
        ),
        "",
        (
            f"Where the VM's memory goes. Of its 256 MiB the guest kernel keeps {mib(reserved)} "
            "out of its count from the start (its own code and data, the structures that "
            f"describe its RAM, firmware areas) and counts {mib(used)} of the remaining "
            f"{mib(total)} in use, yet {mib(guest)} of guest "
            "RAM is resident on the host. A page the guest has touched once stays resident until "
            "QEMU is told that it is free, and nothing tells it here (no balloon, no free page "
            "reporting); the guest touches much of its RAM while booting (the compressed kernel "
            "is loaded and decompressed, the initramfs unpacked and freed, and Debian's kernel "
            "zeroes each page it allocates, `init_on_alloc`)."
        ),
    ]
    if huge:
        lines[-1] += (
            f" {mib(huge)} of it is in 2 MiB transparent huge pages (QEMU asks for them; "
            f"THP mode here: `{thp}`): one touched page makes its whole 2 MiB range resident."
        )
    lines[-1] += (
        f" Then the cache of translated guest code ({mib(vm_median('tcg_cache_pss_kib'))}, "
        f"TCG only), and QEMU itself ({mib(vm_median('qemu_other_pss_kib'))}: its binary and "
        "libraries, device models, the user-mode network stack)."
    )
    lines += [
        "",
        (
            "The container has no second kernel and no RAM of its own to fill: it costs "
            "echo-server's pages, nsbox's small init and monitor, and some kernel memory. Not "
            "counted for it: the kernel objects of its namespaces and veth pair, which no cgroup "
            "is charged for."
        ),
    ]
    return "\n".join(lines)


def saturation_table(t):
    out = {}
    for target, data in t["targets"].items():
        best = data["levels"][data["saturation"]["best"]]
        knee = data["levels"][data["saturation"]["knee"]]
        out[target] = {
            "rps": best["rps"],
            "best": best,
            "knee": knee,
            "saturated": data["saturation"]["saturated"],
            "levels": data["levels"],
        }
    return out


def throughput(r):
    t = r["throughput"]
    sat = saturation_table(t)
    rows = []
    for target, s in sat.items():
        b = s["best"]
        rows.append(
            [
                target,
                rps(s["rps"]) + ("" if s["saturated"] else " (still rising)"),
                b["concurrency"],
                s["knee"]["concurrency"],
                ms(b["latency_ms"]["p50"]),
                ms(b["latency_ms"]["p99"]),
                share(b["server_cpu"]),
                share(b["client_cpu"]),
                share(b["other_cpu"]),
            ]
        )
    lines = [
        "## 3. Throughput at saturation",
        "",
        (
            "echo-server under wrk at rising concurrency until throughput stopped rising. Every "
            "request opens a new TCP connection (the server closes each one), so this is a "
            "connection-heavy workload: each request costs a handshake, a thread and a teardown "
            "on the server's side."
        ),
        "",
        table(
            [
                "target",
                "saturation throughput",
                "at connections",
                "knee",
                "p50 there",
                "p99 there",
                "server CPU",
                "client CPU",
                "other work",
            ],
            rows,
        ),
        "",
        (
            "CPU columns are shares of one CPU over the level: the server side's processes "
            "(echo-server; the container's cgroup; the whole QEMU process), the load generator "
            "(wrk; for the container also the nsbox that runs it), and the rest of the machine's "
            "busy time: other work on this shared host, and kernel work charged to no process."
        ),
        "",
        "![Throughput and latency per load level](throughput.png)",
        "",
        " ".join(throughput_notes(sat)),
        "",
        "All levels (req/s: the median of the rounds, then each round's):",
        "",
        levels_table(t),
    ]
    return "\n".join(lines)


def throughput_notes(sat):
    bare = sat.get("bare (loopback)", {}).get("rps")
    bridge = sat.get("bare (bridge, client in nsbox)", {}).get("rps")
    cont = sat.get("nsbox container", {}).get("rps")
    vm_name = next((k for k in sat if k.startswith("QEMU VM")), None)
    notes = []
    if bare and cont:
        notes.append(
            f"The container served {share(cont / bare)} of the bare server's rate over "
            f"loopback ({rps(cont)} against {rps(bare)})."
        )
    if bare and cont and bridge:
        gap = bare - cont
        if gap > 0.05 * bare:
            network = min(1.0, max(0.0, (bare - bridge) / gap))
            notes.append(
                f"With the server bare on the host and the client across the same bridge and "
                f"veth, the rate was {rps(bridge)}: by that measure the network path accounts "
                f"for about {share(network)} of the gap, and the container itself (its "
                "namespaces, its cgroup's CPU quota and accounting) for the rest. Differences "
                "of a few percent are within this machine's noise (see each round's figures)."
            )
        else:
            notes.append(
                "That is within 5%: on this workload the container costs nothing this machine "
                f"can tell from noise (across the bridge to a bare server: {rps(bridge)})."
            )
    if vm_name and cont:
        v = sat[vm_name]
        notes.append(
            f"The VM served {rps(v['rps'])}, {times(stats.ratio(cont, v['rps']))} less than the "
            "container on the same one CPU, with its server side at "
            f"{share(v['best']['server_cpu'])} of that CPU: the guest is CPU-bound from the "
            "first connections."
        )
        worst = max(x["latency_ms"]["p99"] for x in v["levels"])
        if worst > 10 * v["knee"]["latency_ms"]["p99"]:
            notes.append(
                f"Past its knee the VM's latency grows much faster than its throughput (p99 up "
                f"to {ms(worst)}): requests queue in front of a guest that has no CPU to spare."
                + (
                    " Tails near a second match TCP's initial retransmission timeout, so some "
                    "connection attempts were likely dropped and retried."
                    if worst >= 800
                    else ""
                )
            )
    loaded = [
        s["best"]["server_cpu"] + s["best"]["client_cpu"] + s["best"]["other_cpu"]
        for k, s in sat.items()
        if k != vm_name
    ]
    if loaded and max(loaded) > 1.6:
        notes.append(
            "At the containers' and bare servers' saturation the machine's two CPUs were "
            f"nearly all busy (up to {share(max(loaded) / 2)} of both): these rates are what "
            "this client and server manage together on two CPUs. The server's CPU is the "
            "tighter limit, but the load generator's is not far behind, so they are a lower "
            "bound of the server's own capacity."
        )
    return notes


def levels_table(t):
    rows = []
    for target, data in t["targets"].items():
        for x in data["levels"]:
            lat = x["latency_ms"]
            rows.append(
                [
                    target,
                    x["concurrency"],
                    f"{x['rps']:,.0f}",
                    " / ".join(f"{v:,.0f}" for v in x["rps_rounds"]),
                    ms(lat["p50"]),
                    ms(lat["p90"]),
                    ms(lat["p99"]),
                    ms(lat["max"]),
                    x["errors"],
                    share(x["server_cpu"]),
                    share(x["client_cpu"]),
                    share(x["other_cpu"]),
                ]
            )
    header = ["target", "connections", "req/s", "per round", "p50", "p90", "p99", "max"]
    header += ["errors", "server CPU", "client CPU", "other work"]
    return table(header, rows)
