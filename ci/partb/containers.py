"""ci/partb's containers: nsbox, and the reference runtimes the benchmark
starts itself (util-linux `unshare`, bubblewrap, crun where the host lets
it run without cgroups), each running a command from the fixture rootfs.

runc is left out on purpose: it always creates cgroups of its own, outside
nsbox's parent groups, which these machines' rules forbid."""

import json
import os
import shutil
import subprocess


def nsbox_run(
    nsbox,
    rootfs,
    command,
    net="bridge",
    limits=(),
    name=None,
    detach=False,
    read_only=False,
    debug=False,
):
    """argv of `nsbox run`."""
    argv = [nsbox]
    if debug:
        argv.append("--debug")
    argv += ["run", "--rootfs", rootfs, "--net", net]
    if read_only:
        argv.append("--read-only")
    if name:
        argv += ["--name", name]
    if detach:
        argv.append("-d")
    argv += list(limits)
    return argv + ["--", *command]


def inspect(nsbox, name):
    out = subprocess.run(
        [nsbox, "inspect", name], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def address(info):
    """The container's IPv4 address, without its prefix length."""
    value = info.get("address")
    return value.split("/")[0] if value else None


def unshare_argv(rootfs, command):
    """util-linux unshare: the same namespaces as nsbox, a fresh /proc,
    chroot into the rootfs; no cgroups, no network set-up, no /dev."""
    if not shutil.which("unshare"):
        return None
    return [
        "unshare",
        "-m",
        "-p",
        "-f",
        "-u",
        "-i",
        "-n",
        "--mount-proc",
        f"--root={rootfs}",
        *command,
    ]


def bwrap_argv(rootfs, command):
    """bubblewrap with the same namespaces, the rootfs read-only, its own
    /proc, /dev and /tmp; no cgroups, no network set-up."""
    if not shutil.which("bwrap"):
        return None
    return [
        "bwrap",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-ipc",
        "--unshare-net",
        "--ro-bind",
        rootfs,
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        *command,
    ]


def crun_bundle(directory, rootfs, command):
    """An OCI bundle for crun: the rootfs read-only, the same namespaces,
    /proc, a tmpfs /dev and /tmp, and no cgroup resources."""
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(command),
            "env": ["PATH=/usr/bin:/bin"],
            "cwd": "/",
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "partb-crun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "mode=755", "size=1024k"],
            },
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev"],
            },
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
    }
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    return directory


def crun_argv(bundle, container_id):
    """crun with its cgroup manager disabled: like unshare and bwrap, it
    then creates no cgroup at all. `crun run` removes the container when
    its process exits."""
    return ["crun", "--cgroup-manager=disabled", "run", "--bundle", bundle, container_id]


def client_rootfs(directory, wrk, script):
    """A rootfs for the load generator's container: wrk, the shared
    libraries it loads (at the paths ldd names) and its Lua script. nsbox
    makes the directories it mounts on."""
    bin_dir = os.path.join(directory, "usr", "bin")
    os.makedirs(bin_dir, exist_ok=True)
    shutil.copy2(wrk, os.path.join(bin_dir, "wrk"))
    ldd = subprocess.run(["ldd", wrk], capture_output=True, text=True, check=True).stdout
    for line in ldd.splitlines():
        path = next((word for word in line.split() if word.startswith("/")), None)
        if path is None:
            continue
        target = os.path.join(directory, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.realpath(path), target)
    shutil.copy2(script, os.path.join(directory, "partb.lua"))
    return directory
