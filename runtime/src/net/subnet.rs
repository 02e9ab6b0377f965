//! IPv4 subnets: parsing, containment and overlap with the host's routes.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::CidrParseError;

/// An IPv4 address with a prefix length, e.g. `10.117.0.0/24`.
///
/// The address is kept as written; [`Ipv4Cidr::network`] masks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address part.
    pub addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

impl Ipv4Cidr {
    /// The netmask as a number, e.g. `0xffffff00` for `/24`.
    pub fn mask(&self) -> u32 {
        match self.prefix {
            0 => 0,
            p => u32::MAX << (32 - u32::from(p.min(32))),
        }
    }

    /// The subnet with the host bits cleared.
    pub fn network(&self) -> Ipv4Cidr {
        let addr = Ipv4Addr::from(u32::from(self.addr) & self.mask());
        Ipv4Cidr {
            addr,
            prefix: self.prefix.min(32),
        }
    }

    /// The broadcast address, all host bits set.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// The address `offset` places after the network address.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.addr) & self.mask()).wrapping_add(offset))
    }

    /// Whether `addr` lies inside this subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        (u32::from(addr) & self.mask()) == (u32::from(self.addr) & self.mask())
    }

    /// Whether the two subnets share at least one address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        let shorter = if self.prefix <= other.prefix {
            self
        } else {
            other
        };
        let mask = shorter.mask();
        (u32::from(self.addr) & mask) == (u32::from(other.addr) & mask)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| CidrParseError {
            value: s.to_owned(),
            reason,
        };
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX"))?;
        let addr = addr
            .parse()
            .map_err(|_| bad("the address is not an IPv4 address"))?;
        // u8's parser accepts a leading '+'; a prefix is plain digits only.
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the prefix is not a number"));
        }
        match prefix.parse::<u8>() {
            Ok(prefix) if prefix <= 32 => Ok(Ipv4Cidr { addr, prefix }),
            _ => Err(bad("the prefix must be 0 to 32")),
        }
    }
}

/// What the kernel does with packets that match a host route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    /// Unicast, local, blackhole, unreachable and the like: the destination
    /// is claimed by the host.
    Claims,
    /// Broadcast and multicast routes, which come with an address and claim
    /// nothing by themselves.
    Incidental,
}

/// One IPv4 route of the host, as far as the overlap check cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostRoute {
    /// The destination.
    pub dest: Ipv4Cidr,
    /// The output interface index, if the route names one.
    pub oif: Option<u32>,
    /// Whether the route claims its destination.
    pub kind: RouteKind,
}

