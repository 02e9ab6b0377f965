"""Unit tests of the --debug trail's attribution to start-up steps, on a
trail as nsbox prints it (shortened)."""

import unittest

import trail

TRAIL = """\
   0.000400s DEBUG netlink: look up link nsbox0: ok in 115 µs
   0.000600s DEBUG claimed container name dir=/run/nsbox/containers/x
   0.000700s DEBUG cgroup mkdir /sys/fs/cgroup/memory/nsbox/x
   0.000800s DEBUG cgroup write /sys/fs/cgroup/memory/nsbox/x/memory.limit_in_bytes = 1
   0.001000s DEBUG clone flags=CloneFlags(CLONE_NEWNS | CLONE_NEWPID)
   0.002000s DEBUG init cloned; it waits for the host pid=19197
   0.002500s DEBUG cgroup write /sys/fs/cgroup/memory/nsbox/x/cgroup.procs = 19197
   0.012500s DEBUG cgroup write /sys/fs/cgroup/cpu/nsbox/x/cgroup.procs = 19197
   0.013000s DEBUG netlink: look up link nsbox0: ok in 89 µs
   0.014000s DEBUG netlink: create veth nsb0 peer eth0 in netns of pid 19197: ok in 581 µs
   0.014100s DEBUG container address address=10.117.0.2 link=nsb0
   0.014300s DEBUG unshare flags=CloneFlags(CLONE_NEWCGROUP)
   0.014500s DEBUG netlink: set link lo up: ok in 91 µs
   0.014600s DEBUG sethostname hostname=x
some unrelated line
   0.014700s DEBUG mount private target=/ flags=MsFlags(MS_REC | MS_PRIVATE)
   0.015000s DEBUG mknod path=/r/dev/null major=1 minor=3
   0.015500s DEBUG pivot_root(".", ".") rootfs=/r
   0.015600s DEBUG umount2(".", MNT_DETACH): detach the old root
   0.016000s DEBUG exec argv=["/bin/echo", "up"] program=/bin/echo
   0.018000s DEBUG cgroup rmdir /sys/fs/cgroup/memory/nsbox/x
"""


class Trail(unittest.TestCase):
    def test_parse_keeps_only_trail_lines(self):
        lines = trail.parse(TRAIL)
        self.assertEqual(len(lines), 20)
        self.assertEqual(lines[0], (0.0004, "netlink: look up link nsbox0: ok in 115 µs"))

    def test_steps_charge_each_interval_to_the_later_line(self):
        ms = {k: round(v * 1000, 3) for k, v in trail.steps(trail.parse(TRAIL)).items()}
        self.assertEqual(ms["preflight and state"], 0.6)
        self.assertEqual(ms["cgroups: create and limit"], 0.2)
        self.assertEqual(ms["clone (new namespaces)"], 1.2)
        self.assertEqual(ms["cgroups: move the init in"], 10.5)
        self.assertEqual(ms["network: bridge and veth (host side)"], 1.6)
        self.assertEqual(ms["inside: cgroupns, links, hostname"], 0.5)
        self.assertEqual(ms["mounts, devices, pivot_root"], 1.0)
        self.assertEqual(ms["exec the command"], 0.4)
        self.assertEqual(ms["command runs, exits; teardown"], 2.0)

    def test_steps_add_up_to_the_trail(self):
        total = sum(trail.steps(trail.parse(TRAIL)).values())
        self.assertAlmostEqual(total, 0.018)

    def test_netlink_lines_are_placed_by_when_they_come(self):
        self.assertEqual(
            trail.step_of("netlink: x", cloned=False, inside=False), "preflight and state"
        )
        self.assertEqual(
            trail.step_of("netlink: x", cloned=True, inside=False),
            "network: bridge and veth (host side)",
        )
        self.assertEqual(
            trail.step_of("netlink: x", cloned=True, inside=True),
            "inside: cgroupns, links, hostname",
        )

    def test_a_trail_without_network_or_cgroups(self):
        text = (
            "   0.000100s DEBUG claimed container name dir=/x\n"
            "   0.000200s DEBUG clone flags=CloneFlags(CLONE_NEWNS)\n"
            "   0.000800s DEBUG init cloned; it waits for the host pid=1\n"
            "   0.001000s DEBUG mount proc target=/r/proc\n"
            '   0.001100s DEBUG exec argv=["/bin/true"] program=/bin/true\n'
        )
        spent = trail.steps(trail.parse(text))
        self.assertEqual(spent["cgroups: move the init in"], 0)
        self.assertAlmostEqual(spent["clone (new namespaces)"], 0.0007)
        self.assertAlmostEqual(trail.exec_time(trail.parse(text)), 0.0011)

    def test_exec_time_is_none_without_exec(self):
        self.assertIsNone(trail.exec_time([]))


if __name__ == "__main__":
    unittest.main()
