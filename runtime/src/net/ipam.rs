//! Address allocation: which container holds which address of the subnet.

use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::lease_file::{self, Claimant, LeaseRecord, Probe, TEMP_PREFIX};
use super::{host_ifname, iface, InsideConfig, NetError, NetSettings};

/// A temporary lease file older than this, and unlocked, was left by an
/// nsbox that died while allocating.
const TEMP_GRACE: Duration = Duration::from_secs(60);

/// A container's address, held until [`Lease::release`] or until the
/// holding process exits.
///
/// The lease keeps its lease file open and locked; that open file is what
/// marks the address as taken, so keep the `Lease` alive for as long as the
/// container runs. Dropping it without `release` leaves a stale lease file
/// that the next allocation or [`remove_stale`](super::remove_stale) clears.
#[derive(Debug)]
pub struct Lease {
    /// The container's address.
    pub addr: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The bridge's address, the container's default gateway.
    pub gateway: Ipv4Addr,
    /// The host end of the container's veth, derived from `addr`.
    pub host_ifname: String,
    /// The container the address is leased to.
    pub container: String,
    path: PathBuf,
    _lock: File,
}

impl Lease {
    /// What the container's init needs to configure `eth0`.
    pub fn inside_config(&self) -> InsideConfig {
        InsideConfig {
            addr: self.addr,
            prefix: self.prefix,
            gateway: self.gateway,
        }
    }

