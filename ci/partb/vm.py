"""ci/partb's virtual machines: QEMU booting the Debian kernel that
ci/vm/kernel unpacks, with the initramfs of ci/partb/initramfs, whose init
(guest-init) prints a marker on the serial console.

A VM has either no network device at all, or QEMU's user-mode network with
`restrict=on` (the guest can reach nothing outside QEMU) and one port
forwarded from 127.0.0.1 on the host to the guest's echo-server."""

import hashlib
import os
import re
import subprocess
import time

from host import LineReader

QEMU = "qemu-system-x86_64"
GUEST_PORT = 8080
# The guest init's markers (guest-init).
UP = re.compile(r"^partb-guest: up uptime=([\d.]+)")
SERVING = re.compile(r"^partb-guest: serving uptime=([\d.]+) memtotal_kib=(\d+) memfree_kib=(\d+)")


def accelerator(requested, kernel, initramfs, cache):
    """ "kvm" or "tcg", chosen as ci/vm/run chooses: KVM when /dev/kvm is
    usable and a probe boot under it reaches the init within 20 seconds
    (some hosts offer /dev/kvm on which QEMU aborts or a stock kernel
    hangs), else TCG, software emulation. The probe's answer is cached per
    host kernel, QEMU version and guest kernel."""
    if requested in ("kvm", "tcg"):
        return requested, "forced by NSBOX_VM_ACCEL"
    if requested != "auto":
        raise SystemExit(f"partb: NSBOX_VM_ACCEL must be auto, kvm or tcg, not {requested}")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg", "no usable /dev/kvm"
    qemu_version = subprocess.run(
        [QEMU, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    key = hashlib.sha256(f"{os.uname().release} {qemu_version} {kernel}".encode()).hexdigest()
    answer = os.path.join(cache, "accel", key[:16])
    if not os.path.exists(answer):
        os.makedirs(os.path.dirname(answer), exist_ok=True)
        argv = [QEMU, *BASE, "-accel", "kvm", "-cpu", "host", "-smp", "1", "-m", "256"]
        argv += ["-nic", "none", "-kernel", os.path.join(kernel, "vmlinuz")]
        argv += ["-initrd", initramfs, "-append", "console=ttyS0 quiet panic=-1 nsbox_vm.probe"]
        argv += ["-serial", "stdio"]
        try:
            out = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=20,
                stdin=subprocess.DEVNULL,
                check=False,
            ).stdout
        except subprocess.TimeoutExpired:
            out = ""
        with open(answer, "w") as f:
            f.write("kvm\n" if "probe reached init" in out else "tcg\n")
    with open(answer) as f:
        chosen = f.read().strip()
    why = "KVM probe boot reached the init" if chosen == "kvm" else "KVM probe boot failed"
    return chosen, f"{why} (cached in {answer})"


# No default devices, no display, no config files; a guest power-off or
# panic (panic=-1) ends QEMU.
BASE = ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]


class Machine:
    """One way of running VMs: the kernel, the initramfs, the accelerator
    and the resources each VM is given."""

    def __init__(self, kernel, initramfs, accel, memory_mib=256, cpus=1):
        self.kernel = kernel
        self.initramfs = initramfs
        self.accel = accel
        self.memory_mib = memory_mib
        self.cpus = cpus

    def argv(self, mode, port=None):
        """QEMU's command line; mode is guest-init's partb.mode."""
        if self.accel == "kvm":
            accel = ["-accel", "kvm", "-cpu", "host"]
        else:
            accel = ["-accel", "tcg,thread=multi", "-cpu", "max"]
        if port is None:
            nic = ["-nic", "none"]
        else:
            # restrict=on: the guest reaches nothing beyond QEMU; only the
            # forward from the host's loopback comes in.
            forward = f"hostfwd=tcp:127.0.0.1:{port}-:{GUEST_PORT}"
            nic = ["-nic", f"user,model=virtio-net-pci,restrict=on,{forward}"]
        # mitigations=off: the guest runs one program, and emulated
        # page-table isolation would slow every one of its system calls.
        append = f"console=ttyS0 quiet panic=-1 mitigations=off partb.mode={mode}"
        return [
            QEMU,
            *BASE,
            *accel,
            "-smp",
            str(self.cpus),
            "-m",
            f"{self.memory_mib}M",
            *nic,
            "-kernel",
            os.path.join(self.kernel, "vmlinuz"),
            "-initrd",
            self.initramfs,
            "-append",
            append,
            "-serial",
            "stdio",
        ]

    def spawn(self, janitor, mode, port=None, cpu=None):
        """Starts a VM; returns (Popen, LineReader of its serial console)
        and the monotonic time just before the spawn."""
        argv = self.argv(mode, port)
        if cpu is not None:
            # taskset execs QEMU: same PID, and all of QEMU's threads on one CPU.
            argv = ["taskset", "-c", str(cpu), *argv]
        t0 = time.monotonic()
        proc = janitor.process(
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        return proc, LineReader(proc.stdout), t0


def boot_once(machine, janitor, timeout):
    """Boots one VM to its start-up marker and lets it power off. Returns
    seconds to the marker, seconds to QEMU's exit, and the guest's uptime
    at the marker (how long the kernel had been running)."""
    proc, reader, t0 = machine.spawn(janitor, "boot")
    try:
        line, t_up = reader.until(lambda s: UP.match(s), t0 + timeout)
        if line is None:
            tail = "\n".join(reader.seen[-10:])
            raise RuntimeError(f"the VM printed no start-up marker in {timeout}s:\n{tail}")
        proc.wait(timeout)
        t_exit = time.monotonic()
        return t_up - t0, t_exit - t0, float(UP.match(line).group(1))
    finally:
        janitor.stop(proc)


def serve(machine, janitor, port, timeout, cpu=None):
    """Boots a VM whose guest serves HTTP on `port` of 127.0.0.1, and
    waits until its init says it is serving. Returns the Popen, with the
    guest's MemTotal and MemFree (KiB) as attribute `guest_meminfo`."""
    proc, reader, t0 = machine.spawn(janitor, "serve", port=port, cpu=cpu)
    line, _ = reader.until(lambda s: SERVING.match(s), t0 + timeout)
    if line is None:
        tail = "\n".join(reader.seen[-10:])
        janitor.stop(proc)
        raise RuntimeError(f"the VM was not serving after {timeout}s:\n{tail}")
    match = SERVING.match(line)
    proc.guest_meminfo = {"total_kib": int(match.group(2)), "free_kib": int(match.group(3))}
    # The console is no longer read; the guest prints nothing more, and
    # the pipe's buffer would hold a few kernel messages anyway.
    return proc
