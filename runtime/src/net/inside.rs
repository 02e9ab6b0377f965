//! The container's side of its network: called by the container's init,
//! inside its new network namespace.

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{RouteAddress, RouteHeader, RouteScope, RouteType};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::bridge::{address_message, set_up};
use super::netlink::Netlink;
use super::veth::CONTAINER_IFNAME;
use super::{iface, InsideConfig, NetError};

/// Bring up the container's network from inside its namespace: loopback
/// always, and `eth0` with its address and a default route through the
/// bridge when `inside` is given (after the parent's
/// [`attach`](super::attach)).
///
/// The netlink socket is opened here, so it belongs to the namespace the
/// calling thread is in at this moment.
pub fn configure_inside(inside: Option<&InsideConfig>) -> Result<(), NetError> {
    let mut nl = Netlink::open()?;
    set_up(&mut nl, "lo")?;
    let Some(config) = inside else { return Ok(()) };
    let index = iface::index_of(CONTAINER_IFNAME).ok_or_else(|| NetError::LinkMissing {
        name: CONTAINER_IFNAME.to_owned(),
        place: "in the container's network namespace",
    })?;
    let InsideConfig {
        addr,
        prefix,
        gateway,
    } = *config;
    let broadcast = super::Ipv4Cidr { addr, prefix }.broadcast();
    let request = format!("add address {addr}/{prefix} to {CONTAINER_IFNAME}");
    let message = address_message(index, addr, prefix, Some(broadcast));
    nl.execute(&request, message, NLM_F_CREATE | NLM_F_EXCL)?;
    // The gateway is reachable only once the link is up and the kernel has
    // added the address's subnet route, so the default route comes last.
    set_up(&mut nl, CONTAINER_IFNAME)?;
    add_default_route(&mut nl, index, gateway)
}

fn add_default_route(nl: &mut Netlink, index: u32, gateway: Ipv4Addr) -> Result<(), NetError> {
    let mut route = RouteMessage::default();
    route.header.address_family = AddressFamily::Inet;
    route.header.table = RouteHeader::RT_TABLE_MAIN;
    route.header.protocol = RouteProtocol::Boot;
    route.header.scope = RouteScope::Universe;
    route.header.kind = RouteType::Unicast;
    route.attributes = vec![
        RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
        RouteAttribute::Oif(index),
    ];
    let request = format!("add default route via {gateway} dev {CONTAINER_IFNAME}");
    nl.execute(
        &request,
        RouteNetlinkMessage::NewRoute(route),
        NLM_F_CREATE | NLM_F_EXCL,
    )
}