    /// The lease file, `state_dir/net/leases/<addr>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Give the address back: remove the lease file, then unlock it. The
    /// lease directories go too once they are empty (`net/leases`, `net`
    /// and the state directory itself), so no trace stays on the host.
    pub fn release(self) -> Result<(), NetError> {
        match fs::remove_file(&self.path) {
            Ok(()) => {
                if let Some(dir) = self.path.parent() {
                    crate::state::prune_empty_dirs(dir, 3);
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(NetError::Lease {
                action: "remove lease file",
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// A lease as seen from outside, for `list` and cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The leased address.
    pub addr: Ipv4Addr,
    /// The container it was leased to.
    pub container: String,
    /// Whether the nsbox holding it is still alive.
    pub live: bool,
}

/// Reserve an address for container `name`: `requested` if given, else the
/// lowest free address of the subnet.
///
/// An address is free when no live nsbox holds its lease (a stale lease
/// counts as free) and no host link carries its veth name any more: the
/// kernel removes a finished container's veth asynchronously, some tens of
/// milliseconds after the container's end, and waiting for a new name is
/// cheaper than deleting the old link. A requested address does not wait:
/// [`attach`](super::attach) deletes such a leftover.
///
/// Safe across concurrent nsbox processes: every claim is a `link(2)` that
/// only one of them can win.
pub fn allocate(
    settings: &NetSettings,
    name: &str,
    requested: Option<Ipv4Addr>,
) -> Result<Lease, NetError> {
    if let Some(addr) = requested {
        settings.check_address(addr)?;
    }
    let dir = settings.leases_dir();
    let record = LeaseRecord {
        container: name.to_owned(),
        pid: std::process::id(),
    };
    let claimant = create_claimant(&dir, &record)?;
    let addr = match requested {
        Some(addr) => match claimant.try_claim(&dir.join(addr.to_string()))? {
            None => addr,
            Some(container) => return Err(NetError::AddressInUse { addr, container }),
        },
        None => claim_lowest(settings, &dir, &claimant)?,
    };
    Ok(Lease {
        addr,
        prefix: settings.subnet.prefix,
        gateway: settings.gateway(),
        host_ifname: host_ifname(addr),
        container: name.to_owned(),
        path: dir.join(addr.to_string()),
        _lock: claimant.into_file(),
    })
}

/// The claimant's temporary file, in a lease directory made (again) for it:
/// a concurrent release may prune the directory once it is empty.
fn create_claimant(dir: &Path, record: &LeaseRecord) -> Result<Claimant, NetError> {
    let mut failure = None;
    let made = crate::state::in_fresh_dir(dir, || match Claimant::create(dir, record) {
        Ok(claimant) => Ok(claimant),
        Err(e) => {
            let kind = match &e {
                NetError::Lease { source, .. } => source.kind(),
                _ => io::ErrorKind::Other,
            };
            failure = Some(e);
            Err(io::Error::from(kind))
        }
    });
    made.map_err(|source| {
        failure.take().unwrap_or_else(|| NetError::Lease {
            action: "create lease directory",
            path: dir.to_path_buf(),
            source,
        })
    })
}

fn claim_lowest(
    settings: &NetSettings,
    dir: &Path,
    claimant: &Claimant,
) -> Result<Ipv4Addr, NetError> {
    let last = settings.subnet.broadcast();
    let candidates = (2u32..).map(|offset| settings.subnet.nth(offset));
    for addr in candidates.take_while(|addr| *addr != last) {
        if iface::index_of(&host_ifname(addr)).is_some() {
            continue;
        }
        if claimant.try_claim(&dir.join(addr.to_string()))?.is_none() {
            return Ok(addr);
        }
    }
    Err(NetError::SubnetFull {
        subnet: settings.subnet,
    })
}

/// Every lease file of `settings`, live or stale.
pub fn leases(settings: &NetSettings) -> Result<Vec<LeaseInfo>, NetError> {
    let mut found = Vec::new();
    for (addr, path) in lease_paths(&settings.leases_dir())? {
        match lease_file::probe(&path, false)? {
            Probe::Live { container } => found.push(LeaseInfo {
                addr,
                container,
                live: true,
            }),
            Probe::Stale { container, .. } => found.push(LeaseInfo {
                addr,
                container,
                live: false,
            }),
            Probe::Gone => {}
        }
    }
    found.sort_by_key(|lease| lease.addr);
    Ok(found)
}

/// The container whose live nsbox holds the lease for `addr`, if any.
pub(crate) fn live_holder(
    settings: &NetSettings,
    addr: Ipv4Addr,
) -> Result<Option<String>, NetError> {
    let path = settings.leases_dir().join(addr.to_string());
    match lease_file::probe(&path, false)? {
        Probe::Live { container } => Ok(Some(container)),
        _ => Ok(None),
    }
}

/// Remove the lease files no live nsbox holds, and temporary files left by
/// an nsbox that died while allocating; say what went.
pub(crate) fn remove_stale_leases(settings: &NetSettings) -> Result<Vec<String>, NetError> {
    let dir = settings.leases_dir();
    let mut removed = Vec::new();
    for (addr, path) in lease_paths(&dir)? {
        if let Probe::Stale {
            container,
            removed: true,
        } = lease_file::probe(&path, true)?
        {
            removed.push(format!("lease {addr} of container \"{container}\""));
        }
    }
    for path in old_temp_files(&dir)? {
        if let Ok(file) = File::open(&path) {
            if lease_file::try_lock(&file).unwrap_or(false) && fs::remove_file(&path).is_ok() {
                removed.push(format!("unfinished lease file {}", path.display()));
            }
        }
    }
    crate::state::prune_empty_dirs(&dir, 3);
    Ok(removed)
}

/// The lease files in `dir` with the addresses they are named after.
fn lease_paths(dir: &Path) -> Result<Vec<(Ipv4Addr, PathBuf)>, NetError> {
    let names = list_dir(dir)?;
    Ok(names
        .into_iter()
        .filter_map(|n| Some((n.parse().ok()?, dir.join(n))))
        .collect())
}

fn old_temp_files(dir: &Path) -> Result<Vec<PathBuf>, NetError> {
    let now = SystemTime::now();
    let is_old = |path: &PathBuf| {
        let modified = fs::metadata(path).and_then(|m| m.modified());
        modified.is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > TEMP_GRACE))
    };
    let names = list_dir(dir)?
        .into_iter()
        .filter(|n| n.starts_with(TEMP_PREFIX));
    Ok(names.map(|n| dir.join(n)).filter(is_old).collect())
}

fn list_dir(dir: &Path) -> Result<Vec<String>, NetError> {
    let fail = |source| NetError::Lease {
        action: "list lease directory",
        path: dir.into(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.extend(entry.map_err(fail)?.file_name().into_string().ok());
    }
    Ok(names)
}

#[cfg(test)]
#[path = "ipam_tests.rs"]
mod tests;
