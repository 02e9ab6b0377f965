//! Veth pairs: the host end on the bridge, the container end named `eth0`.

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags};
use netlink_packet_route::link::{LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;

use super::netlink::Netlink;
use super::NetError;

/// The start of every host-side veth name nsbox creates.
const HOST_PREFIX: &str = "nsb";

/// The container end's name, inside the container's network namespace.
pub(crate) const CONTAINER_IFNAME: &str = "eth0";

/// The host-side veth name for a container at `addr`: `nsb` and the address
/// as 8 hex digits, e.g. `nsb0a750005` for 10.117.0.5.
///
/// Addresses are unique among live containers, so the names are too, and at
/// 11 bytes they fit the kernel's 15-byte limit whatever the container is
/// called.
pub fn host_ifname(addr: Ipv4Addr) -> String {
    format!("{HOST_PREFIX}{:08x}", u32::from(addr))
}

/// The address a host-side veth name was derived from, if `name` is one.
pub(crate) fn address_of_ifname(name: &str) -> Option<Ipv4Addr> {
    let hex = name.strip_prefix(HOST_PREFIX)?;
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if hex.len() != 8 || !hex.bytes().all(lower_hex) {
        return None;
    }
    u32::from_str_radix(hex, 16).ok().map(Ipv4Addr::from)
}

/// Create the pair in one request: the host end `host` joins the bridge at
/// `bridge_index` and comes up at once, and the peer is born as `eth0`, with
/// MAC `mac`, in the network namespace of `pid` (moving it there afterwards
/// would cost a second, much slower, namespace change).
pub(crate) fn create_pair(
    nl: &mut Netlink,
    host: &str,
    bridge_index: u32,
    pid: i32,
    mac: [u8; 6],
) -> Result<(), NetError> {
    let mut peer = LinkMessage::default();
    peer.attributes = vec![
        LinkAttribute::IfName(CONTAINER_IFNAME.to_owned()),
        LinkAttribute::NetNsPid(pid as u32),
        LinkAttribute::Address(mac.to_vec()),
    ];
    let mut link = LinkMessage::default();
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    link.attributes = vec![
        LinkAttribute::IfName(host.to_owned()),
        LinkAttribute::Controller(bridge_index),
        LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]),
    ];
    let request = format!("create veth {host} peer {CONTAINER_IFNAME} in netns of pid {pid}");
    nl.execute(
        &request,
        RouteNetlinkMessage::NewLink(link),
        NLM_F_CREATE | NLM_F_EXCL,
    )
}

/// Delete the link called `name`; `Ok(false)` when there is none.
pub(crate) fn delete_by_name(nl: &mut Netlink, name: &str) -> Result<bool, NetError> {
    let mut link = LinkMessage::default();
    link.attributes = vec![LinkAttribute::IfName(name.to_owned())];
    let request = format!("delete link {name}");
    absent_is_false(nl.execute(&request, RouteNetlinkMessage::DelLink(link), 0))
}

/// Delete the link with `index`, which was called `name` when it was seen.
///
/// Deleting by index, not name, cannot hit a new link that took the name
/// since: the kernel does not hand out an index again soon.
pub(crate) fn delete_by_index(nl: &mut Netlink, index: u32, name: &str) -> Result<bool, NetError> {
    let mut link = LinkMessage::default();
    link.header.index = index;
    let request = format!("delete link {name} (index {index})");
    absent_is_false(nl.execute(&request, RouteNetlinkMessage::DelLink(link), 0))
}

fn absent_is_false(outcome: Result<(), NetError>) -> Result<bool, NetError> {
    match outcome {
        Ok(()) => Ok(true),
        Err(e) if e.errno() == Some(Errno::ENODEV) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A host-side veth of nsbox's, as seen in a link dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostVeth {
    /// The link's index.
    pub index: u32,
    /// The link's name, `nsb` + 8 hex digits.
    pub name: String,
    /// The container address the name encodes.
    pub addr: Ipv4Addr,
}

/// The veths on the bridge at `bridge_index` whose names nsbox derived
/// from an address.
pub(crate) fn list_on_bridge(
    nl: &mut Netlink,
    bridge: &str,
    bridge_index: u32,
) -> Result<Vec<HostVeth>, NetError> {
    let mut query = LinkMessage::default();
    // The kernel filters the dump by controller; the check below repeats it
    // for kernels that do not.
    query.attributes = vec![LinkAttribute::Controller(bridge_index)];
    let request = format!("list links on bridge {bridge}");
    let links = nl.dump(&request, RouteNetlinkMessage::GetLink(query))?;
    Ok(links
        .iter()
        .filter_map(|m| host_veth(m, bridge_index))
        .collect())
}

fn host_veth(message: &RouteNetlinkMessage, bridge_index: u32) -> Option<HostVeth> {
    let RouteNetlinkMessage::NewLink(link) = message else {
        return None;
    };
    let (mut name, mut on_bridge, mut is_veth) = (None, false, false);
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Controller(index) => on_bridge = *index == bridge_index,
            LinkAttribute::LinkInfo(infos) => {
                is_veth = infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth)))
            }
            _ => {}
        }
    }
    let name = name.filter(|_| on_bridge && is_veth)?;
    let addr = address_of_ifname(&name)?;
    Some(HostVeth {
        index: link.header.index,
        name,
        addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ifname_encodes_the_address() {
        let addr = Ipv4Addr::new(10, 117, 0, 5);
        assert_eq!(host_ifname(addr), "nsb0a750005");
        assert_eq!(address_of_ifname("nsb0a750005"), Some(addr));
        assert_eq!(host_ifname(Ipv4Addr::BROADCAST), "nsbffffffff");
    }

    #[test]
    fn ifnames_fit_and_never_collide() {
        let mut seen = HashSet::new();
        for host in 0..=u16::MAX as u32 {
            let addr = Ipv4Addr::from(0x0a75_0000 | host);
            let name = host_ifname(addr);
            assert!(name.len() <= 15, "{name} is too long");
            assert_eq!(address_of_ifname(&name), Some(addr));
            assert!(seen.insert(name));
        }
    }

    #[test]
    fn other_names_are_not_veths_of_ours() {
        for name in [
            "nsbox0",
            "nsb0A750005",
            "nsb0a75000",
            "nsb0a7500051",
            "eth0",
            "nsb0a75000g",
        ] {
            assert_eq!(address_of_ifname(name), None, "{name}");
        }
    }
}
