"""What ci/partb needs from the host: progress lines, the processes and
containers it starts (and stops again, whatever happens), reading a child's
output against a deadline, memory as the kernel accounts it, and a
description of the machine for the record."""

import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time


def say(message):
    """A progress line, with the time since ci/partb started."""
    elapsed = time.monotonic() - STARTED
    print(f"partb [{elapsed:6.1f}s] {message}", flush=True)


STARTED = time.monotonic()


class Janitor:
    """Everything ci/partb starts, so that it is all stopped and removed on
    the way out, also after a failure or a signal: child processes (by
    their PID, through their Popen), nsbox containers (by the names it gave
    them) and temporary paths."""

    def __init__(self, nsbox):
        self.nsbox = nsbox
        self.processes = []
        self.containers = []
        self.paths = []

    def process(self, proc):
        self.processes.append(proc)
        return proc

    def container(self, name):
        self.containers.append(name)
        return name

    def path(self, path):
        self.paths.append(path)
        return path

    def stop(self, proc, grace=3.0):
        """Stops one child: SIGTERM, then SIGKILL after `grace` seconds."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.processes:
            self.processes.remove(proc)

    def remove(self, name):
        """Removes one container, running or not."""
        subprocess.run(
            [self.nsbox, "rm", "-f", name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        if name in self.containers:
            self.containers.remove(name)

    def clean(self):
        for proc in list(self.processes):
            self.stop(proc, grace=2.0)
        for name in list(self.containers):
            self.remove(name)
        for path in self.paths:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.exists(path):
                os.unlink(path)
        self.paths = []


def exit_on_signals():
    """SIGTERM and SIGHUP end ci/partb through its `finally` blocks, as
    Ctrl-C does, so that the Janitor runs."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


class LineReader:
    """Reads a child's output line by line against a deadline, with the
    monotonic time at which each line arrived."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.buffer = b""
        self.closed = False
        self.seen = []
        self.arrival = None

    def until(self, predicate, deadline):
        """Reads lines until predicate(line) holds; returns (line, arrival
        time), or (None, None) at end of output or past the deadline. The
        lines read on the way are kept in self.seen."""
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode(errors="replace").rstrip("\r")
                self.seen.append(line)
                if predicate(line):
                    return line, self.arrival
            if self.closed:
                return None, None
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None, None
            chunk = os.read(self.fd, 65536)
            self.arrival = time.monotonic()
            if not chunk:
                self.closed = True
                if self.buffer:
                    self.buffer += b"\n"
            self.buffer += chunk


def read_kib(path, key):
    """The value in kB of `key:` in a /proc file such as smaps_rollup."""
    with open(path) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(f"{key} not in {path}")


def pss_kib(pid):
    """The proportional set size of a process, in KiB: its private pages
    plus its share of the pages it shares (with n sharers, 1/n each)."""
    return read_kib(f"/proc/{pid}/smaps_rollup", "Pss")


def rss_kib(pid):
    return read_kib(f"/proc/{pid}/smaps_rollup", "Rss")


def mappings(pid):
    """The mappings of a process from /proc/PID/smaps, each a dict with
    start, end, perms, name, and the kB fields (Rss, Pss, Anonymous...)."""
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
    out = []
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            match = head.match(line)
            if match:
                out.append(
                    {
                        "start": int(match.group(1), 16),
                        "end": int(match.group(2), 16),
                        "perms": match.group(3),
                        "name": match.group(4),
                    }
                )
                continue
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB" and out:
                out[-1][parts[0].rstrip(":")] = int(parts[1])
    return out


def memory_cgroup(paths):
    """Of a container's cgroup directories (`nsbox inspect`'s "cgroups"),
    the one that accounts memory: v1's memory hierarchy or the v2 group."""
    for path in paths:
        if os.path.exists(os.path.join(path, "memory.usage_in_bytes")):
            return path, "v1"
        if os.path.exists(os.path.join(path, "memory.current")):
            return path, "v2"
    raise RuntimeError(f"no memory cgroup among {paths}")


def cgroup_memory(path, version):
    """What the kernel charges to a cgroup, in KiB: the total, and the
    anonymous and file (page cache) parts from memory.stat."""
    stat = {}
    with open(os.path.join(path, "memory.stat")) as f:
        for line in f:
            key, value = line.split()
            stat[key] = int(value)
    if version == "v1":
        with open(os.path.join(path, "memory.usage_in_bytes")) as f:
            total = int(f.read())
        anon, file = stat.get("total_rss", 0), stat.get("total_cache", 0)
    else:
        with open(os.path.join(path, "memory.current")) as f:
            total = int(f.read())
        anon, file = stat.get("anon", 0), stat.get("file", 0)
    return {"total_kib": total // 1024, "anon_kib": anon // 1024, "file_kib": file // 1024}


def cgroup_pids(path):
    with open(os.path.join(path, "cgroup.procs")) as f:
        return [int(line) for line in f if line.strip()]


def http_get(address, port, path="/", device=None, timeout=2.0):
    """One HTTP/1.1 GET, returning the response text or None on failure.
    With `device`, the socket is bound to that interface (SO_BINDTODEVICE)
    so that without a route through it the request fails instead of
    leaving by another one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if device:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
            s.settimeout(timeout)
            s.connect((address, port))
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: partb\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.decode(errors="replace")
    except OSError:
        return None


def wait_http(address, port, device=None, deadline=None, expect="hostname="):
    """Polls until the server answers with `expect` in its reply."""
    while True:
        reply = http_get(address, port, device=device)
        if reply and expect in reply:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def version_of(argv):
    """The first line a program prints for its version, or None."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def first_line(path):
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return None


def loadavg():
    return first_line("/proc/loadavg")


def machine(tools, workspace):
    """The machine, its kernel and the versions of everything measured."""
    cpu = None
    hypervisor = False
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu is None:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and " hypervisor" in line:
                hypervisor = True
    os_release = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if "=" in line:
                    key, value = line.rstrip("\n").split("=", 1)
                    os_release[key] = value.strip('"')
    except OSError:
        pass
    cgroup = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1 (hybrid)"
    thp = first_line("/sys/kernel/mm/transparent_hugepage/enabled") or ""
    thp = thp[thp.find("[") + 1 : thp.find("]")] if "[" in thp else None
    git = subprocess.run(
        ["git", "-C", workspace, "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "os": os_release.get("PRETTY_NAME", platform.platform()),
        "kernel": platform.release(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_kib": read_kib("/proc/meminfo", "MemTotal"),
        "runs_under_hypervisor": hypervisor,
        "cgroup": cgroup,
        "thp": thp,
        "python": sys.version.split()[0],
        "git": git or None,
        "tools": tools,
    }


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
