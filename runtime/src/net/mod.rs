//! Container networking: a host bridge owned by nsbox, and one veth pair per
//! container with the container's end named `eth0` inside its network
//! namespace.
//!
//! Everything goes through rtnetlink from Rust; nsbox never runs `ip`. The
//! start path calls, in order:
//!
//! 1. [`preflight()`] in the parent, before anything exists: bad input fails
//!    here with nothing to clean up.
//! 2. [`allocate`] in the parent: a [`Lease`] on the container's address,
//!    held for the container's lifetime.
//! 3. [`attach`] in the parent after `clone()`, in the host's namespace:
//!    the bridge (created the first time only) and the veth pair, whose
//!    container end is created directly in the child's namespace.
//! 4. [`configure_inside`] in the child, inside its new namespace:
//!    loopback, `eth0`'s address and the default route through the bridge.
//! 5. [`Lease::release`] in the parent once the container is gone; the
//!    kernel has already removed the veth together with the namespace.
//!
//! [`remove_stale`] clears what a killed nsbox left behind.
//!
//! # Settings
//!
//! - `NSBOX_BRIDGE`: the bridge's name, default [`DEFAULT_BRIDGE`].
//! - `NSBOX_SUBNET`: the containers' subnet, default [`DEFAULT_SUBNET`].
//!   The bridge takes its first address; containers get the others. It must
//!   not overlap a route the host already has; [`preflight()`] refuses it
//!   otherwise.
//!
//! nsbox sets up no NAT and no forwarding: containers reach each other and
//! the host's bridge address, nothing beyond.

mod bridge;
mod error;
mod ext_ack;
mod host;
mod iface;
mod inside;
mod ipam;
mod lease_file;
mod netlink;
mod preflight;
mod settings;
mod subnet;
mod veth;

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use self::error::{CidrParseError, NetError};
pub use self::host::{attach, delete_link, remove_stale};
pub use self::inside::configure_inside;
pub use self::ipam::{allocate, leases, Lease, LeaseInfo};
pub use self::preflight::preflight;
pub use self::settings::{NetSettings, BRIDGE_ENV, SUBNET_ENV};
pub use self::subnet::Ipv4Cidr;
pub use self::veth::host_ifname;

/// The bridge's name unless `NSBOX_BRIDGE` says otherwise.
pub const DEFAULT_BRIDGE: &str = "nsbox0";

/// The containers' subnet unless `NSBOX_SUBNET` says otherwise; the bridge
/// is `10.117.0.1`.
pub const DEFAULT_SUBNET: &str = "10.117.0.0/24";

/// How a container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// Loopback only (`--net none`).
    None,
    /// A veth on nsbox's bridge, at `ip` if given (`--ip`), else at the
    /// lowest free address.
    Bridge {
        /// The requested address.
        ip: Option<Ipv4Addr>,
    },
}

impl Default for NetMode {
    fn default() -> Self {
        NetMode::Bridge { ip: None }
    }
}

/// What the container's init needs to configure `eth0`; the parent sends it
/// to the child as JSON. [`Lease::inside_config`] builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsideConfig {
    /// The container's address.
    pub addr: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The bridge's address, the default gateway.
    pub gateway: Ipv4Addr,
}
