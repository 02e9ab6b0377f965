//! Checks made before anything of a container exists.

use std::net::Ipv4Addr;

use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::netlink::Netlink;
use super::subnet::{find_overlap, HostRoute, RouteKind};
use super::{bridge, iface, ipam, Ipv4Cidr, NetError, NetMode, NetSettings};

/// Check a network request before anything is created, so that bad input
/// fails fast and leaves nothing behind.
///
/// Runs in the host's network namespace. For [`NetMode::Bridge`] it checks
/// that a requested address is inside the subnet, is not its network,
/// broadcast or bridge address, and is not leased to a live container; that
/// a link named like the bridge, if one exists, is nsbox's bridge; and that
/// the subnet overlaps no host route other than the bridge's own. The lease
/// check is advisory: [`allocate`](super::allocate) settles races.
pub fn preflight(settings: &NetSettings, mode: &NetMode) -> Result<(), NetError> {
    let NetMode::Bridge { ip } = mode else {
        return Ok(());
    };
    if let Some(addr) = *ip {
        settings.check_address(addr)?;
        if let Some(container) = ipam::live_holder(settings, addr)? {
            return Err(NetError::AddressInUse { addr, container });
        }
    }
    let mut nl = Netlink::open()?;
    let bridge_index = match bridge::find_link(&mut nl, &settings.bridge)? {
        Some(state) => {
            bridge::check_owned(&settings.bridge, &state)?;
            Some(state.index)
        }
        None => None,
    };
    let routes = host_routes(&mut nl)?;
    match find_overlap(&settings.subnet, &routes, bridge_index) {
        None => Ok(()),
        Some(route) => Err(NetError::SubnetOverlap {
            subnet: settings.subnet,
            route: route.dest,
            dev: route.oif.and_then(iface::name_of),
        }),
    }
}

/// Every IPv4 route of the current network namespace, in all tables.
fn host_routes(nl: &mut Netlink) -> Result<Vec<HostRoute>, NetError> {
    let mut query = RouteMessage::default();
    query.header.address_family = AddressFamily::Inet;
    let answers = nl.dump(
        "list the host's IPv4 routes",
        RouteNetlinkMessage::GetRoute(query),
    )?;
    Ok(answers.iter().filter_map(host_route).collect())
}

fn host_route(message: &RouteNetlinkMessage) -> Option<HostRoute> {
    let RouteNetlinkMessage::NewRoute(route) = message else {
        return None;
    };
    if route.header.address_family != AddressFamily::Inet {
        return None;
    }
    let mut dest = Ipv4Addr::UNSPECIFIED;
    let mut oif = None;
    for attribute in &route.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(addr)) => dest = *addr,
            RouteAttribute::Oif(index) => oif = Some(*index),
            _ => {}
        }
    }
    let kind = match route.header.kind {
        RouteType::Broadcast | RouteType::Multicast => RouteKind::Incidental,
        _ => RouteKind::Claims,
    };
    let prefix = route.header.destination_prefix_length;
    Some(HostRoute {
        dest: Ipv4Cidr { addr: dest, prefix },
        oif,
        kind,
    })
}
