"""Part 1, start-up latency: containers and VMs started one after another,
each timed from the spawn of its runtime to the line that proves it is up.

A container is up when its command, `/bin/echo partb-up` from the fixture
rootfs, has printed its line; a VM when its init has printed its marker on
the serial console. Both are also timed to their runtime's exit (container
removed, VM powered off). Container variants take turns, round by round in
a shuffled order, so that the host's background load, and what the kernel
is still doing for the previous start, fall on all of them alike."""

import os
import random
import shutil
import subprocess
import time

import containers
import stats
import trail
import vm
from host import LineReader, say

MARKER = "partb-up"
COMMAND = ["/bin/echo", MARKER]
WARMUP = 2


def variants(cfg, janitor):
    """(name, argv maker) for each container variant this host can run;
    and the reference runtimes it had to leave out, with why."""
    nsbox, rootfs = cfg.nsbox, cfg.rootfs
    limits = ["--cpus", "1", "--memory", "256m"]

    # Named, so that a run cut short is removed by the Janitor.
    def run(tag, **options):
        return lambda i: containers.nsbox_run(
            nsbox, rootfs, COMMAND, read_only=True, name=f"{cfg.prefix}-{tag}{i}", **options
        )

    out = [
        ("nsbox --net none", run("n", net="none")),
        ("nsbox (bridge + veth)", run("b")),
        ("nsbox (bridge, --cpus 1 --memory 256m)", run("l", limits=limits)),
    ]
    skipped = {}
    argv = containers.unshare_argv(rootfs, COMMAND)
    if argv:
        out.append(("unshare (reference)", lambda i: argv))
    else:
        skipped["unshare"] = "not installed"
    argv_b = containers.bwrap_argv(rootfs, COMMAND)
    if argv_b:
        out.append(("bwrap (reference)", lambda i: argv_b))
    else:
        skipped["bwrap"] = "not installed"
    crun = crun_variant(cfg, janitor)
    if isinstance(crun, str):
        skipped["crun"] = crun
    else:
        out.append(crun)
    skipped["runc"] = "left out: it always creates cgroups of its own, outside nsbox's groups"
    return out, skipped


