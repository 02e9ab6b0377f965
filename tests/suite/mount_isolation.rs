//! Requirement: nothing the container mounts shows on the host, during or
//! after a run, and the container has its own minimal /dev.

use std::time::Duration;

use crate::harness::{fixture_rootfs, require_root, run_to_end, spawn, unique};

fn host_mounts_under_rootfs() -> Vec<String> {
    let rootfs = fixture_rootfs().to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|target| target.starts_with(&rootfs))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn root_no_mount_reaches_the_host_during_or_after_a_run() {
    require_root();
    let before = host_mounts_under_rootfs();
    let mut running = spawn(
        &unique("mnt"),
        &[],
        &["/bin/sh", "-c", "echo ready; exec sleep 30"],
    );
    running.wait_for_line("ready", Duration::from_secs(10));
    assert_eq!(
        host_mounts_under_rootfs(),
        before,
        "container mounts visible on the host"
    );
    running.signal(nix::sys::signal::Signal::SIGTERM);
    running.wait(Duration::from_secs(10));
    assert_eq!(
        host_mounts_under_rootfs(),
        before,
        "mounts left on the host"
    );
}

#[test]
fn root_dev_is_minimal_and_private() {
    require_root();
    let out = run_to_end(&unique("dev"), &[], &["/bin/ls", "/dev"]);
    out.assert_code(0);
    let names: Vec<&str> = out.stdout.split_whitespace().collect();
    for wanted in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
    ] {
        assert!(names.contains(&wanted), "/dev lacks {wanted}: {names:?}");
    }
    for host_only in ["sda", "vda", "kmsg", "mem", "console"] {
        assert!(
            !names.contains(&host_only),
            "/dev has the host's {host_only}: {names:?}"
        );
    }
    let out = run_to_end(
        &unique("devnull"),
        &[],
        &[
            "/bin/sh",
            "-c",
            "echo x > /dev/null && head -c 4 /dev/zero | wc -c",
        ],
    );
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "4", "{out}");
}
