//! Requirement: `ps` in the container shows only the container's processes,
//! through a fresh /proc, and PID 1 is the container's own init.

use crate::harness::{require_root, run_to_end, sh, unique};

#[test]
fn root_ps_shows_only_the_containers_processes() {
    require_root();
    let out = sh(&unique("ps"), "ps -o pid,comm,args; exit 0");
    let rows: Vec<(u32, String)> = out
        .lines()
        .skip(1)
        .map(|line| {
            let mut cols = line.split_whitespace();
            (
                cols.next().unwrap().parse().unwrap(),
                cols.next().unwrap_or("").to_string(),
            )
        })
        .collect();
    // nsbox's init, the shell, and ps itself: nothing of the host's.
    let pids: Vec<u32> = rows.iter().map(|r| r.0).collect();
    assert_eq!(pids, vec![1, 2, 3], "ps listing:\n{out}");
    assert_eq!(
        rows[0].1, "nsbox-init",
        "PID 1 is not the container's init:\n{out}"
    );
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .trim_end()
            .ends_with(" nsbox-init"),
        "PID 1 shows a host command line:\n{out}"
    );
    assert_eq!(rows[1].1, "sh");
    assert_eq!(rows[2].1, "ps");
}

#[test]
fn root_probe_sees_only_its_pid_namespace_in_proc() {
    require_root();
    let out = run_to_end(&unique("procpids"), &[], &["/usr/bin/probe"]);
    out.assert_code(0);
    let report = out.probe();
    assert_eq!(report["pid"], 2, "{out}");
    assert_eq!(report["ppid"], 1, "{out}");
    let pids: Vec<u64> = report["proc_pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(pids, vec![1, 2], "{out}");
}

#[test]
fn root_proc_is_a_fresh_proc_mount() {
    require_root();
    let out = run_to_end(&unique("procmnt"), &[], &["/usr/bin/probe"]);
    out.assert_code(0);
    let report = out.probe();
    let mounts = report["mounts"].as_array().unwrap();
    let proc = mounts
        .iter()
        .find(|m| m["target"] == "/proc")
        .unwrap_or_else(|| panic!("no /proc mount\n{out}"));
    assert_eq!(proc["fstype"], "proc", "{out}");
    let sys = mounts
        .iter()
        .find(|m| m["target"] == "/sys")
        .unwrap_or_else(|| panic!("no /sys mount\n{out}"));
    assert!(
        sys["options"]
            .as_str()
            .unwrap()
            .split(',')
            .any(|o| o == "ro"),
        "/sys is not read-only\n{out}"
    );
}
