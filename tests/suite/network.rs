//! Requirement: the container and the host have different addresses,
//! joined by a veth pair; a server started from the container's shell,
//! from the rootfs, exchanges data with a client on the host; several
//! containers serve on one port; containers reach each other and the host.
//!
//! Safety: every host-side client is bound to nsbox's bridge device, and
//! every address used is inside namespaces nsbox created.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::harness::{
    assert_answers_as, bridge_client, record, require_root, spawn, unique, Running,
};

const NET: &[&str] = &["--net", "bridge"];
const WAIT: Duration = Duration::from_secs(15);

/// Starts a container whose shell prints its eth0 address, then runs the
/// rootfs's echo-server on `port`; returns it once the server listens.
fn serve(name: &str, hostname: &str, port: u16) -> (Running, Ipv4Addr) {
    let script = format!(
        "echo addr=$(ip -4 -o addr show eth0 | awk '{{print $4}}'); exec /usr/bin/echo-server --port {port}"
    );
    let mut running = spawn(
        name,
        &[NET, &["--hostname", hostname]].concat(),
        &["/bin/sh", "-c", &script],
    );
    let line = running.wait_for_line("addr=", WAIT);
    let cidr = line.trim().strip_prefix("addr=").unwrap().to_string();
    let addr: Ipv4Addr = cidr
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no address: {line}"));
    running.wait_for_line("listening on", WAIT);
    // The address the container sees is the one nsbox recorded.
    assert_eq!(record(name)["address"], cidr.as_str());
    (running, addr)
}

fn host_addresses() -> Vec<Ipv4Addr> {
    nix::ifaddrs::getifaddrs()
        .unwrap()
        .filter_map(|i| i.address?.as_sockaddr_in().map(|a| a.ip()))
        .collect()
}

#[test]
fn root_host_client_exchanges_data_with_a_server_in_the_container() {
    require_root();
    let name = unique("web");
    let (_running, addr) = serve(&name, "webbox", 8080);
    assert!(
        !host_addresses().contains(&addr),
        "container address {addr} is also a host address"
    );
    let payload = format!("ping-{}", unique("payload"));
    let body = bridge_client()
        .post(format!("http://{addr}:8080/hello"))
        .body(payload.clone())
        .send()
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("request to {addr}: {e}"));
    assert_eq!(
        body,
        format!("hostname=webbox\npath=/hello\necho={payload}")
    );
}

#[test]
fn root_five_containers_serve_on_the_same_port() {
    require_root();
    let servers: Vec<(Running, Ipv4Addr, String)> = (0..5)
        .map(|i| {
            let hostname = format!("same-port-{i}");
            let (running, addr) = serve(&unique(&format!("port{i}")), &hostname, 9000);
            (running, addr, hostname)
        })
        .collect();
    let mut addrs: Vec<Ipv4Addr> = servers.iter().map(|s| s.1).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 5, "containers share addresses");
    for (_, addr, hostname) in &servers {
        assert_answers_as(&addr.to_string(), 9000, hostname);
    }
}

#[test]
fn root_containers_reach_each_other_across_the_bridge() {
    require_root();
    let (_server, addr) = serve(&unique("peer-a"), "peer-a", 8081);
    let script = format!("wget -q -O - http://{addr}:8081/from-b");
    let out = crate::harness::run_to_end(&unique("peer-b"), NET, &["/bin/sh", "-c", &script]);
    out.assert_code(0);
    assert!(
        out.stdout.starts_with("hostname=peer-a\npath=/from-b\n"),
        "{out}"
    );
}

#[test]
fn root_loopback_works_inside_a_container() {
    require_root();
    let script = "/usr/bin/echo-server --bind 127.0.0.1 --port 7000 --once > /tmp/log & \
                  i=0; until grep -q listening /tmp/log; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.02; done; \
                  wget -q -O - http://127.0.0.1:7000/lo";
    let out = crate::harness::run_to_end(
        &unique("lo"),
        &["--hostname", "lobox"],
        &["/bin/sh", "-c", script],
    );
    out.assert_code(0);
    assert!(
        out.stdout.starts_with("hostname=lobox\npath=/lo\n"),
        "{out}"
    );
}

#[test]
fn root_container_reaches_the_hosts_bridge_address() {
    require_root();
    let name = unique("tohost");
    // The gateway of the container is the bridge's address on the host.
    let script = "gw=$(ip route | awk '/default/ {print $3}'); echo gw=$gw; read port; \
                  echo hello-from-container | nc -w 5 $gw $port";
    let mut cmd = std::process::Command::new(crate::harness::nsbox_bin());
    cmd.env("NSBOX_ROOTFS", crate::harness::fixture_rootfs())
        .args([
            "run",
            "--read-only",
            "--net",
            "bridge",
            "--name",
            &name,
            "--",
            "/bin/sh",
            "-c",
            script,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let gw: Ipv4Addr = line.trim().strip_prefix("gw=").unwrap().parse().unwrap();
    // Read while the container waits for the port: it ends after sending.
    let own = record(&name)["address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // Listen only on the bridge's address, so nothing else can connect.
    let listener = std::net::TcpListener::bind((gw, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{port}\n").as_bytes(),
    )
    .unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut accepted = None;
    let connected = crate::harness::eventually(WAIT, || {
        accepted = listener.accept().ok();
        accepted.is_some()
    });
    assert!(connected, "the container never connected to {gw}:{port}");
    let (conn, peer) = accepted.unwrap();
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(conn), &mut got).unwrap();
    let what = format!(
        "TCP listener on the host's bridge address {gw}:{port}, reached from the container"
    );
    crate::harness::record_exchange(&what, &format!("connection from {peer}"), &got);
    assert_eq!(got, "hello-from-container\n");
    assert_eq!(
        own,
        peer.ip().to_string(),
        "the connection came from elsewhere"
    );
    assert!(child.wait().unwrap().success());
}