/// The first host route that makes `subnet` unusable for nsbox.
///
/// Default routes (`/0`) are skipped: they match everything by design and
/// would not send nsbox's traffic anywhere once the bridge's more specific
/// route exists. Routes through nsbox's own bridge (`bridge_index`) are
/// nsbox's and skipped too.
pub(crate) fn find_overlap<'a>(
    subnet: &Ipv4Cidr,
    routes: &'a [HostRoute],
    bridge_index: Option<u32>,
) -> Option<&'a HostRoute> {
    routes.iter().find(|route| {
        route.kind == RouteKind::Claims
            && route.dest.prefix > 0
            && (bridge_index.is_none() || route.oif != bridge_index)
            && route.dest.overlaps(subnet)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[rstest]
    #[case("10.117.0.0/24", [10, 117, 0, 0], 24)]
    #[case("0.0.0.0/0", [0, 0, 0, 0], 0)]
    #[case("192.0.2.7/32", [192, 0, 2, 7], 32)]
    fn parses_and_displays(#[case] text: &str, #[case] octets: [u8; 4], #[case] prefix: u8) {
        let parsed = cidr(text);
        assert_eq!(
            parsed,
            Ipv4Cidr {
                addr: octets.into(),
                prefix
            }
        );
        assert_eq!(parsed.to_string(), text);
    }

    #[rstest]
    #[case("10.117.0.0", "expected ADDRESS/PREFIX")]
    #[case("10.117.0/24", "the address is not an IPv4 address")]
    #[case("10.117.0.0/33", "the prefix must be 0 to 32")]
    #[case("10.117.0.0/+8", "the prefix is not a number")]
    #[case("10.117.0.0/", "the prefix is not a number")]
    #[case("10.117.0.0/999", "the prefix must be 0 to 32")]
    fn rejects_bad_text(#[case] text: &str, #[case] reason: &str) {
        let err = text.parse::<Ipv4Cidr>().unwrap_err();
        assert_eq!(err.reason, reason);
        assert_eq!(
            err.to_string(),
            format!("invalid IPv4 subnet \"{text}\": {reason}")
        );
    }

    #[test]
    fn network_broadcast_and_nth() {
        let net = cidr("10.117.0.77/24");
        assert_eq!(net.network(), cidr("10.117.0.0/24"));
        assert_eq!(net.broadcast(), Ipv4Addr::new(10, 117, 0, 255));
        assert_eq!(net.nth(1), Ipv4Addr::new(10, 117, 0, 1));
        assert_eq!(cidr("10.0.0.0/0").broadcast(), Ipv4Addr::BROADCAST);
        assert_eq!(cidr("10.1.2.3/32").network(), cidr("10.1.2.3/32"));
    }

    #[rstest]
    #[case("10.117.0.0/24", "10.117.0.5", true)]
    #[case("10.117.0.0/24", "10.117.0.255", true)]
    #[case("10.117.0.0/24", "10.117.1.0", false)]
    #[case("10.117.0.0/24", "10.9.0.7", false)]
    #[case("0.0.0.0/0", "203.0.113.9", true)]
    fn containment(#[case] net: &str, #[case] addr: &str, #[case] inside: bool) {
        assert_eq!(cidr(net).contains(addr.parse().unwrap()), inside);
    }

    #[rstest]
    #[case("10.117.0.0/24", "10.117.0.0/24", true)]
    #[case("10.117.0.0/24", "10.0.0.0/8", true)]
    #[case("10.0.0.0/8", "10.117.0.128/25", true)]
    #[case("10.117.0.0/24", "10.117.1.0/24", false)]
    #[case("10.117.0.0/24", "192.0.2.0/24", false)]
    #[case("10.117.0.0/24", "10.117.0.9/32", true)]
    fn overlap_is_symmetric(#[case] a: &str, #[case] b: &str, #[case] expected: bool) {
        assert_eq!(cidr(a).overlaps(&cidr(b)), expected);
        assert_eq!(cidr(b).overlaps(&cidr(a)), expected);
    }

    fn route(dest: &str, oif: Option<u32>, kind: RouteKind) -> HostRoute {
        HostRoute {
            dest: cidr(dest),
            oif,
            kind,
        }
    }

    #[test]
    fn overlap_finds_a_conflicting_route() {
        let routes = [
            route("0.0.0.0/0", Some(2), RouteKind::Claims),
            route("192.0.2.0/24", Some(2), RouteKind::Claims),
            route("192.0.2.255/32", Some(2), RouteKind::Incidental),
        ];
        let subnet = cidr("192.0.2.0/24");
        assert_eq!(find_overlap(&subnet, &routes, None), Some(&routes[1]));
        assert_eq!(find_overlap(&cidr("10.117.0.0/24"), &routes, None), None);
    }

    #[test]
    fn overlap_ignores_the_bridge_and_incidental_routes() {
        let routes = [
            route("10.117.0.0/24", Some(7), RouteKind::Claims),
            route("10.117.0.1/32", Some(7), RouteKind::Claims),
            route("10.117.0.255/32", Some(3), RouteKind::Incidental),
        ];
        let subnet = cidr("10.117.0.0/24");
        assert_eq!(find_overlap(&subnet, &routes, Some(7)), None);
        // Without a bridge yet, the same routes belong to someone else.
        assert_eq!(find_overlap(&subnet, &routes, None), Some(&routes[0]));
    }

    #[test]
    fn overlap_counts_blackholes_without_device() {
        let routes = [route("10.0.0.0/8", None, RouteKind::Claims)];
        let found = find_overlap(&cidr("10.117.0.0/24"), &routes, Some(7));
        assert_eq!(found, Some(&routes[0]));
    }
}
