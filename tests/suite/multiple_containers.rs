//! Requirement: several containers run side by side, isolated from one
//! another: each one's `ps` sees only its own processes, hostnames differ,
//! servers on the same port answer the host separately, and many start at
//! once with distinct names and addresses.

use std::collections::HashSet;
use std::time::Duration;

use crate::harness::{
    assert_answers_as, assert_nothing_left, nsbox, require_root, unique, Detached,
};

const WAIT: Duration = Duration::from_secs(15);
const SERVE: &[&str] = &[
    "/bin/sh",
    "-c",
    "echo up; exec /usr/bin/echo-server --port 8080",
];

#[test]
fn root_two_containers_do_not_see_each_other_and_share_a_port() {
    require_root();
    let a = Detached::start("iso-a", &["--net", "bridge", "--hostname", "box-a"], SERVE);
    let b = Detached::start("iso-b", &["--net", "bridge", "--hostname", "box-b"], SERVE);
    a.wait_for_log("listening on", WAIT);
    b.wait_for_log("listening on", WAIT);
    for (me, other) in [(&a, &b), (&b, &a)] {
        let ps = me.exec(&["ps", "-o", "pid,comm"]);
        ps.assert_code(0);
        let comms: Vec<&str> = ps
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        assert_eq!(
            comms,
            vec!["nsbox-init", "echo-server", "ps"],
            "{} sees:\n{ps}",
            me.name
        );
        let hostname = me.exec(&["hostname"]);
        assert_ne!(hostname.stdout, other.exec(&["hostname"]).stdout);
    }
    for (c, hostname) in [(&a, "box-a"), (&b, "box-b")] {
        let row = c.row();
        let addr = row["address"].as_str().unwrap().split('/').next().unwrap();
        assert_answers_as(addr, 8080, hostname);
    }
}

#[test]
fn root_ten_containers_start_at_once_with_distinct_names_and_addresses() {
    require_root();
    let prefix = unique("ten");
    let names: Vec<String> = (0..10).map(|i| format!("{prefix}-{i}")).collect();
    let starts: Vec<_> = names
        .iter()
        .map(|name| {
            let name = name.clone();
            std::thread::spawn(move || {
                nsbox(&[
                    "run",
                    "-d",
                    "--read-only",
                    "--net",
                    "bridge",
                    "--name",
                    &name,
                    "--",
                    "/bin/sh",
                    "-c",
                    "exec sleep 600",
                ])
            })
        })
        .collect();
    for start in starts {
        start.join().unwrap().assert_code(0);
    }
    let list = nsbox(&["list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&list.stdout).unwrap();
    let ours: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| names.iter().any(|n| r["name"] == n.as_str()))
        .collect();
    assert_eq!(ours.len(), 10, "{list}");
    assert!(ours.iter().all(|r| r["status"] == "running"), "{list}");
    let addresses: HashSet<&str> = ours
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses.len(), 10, "addresses shared: {addresses:?}");
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    nsbox(&rm).assert_code(0);
    for name in &names {
        assert_nothing_left(name);
    }
}
