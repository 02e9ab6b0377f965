//! nsbox's host bridge: created once, then found on every start.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;

use super::netlink::Netlink;
use super::{NetError, NetSettings};

/// The alias nsbox gives its bridge at creation; a bridge without it was
/// made by someone else and nsbox leaves it alone.
const BRIDGE_ALIAS: &str = "nsbox bridge";

/// What nsbox needs to know about an existing link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkState {
    /// The link's index.
    pub index: u32,
    /// Whether it is administratively up.
    pub up: bool,
    /// Whether its kind is `bridge`.
    pub is_bridge: bool,
    /// Its alias, if it has one.
    pub alias: Option<String>,
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
        alias: None,
    };
    for attribute in answer.attributes {
        match attribute {
            LinkAttribute::IfAlias(alias) => state.alias = Some(alias),
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
    } else if state.alias.as_deref() != Some(BRIDGE_ALIAS) {
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

/// Create the bridge, up, with nsbox's alias and a fixed MAC address.
///
/// Without a fixed address the kernel gives the bridge the lowest MAC of its
/// ports, which changes as containers come and go and leaves stale entries
/// in the containers' ARP caches for the gateway.
fn create(nl: &mut Netlink, settings: &NetSettings) -> Result<(), NetError> {
    let mut link = LinkMessage::default();
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    link.attributes = vec![
        LinkAttribute::IfName(settings.bridge.clone()),
        LinkAttribute::IfAlias(BRIDGE_ALIAS.to_owned()),
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

/// A locally administered unicast MAC derived from the gateway address:
/// `02:6e` ("n") followed by the address's four bytes.
fn bridge_mac(gateway: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = gateway.octets();
    [0x02, 0x6e, a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(is_bridge: bool, alias: Option<&str>) -> LinkState {
        LinkState {
            index: 4,
            up: true,
            is_bridge,
            alias: alias.map(str::to_owned),
        }
    }

    #[test]
    fn only_nsbox_bridges_are_used() {
        assert!(check_owned("nsbox0", &state(true, Some(BRIDGE_ALIAS))).is_ok());
        let err = check_owned("eth0", &state(false, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "link eth0 exists but is not a bridge; set NSBOX_BRIDGE to another name"
        );
        let err = check_owned("docker0", &state(true, Some("docker"))).unwrap_err();
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
