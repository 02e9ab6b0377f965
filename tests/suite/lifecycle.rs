//! Requirement: named containers have a lifecycle docker users know: run
//! detached, list, exec, logs, stop, kill, rm, inspect; statuses and exit
//! codes as expected; nothing left after rm, even when the monitor was
//! killed.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{
    assert_nothing_left, eventually, index_exists, lease_held_by, link_index, nsbox, require_root,
    Detached,
};

const WAIT: Duration = Duration::from_secs(15);
const SLEEPER: &[&str] = &["/bin/sh", "-c", "echo up; exec sleep 600"];

#[test]
fn root_exec_sees_the_containers_pid_1_hostname_root_address_and_cgroup() {
    require_root();
    let c = Detached::start("exec", &["--hostname", "exechost", "--pids", "50"], SLEEPER);
    c.wait_for_log("up", WAIT);
    let script = "ps -o pid,comm | awk 'NR>1 {print $1\":\"$2}' | tr '\\n' ' '; echo; hostname; \
                  ip -4 -o addr show eth0 | awk '{print $4}'; cat /NSBOX_FIXTURE; \
                  cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
                  readlink /proc/self; exit 42";
    let out = c.exec(&["/bin/sh", "-c", script]);
    out.assert_code(42);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("1:nsbox-init 2:sleep "),
        "ps in exec:\n{out}"
    );
    assert_eq!(lines[1], "exechost", "{out}");
    assert_eq!(Some(lines[2]), c.row()["address"].as_str(), "{out}");
    assert_eq!(lines[3], "nsbox fixture rootfs", "{out}");
    assert_eq!(lines[4], "50", "{out}");
    // /proc/self resolves to the exec'd shell's PID in the container.
    let pid: u32 = lines[5].parse().unwrap_or_else(|_| panic!("{out}"));
    assert!(pid > 2 && pid < 100, "{out}");
}

#[test]
fn root_exec_into_unknown_stopped_or_with_a_missing_command_fails_clearly() {
    require_root();
    let out = nsbox(&["exec", "no-such-container-here", "true"]);
    out.assert_code(125)
        .assert_stderr_has("no container named \"no-such-container-here\"");
    let c = Detached::start("execstop", &[], SLEEPER);
    c.wait_for_log("up", WAIT);
    c.exec(&["no-such-command"])
        .assert_code(127)
        .assert_stderr_has("command \"no-such-command\" not found");
    nsbox(&["stop", "-t", "5", &c.name]).assert_code(0);
    c.exec(&["true"])
        .assert_code(125)
        .assert_stderr_has(&format!("container \"{}\" is not running", c.name));
}

#[test]
fn root_stop_kill_rm_give_the_statuses_docker_users_expect() {
    require_root();
    // stop: SIGTERM ends a plain sleep: 143.
    let a = Detached::start("stop", &[], SLEEPER);
    a.wait_for_log("up", WAIT);
    assert_eq!(a.row()["status"], "running");
    nsbox(&["stop", &a.name]).assert_code(0);
    assert_eq!(a.row()["status"], "exited (143)");
    // A container that ignores SIGTERM is killed after the timeout: 137.
    let b = Detached::start(
        "stubborn",
        &[],
        &[
            "/bin/sh",
            "-c",
            "trap '' TERM; echo up; while :; do sleep 1; done",
        ],
    );
    b.wait_for_log("up", WAIT);
    nsbox(&["stop", "-t", "1", &b.name]).assert_code(0);
    assert_eq!(b.row()["status"], "exited (137)");
    // kill: SIGKILL by default, 137; a chosen signal reaches the command.
    let c = Detached::start(
        "kill",
        &[],
        &[
            "/bin/sh",
            "-c",
            "trap 'echo got-usr1; exit 5' USR1; echo up; while :; do sleep 0.05; done",
        ],
    );
    c.wait_for_log("up", WAIT);
    nsbox(&["kill", "-s", "USR1", &c.name]).assert_code(0);
    assert!(
        eventually(WAIT, || c.row()["status"] == "exited (5)"),
        "{}",
        c.row()
    );
    c.wait_for_log("got-usr1", WAIT);
    // rm: refused while running, then removes; a name is reusable after it.
    let d = Detached::start("rm", &[], SLEEPER);
    d.wait_for_log("up", WAIT);
    nsbox(&["rm", &d.name])
        .assert_code(125)
        .assert_stderr_has("is running");
    nsbox(&["rm", "-f", &d.name]).assert_code(0);
    assert_nothing_left(&d.name);
    nsbox(&["rm", "-f", &d.name]).assert_code(0);
    nsbox(&["rm", &d.name])
        .assert_code(125)
        .assert_stderr_has("no container named");
    let again = nsbox(&[
        "run",
        "--read-only",
        "--net",
        "none",
        "--name",
        &d.name,
        "--",
        "/bin/true",
    ]);
    again.assert_code(0);
    for x in [&a, &b, &c] {
        nsbox(&["rm", &x.name]).assert_code(0);
        assert_nothing_left(&x.name);
    }
}

