"""ci/partb's driver: runs the three comparisons and writes the report
folder. Started by ci/partb/run, which prepares the binaries, the kernel
and the initramfs and passes their paths; see ci/partb/README.md."""

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time

import check
import containers
import host
import loadgen
import memory
import plots
import startup
import throughput
import vm
import writeup
from host import say


class Config:
    """Everything the parts read: paths, sizes of the runs, CPUs."""

    def __init__(self, args):
        self.quick = args.quick
        self.out = os.path.abspath(args.out)
        self.nsbox = args.nsbox
        self.rootfs = args.rootfs
        self.kernel = args.kernel
        self.initramfs = args.initramfs
        self.cache = args.cache
        self.workspace = args.workspace
        self.kernel_package = args.kernel_package
        self.wrk = shutil.which("wrk")
        self.bridge = os.environ.get("NSBOX_BRIDGE", "nsbox0")
        self.budget_gib = args.budget_gib
        self.prefix = f"partb-{os.getpid()}"
        if args.quick:
            self.runs, self.vm_runs = 5, 2
            self.mem_instances, self.settle_s = 1, 1.0
            self.levels, self.level_s, self.rounds = [1, 4, 16], 1, 1
        else:
            self.runs, self.vm_runs = 60, 15
            self.mem_instances, self.settle_s = 3, 3.0
            self.levels, self.level_s, self.rounds = [1, 2, 4, 8, 16, 32, 64, 128, 256], 3, 5
        if args.runs:
            self.runs = args.runs
        if args.vm_runs:
            self.vm_runs = args.vm_runs
        self.wrk_timeout_s = 5
        self.vm_timeout = 120
        cpus = sorted(os.sched_getaffinity(0))
        # Client and server on CPUs of their own when there are two.
        self.server_cpu = cpus[-1] if len(cpus) >= 2 else None
        self.client_cpu = cpus[0] if len(cpus) >= 2 else None
        self.accel = None
        self.accel_reason = None
        self.work = None
        self.lua = None
        self.client_rootfs = None


def parse_args(argv):
    p = argparse.ArgumentParser(prog="ci/partb/main.py")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--render", action="store_true", help="redo the files from results.json")
    p.add_argument("--out", required=True)
    p.add_argument("--budget-gib", type=float, default=16)
    p.add_argument("--runs", type=int, default=0)
    p.add_argument("--vm-runs", type=int, default=0)
    # From ci/partb/run, which prepares them.
    for name in ("nsbox", "rootfs", "kernel", "kernel-package", "initramfs", "cache", "workspace"):
        p.add_argument(f"--{name}")
    args = p.parse_args(argv)
    if not args.render:
        for name in ("nsbox", "rootfs", "kernel", "kernel_package", "initramfs", "cache"):
            if not getattr(args, name):
                p.error(f"--{name.replace('_', '-')} is needed (ci/partb/run passes it)")
    return args


def tools(cfg):
    v = host.version_of
    found = {
        "nsbox": v([cfg.nsbox, "--version"]),
        "qemu": v([vm.QEMU, "--version"]),
        "wrk": v([cfg.wrk, "--version"]) if cfg.wrk else None,
        "unshare": v(["unshare", "--version"]) if shutil.which("unshare") else None,
        "bwrap": v(["bwrap", "--version"]) if shutil.which("bwrap") else None,
        "crun": v(["crun", "--version"]) if shutil.which("crun") else None,
        "guest_kernel": cfg.kernel_package,
        "guest_kernel_release": host.first_line(os.path.join(cfg.kernel, "release")),
    }
    try:
        import matplotlib

        found["matplotlib"] = matplotlib.__version__
    except ImportError:
        found["matplotlib"] = None
    return found


