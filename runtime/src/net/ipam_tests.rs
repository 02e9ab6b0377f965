//! Lease allocation in a temporary state directory; no root needed, since
//! `flock` and `link` work for anyone. The tests use TEST-NET-2, which no
//! nsbox on this host serves, so no real container's veth name gets in the
//! way of the lowest-free search.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use super::*;
use crate::net::Ipv4Cidr;

fn settings(dir: &Path, subnet: &str) -> NetSettings {
    NetSettings::new("nsbt0", subnet.parse::<Ipv4Cidr>().unwrap(), dir).unwrap()
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

#[test]
fn lowest_free_address_skips_network_and_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/24");
    let first = allocate(&net, "a", None).unwrap();
    let second = allocate(&net, "b", None).unwrap();
    assert_eq!(
        (first.addr, second.addr),
        (ip("198.51.100.2"), ip("198.51.100.3"))
    );
    assert_eq!(first.host_ifname, "nsbc6336402");
    assert_eq!(first.gateway, ip("198.51.100.1"));
    let config = first.inside_config();
    assert_eq!(
        (config.addr, config.prefix, config.gateway),
        (first.addr, 24, first.gateway)
    );
    assert!(first.path().ends_with("net/leases/198.51.100.2"));
    first.release().unwrap();
    let third = allocate(&net, "c", None).unwrap();
    assert_eq!(
        third.addr,
        ip("198.51.100.2"),
        "a released address is reused"
    );
    drop((second, third));
}

#[test]
fn requested_address_in_use_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/24");
    let web = allocate(&net, "web", Some(ip("198.51.100.5"))).unwrap();
    assert_eq!(web.addr, ip("198.51.100.5"));
    let err = allocate(&net, "db", Some(ip("198.51.100.5"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 198.51.100.5 is already in use by container \"web\""
    );
    assert_eq!(
        live_holder(&net, ip("198.51.100.5")).unwrap().as_deref(),
        Some("web")
    );
    web.release().unwrap();
    assert_eq!(live_holder(&net, ip("198.51.100.5")).unwrap(), None);
    allocate(&net, "db", Some(ip("198.51.100.5")))
        .unwrap()
        .release()
        .unwrap();
}

#[test]
fn nothing_is_live_before_the_first_lease() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/24");
    assert_eq!(live_holder(&net, ip("198.51.100.5")).unwrap(), None);
    assert_eq!(leases(&net).unwrap(), []);
    assert!(remove_stale_leases(&net).unwrap().is_empty());
}

#[test]
fn requested_address_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/24");
    let err = allocate(&net, "x", Some(ip("10.9.0.7"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 10.9.0.7 is outside nsbox's subnet 198.51.100.0/24"
    );
    let err = allocate(&net, "x", Some(ip("198.51.100.1"))).unwrap_err();
    assert!(
        matches!(err, NetError::ReservedAddress { role: "bridge", .. }),
        "{err}"
    );
}

#[test]
fn stale_lease_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/24");
    // Dropping a lease without releasing it is what a killed nsbox leaves:
    // the file stays, the lock goes with the process's descriptor.
    drop(allocate(&net, "dead", Some(ip("198.51.100.9"))).unwrap());
    assert!(dir.path().join("net/leases/198.51.100.9").exists());
    let listed = leases(&net).unwrap();
    assert_eq!(
        listed,
        [LeaseInfo {
            addr: ip("198.51.100.9"),
            container: "dead".into(),
            live: false
        }]
    );
    let alive = allocate(&net, "alive", Some(ip("198.51.100.9"))).unwrap();
    assert_eq!(
        live_holder(&net, alive.addr).unwrap().as_deref(),
        Some("alive")
    );
    // The lowest-free search also counts a stale lease as free.
    drop(allocate(&net, "dead2", None).unwrap());
    assert_eq!(
        allocate(&net, "next", None).unwrap().addr,
        ip("198.51.100.2")
    );
}

#[test]
fn remove_stale_leases_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/24");
    let live = allocate(&net, "live", None).unwrap();
    drop(allocate(&net, "dead", None).unwrap());
    let removed = remove_stale_leases(&net).unwrap();
    assert_eq!(removed, ["lease 198.51.100.3 of container \"dead\""]);
    let listed = leases(&net).unwrap();
    assert_eq!(
        listed,
        [LeaseInfo {
            addr: live.addr,
            container: "live".into(),
            live: true
        }]
    );
    assert!(remove_stale_leases(&net).unwrap().is_empty());
}

#[test]
fn full_subnet_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let net = settings(dir.path(), "198.51.100.0/30");
    let only = allocate(&net, "only", None).unwrap();
    assert_eq!(only.addr, ip("198.51.100.2"));
    let err = allocate(&net, "more", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no free address left in nsbox's subnet 198.51.100.0/30"
    );
}

#[test]
fn concurrent_allocations_never_share_an_address() {
    const WORKERS: usize = 24;
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(settings(dir.path(), "198.51.100.0/24"));
    let start = Arc::new(Barrier::new(WORKERS));
    let handles: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (net, start) = (Arc::clone(&net), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                allocate(&net, &format!("c{i}"), None).unwrap()
            })
        })
        .collect();
    let held: Vec<Lease> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let addrs: HashSet<_> = held.iter().map(|l| l.addr).collect();
    assert_eq!(addrs.len(), WORKERS, "two containers got one address");
    let expected: HashSet<_> = (2..2 + WORKERS as u32).map(|n| net.subnet.nth(n)).collect();
    assert_eq!(addrs, expected, "the lowest addresses are used");
    let leftovers = fs::read_dir(net.leases_dir()).unwrap().count();
    assert_eq!(leftovers, WORKERS, "no temporary files remain");
}

#[test]
fn concurrent_takeover_of_one_stale_lease_has_one_winner() {
    const WORKERS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(settings(dir.path(), "198.51.100.0/24"));
    drop(allocate(&net, "dead", Some(ip("198.51.100.7"))).unwrap());
    let start = Arc::new(Barrier::new(WORKERS));
    let handles: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (net, start) = (Arc::clone(&net), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                allocate(&net, &format!("c{i}"), Some(ip("198.51.100.7")))
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<&Lease> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one takes the stale lease over");
    for outcome in &outcomes {
        if let Err(err) = outcome {
            let expected = format!("already in use by container \"{}\"", winners[0].container);
            assert!(err.to_string().ends_with(&expected), "{err}");
        }
    }
}
