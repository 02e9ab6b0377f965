//! Requirement: `nsbox check` tells a user what the host offers and what
//! will not work, before the first run, and creates nothing.

use crate::harness::{nsbox_bin, require_root, Outcome};

fn check(rootfs: &str) -> Outcome {
    let out = std::process::Command::new(nsbox_bin())
        .env("NSBOX_ROOTFS", rootfs)
        .arg("check")
        .output()
        .unwrap();
    Outcome::from(out, format!("NSBOX_ROOTFS={rootfs} nsbox check"))
}

#[test]
fn root_check_passes_on_the_test_host_and_names_the_cgroup_layout() {
    require_root();
    let out = check(crate::harness::fixture_rootfs().to_str().unwrap());
    out.assert_code(0);
    for item in [
        "mnt namespace",
        "cgroups",
        "memory controller",
        "cpu controller",
        "pids controller",
        "veth pairs",
        "rootfs",
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(item))
            .unwrap_or_else(|| panic!("no {item} line\n{out}"));
        assert!(line.starts_with("ok"), "{line}");
    }
    assert!(
        out.stdout.contains("cgroup v1") || out.stdout.contains("cgroup v2"),
        "{out}"
    );
}

#[test]
fn root_check_reports_a_missing_rootfs_and_exits_1() {
    require_root();
    let out = check("/nonexistent/rootfs");
    out.assert_code(1);
    let line = out.stdout.lines().find(|l| l.contains("rootfs")).unwrap();
    assert!(
        line.starts_with("FAIL") && line.contains("does not exist"),
        "{out}"
    );
}
