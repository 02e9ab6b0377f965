//! Requirement: a memory limit set through cgroups holds. A memory-hungry
//! program above it is killed by the kernel, nsbox says it was an
//! out-of-memory kill and exits 137; below it, the program completes.

use crate::harness::{assert_nothing_left, require_root, run_to_end, unique};

#[test]
fn root_memhog_above_the_limit_is_oom_killed_and_reported() {
    require_root();
    let name = unique("oom");
    let out = run_to_end(&name, &["--memory", "64m"], &["/usr/bin/memhog", "256"]);
    out.assert_code(137)
        .assert_stderr_has("out of memory")
        .assert_stderr_has("64MiB");
    let reached: Vec<u64> = out
        .stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("allocated ")?
                .strip_suffix(" MiB")?
                .parse()
                .ok()
        })
        .collect();
    let most = reached.iter().copied().max().unwrap_or(0);
    assert!(
        most < 64,
        "memhog got {most} MiB past a 64 MiB limit\n{out}"
    );
    assert!(!out.stdout.contains("done"), "memhog finished\n{out}");
    assert_nothing_left(&name);
}

#[test]
fn root_memhog_below_the_limit_completes() {
    require_root();
    let name = unique("memok");
    let out = run_to_end(&name, &["--memory", "64m"], &["/usr/bin/memhog", "16"]);
    out.assert_code(0);
    assert!(out.stdout.contains("done 16 MiB"), "{out}");
    assert!(!out.stderr.contains("out of memory"), "{out}");
    assert_nothing_left(&name);
}

#[test]
fn root_oom_kill_of_a_child_is_reported_and_the_shell_goes_on() {
    require_root();
    let out = run_to_end(
        &unique("oomchild"),
        &["--memory", "32m"],
        &[
            "/bin/sh",
            "-c",
            "memhog 128 >/dev/null; echo memhog-status=$?",
        ],
    );
    out.assert_code(0).assert_stderr_has("out of memory");
    assert!(out.stdout.contains("memhog-status=137"), "{out}");
}

#[test]
fn root_memory_limit_is_visible_inside() {
    require_root();
    let script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    let out = run_to_end(
        &unique("memsee"),
        &["--memory", "48m"],
        &["/bin/sh", "-c", script],
    );
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), (48u64 << 20).to_string(), "{out}");
}

#[test]
fn root_the_container_is_in_its_cgroup_before_its_command_runs() {
    require_root();
    let out = run_to_end(
        &unique("cgfirst"),
        &["--memory", "64m", "--debug"],
        &["/bin/cat", "/proc/1/cgroup"],
    );
    out.assert_code(0);
    // On v2 the init is cloned straight into its group; on v1 it is moved
    // there while it waits for the host. Either way, before the exec.
    let trail: Vec<&str> = out.stderr.lines().collect();
    let placed = trail
        .iter()
        .position(|l| l.contains("clone3 with CLONE_INTO_CGROUP") || l.contains("cgroup.procs"))
        .unwrap_or_else(|| panic!("no cgroup placement in the --debug trail\n{out}"));
    let exec = trail
        .iter()
        .position(|l| l.contains(" exec "))
        .unwrap_or_else(|| panic!("no exec\n{out}"));
    assert!(
        placed < exec,
        "the command ran before the container was in its cgroup\n{out}"
    );
    // Inside its cgroup namespace, the init's group is the root it sees.
    assert!(out.stdout.lines().all(|l| l.ends_with(":/")), "{out}");
}
