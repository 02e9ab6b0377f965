//! nsbox's host bridge: created once, then found on every start.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;

use super::netlink::Netlink;
use super::{NetError, NetSettings};

/// The first bytes of the MAC address nsbox gives its bridge at creation: a
/// locally administered unicast prefix, `02:6e` ("n"). They mark the bridge
/// as nsbox's; nsbox leaves any other bridge alone. (An alias would read
/// better in `ip -d link`, but the kernel ignores `IFLA_IFALIAS` in a
/// creation request, so it could not be set atomically with the link.)
const MAC_MARK: [u8; 2] = [0x02, 0x6e];

/// What nsbox needs to know about an existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkState {
    /// The link's index.
    pub index: u32,
    /// Whether it is administratively up.
    pub up: bool,
    /// Whether its kind is `bridge`.
    pub is_bridge: bool,
    /// Its hardware address, if it has one.
    pub mac: Option<Vec<u8>>,
}

/// Look a link up by name; `None` when there is no such link.
pub(crate) fn find_link(nl: &mut Netlink, name: &str) -> Result<Option<LinkState>, NetError> {
    let mut query = LinkMessage::default();
    query.attributes = vec![LinkAttribute::IfName(name.to_owned())];
    let request = format!("look up link {name}");
    let answer = match nl.get(&request, RouteNetlinkMessage::GetLink(query)) {
        Ok(RouteNetlinkMessage::NewLink(link)) => link,
        Ok(_) => return Ok(None),
        Err(e) if e.errno() == Some(Errno::ENODEV) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut state = LinkState {
        index: answer.header.index,
        up: answer.header.flags.contains(LinkFlags::Up),
        is_bridge: false,
        mac: None,
    };
    for attribute in answer.attributes {
        match attribute {
            LinkAttribute::Address(mac) => state.mac = Some(mac),
            LinkAttribute::LinkInfo(infos) => {
                state.is_bridge = infos.contains(&LinkInfo::Kind(InfoKind::Bridge))
            }
            _ => {}
        }
    }
    Ok(Some(state))
}

/// Refuse a link that carries the bridge's name but is not nsbox's bridge:
/// nsbox never puts addresses or ports on an interface it did not create.
pub(crate) fn check_owned(name: &str, state: &LinkState) -> Result<(), NetError> {
    let reason = if !state.is_bridge {
        "is not a bridge"
    } else if !state
        .mac
        .as_ref()
        .is_some_and(|mac| mac.starts_with(&MAC_MARK))
    {
        "is a bridge that nsbox did not create"
    } else {
        return Ok(());
    };
    Err(NetError::ForeignBridge {
        name: name.to_owned(),
        reason,
    })
}

/// Make sure the bridge exists, is nsbox's, is up and holds the gateway
/// address; return its index.
///
/// Safe against a concurrent nsbox doing the same: whoever loses the race to
/// create the bridge or its address gets `EEXIST` and goes on.
pub(crate) fn ensure(nl: &mut Netlink, settings: &NetSettings) -> Result<u32, NetError> {
    let name = &settings.bridge;
    let state = match find_link(nl, name)? {
        Some(state) => state,
        None => {
            create(nl, settings)?;
            find_link(nl, name)?.ok_or_else(|| NetError::LinkMissing {
                name: name.clone(),
                place: "after creating it",
            })?
        }
    };
    check_owned(name, &state)?;
    if !state.up {
        set_up(nl, name)?;
    }
    add_gateway_address(nl, settings, state.index)?;
    Ok(state.index)
}

/// Create the bridge, up, with nsbox's fixed MAC address.
///
/// The address marks the bridge as nsbox's, and it keeps still: without a
/// fixed address the kernel gives a bridge the lowest MAC of its ports,
/// which changes as containers come and go and leaves stale entries for the
/// gateway in the containers' ARP caches.
fn create(nl: &mut Netlink, settings: &NetSettings) -> Result<(), NetError> {
    let mut link = LinkMessage::default();
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    link.attributes = vec![
        LinkAttribute::IfName(settings.bridge.clone()),
        LinkAttribute::Address(bridge_mac(settings.gateway()).to_vec()),
        LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
    ];
    let request = format!("create bridge {}", settings.bridge);
    match nl.execute(
        &request,
        RouteNetlinkMessage::NewLink(link),
        NLM_F_CREATE | NLM_F_EXCL,
    ) {
        Err(e) if e.errno() == Some(Errno::EEXIST) => Ok(()),
        outcome => outcome,
    }
}

/// Set the link called `name` up.
pub(crate) fn set_up(nl: &mut Netlink, name: &str) -> Result<(), NetError> {
    let mut link = LinkMessage::default();
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    link.attributes = vec![LinkAttribute::IfName(name.to_owned())];
    nl.execute(
        &format!("set link {name} up"),
        RouteNetlinkMessage::SetLink(link),
        0,
    )
}

fn add_gateway_address(
    nl: &mut Netlink,
    settings: &NetSettings,
    index: u32,
) -> Result<(), NetError> {
    let gateway = settings.gateway();
    let prefix = settings.subnet.prefix;
    let message = address_message(index, gateway, prefix, Some(settings.subnet.broadcast()));
    let request = format!("add address {gateway}/{prefix} to {}", settings.bridge);
    match nl.execute(&request, message, NLM_F_CREATE | NLM_F_EXCL) {
        Err(e) if e.errno() == Some(Errno::EEXIST) => Ok(()),
        outcome => outcome,
    }
}

/// An `RTM_NEWADDR` for `addr/prefix` on the link at `index`.
pub(crate) fn address_message(
    index: u32,
    addr: Ipv4Addr,
    prefix: u8,
    broadcast: Option<Ipv4Addr>,
) -> RouteNetlinkMessage {
    let mut message = AddressMessage::default();
    message.header.family = AddressFamily::Inet;
    message.header.prefix_len = prefix;
    message.header.scope = AddressScope::Universe;
    message.header.index = index;
    message.attributes = vec![
        AddressAttribute::Local(IpAddr::V4(addr)),
        AddressAttribute::Address(IpAddr::V4(addr)),
    ];
    message
        .attributes
        .extend(broadcast.map(AddressAttribute::Broadcast));
    RouteNetlinkMessage::NewAddress(message)
}

/// nsbox's mark followed by the gateway address's four bytes, so that
/// bridges of different subnets differ.
fn bridge_mac(gateway: Ipv4Addr) -> [u8; 6] {
    mac_for(gateway)
}

/// nsbox's mark followed by an address's four bytes: the MAC of the bridge
/// (for the gateway) and of each container's eth0 (for its address).
///
/// A container's MAC follows from its address, so when an address passes
/// to a new container, the host's neighbour entry for it stays right and
/// the first packets to the new container are not sent to the old one's
/// MAC until the entry times out.
pub(crate) fn mac_for(addr: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = addr.octets();
    [MAC_MARK[0], MAC_MARK[1], a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(is_bridge: bool, mac: Option<[u8; 6]>) -> LinkState {
        LinkState {
            index: 4,
            up: true,
            is_bridge,
            mac: mac.map(Vec::from),
        }
    }

    #[test]
    fn only_nsbox_bridges_are_used() {
        let ours = bridge_mac(Ipv4Addr::new(10, 117, 0, 1));
        assert!(check_owned("nsbox0", &state(true, Some(ours))).is_ok());
        let err = check_owned("eth0", &state(false, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "link eth0 exists but is not a bridge; set NSBOX_BRIDGE to another name"
        );
        let foreign = [0x02, 0x42, 0xac, 0x11, 0, 1];
        let err = check_owned("docker0", &state(true, Some(foreign))).unwrap_err();
        assert!(err
            .to_string()
            .contains("is a bridge that nsbox did not create"));
    }

    #[test]
    fn bridge_mac_is_local_unicast() {
        let mac = bridge_mac(Ipv4Addr::new(10, 117, 0, 1));
        assert_eq!(mac, [0x02, 0x6e, 10, 117, 0, 1]);
        assert_eq!(mac[0] & 0x01, 0, "unicast");
        assert_eq!(mac[0] & 0x02, 0x02, "locally administered");
    }
}
