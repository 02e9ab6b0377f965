//! The container's minimal `/dev`: a handful of character devices, the
//! private devpts's `ptmx`, and the usual links. Never the host's `/dev`.
//!
//! Runs in the container's init, on the tmpfs just mounted at the rootfs's
//! `/dev`, before `pivot_root`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chown, Gid, Uid};
use tracing::debug;

/// A device node or link that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// mknod(2) failed.
    #[error("creating device {path}")]
    Node {
        /// The node's path.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// symlink(2) failed.
    #[error("creating link {path}")]
    Link {
        /// The link's path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// (name, major, minor): the character devices every container gets, the
/// same set docker and the OCI spec give.
const NODES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// (link, target): `ptmx` points into the private devpts, the rest into
/// `/proc` of the container.
const LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Fills `dev` (the container's /dev tmpfs, seen from the host side).
pub fn populate(dev: &Path) -> Result<(), DeviceError> {
    for &(name, major, minor) in NODES {
        let path = dev.join(name);
        debug!(path = %path.display(), major, minor, "mknod");
        let mode = Mode::from_bits_truncate(0o666);
        mknod(&path, SFlag::S_IFCHR, mode, makedev(major, minor)).map_err(|source| {
            DeviceError::Node {
                path: path.clone(),
                source,
            }
        })?;
        // mknod's mode is cut by the umask; set it exactly.
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &path,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .and_then(|_| chown(&path, Some(Uid::from_raw(0)), Some(Gid::from_raw(0))))
        .map_err(|source| DeviceError::Node { path, source })?;
    }
    for &(name, target) in LINKS {
        let path = dev.join(name);
        symlink(target, &path).map_err(|source| DeviceError::Link { path, source })?;
    }
    Ok(())
}
