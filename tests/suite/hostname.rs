//! Requirement: the container shows the hostname given as an argument, and
//! the host's hostname never changes.

use crate::harness::{require_root, run_to_end, unique};

fn host_hostname() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn root_hostname_prints_the_given_name_and_the_host_keeps_its_own() {
    require_root();
    let before = host_hostname();
    let wanted = unique("box");
    let out = run_to_end(&unique("hn"), &["--hostname", &wanted], &["/bin/hostname"]);
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), wanted, "{out}");
    assert_eq!(host_hostname(), before, "the host's hostname changed");
}

#[test]
fn root_hostname_defaults_to_the_container_name() {
    require_root();
    let name = unique("named");
    let out = run_to_end(&name, &[], &["/bin/hostname"]);
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), name);
}

#[test]
fn root_longest_hostname_is_accepted() {
    require_root();
    let wanted = "h".repeat(64);
    let out = run_to_end(
        &unique("hn64"),
        &["--hostname", &wanted],
        &["/bin/cat", "/proc/sys/kernel/hostname"],
    );
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), wanted);
}
