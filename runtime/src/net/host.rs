//! The host's side of a container's network: called by the parent, in the
//! host's network namespace.

use nix::errno::Errno;

use super::netlink::Netlink;
use super::{bridge, ipam, veth, Lease, NetError, NetSettings};

/// Wire the container whose init is `child_pid` to the bridge.
///
/// Called by the parent after `clone()`, while the child waits inside its
/// new network namespace. Ensures the bridge (created only the first time),
/// then creates the veth pair in a single request: the host end, named
/// `lease.host_ifname`, is up and on the bridge; the other end is born as
/// `eth0` inside the child's namespace, where
/// [`configure_inside`](super::configure_inside) takes over.
pub fn attach(settings: &NetSettings, lease: &Lease, child_pid: i32) -> Result<(), NetError> {
    let mut nl = Netlink::open()?;
    let bridge_index = bridge::ensure(&mut nl, settings)?;
    let host = &lease.host_ifname;
    let mac = bridge::mac_for(lease.addr);
    match veth::create_pair(&mut nl, host, bridge_index, child_pid, mac) {
        Err(e) if e.errno() == Some(Errno::EEXIST) => {
            // The name is derived from the address and the lease on the
            // address is ours, so a link with this name is a leftover: the
            // kernel has not finished removing the veth of the address's
            // previous container, or that container's namespace outlived
            // its nsbox. Deleting it costs tens of milliseconds; the
            // allocator avoids the case unless an address was requested.
            veth::delete_by_name(&mut nl, host)?;
            veth::create_pair(&mut nl, host, bridge_index, child_pid, mac)
        }
        outcome => outcome,
    }
}

/// Remove the host link `name` if it exists.
///
/// For error paths: normally the kernel removes a container's veth by itself
/// when the container's network namespace goes away.
pub fn delete_link(name: &str) -> Result<(), NetError> {
    let mut nl = Netlink::open()?;
    veth::delete_by_name(&mut nl, name).map(|_| ())
}

/// Remove what dead nsbox processes left behind: lease files nobody holds,
/// and veths on the bridge whose address has no live lease. Returns a
/// description of each thing removed.
///
/// The bridge itself stays. Links on a bridge that nsbox did not create are
/// never touched.
pub fn remove_stale(settings: &NetSettings) -> Result<Vec<String>, NetError> {
    let mut removed = ipam::remove_stale_leases(settings)?;
    let mut nl = Netlink::open()?;
    let Some(state) = bridge::find_link(&mut nl, &settings.bridge)? else {
        return Ok(removed);
    };
    if bridge::check_owned(&settings.bridge, &state).is_err() {
        return Ok(removed);
    }
    for link in veth::list_on_bridge(&mut nl, &settings.bridge, state.index)? {
        // Looked up after the link was seen: a lease is always taken before
        // its veth is created, so a veth without a live lease is stale.
        if ipam::live_holder(settings, link.addr)?.is_none()
            && veth::delete_by_index(&mut nl, link.index, &link.name)?
        {
            removed.push(format!("link {}", link.name));
        }
    }
    Ok(removed)
}