def crun_variant(cfg, janitor):
    """crun's variant when crun is installed and runs here, else why not."""
    if not shutil.which("crun"):
        return "not installed"
    bundle = containers.crun_bundle(
        janitor.path(os.path.join(cfg.work, "crun-bundle")), cfg.rootfs, COMMAND
    )
    prefix = f"partb-{os.getpid()}-crun"
    probe = subprocess.run(
        containers.crun_argv(bundle, f"{prefix}-probe"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0 or MARKER not in probe.stdout:
        subprocess.run(
            ["crun", "delete", "-f", f"{prefix}-probe"], capture_output=True, check=False
        )
        reason = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"installed, but does not run here: {reason}"
    return ("crun (reference)", lambda i: containers.crun_argv(bundle, f"{prefix}-{i}"))


def time_container(argv, timeout, janitor):
    """Seconds from spawn to the marker line, and to the runtime's exit.
    An nsbox container left behind by a failed run is the Janitor's."""
    name = argv[argv.index("--name") + 1] if "--name" in argv else None
    if name:
        janitor.container(name)
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        line, t_up = LineReader(proc.stdout).until(lambda s: s == MARKER, t0 + timeout)
        proc.wait(timeout)
        t_exit = time.monotonic()
        err = proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if line is None or proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}, no marker; {err}")
    if name:
        janitor.containers.remove(name)
    return t_up - t0, t_exit - t0, err


DEBUG_VARIANT = "nsbox --debug (bridge, --cpus 1 --memory 256m)"


def debug_argv(cfg, i):
    """nsbox's fullest variant (bridge, veth, cgroup limits) with its
    --debug trail, which says where its start-up goes."""
    limits = ["--cpus", "1", "--memory", "256m"]
    return containers.nsbox_run(
        cfg.nsbox,
        cfg.rootfs,
        COMMAND,
        limits=limits,
        read_only=True,
        debug=True,
        name=f"{cfg.prefix}-d{i}",
    )


def measure(cfg, janitor):
    """Runs part 1 and returns its results (samples in milliseconds)."""
    found, skipped = variants(cfg, janitor)
    for name, why in skipped.items():
        say(f"start-up: {name} skipped: {why}")
    samples = {name: [] for name, _ in found}
    # The --debug runs take their turn in the same rounds, so that their
    # steps are measured in the conditions of the timed runs; they are kept
    # apart from them, since writing the trail takes time too.
    found.append((DEBUG_VARIANT, lambda i: debug_argv(cfg, i)))
    debug_runs = []
    say(
        f"start-up: {cfg.runs} rounds of {len(found) - 1} container variants and nsbox "
        f"--debug, each round in a shuffled order (+{WARMUP} warm-up rounds)"
    )
    # Each round in its own order: what a start costs depends on what the
    # kernel is still doing for the start before it (a network namespace
    # torn down, cgroups removed), so no variant may always follow the same
    # one. The seed is fixed, so a rerun uses the same orders.
    shuffler = random.Random(695)
    for i in range(-WARMUP, cfg.runs):
        order = list(found)
        shuffler.shuffle(order)
        for name, make in order:
            up, done, err = time_container(make(i), 30, janitor)
            if i < 0:
                continue
            if name == DEBUG_VARIANT:
                debug_runs.append(trail_run(up, err))
            else:
                samples[name].append({"up_ms": up * 1000, "exit_ms": done * 1000})
        if i >= 0 and (i + 1) % max(1, cfg.runs // 4) == 0:
            say(f"start-up: containers {i + 1}/{cfg.runs}")
    for name, runs in samples.items():
        s = stats.summary([x["up_ms"] for x in runs])
        say(
            f"start-up: {name}: median {s['median']:.2f} ms (p10 {s['p10']:.2f}, "
            f"p90 {s['p90']:.2f})"
        )
    steps = debug_summary(debug_runs)

    vm_samples = []
    say(f"start-up: {cfg.vm_runs} VM boots one after another ({cfg.accel}, 1 vCPU, 256 MiB)")
    machine = vm.Machine(cfg.kernel, cfg.initramfs, cfg.accel)
    for i in range(cfg.vm_runs):
        up, done, uptime = vm.boot_once(machine, janitor, timeout=cfg.vm_timeout)
        vm_samples.append(
            {"up_ms": up * 1000, "exit_ms": done * 1000, "guest_uptime_ms": uptime * 1000}
        )
        say(
            f"start-up: VM {i + 1}/{cfg.vm_runs}: marker after {up:.2f} s "
            f"(guest kernel up for {uptime:.2f} s of it)"
        )
    name = f"QEMU VM ({cfg.accel})"
    samples[name] = vm_samples
    return {
        "command": COMMAND,
        "runs": cfg.runs,
        "vm_runs": cfg.vm_runs,
        "warmup_runs": WARMUP,
        "skipped": skipped,
        "samples": samples,
        "vm_variant": name,
        "summary": {k: stats.summary([x["up_ms"] for x in v]) for k, v in samples.items()},
        "exit_summary": {k: stats.summary([x["exit_ms"] for x in v]) for k, v in samples.items()},
        "nsbox_steps": steps,
    }


def trail_run(up, err):
    """One --debug run: its time to 'up' and its steps, in milliseconds."""
    lines = trail.parse(err)
    return {
        "up_ms": up * 1000,
        "exec_ms": (trail.exec_time(lines) or 0) * 1000,
        "steps_ms": {k: v * 1000 for k, v in trail.steps(lines).items()},
    }


def debug_summary(runs):
    def per_step(p):
        return {k: stats.percentile([r["steps_ms"][k] for r in runs], p) for k in trail.STEPS}

    medians = per_step(50)
    say(
        f"start-up: nsbox steps (median of {len(runs)} --debug runs): "
        + ", ".join(f"{k} {medians[k]:.2f} ms" for k in trail.UP_TO_EXEC)
    )
    return {
        "variant": DEBUG_VARIANT,
        "runs": runs,
        "median_ms": medians,
        "p10_ms": per_step(10),
        "p90_ms": per_step(90),
        "median_up_ms": stats.median([r["up_ms"] for r in runs]),
        "median_exec_ms": stats.median([r["exec_ms"] for r in runs]),
    }
