//! The errors of container networking.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use netlink_packet_core::DecodeError;
use nix::errno::Errno;

use super::Ipv4Cidr;

/// Why a string is not an IPv4 subnet in `ADDRESS/PREFIX` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IPv4 subnet \"{value}\": {reason}")]
pub struct CidrParseError {
    /// The text that was given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Everything that can go wrong while setting up a container's network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The kernel refused a netlink request; `detail` is the kernel's own
    /// explanation (netlink extended ack) when it gave one.
    #[error("cannot {request}{}", kernel_note(.detail))]
    Netlink {
        /// What was asked, e.g. `create bridge nsbox0`.
        request: String,
        /// The error number the kernel answered with.
        #[source]
        errno: Errno,
        /// The kernel's extended-ack message, if any.
        detail: Option<String>,
    },
    /// A netlink route socket could not be opened in the current netns.
    #[error("cannot open a netlink route socket")]
    Socket(#[source] io::Error),
    /// Sending a request or receiving its answer failed.
    #[error("cannot exchange netlink messages to {request}")]
    Transport {
        /// What was being asked.
        request: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The kernel's answer could not be decoded.
    #[error("cannot decode the kernel's answer to {request}")]
    Decode {
        /// What was being asked.
        request: String,
        /// The decoder's complaint.
        #[source]
        source: DecodeError,
    },
    /// A subnet string does not parse.
    #[error(transparent)]
    InvalidCidr(#[from] CidrParseError),
    /// A setting taken from the environment is not usable.
    #[error("invalid {var}")]
    Env {
        /// The environment variable, e.g. `NSBOX_SUBNET`.
        var: &'static str,
        /// What is wrong with its value.
        #[source]
        source: Box<NetError>,
    },
    /// The subnet has bits set below its prefix.
    #[error("subnet {subnet} has host bits set; use {network}")]
    SubnetNotNetwork {
        /// The subnet as given.
        subnet: Ipv4Cidr,
        /// The network it probably means.
        network: Ipv4Cidr,
    },
    /// The subnet has no room for the bridge and one container.
    #[error("subnet {subnet} is too small; nsbox needs a prefix of /30 or shorter")]
    SubnetTooSmall {
        /// The subnet as given.
        subnet: Ipv4Cidr,
    },
    /// The bridge name cannot be used as a Linux interface name.
    #[error("invalid bridge name \"{name}\": {reason}")]
    InvalidBridgeName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A requested address is not inside nsbox's subnet.
    #[error("address {addr} is outside nsbox's subnet {subnet}")]
    OutsideSubnet {
        /// The requested address.
        addr: Ipv4Addr,
        /// nsbox's subnet.
        subnet: Ipv4Cidr,
    },
    /// A requested address is the subnet's network, broadcast or bridge address.
    #[error("address {addr} is the {role} address of nsbox's subnet {subnet}")]
    ReservedAddress {
        /// The requested address.
        addr: Ipv4Addr,
        /// `network`, `broadcast` or `bridge`.
        role: &'static str,
        /// nsbox's subnet.
        subnet: Ipv4Cidr,
    },
    /// nsbox's subnet overlaps a route the host already has.
    #[error(
        "subnet {subnet} overlaps the host route {route}{}; set NSBOX_SUBNET to a free range",
        dev_note(.dev)
    )]
    SubnetOverlap {
        /// nsbox's subnet.
        subnet: Ipv4Cidr,
        /// The host's route destination.
        route: Ipv4Cidr,
        /// The route's output device, when it has one.
        dev: Option<String>,
    },
    /// The requested address is held by a live container.
    #[error("address {addr} is already in use by container \"{container}\"")]
    AddressInUse {
        /// The requested address.
        addr: Ipv4Addr,
        /// The container holding it.
        container: String,
    },
    /// Every address of the subnet is held by a live container.
    #[error("no free address left in nsbox's subnet {subnet}")]
    SubnetFull {
        /// nsbox's subnet.
        subnet: Ipv4Cidr,
    },
    /// A lease file operation failed.
    #[error("cannot {action} {}", .path.display())]
    Lease {
        /// What was being done, e.g. `create lease file`.
        action: &'static str,
        /// The lease file or directory.
        path: PathBuf,
        /// The file system error.
        #[source]
        source: io::Error,
    },
    /// A link with the bridge's name exists but nsbox did not create it.
    #[error("link {name} exists but {reason}; set NSBOX_BRIDGE to another name")]
    ForeignBridge {
        /// The bridge name.
        name: String,
        /// Why it is not nsbox's, e.g. `is not a bridge`.
        reason: &'static str,
    },
    /// A link that must exist does not.
    #[error("link {name} does not exist {place}")]
    LinkMissing {
        /// The link name.
        name: String,
        /// Where it was looked up, e.g. `in the container's network namespace`.
        place: &'static str,
    },
}

impl NetError {
    /// The kernel's error number, when the kernel refused a netlink request.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetError::Netlink { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

fn kernel_note(detail: &Option<String>) -> String {
    match detail {
        Some(text) => format!(" (kernel: {text})"),
        None => String::new(),
    }
}

fn dev_note(dev: &Option<String>) -> String {
    match dev {
        Some(name) => format!(" on {name}"),
        None => String::new(),
    }
}
