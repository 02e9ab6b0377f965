//! Requirement: no file descriptor of nsbox reaches the container: only 0, 1
//! and 2 are open in the user's command, for `run` and for `exec`.

use std::time::Duration;

use crate::harness::{require_root, run_to_end, unique, Detached};

fn fds(report: &serde_json::Value) -> Vec<u64> {
    report["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn root_only_standard_descriptors_reach_the_command_of_run() {
    require_root();
    let out = run_to_end(
        &unique("fds"),
        &["--net", "bridge", "--memory", "64m"],
        &["/usr/bin/probe"],
    );
    out.assert_code(0);
    assert_eq!(fds(&out.probe()), vec![0, 1, 2], "{out}");
}

#[test]
fn root_only_standard_descriptors_reach_the_command_of_exec() {
    require_root();
    let c = Detached::start(
        "execfds",
        &["--pids", "50"],
        &["/bin/sh", "-c", "echo up; exec sleep 600"],
    );
    c.wait_for_log("up", Duration::from_secs(15));
    let out = c.exec(&["/usr/bin/probe"]);
    out.assert_code(0);
    assert_eq!(fds(&out.probe()), vec![0, 1, 2], "{out}");
}
