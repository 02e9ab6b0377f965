//! Requirement: nsbox exits with the command's status: N for `exit N`,
//! 128+S when it was killed by signal S, 127 for a command not found, 126
//! for one that cannot be executed.

use rstest::rstest;

use crate::harness::{assert_nothing_left, require_root, run_to_end, unique};

#[rstest]
#[case::zero("exit 0", 0)]
#[case::three("exit 3", 3)]
#[case::max("exit 255", 255)]
#[case::sigkill("kill -KILL $$", 137)]
#[case::sigterm("kill -TERM $$", 143)]
fn root_exit_status_is_the_commands(#[case] script: &str, #[case] expected: i32) {
    require_root();
    let name = unique("exit");
    let out = run_to_end(&name, &[], &["/bin/sh", "-c", script]);
    out.assert_code(expected);
    assert_nothing_left(&name);
}

#[test]
fn root_missing_command_exits_127() {
    require_root();
    let name = unique("nocmd");
    let out = run_to_end(&name, &[], &["/no/such/program"]);
    out.assert_code(127)
        .assert_stderr_has("command \"/no/such/program\" not found in rootfs");
    assert_eq!(out.stderr.lines().count(), 1, "more than one line:\n{out}");
    assert_nothing_left(&name);
}

#[test]
fn root_command_not_on_path_exits_127() {
    require_root();
    let out = run_to_end(&unique("nopath"), &[], &["no-such-tool"]);
    out.assert_code(127)
        .assert_stderr_has("\"no-such-tool\" not found");
}

#[test]
fn root_non_executable_command_exits_126() {
    require_root();
    let name = unique("noexec");
    let out = run_to_end(&name, &[], &["/NSBOX_FIXTURE"]);
    out.assert_code(126).assert_stderr_has("not executable");
    assert_nothing_left(&name);
}
