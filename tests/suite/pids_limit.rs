//! Requirement: a process-count limit holds. A fork bomb stops at the cap,
//! and the host can still fork.

use crate::harness::{require_root, run_to_end, unique};

#[test]
fn root_forker_stops_at_the_pids_limit() {
    require_root();
    let out = run_to_end(
        &unique("pids"),
        &["--pids", "20"],
        &["/usr/bin/forker", "100"],
    );
    out.assert_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("forked "))
        .unwrap_or_else(|| panic!("{out}"));
    let got: u32 = line.split(' ').nth(1).unwrap().parse().unwrap();
    // The init and forker itself count too: at most 18 children fit.
    assert!(
        got <= 18,
        "forker made {got} processes under --pids 20\n{out}"
    );
    assert!(
        out.stdout.contains("fork failed"),
        "fork never failed\n{out}"
    );
    // The host is unaffected.
    let status = std::process::Command::new("/bin/true").status().unwrap();
    assert!(status.success());
}

#[test]
fn root_pids_limit_is_visible_inside() {
    require_root();
    let script = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max";
    let out = run_to_end(
        &unique("pidsee"),
        &["--pids", "33"],
        &["/bin/sh", "-c", script],
    );
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "33", "{out}");
}