#[test]
fn root_an_exited_container_keeps_its_name_and_log_until_rm() {
    require_root();
    let c = Detached::start("kept", &[], &["/bin/sh", "-c", "echo hello-log; exit 3"]);
    assert!(
        eventually(WAIT, || c.row()["status"] == "exited (3)"),
        "{}",
        c.row()
    );
    let log = nsbox(&["logs", &c.name]);
    assert_eq!(log.stdout, "hello-log\n");
    let reuse = nsbox(&["run", "--net", "none", "--name", &c.name, "--", "/bin/true"]);
    reuse
        .assert_code(125)
        .assert_stderr_has("an exited container named");
    let inspect = nsbox(&["inspect", &c.name]);
    let value: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(value["status"]["code"], 3, "{inspect}");
    assert_eq!(value["running"], false);
}

#[test]
fn root_logs_follow_prints_until_the_container_ends() {
    require_root();
    let c = Detached::start(
        "follow",
        &[],
        &[
            "/bin/sh",
            "-c",
            "echo up; read x < /dev/null; for i in 1 2 3; do echo line-$i; sleep 0.1; done",
        ],
    );
    let out = nsbox(&["logs", "-f", &c.name]);
    out.assert_code(0);
    assert!(out.stdout.ends_with("line-1\nline-2\nline-3\n"), "{out}");
}

#[test]
fn root_after_the_monitor_is_killed_list_tells_the_truth_and_rm_cleans_up() {
    require_root();
    let c = Detached::start("monkill", &["--net", "bridge", "--memory", "64m"], SLEEPER);
    c.wait_for_log("up", WAIT);
    let row = c.row();
    let inspect: serde_json::Value =
        serde_json::from_str(&nsbox(&["inspect", &c.name]).stdout).unwrap();
    let monitor = inspect["owner_pid"].as_i64().unwrap() as i32;
    let init = inspect["pid"].as_i64().unwrap();
    let link = inspect["host_link"].as_str().unwrap().to_string();
    let ifindex = link_index(&link).unwrap();
    assert_eq!(row["status"], "running");
    // The monitor is nsbox's own process, started by this test's nsbox run -d.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor), Signal::SIGKILL).unwrap();
    let gone = eventually(WAIT, || {
        !std::path::Path::new(&format!("/proc/{init}")).exists()
    });
    assert!(gone, "the container outlived its monitor");
    assert!(
        eventually(WAIT, || c.row()["status"] == "dead (its nsbox was killed)"),
        "{}",
        c.row()
    );
    nsbox(&["exec", &c.name, "true"])
        .assert_code(125)
        .assert_stderr_has("is not running");
    nsbox(&["rm", &c.name]).assert_code(0);
    assert_nothing_left(&c.name);
    // The address (and with it the link's name) may already serve another
    // test's container: what must be gone is this container's lease and
    // this container's link, known by its index.
    let addr = row["address"].as_str().unwrap();
    assert!(!lease_held_by(addr, &c.name), "lease on {addr} still held");
    assert!(
        eventually(WAIT, || !index_exists(&ifindex)),
        "veth {link} (index {ifindex}) left"
    );
}

#[test]
fn root_concurrent_stop_and_rm_on_one_container_all_succeed() {
    require_root();
    let c = Detached::start("race", &[], SLEEPER);
    c.wait_for_log("up", WAIT);
    let name = c.name.clone();
    let verbs: Vec<Vec<&'static str>> = vec![
        vec!["stop", "-t", "5"],
        vec!["stop", "-t", "5"],
        vec!["rm", "-f"],
        vec!["rm", "-f"],
    ];
    let runs: Vec<_> = verbs
        .into_iter()
        .map(|verb| {
            let name = name.clone();
            std::thread::spawn(move || nsbox(&[verb.as_slice(), &[name.as_str()]].concat()))
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap();
        // A stop that finds the container already removed says so; every
        // rm -f succeeds.
        if out.command.contains(" rm ") {
            out.assert_code(0);
        } else {
            assert!(
                out.code == 0 || out.stderr.contains("no container named"),
                "{out}"
            );
        }
    }
    assert_nothing_left(&name);
}

#[test]
fn root_verbs_refuse_what_cannot_work_and_go_on_with_the_other_names() {
    require_root();
    let c = Detached::start("verbs", &[], SLEEPER);
    c.wait_for_log("up", WAIT);
    // SIGSTOP would freeze nsbox's init alone, not the command.
    nsbox(&["kill", "-s", "STOP", &c.name])
        .assert_code(125)
        .assert_stderr_has("SIGSTOP cannot be sent");
    nsbox(&["kill", "-s", "NOPE", &c.name])
        .assert_code(125)
        .assert_stderr_has("unknown signal");
    c.exec(&[""])
        .assert_code(125)
        .assert_stderr_has("command must not be empty");
    // An unknown name among several: reported, and the others are stopped.
    let out = nsbox(&["stop", "-t", "5", "no-such-verbs-target", &c.name]);
    out.assert_code(125)
        .assert_stderr_has("no container named \"no-such-verbs-target\"");
    assert_eq!(out.stdout.trim(), c.name, "{out}");
    // Once it ended, list no longer shows a PID or an address that may
    // belong to something else by now.
    let row = c.row();
    assert_eq!(row["status"], "exited (143)", "{row}");
    assert!(row["pid"].is_null() && row["address"].is_null(), "{row}");
    // rm -f of an unknown name is no error and prints nothing for it.
    let out = nsbox(&["rm", "-f", "no-such-verbs-target", &c.name]);
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), c.name, "{out}");
    assert_nothing_left(&c.name);
}
