"""The report's PNG plots, drawn with matplotlib (Debian's
python3-matplotlib) from the results dict that main.py writes as JSON."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import stats
import trail

DPI = 110


def draw_all(out, results):
    startup(os.path.join(out, "startup.png"), results)
    startup_steps(os.path.join(out, "startup_steps.png"), results)
    memory(os.path.join(out, "memory.png"), results)
    throughput(os.path.join(out, "throughput.png"), results)


def label(results):
    m = results["machine"]
    return f"{m['cpus']} CPUs, {m['cgroup']} cgroups, VMs under {results['accel']}"


def startup(path, results):
    s = results["startup"]
    names = list(s["samples"])
    data = [[x["up_ms"] for x in s["samples"][n]] for n in names]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(names) + 1.8))
    ax.boxplot(data, vert=False, whis=(10, 90), showfliers=False, widths=0.5)
    for i, values in enumerate(data, start=1):
        ax.plot(values, [i] * len(values), "o", alpha=0.35, markersize=3, color="tab:blue")
        med = stats.median(values)
        ax.annotate(fmt_ms(med), (med, i + 0.3), fontsize=8, ha="center")
    ax.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("time from spawn to 'up' line (ms, log scale); box: quartiles, whiskers: p10-p90")
    ax.set_title(f"Start-up latency, one after another ({label(results)})", fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def startup_steps(path, results):
    s = results["startup"]
    st = s["nsbox_steps"]
    steps = list(trail.UP_TO_EXEC)
    runs = st["runs"]
    med = [st["median_ms"][k] for k in steps]
    p10 = [stats.percentile([r["steps_ms"][k] for r in runs], 10) for k in steps]
    p90 = [stats.percentile([r["steps_ms"][k] for r in runs], 90) for k in steps]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    y = range(len(steps))
    a.barh(
        y,
        med,
        xerr=[[m - lo for m, lo in zip(med, p10)], [hi - m for m, hi in zip(med, p90)]],
        color="tab:green",
        alpha=0.8,
        capsize=3,
    )
    a.set_yticks(list(y), steps, fontsize=8)
    a.invert_yaxis()
    a.set_xlabel("ms (median; bars: p10-p90)")
    a.set_title(f"nsbox start-up by step, from --debug ({len(runs)} runs)", fontsize=10)
    a.grid(axis="x", alpha=0.3)

    vm_samples = s["samples"][s["vm_variant"]]
    before = stats.median([x["up_ms"] - x["guest_uptime_ms"] for x in vm_samples]) / 1000
    kernel = stats.median([x["guest_uptime_ms"] for x in vm_samples]) / 1000
    b.barh([0], [before], color="tab:orange", label="QEMU, firmware, kernel load + decompress")
    b.barh(
        [0], [kernel], left=[before], color="tab:red", label="guest kernel boot to init's marker"
    )
    b.set_yticks([0], [s["vm_variant"]], fontsize=8)
    b.set_xlabel("seconds (medians)")
    b.set_title("VM start-up, split by the guest kernel's clock", fontsize=10)
    b.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    b.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def memory(path, results):
    m = results["memory"]
    mib = 1024.0

    def med(rows, key):
        return stats.median([r[key] for r in rows]) / mib

    c, v = m["containers"], m["vms"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    parts = [
        ("container: its processes (PSS)", med(c, "processes_pss_kib"), 0, "tab:blue"),
        ("container: nsbox monitor (PSS)", med(c, "monitor_pss_kib"), 0, "tab:purple"),
        ("container: cgroup's kernel memory", med(c, "cgroup_kernel_kib"), 0, "tab:gray"),
        ("VM: guest RAM touched", med(v, "guest_ram_pss_kib"), 1, "tab:red"),
        ("VM: TCG code cache", med(v, "tcg_cache_pss_kib"), 1, "tab:orange"),
        ("VM: rest of QEMU", med(v, "qemu_other_pss_kib"), 1, "tab:brown"),
    ]
    bottoms = [0.0, 0.0]
    for name, value, x, color in parts:
        if value <= 0:
            continue
        a.bar([x], [value], bottom=[bottoms[x]], color=color, label=name, width=0.6)
        bottoms[x] += value
    for x in (0, 1):
        a.annotate(f"{bottoms[x]:.1f} MiB", (x, bottoms[x]), ha="center", va="bottom", fontsize=9)
    a.set_xticks([0, 1], ["idle nsbox container", f"idle VM ({results['accel']})"])
    a.set_ylabel("host memory, MiB (median of instances)")
    a.set_title("Footprint of one idle echo-server", fontsize=10)
    a.legend(fontsize=7)
    a.grid(axis="y", alpha=0.3)

    counts = [m["containers_fit"], m["vms_fit"]]
    full = [m["containers_fit_full"], m["vms_fit_full"]]
    xs = [0, 1]
    b.bar([x - 0.18 for x in xs], counts, width=0.36, label="idle (as measured)", color="tab:green")
    b.bar(
        [x + 0.18 for x in xs],
        full,
        width=0.36,
        label="each using its full 256 MiB",
        color="tab:olive",
    )
    for x, n in zip(xs, counts):
        b.annotate(str(n), (x - 0.18, n), ha="center", va="bottom", fontsize=8)
    for x, n in zip(xs, full):
        b.annotate(str(n), (x + 0.18, n), ha="center", va="bottom", fontsize=8)
    b.set_yscale("log")
    b.set_xticks(xs, ["nsbox containers", f"VMs ({results['accel']})"])
    b.set_title(f"How many fit in {m['budget_gib']:g} GiB (computed)", fontsize=10)
    b.legend(fontsize=7)
    b.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def throughput(path, results):
    t = results["throughput"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for target, data in t["targets"].items():
        levels = data["levels"]
        c = [x["concurrency"] for x in levels]
        rps = [x["rps"] for x in levels]
        low = [r - min(x["rps_rounds"]) for r, x in zip(rps, levels)]
        high = [max(x["rps_rounds"]) - r for r, x in zip(rps, levels)]
        line = a.errorbar(c, rps, yerr=[low, high], fmt="o-", capsize=3, label=target).lines[0]
        best = levels[data["saturation"]["best"]]
        if data["saturation"]["saturated"]:
            a.plot([best["concurrency"]], [best["rps"]], "*", markersize=14, color=line.get_color())
        b.plot(
            c,
            [x["latency_ms"]["p50"] for x in levels],
            "o-",
            color=line.get_color(),
            label=f"{target} p50",
        )
        b.plot(
            c,
            [x["latency_ms"]["p99"] for x in levels],
            "x--",
            color=line.get_color(),
            label=f"{target} p99",
        )
    levels = sorted({x["concurrency"] for d in t["targets"].values() for x in d["levels"]})
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(c) for c in levels])
        ax.minorticks_off()
        ax.set_xlabel("concurrent connections (wrk, 1 thread)")
        ax.grid(which="both", alpha=0.3)
    a.set_yscale("log")
    a.set_ylabel("requests/s, median of rounds (bars: min-max)")
    a.set_title(f"echo-server throughput, 1 CPU for the server ({label(results)})", fontsize=9)
    a.legend(fontsize=7)
    b.set_yscale("log")
    b.set_ylabel("latency, ms (log scale)")
    b.set_title("Latency per load level: p50 (solid), p99 (dashed)", fontsize=9)
    b.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def fmt_ms(ms):
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"
