//! Requirement: SIGINT, SIGTERM and SIGHUP sent to nsbox reach the
//! container, and when nsbox exits nothing of the container keeps running.

use std::time::Duration;

use nix::sys::signal::Signal;
use rstest::rstest;

use crate::harness::{assert_nothing_left, eventually, require_root, spawn, state_root, unique};

const TRAP: &str = "trap 'echo got-$SIG; exit 0' $SIG; echo ready; while :; do sleep 0.05; done";

#[rstest]
#[case::int(Signal::SIGINT, "INT")]
#[case::term(Signal::SIGTERM, "TERM")]
#[case::hup(Signal::SIGHUP, "HUP")]
fn root_signals_sent_to_nsbox_reach_the_container(#[case] sig: Signal, #[case] sh_name: &str) {
    require_root();
    let name = unique("sig");
    let script = TRAP.replace("$SIG", sh_name);
    let mut running = spawn(&name, &[], &["/bin/sh", "-c", &script]);
    running.wait_for_line("ready", Duration::from_secs(10));
    running.signal(sig);
    let out = running.wait(Duration::from_secs(10));
    out.assert_code(0);
    assert!(
        out.stdout.contains(&format!("got-{sh_name}")),
        "trap did not run\n{out}"
    );
    assert_nothing_left(&name);
}

#[test]
fn root_sigterm_ends_a_container_that_does_not_trap_it() {
    require_root();
    let name = unique("term");
    let mut running = spawn(&name, &[], &["/bin/sh", "-c", "echo ready; exec sleep 60"]);
    running.wait_for_line("ready", Duration::from_secs(10));
    let init_pid = container_init_pid(&name);
    running.signal(Signal::SIGTERM);
    running.wait(Duration::from_secs(10)).assert_code(143);
    assert!(
        !std::path::Path::new(&format!("/proc/{init_pid}")).exists(),
        "container init still running"
    );
    assert_nothing_left(&name);
}

#[test]
fn root_killing_nsbox_kills_the_container() {
    require_root();
    let name = unique("kill9");
    let mut running = spawn(&name, &[], &["/bin/sh", "-c", "echo ready; exec sleep 60"]);
    running.wait_for_line("ready", Duration::from_secs(10));
    let init_pid = container_init_pid(&name);
    running.signal(Signal::SIGKILL);
    running.wait(Duration::from_secs(10));
    let gone = eventually(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{init_pid}")).exists()
    });
    assert!(gone, "container init {init_pid} outlived nsbox");
    // Its state stays until `nsbox cleanup` (or another run of that name)
    // finds it stale. Tests run in parallel, so another test's cleanup may
    // get there first: what counts is that nothing remains after ours.
    let cleanup = std::process::Command::new(crate::harness::nsbox_bin())
        .arg("cleanup")
        .output()
        .unwrap();
    assert!(cleanup.status.success());
    assert_nothing_left(&name);
}

/// The host PID of a running container's init, from its state record.
fn container_init_pid(name: &str) -> i32 {
    let path = state_root()
        .join("containers")
        .join(name)
        .join("state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    record["pid"].as_i64().unwrap() as i32
}

#[test]
fn root_a_container_ignoring_sigterm_is_killed_after_the_stop_timeout() {
    require_root();
    let name = unique("stubborn");
    let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
    let mut running = spawn(&name, &["--stop-timeout", "1"], &["/bin/sh", "-c", script]);
    running.wait_for_line("ready", Duration::from_secs(10));
    running.signal(Signal::SIGTERM);
    running.wait(Duration::from_secs(10)).assert_code(137);
    assert_nothing_left(&name);
}

#[test]
fn root_a_second_sigterm_kills_at_once() {
    require_root();
    let name = unique("term2");
    let script = "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done";
    let mut running = spawn(
        &name,
        &["--stop-timeout", "600"],
        &["/bin/sh", "-c", script],
    );
    running.wait_for_line("ready", Duration::from_secs(10));
    running.signal(Signal::SIGTERM);
    // The first reached the shell (its trap ran); the second kills.
    running.wait_for_line("got-term", Duration::from_secs(10));
    running.signal(Signal::SIGTERM);
    running.wait(Duration::from_secs(10)).assert_code(137);
    assert_nothing_left(&name);
}
