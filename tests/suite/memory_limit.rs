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
