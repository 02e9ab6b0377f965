//! Where nsbox's network lives: bridge name, subnet and lease directory.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::{veth, Ipv4Cidr, NetError, DEFAULT_BRIDGE, DEFAULT_SUBNET};

/// The environment variable that renames nsbox's bridge.
pub const BRIDGE_ENV: &str = "NSBOX_BRIDGE";
/// The environment variable that moves nsbox's subnet.
pub const SUBNET_ENV: &str = "NSBOX_SUBNET";

/// The host side of nsbox's network, shared by every container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSettings {
    /// The host bridge every container's veth joins, e.g. `nsbox0`.
    pub bridge: String,
    /// The containers' subnet; the bridge holds its first address.
    pub subnet: Ipv4Cidr,
    /// nsbox's state directory; leases live in `state_dir/net/leases`.
    pub state_dir: PathBuf,
}

impl NetSettings {
    /// The host's settings: `NSBOX_BRIDGE` and `NSBOX_SUBNET` (or the
    /// defaults), with leases under `/run/nsbox/net/leases` whatever
    /// `NSBOX_STATE_DIR` says. The bridge and its addresses are shared by
    /// every nsbox process on the host, so their leases must be too: with
    /// leases per state directory, two nsbox processes could hand out one
    /// address and delete each other's links.
    pub fn for_host() -> Result<Self, NetError> {
        Self::from_env(Path::new(crate::state::DEFAULT_STATE_DIR))
    }

    /// Settings from `NSBOX_BRIDGE` and `NSBOX_SUBNET`, or the defaults
    /// ([`DEFAULT_BRIDGE`], [`DEFAULT_SUBNET`]) when they are unset or empty.
    pub fn from_env(state_dir: &Path) -> Result<Self, NetError> {
        from_lookup(state_dir, |var| std::env::var(var).ok())
    }

    /// Settings from explicit values, validated like [`NetSettings::from_env`].
    pub fn new(bridge: &str, subnet: Ipv4Cidr, state_dir: &Path) -> Result<Self, NetError> {
        check_bridge_name(bridge)?;
        check_subnet(subnet)?;
        Ok(NetSettings {
            bridge: bridge.to_owned(),
            subnet,
            state_dir: state_dir.to_owned(),
        })
    }

    /// The bridge's own address, the containers' default gateway: the
    /// subnet's first address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.nth(1)
    }

    /// The directory that holds one lease file per address in use.
    pub fn leases_dir(&self) -> PathBuf {
        self.state_dir.join("net").join("leases")
    }

    /// Check that `addr` may be given to a container: inside the subnet and
    /// neither its network, broadcast nor bridge address.
    pub fn check_address(&self, addr: Ipv4Addr) -> Result<(), NetError> {
        let subnet = self.subnet;
        if !subnet.contains(addr) {
            return Err(NetError::OutsideSubnet { addr, subnet });
        }
        let role = if addr == subnet.network().addr {
            "network"
        } else if addr == subnet.broadcast() {
            "broadcast"
        } else if addr == self.gateway() {
            "bridge"
        } else {
            return Ok(());
        };
        Err(NetError::ReservedAddress { addr, role, subnet })
    }
}

/// [`NetSettings::from_env`] with the environment behind a function, so
/// tests need not change the process environment.
pub(crate) fn from_lookup(
    state_dir: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<NetSettings, NetError> {
    let env = |var: &'static str, default: &str| {
        let value = lookup(var).filter(|v| !v.is_empty());
        let wrap = move |e: NetError| NetError::Env {
            var,
            source: Box::new(e),
        };
        (value.unwrap_or_else(|| default.to_owned()), wrap)
    };
    let (bridge, bad_bridge) = env(BRIDGE_ENV, DEFAULT_BRIDGE);
    check_bridge_name(&bridge).map_err(bad_bridge)?;
    let (subnet, bad_subnet) = env(SUBNET_ENV, DEFAULT_SUBNET);
    let subnet = subnet
        .parse()
        .map_err(|e| bad_subnet(NetError::InvalidCidr(e)))?;
    check_subnet(subnet).map_err(bad_subnet)?;
    Ok(NetSettings {
        bridge,
        subnet,
        state_dir: state_dir.to_owned(),
    })
}

