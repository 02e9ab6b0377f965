"""Part 3, throughput at saturation: echo-server driven by wrk at rising
concurrency until its throughput stops rising (stats.saturation), run

- bare, on the host, reached over loopback;
- bare, on the host at the bridge's own address, reached by wrk in an nsbox
  container: the container's network path without the container;
- in an nsbox container (--cpus 1 --memory 256m), reached by wrk in another
  nsbox container on the same bridge;
- in a QEMU VM (-smp 1 -m 256M), reached through QEMU's user-mode forward
  on 127.0.0.1.

Every server side gets the same CPU: on a host with two CPUs or more it is
pinned to one CPU (the whole QEMU process too, its network thread with its
vCPU) and wrk, with one thread, to another. The CPU time the server side
and the client used is recorded per level, and so is the rest of the
machine's: on a shared machine, other work can take the CPUs mid-run.

Against that, the levels are interleaved (each level is run for every
target before the next level) and the whole sweep is repeated; a level's
figure is the median of its rounds. The first round decides where each
target saturates; later rounds repeat the levels it ran.

Traffic stays on loopback, on nsbox's bridge and in nsbox's network
namespaces; load levels are few and short, and each wrk run is bounded by
a timeout."""

import fcntl
import os
import resource
import socket
import struct
import subprocess
import time

import containers
import loadgen
import stats
import vm
from host import free_port, say, wait_http

SERVER_BIN = "/usr/bin/echo-server"
LIMITS = ["--cpus", "1", "--memory", "256m"]
TICK = os.sysconf("SC_CLK_TCK")


def bridge_address(device):
    """The IPv4 address of a host interface (SIOCGIFADDR), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", device.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(raw[20:24])


def machine_cpu():
    """(busy, steal) CPU-seconds of the whole machine so far, /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICK, values[7] / TICK


def process_cpu(pid):
    """CPU-seconds a process and its threads (also ended ones) have used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cgroup_cpu(paths):
    """CPU-seconds a container's cgroup has used (v1 cpuacct or v2 cpu.stat)."""
    for path in paths:
        usage = os.path.join(path, "cpuacct.usage")
        if os.path.exists(usage):
            with open(usage) as f:
                return int(f.read()) / 1e9
        stat = os.path.join(path, "cpu.stat")
        if os.path.exists(stat):
            with open(stat) as f:
                for line in f:
                    if line.startswith("usage_usec"):
                        return int(line.split()[1]) / 1e6
    raise RuntimeError(f"no CPU accounting among {paths}")


