//! Requirement: the shell runs in its own mount, PID, UTS, IPC and network
//! namespaces: each differs from the host's.

use std::time::Duration;

use crate::harness::{host_ns, require_root, run_to_end, spawn, unique};

#[test]
fn root_each_namespace_differs_from_the_hosts() {
    require_root();
    let out = run_to_end(&unique("ns"), &[], &["/usr/bin/probe"]);
    out.assert_code(0);
    let report = out.probe();
    for kind in ["mnt", "pid", "uts", "ipc", "net"] {
        let inside = report["namespaces"][kind]
            .as_u64()
            .unwrap_or_else(|| panic!("no {kind} namespace in\n{out}"));
        assert_ne!(inside, host_ns(kind), "{kind} namespace is the host's");
    }
}

#[test]
fn root_two_containers_get_different_namespaces() {
    require_root();
    // Both run at once: a namespace's inode number is reused once it is freed.
    let script = "probe; echo ready; exec sleep 30";
    let mut a = spawn(&unique("nsa"), &[], &["/bin/sh", "-c", script]);
    let mut b = spawn(&unique("nsb"), &[], &["/bin/sh", "-c", script]);
    let parse = |line: String| -> serde_json::Value { serde_json::from_str(&line).unwrap() };
    let a_report = parse(a.wait_for_line("{", Duration::from_secs(10)));
    let b_report = parse(b.wait_for_line("{", Duration::from_secs(10)));
    a.wait_for_line("ready", Duration::from_secs(10));
    b.wait_for_line("ready", Duration::from_secs(10));
    for kind in ["mnt", "pid", "uts", "ipc", "net"] {
        let (x, y) = (&a_report["namespaces"][kind], &b_report["namespaces"][kind]);
        assert!(x.is_u64() && y.is_u64(), "{kind} namespace missing");
        assert_ne!(x, y, "{kind} namespace shared");
    }
}

#[test]
fn root_network_namespace_has_only_loopback_up_with_net_none() {
    require_root();
    let out = run_to_end(
        &unique("lo"),
        &[],
        &["/bin/cat", "/sys/class/net/lo/operstate", "/proc/net/dev"],
    );
    out.assert_code(0);
    let ifaces: Vec<&str> = out
        .stdout
        .lines()
        .skip(3)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, vec!["lo"], "{out}");
    // A loopback that is up reports "unknown" (it has no carrier state).
    assert_eq!(out.stdout.lines().next(), Some("unknown"), "{out}");
}
