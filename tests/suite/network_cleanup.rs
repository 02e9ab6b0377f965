//! Requirement: a container's veth and address go away when it ends:
//! after a normal exit, after a failed start, and after nsbox is killed
//! with SIGKILL and `nsbox cleanup` runs. Bad addresses are refused first.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::{
    assert_nothing_left, eventually, fixture_rootfs, index_exists, lease_held_by, link_index,
    nsbox_bin, record, require_root, run_to_end, spawn, unique,
};

const NET: &[&str] = &["--net", "bridge"];
const WAIT: Duration = Duration::from_secs(15);

/// Starts a networked container that waits; returns it with its host link and address.
/// The link is returned by name and interface index.
fn start_waiting(
    name: &str,
    extra: &[&str],
) -> (crate::harness::Running, (String, String), String) {
    let mut running = spawn(
        name,
        &[NET, extra].concat(),
        &["/bin/sh", "-c", "echo ready; exec sleep 60"],
    );
    running.wait_for_line("ready", WAIT);
    let rec = record(name);
    let link = rec["host_link"].as_str().unwrap().to_string();
    let addr = rec["address"].as_str().unwrap().to_string();
    let index =
        link_index(&link).unwrap_or_else(|| panic!("host link {link} missing while running"));
    assert!(link.len() <= 15, "host link name {link} too long");
    assert!(lease_held_by(&addr, name), "no lease on {addr} for {name}");
    (running, (link, index), addr)
}

#[test]
fn root_veth_and_address_are_released_after_a_normal_exit() {
    require_root();
    let name = unique("netexit");
    let (running, (link, index), addr) = start_waiting(&name, &[]);
    running.signal(Signal::SIGTERM);
    running.wait(WAIT).assert_code(143);
    assert!(!lease_held_by(&addr, &name), "lease {addr} held after exit");
    assert!(
        eventually(WAIT, || !index_exists(&index)),
        "veth {link} left after exit"
    );
    assert_nothing_left(&name);
}

#[test]
fn root_nothing_is_left_after_a_failed_start() {
    require_root();
    // A script whose interpreter is missing passes every check on the host
    // and fails only at exec inside the container, after the cgroup, the
    // address and the veth exist.
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::create_dir(rootfs.path().join("bin")).unwrap();
    std::fs::copy(
        fixture_rootfs().join("bin/busybox"),
        rootfs.path().join("bin/busybox"),
    )
    .unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.path().join("bin/sh")).unwrap();
    let script = rootfs.path().join("bin/script");
    std::fs::write(&script, b"#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let name = unique("netfail");
    let root = rootfs.path().to_str().unwrap();
    let out = run_to_end(
        &name,
        &["--net", "bridge", "--memory", "64m", "--rootfs", root],
        &["/bin/script"],
    );
    out.assert_code(127)
        .assert_stderr_has("its interpreter or dynamic loader is missing");
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    assert_nothing_left(&name);
    // The lease directory itself goes once it is empty.
    for lease in std::fs::read_dir(std::path::Path::new("/run/nsbox/net/leases"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(lease.path()).unwrap_or_default();
        assert!(
            !text.contains(&name),
            "lease {} held by the failed container",
            lease.path().display()
        );
    }
}

#[test]
fn root_cleanup_removes_what_a_killed_nsbox_left() {
    require_root();
    let name = unique("netkill");
    let (running, (link, index), addr) = start_waiting(&name, &["--memory", "64m"]);
    let init = record(&name)["pid"].as_i64().unwrap();
    running.signal(Signal::SIGKILL);
    running.wait(WAIT);
    assert!(
        eventually(WAIT, || !Path::new(&format!("/proc/{init}")).exists()),
        "init outlived nsbox"
    );
    let out = std::process::Command::new(nsbox_bin())
        .arg("cleanup")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nsbox cleanup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !lease_held_by(&addr, &name),
        "lease {addr} left after cleanup"
    );
    assert!(
        eventually(WAIT, || !index_exists(&index)),
        "veth {link} left after cleanup"
    );
    assert_nothing_left(&name);
}

#[test]
fn root_an_address_in_use_outside_the_subnet_or_malformed_is_refused() {
    require_root();
    let name = unique("ipowner");
    let (_running, _link, addr) = start_waiting(&name, &[]);
    let ip = addr.split('/').next().unwrap();
    let cases = [
        (
            ip,
            format!("address {ip} is already in use by container \"{name}\""),
        ),
        ("192.0.2.77", "outside".to_string()),
        ("10.117.0.300", "invalid --ip".to_string()),
    ];
    for (given, message) in cases {
        let other = unique("ipclash");
        let out = run_to_end(&other, &["--net", "bridge", "--ip", given], &["/bin/true"]);
        out.assert_code(125).assert_stderr_has(&message);
        assert_nothing_left(&other);
    }
}

#[test]
fn root_a_subnet_overlapping_a_host_route_is_refused_before_anything_exists() {
    require_root();
    // 127.0.0.0/8 is routed to lo on every Linux host.
    let bridge = format!("nsbt{}", std::process::id() % 100_000);
    let name = unique("overlap");
    let out = std::process::Command::new(nsbox_bin())
        .env("NSBOX_ROOTFS", fixture_rootfs())
        .env("NSBOX_SUBNET", "127.0.0.0/24")
        .env("NSBOX_BRIDGE", &bridge)
        .args(["run", "--read-only", "--name", &name, "--", "/bin/true"])
        .output()
        .unwrap();
    let out = crate::harness::Outcome::from(
        out,
        format!("NSBOX_SUBNET=127.0.0.0/24 NSBOX_BRIDGE={bridge} nsbox run ..."),
    );
    out.assert_code(125)
        .assert_stderr_has("subnet 127.0.0.0/24 overlaps the host route 127.0.0.0/8 on lo");
    assert!(link_index(&bridge).is_none(), "bridge {bridge} was created");
    assert_nothing_left(&name);
}