def children_cpu():
    """CPU-seconds used by the waited-for children of this process, and by
    their waited-for children: wrk, or nsbox and the wrk in its container."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pinned(cpu, argv):
    """argv run on one CPU (util-linux taskset, which execs it: same PID,
    and every thread and child it makes inherits the CPU)."""
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else list(argv)


def pct(share):
    return "n/a" if share is None else f"{share * 100:.0f}%"


class Target:
    """A server under load: how to drive it and how to read its CPU time."""

    def __init__(self, name, client_argv, server_cpu):
        self.name = name
        self.client_argv = client_argv
        self.server_cpu = server_cpu
        self.rounds = []  # per round: list of level results
        self.active = True


def run_level(cfg, target, connections):
    """One wrk run against one target."""
    cpu0, steal0 = machine_cpu()
    server0, client0 = target.server_cpu(), children_cpu()
    t0 = time.monotonic()
    out = subprocess.run(
        pinned(cfg.client_cpu, target.client_argv(connections)),
        capture_output=True,
        text=True,
        timeout=cfg.level_s + 60,
        check=False,
    )
    wall = time.monotonic() - t0
    cpu1, steal1 = machine_cpu()
    server, client = target.server_cpu() - server0, children_cpu() - client0
    try:
        result = loadgen.parse(out.stdout)
    except ValueError as e:
        raise RuntimeError(f"wrk failed (exit {out.returncode}): {out.stderr.strip()}") from e
    result["concurrency"] = connections
    # Shares of one CPU over the whole wrk run (its start-up included).
    result["server_cpu"] = server / wall
    result["client_cpu"] = client / wall
    result["other_cpu"] = max(0.0, (cpu1 - cpu0 - server - client) / wall)
    result["steal_cpu"] = (steal1 - steal0) / wall
    return result


def sweep(cfg, targets):
    """The rounds of load levels, interleaved across targets."""
    for round_no in range(cfg.rounds):
        for t in targets:
            t.rounds.append([])
        if round_no == 0:
            plan = [(c, [t for t in targets]) for c in cfg.levels]
        else:
            plan = [
                (c, [t for t in targets if c in [x["concurrency"] for x in t.rounds[0]]])
                for c in cfg.levels
            ]
        for c, group in plan:
            group = [t for t in group if round_no > 0 or t.active]
            if not group:
                break
            for t in group:
                r = run_level(cfg, t, c)
                t.rounds[-1].append(r)
                say(
                    f"throughput: round {round_no + 1}/{cfg.rounds}, {t.name}, {c} connections: "
                    f"{r['rps']:.0f} req/s, p99 {r['latency_ms']['p99']:.2f} ms, errors "
                    f"{r['errors']}; CPU server {pct(r['server_cpu'])}, client "
                    f"{pct(r['client_cpu'])}, other work {pct(r['other_cpu'])}"
                )
                time.sleep(0.3)
            if round_no == 0:
                for t in group:
                    levels = t.rounds[0]
                    last = levels[-1]
                    if last["requests"] == 0 or last["errors"] > last["requests"]:
                        say(f"throughput: {t.name}: stopping: more errors than replies")
                        t.active = False
                    elif stats.saturation([x["rps"] for x in levels])["saturated"]:
                        say(f"throughput: {t.name}: throughput stopped rising; no higher levels")
                        t.active = False


def aggregate(name, rounds):
    """Per level, the median round's figures, with every round's rate.

    Saturated: the rule fired either on the first round, which is what
    ended the sweep (later rounds only repeat its levels), or on the
    medians. The best level and the knee are those of the medians."""
    levels = []
    for i, first in enumerate(rounds[0]):
        runs = [r[i] for r in rounds if i < len(r)]
        ordered = sorted(runs, key=lambda x: x["rps"])
        middle = dict(ordered[(len(ordered) - 1) // 2])
        rates = [x["rps"] for x in runs]
        middle["rps"] = stats.median(rates)
        middle["rps_rounds"] = rates
        middle["concurrency"] = first["concurrency"]
        levels.append(middle)
    rule = stats.saturation([x["rps"] for x in levels])
    first_round = stats.saturation([x["rps"] for x in rounds[0]])
    rule["saturated_in_first_round"] = first_round["saturated"]
    rule["saturated"] = rule["saturated"] or first_round["saturated"]
    best = levels[rule["best"]]
    say(
        f"throughput: {name}: {'saturated' if rule['saturated'] else 'not saturated'}, best "
        f"{best['rps']:.0f} req/s at {best['concurrency']} connections (median of "
        f"{len(rounds)} rounds)"
    )
    return {"levels": levels, "saturation": rule}


def measure(cfg, janitor):
    server = os.path.join(cfg.rootfs, SERVER_BIN.lstrip("/"))
    targets = []
    clients = []

    def host_wrk(url):
        return lambda c: loadgen.argv(cfg.wrk, cfg.lua, url, c, cfg.level_s, cfg.wrk_timeout_s)

    def in_client(url):
        def argv_for(c):
            name = janitor.container(f"{cfg.prefix}-c{len(clients)}")
            clients.append(name)
            wrk = loadgen.argv("/usr/bin/wrk", "/partb.lua", url, c, cfg.level_s, cfg.wrk_timeout_s)
            return containers.nsbox_run(
                cfg.nsbox, cfg.client_rootfs, wrk, name=name, read_only=True
            )

        return argv_for

    def host_server(address, port):
        return janitor.process(
            subprocess.Popen(
                pinned(cfg.server_cpu, [server, "--port", str(port), "--bind", address]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    procs = []
    name = janitor.container(f"{cfg.prefix}-srv")
    try:
        # Bare, over loopback.
        port = free_port()
        bare = host_server("127.0.0.1", port)
        procs.append(bare)
        if not wait_http("127.0.0.1", port, deadline=time.monotonic() + 10):
            raise RuntimeError("the bare echo-server does not answer")
        targets.append(
            Target(
                "bare (loopback)",
                host_wrk(f"http://127.0.0.1:{port}/"),
                lambda p=bare.pid: process_cpu(p),
            )
        )

        # nsbox: the server container; the client in another container.
        argv = containers.nsbox_run(
            cfg.nsbox,
            cfg.rootfs,
            [SERVER_BIN, "--port", "8080"],
            name=name,
            detach=True,
            limits=LIMITS,
        )
        subprocess.run(
            pinned(cfg.server_cpu, argv), check=True, stdout=subprocess.DEVNULL, timeout=30
        )
        info = containers.inspect(cfg.nsbox, name)
        addr = containers.address(info)
        if not wait_http(addr, 8080, device=cfg.bridge, deadline=time.monotonic() + 20):
            raise RuntimeError(f"the server container does not answer at {addr}")
        targets.append(
            Target(
                "nsbox container",
                in_client(f"http://{addr}:8080/"),
                lambda paths=info["cgroups"]: cgroup_cpu(paths),
            )
        )

        # The container's network path without the server's container: the
        # server on the host at the bridge's own address.
        host_addr = bridge_address(cfg.bridge)
        if host_addr:
            port = free_port()
            bridged = host_server(host_addr, port)
            procs.append(bridged)
            if not wait_http(host_addr, port, device=cfg.bridge, deadline=time.monotonic() + 10):
                raise RuntimeError(f"the bare echo-server does not answer at {host_addr}")
            targets.append(
                Target(
                    "bare (bridge, client in nsbox)",
                    in_client(f"http://{host_addr}:{port}/"),
                    lambda p=bridged.pid: process_cpu(p),
                )
            )

        # The VM, through the user-mode forward on 127.0.0.1.
        machine = vm.Machine(cfg.kernel, cfg.initramfs, cfg.accel)
        port = free_port()
        say(f"throughput: booting the echo-server VM ({cfg.accel}, -smp 1 -m 256M)")
        qemu = vm.serve(machine, janitor, port, timeout=cfg.vm_timeout, cpu=cfg.server_cpu)
        procs.append(qemu)
        if not wait_http("127.0.0.1", port, deadline=time.monotonic() + 20):
            raise RuntimeError("the VM's echo-server does not answer through hostfwd")
        targets.append(
            Target(
                f"QEMU VM ({cfg.accel})",
                host_wrk(f"http://127.0.0.1:{port}/"),
                lambda p=qemu.pid: process_cpu(p),
            )
        )

        say(
            f"throughput: {len(targets)} targets, echo-server at {addr} (nsbox, "
            f"{' '.join(LIMITS)}), {host_addr} ({cfg.bridge}), 127.0.0.1 (bare, VM); "
            f"{cfg.rounds} round(s) of {cfg.level_s}-second levels"
        )
        sweep(cfg, targets)
    finally:
        for proc in procs:
            janitor.stop(proc)
        janitor.remove(name)
        for client in clients:
            if client in janitor.containers:
                janitor.remove(client)
    return {
        "levels": cfg.levels,
        "level_s": cfg.level_s,
        "rounds": cfg.rounds,
        "server_cpu": cfg.server_cpu,
        "client_cpu": cfg.client_cpu,
        "targets": {t.name: aggregate(t.name, t.rounds) for t in targets},
        "all_rounds": {t.name: t.rounds for t in targets},
    }
