"""Reads nsbox's --debug trail and says where a container's start-up went.

Each trail line is `SECONDS.FRACTIONs LEVEL message`, the seconds counted
from nsbox's own start, on one clock for the host process and the
container's init (the init is a fork of nsbox). A step is logged once it
is done (netlink requests even say `ok in N µs`), so the time between two
lines is charged to the step of the later line.
"""

import re

LINE = re.compile(r"^\s*(\d+\.\d+)s\s+[A-Z]+\s+(.*)$")

# The steps, in the order nsbox takes them (README, "What `nsbox run`
# does"). The last one runs from the command's exec to the end of the
# trail: the command itself, its exit and nsbox's teardown.
STEPS = (
    "preflight and state",
    "cgroups: create and limit",
    "clone (new namespaces)",
    "cgroups: move the init in",
    "network: bridge and veth (host side)",
    "inside: cgroupns, links, hostname",
    "mounts, devices, pivot_root",
    "exec the command",
    "command runs, exits; teardown",
)
UP_TO_EXEC = STEPS[:-1]


def parse(text):
    """The (seconds, message) pairs of a trail; other lines are skipped."""
    lines = []
    for raw in text.splitlines():
        match = LINE.match(raw)
        if match:
            lines.append((float(match.group(1)), match.group(2)))
    return lines


def step_of(message, cloned, inside):
    """The step a trail message closes, or None when it names none (it
    then belongs to the step before it). Network messages are told apart
    by when they come: before the clone they are nsbox's preflight, between
    the clone and the init's release the host side, after it the inside."""
    if message.startswith(("cgroup rmdir", "removed")):
        return STEPS[8]
    if message.startswith("exec "):
        return STEPS[7]
    if message.startswith(("mount", "mknod", "pivot_root", "umount", "symlink")):
        return STEPS[6]
    if message.startswith(("unshare", "sethostname")):
        return STEPS[5]
    if message.startswith("cgroup "):
        if "cgroup.procs" in message:
            return STEPS[3]
        return STEPS[1]
    if message.startswith(("clone", "init cloned")):
        return STEPS[2]
    if message.startswith(("netlink", "container address")):
        if not cloned:
            return STEPS[0]
        return STEPS[5] if inside else STEPS[4]
    if message.startswith("claimed"):
        return STEPS[0]
    return None


def steps(lines):
    """Seconds spent in each step of one trail, as {step: seconds}, every
    step present (0 when the trail has no line of it). The first line's
    time since nsbox's start goes to that line's step."""
    spent = {step: 0.0 for step in STEPS}
    previous_t = 0.0
    current = STEPS[0]
    cloned = inside = False
    for t, message in lines:
        step = step_of(message, cloned, inside)
        if message.startswith("init cloned"):
            cloned = True
        if message.startswith("unshare"):
            inside = True
        if step is not None:
            current = step
        spent[current] += max(0.0, t - previous_t)
        previous_t = t
    return spent


def exec_time(lines):
    """Seconds from nsbox's start to the command's exec, or None."""
    for t, message in lines:
        if message.startswith("exec "):
            return t
    return None