fn check_subnet(subnet: Ipv4Cidr) -> Result<(), NetError> {
    if subnet.prefix > 30 {
        return Err(NetError::SubnetTooSmall { subnet });
    }
    if subnet.network() != subnet {
        return Err(NetError::SubnetNotNetwork {
            subnet,
            network: subnet.network(),
        });
    }
    Ok(())
}

/// The kernel's rules for interface names (`dev_valid_name`), plus one of
/// nsbox's: the name must not look like a container's host-side veth.
fn check_bridge_name(name: &str) -> Result<(), NetError> {
    let bad = |reason| NetError::InvalidBridgeName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > 15 {
        return Err(bad("it must be 1 to 15 bytes long"));
    }
    if name == "." || name == ".." {
        return Err(bad("it must not be . or .."));
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
    {
        return Err(bad("it must not contain '/', ':' or whitespace"));
    }
    if veth::address_of_ifname(name).is_some() {
        return Err(bad(
            "names like nsb + 8 hex digits belong to containers' veths",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let dir = Path::new("/state");
        let settings = from_lookup(dir, lookup(&[(SUBNET_ENV, "")])).unwrap();
        assert_eq!(settings.bridge, "nsbox0");
        assert_eq!(settings.subnet.to_string(), "10.117.0.0/24");
        assert_eq!(settings.gateway(), Ipv4Addr::new(10, 117, 0, 1));
        assert_eq!(settings.leases_dir(), Path::new("/state/net/leases"));
    }

    #[test]
    fn environment_overrides() {
        let vars = [(BRIDGE_ENV, "nsbt1"), (SUBNET_ENV, "10.200.8.0/22")];
        let settings = from_lookup(Path::new("/s"), lookup(&vars)).unwrap();
        assert_eq!(settings.bridge, "nsbt1");
        assert_eq!(settings.gateway(), Ipv4Addr::new(10, 200, 8, 1));
    }

    #[rstest]
    #[case(
        SUBNET_ENV,
        "10.117.0.1/24",
        "subnet 10.117.0.1/24 has host bits set; use 10.117.0.0/24"
    )]
    #[case(
        SUBNET_ENV,
        "10.117.0.0/31",
        "subnet 10.117.0.0/31 is too small; nsbox needs a prefix of /30 or shorter"
    )]
    #[case(
        SUBNET_ENV,
        "ten",
        "invalid IPv4 subnet \"ten\": expected ADDRESS/PREFIX"
    )]
    #[case(
        BRIDGE_ENV,
        "a-very-long-bridge",
        "invalid bridge name \"a-very-long-bridge\": it must be 1 to 15 bytes long"
    )]
    #[case(BRIDGE_ENV, "nsb0a750005", "invalid bridge name \"nsb0a750005\": names like nsb + 8 hex digits belong to containers' veths")]
    #[case(
        BRIDGE_ENV,
        "br/0",
        "invalid bridge name \"br/0\": it must not contain '/', ':' or whitespace"
    )]
    fn bad_environment_names_the_variable(
        #[case] var: &str,
        #[case] value: &str,
        #[case] cause: &str,
    ) {
        let err = from_lookup(Path::new("/s"), lookup(&[(var, value)])).unwrap_err();
        assert_eq!(err.to_string(), format!("invalid {var}"));
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.to_string(), cause);
    }

    #[rstest]
    #[case("10.117.0.5", None)]
    #[case("10.117.0.254", None)]
    #[case(
        "10.9.0.7",
        Some("address 10.9.0.7 is outside nsbox's subnet 10.117.0.0/24")
    )]
    #[case(
        "10.117.0.0",
        Some("address 10.117.0.0 is the network address of nsbox's subnet 10.117.0.0/24")
    )]
    #[case(
        "10.117.0.255",
        Some("address 10.117.0.255 is the broadcast address of nsbox's subnet 10.117.0.0/24")
    )]
    #[case(
        "10.117.0.1",
        Some("address 10.117.0.1 is the bridge address of nsbox's subnet 10.117.0.0/24")
    )]
    fn address_checks(#[case] addr: &str, #[case] expected: Option<&str>) {
        let settings = from_lookup(Path::new("/s"), |_| None).unwrap();
        let got = settings
            .check_address(addr.parse().unwrap())
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), expected);
    }
}