def write_csvs(out, results):
    accel = results["accel"]
    s = results["startup"]
    with open(os.path.join(out, "startup.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "kind", "accel", "run", "up_ms", "exit_ms", "guest_uptime_ms"])
        for variant, samples in s["samples"].items():
            is_vm = variant == s["vm_variant"]
            for i, x in enumerate(samples):
                w.writerow(
                    [
                        variant,
                        "vm" if is_vm else "container",
                        accel if is_vm else "-",
                        i,
                        f"{x['up_ms']:.3f}",
                        f"{x['exit_ms']:.3f}",
                        f"{x['guest_uptime_ms']:.0f}" if is_vm else "",
                    ]
                )
    with open(os.path.join(out, "startup_steps.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run", "step", "ms"])
        for i, run in enumerate(s["nsbox_steps"]["runs"]):
            for step, ms in run["steps_ms"].items():
                w.writerow([i, step, f"{ms:.3f}"])
    m = results["memory"]
    fields = [
        "kind",
        "accel",
        "instance",
        "footprint_kib",
        "processes_pss_kib",
        "monitor_pss_kib",
        "cgroup_kernel_kib",
        "cgroup_kib",
        "cgroup_anon_kib",
        "cgroup_file_kib",
        "qemu_pss_kib",
        "qemu_rss_kib",
        "guest_ram_pss_kib",
        "tcg_cache_pss_kib",
        "qemu_other_pss_kib",
        "guest_ram_hugepages_kib",
        "guest_used_kib",
        "guest_total_kib",
    ]
    with open(os.path.join(out, "memory.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", restval="")
        w.writeheader()
        for kind, rows in (("container", m["containers"]), ("vm", m["vms"])):
            for i, row in enumerate(rows):
                w.writerow(
                    {"kind": kind, "accel": accel if kind == "vm" else "-", "instance": i, **row}
                )
    t = results["throughput"]
    with open(os.path.join(out, "throughput.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "target",
                "accel",
                "concurrency",
                "duration_s",
                "requests",
                "rps",
                "lat_mean_ms",
                "lat_p50_ms",
                "lat_p90_ms",
                "lat_p99_ms",
                "lat_p999_ms",
                "lat_max_ms",
                "errors",
                "server_cpu",
                "client_cpu",
                "other_cpu",
                "steal_cpu",
                "rps_rounds",
                "saturation_level",
            ]
        )
        for target, data in t["targets"].items():
            rule = data["saturation"]
            for i, r in enumerate(data["levels"]):
                lat = r["latency_ms"]
                w.writerow(
                    [
                        target,
                        accel if "VM" in target else "-",
                        r["concurrency"],
                        f"{r['duration_s']:.3f}",
                        r["requests"],
                        f"{r['rps']:.1f}",
                        f"{lat['mean']:.3f}",
                        f"{lat['p50']:.3f}",
                        f"{lat['p90']:.3f}",
                        f"{lat['p99']:.3f}",
                        f"{lat['p999']:.3f}",
                        f"{lat['max']:.3f}",
                        r["errors"],
                        fmt_share(r["server_cpu"]),
                        fmt_share(r["client_cpu"]),
                        fmt_share(r["other_cpu"]),
                        fmt_share(r["steal_cpu"]),
                        " ".join(f"{x:.1f}" for x in r["rps_rounds"]),
                        int(rule["saturated"] and i == rule["best"]),
                    ]
                )


def fmt_share(x):
    return "" if x is None else f"{x:.3f}"


def main(argv):
    args = parse_args(argv)
    if args.render:
        # Only the files made from results.json: the CSVs, plots and report.
        with open(os.path.join(args.out, "results.json")) as f:
            return render(os.path.abspath(args.out), json.load(f))
    cfg = Config(args)
    results = measure(cfg)
    for stale in ("results.json", "machine.json"):
        path = os.path.join(cfg.out, stale)
        if os.path.exists(path):
            os.unlink(path)
    host.write_json(
        os.path.join(cfg.out, "machine.json"),
        {**results["machine"], "accel": cfg.accel, "accel_reason": cfg.accel_reason},
    )
    host.write_json(os.path.join(cfg.out, "results.json"), results)
    return render(cfg.out, results)


def measure(cfg):
    """Runs the three parts; everything they start is stopped on the way
    out, also on failure or a signal."""
    host.exit_on_signals()
    janitor = host.Janitor(cfg.nsbox)
    os.makedirs(cfg.out, exist_ok=True)
    os.makedirs(cfg.cache, exist_ok=True)
    started = time.time()
    try:
        cfg.work = janitor.path(tempfile.mkdtemp(prefix=".run.", dir=cfg.cache))
        cfg.lua = os.path.join(cfg.work, "partb.lua")
        with open(cfg.lua, "w") as f:
            f.write(loadgen.SCRIPT)
        cfg.client_rootfs = containers.client_rootfs(
            os.path.join(cfg.work, "client-rootfs"), cfg.wrk, cfg.lua
        )
        cfg.accel, cfg.accel_reason = vm.accelerator(
            os.environ.get("NSBOX_VM_ACCEL", "auto"), cfg.kernel, cfg.initramfs, cfg.cache
        )
        say(
            f"{'quick' if cfg.quick else 'full'} run; VMs use {cfg.accel} ({cfg.accel_reason}); "
            f"report in {cfg.out}"
        )
        results = {
            "mode": "quick" if cfg.quick else "full",
            "accel": cfg.accel,
            "accel_reason": cfg.accel_reason,
            "machine": host.machine(tools(cfg), cfg.workspace),
            "initramfs_bytes": os.path.getsize(cfg.initramfs),
            "load_before": host.loadavg(),
        }
        results["startup"] = startup.measure(cfg, janitor)
        results["memory"] = memory.measure(cfg, janitor)
        results["throughput"] = throughput.measure(cfg, janitor)
        results["load_after"] = host.loadavg()
        results["duration_s"] = round(time.time() - started, 1)
    finally:
        janitor.clean()
    return results


def render(out, results):
    """Writes the CSVs, plots and report from the results, then checks the
    folder; returns the exit status."""
    write_csvs(out, results)
    say("writing plots")
    plots.draw_all(out, results)
    writeup.write(out, results)
    problems = check.check(out)
    for problem in problems:
        say(f"check: {problem}")
    if problems:
        return 1
    say(f"done: {out}/report.md (the measurements took {results['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
