//! The container's filesystem view: its rootfs as `/`, with a fresh `/proc`,
//! a read-only `/sys`, a minimal `/dev`, a private `/tmp`, and the old root
//! detached.
//!
//! Everything here runs in the container's init, inside its new mount
//! namespace, before `pivot_root`. Mount propagation is made private first, so
//! no mount made here is ever seen on the host.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, pivot_root};
use tracing::debug;

use crate::cgroups::InsideMounts;
use crate::devices;

/// A mount or filesystem step that failed.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// mount(2) failed.
    #[error("mounting {fstype} on {target}")]
    Mount {
        /// The filesystem type, or "bind"/"remount".
        fstype: String,
        /// Where it was to be mounted.
        target: PathBuf,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// A mount point could not be made.
    #[error("creating mount point {path}")]
    MountPoint {
        /// The directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// pivot_root(2) or the detach of the old root failed.
    #[error("{step} in {rootfs}")]
    Pivot {
        /// Which step.
        step: &'static str,
        /// The new root.
        rootfs: PathBuf,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// A device node or link in /dev could not be made.
    #[error(transparent)]
    Device(#[from] devices::DeviceError),
}

/// One filesystem mounted into the container, kept as data so the list
/// reads as the container's layout.
struct Fs {
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// The filesystems every container gets, in mount order (a parent before
/// what is mounted inside it).
const FILESYSTEMS: &[Fs] = &[
    // A new proc instance shows only the PIDs of the container's namespace.
    Fs {
        target: "proc",
        fstype: "proc",
        flags: NOSUID_NODEV_NOEXEC,
        data: None,
    },
    // sysfs of the container's network namespace, read-only.
    Fs {
        target: "sys",
        fstype: "sysfs",
        flags: NOSUID_NODEV_NOEXEC.union(MsFlags::MS_RDONLY),
        data: None,
    },
    // /dev is a small tmpfs of its own; devices::populate fills it.
    Fs {
        target: "dev",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: Some("mode=755,size=1024k"),
    },
    // A private devpts instance, so the container sees only its own ttys.
    Fs {
        target: "dev/pts",
        fstype: "devpts",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        data: Some("newinstance,ptmxmode=0666,mode=0620"),
    },
    Fs {
        target: "dev/shm",
        fstype: "tmpfs",
        flags: NOSUID_NODEV_NOEXEC,
        data: Some("mode=1777,size=65536k"),
    },
    // POSIX message queues of the container's IPC namespace.
    Fs {
        target: "dev/mqueue",
        fstype: "mqueue",
        flags: NOSUID_NODEV_NOEXEC,
        data: None,
    },
    // A fresh /tmp, so containers sharing one rootfs do not share files.
    Fs {
        target: "tmp",
        fstype: "tmpfs",
        flags: MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        data: Some("mode=1777"),
    },
];

/// Makes `rootfs` the container's root with its filesystems, then pivots
/// into it and detaches the host's root. On return the process's `/` and
/// working directory are the rootfs's top.
pub fn enter(
    rootfs: &Path,
    read_only: bool,
    cgroups: Option<&InsideMounts>,
) -> Result<(), RootfsError> {
    // Private, recursively: our mounts must not propagate to the host, and
    // pivot_root refuses a shared parent mount.
    do_mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
        "private",
    )?;
    // pivot_root needs the new root to be a mount point: bind it on itself,
    // which also works when the rootfs is a plain directory.
    do_mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        "bind",
    )?;
    for fs in FILESYSTEMS {
        let target = rootfs.join(fs.target);
        ensure_dir(&target)?;
        do_mount(
            Some(Path::new(fs.fstype)),
            &target,
            Some(fs.fstype),
            fs.flags,
            fs.data,
            fs.fstype,
        )?;
    }
    devices::populate(&rootfs.join("dev"))?;
    mount_cgroups(&rootfs.join("sys/fs/cgroup"), cgroups)?;
    if read_only {
        // Only the rootfs's own bind mount turns read-only; /tmp, /dev and
        // /proc above it stay as mounted.
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        do_mount(None, rootfs, None, flags, None, "read-only remount")?;
    }
    pivot(rootfs)
}

/// The container's cgroup filesystem, mounted inside its cgroup namespace so
/// that its own group is the root it sees. Read-only, as docker does.
fn mount_cgroups(base: &Path, cgroups: Option<&InsideMounts>) -> Result<(), RootfsError> {
    let ro = NOSUID_NODEV_NOEXEC.union(MsFlags::MS_RDONLY);
    let hierarchies = match cgroups {
        None => return Ok(()),
        Some(InsideMounts::Unified) => {
            return do_mount(
                Some(Path::new("cgroup2")),
                base,
                Some("cgroup2"),
                ro,
                None,
                "cgroup2",
            );
        }
        Some(InsideMounts::V1(hierarchies)) => hierarchies,
    };
    // v1: a tmpfs holds one directory per hierarchy, made read-only after.
    let tmpfs = Some(Path::new("tmpfs"));
    do_mount(
        tmpfs,
        base,
        Some("tmpfs"),
        NOSUID_NODEV_NOEXEC,
        Some("mode=755"),
        "tmpfs",
    )?;
    for hierarchy in hierarchies {
        let target = base.join(&hierarchy.dir);
        ensure_dir(&target)?;
        let options = Some(hierarchy.options.as_str());
        do_mount(
            Some(Path::new("cgroup")),
            &target,
            Some("cgroup"),
            ro,
            options,
            "cgroup",
        )?;
    }
    let flags = MsFlags::MS_REMOUNT | ro;
    do_mount(
        None,
        base,
        None,
        flags,
        Some("mode=755"),
        "read-only remount",
    )
}

/// `pivot_root(".", ".")` stacks the old root on top of the new one; the
/// lazy unmount then drops it, so no path inside leads back to the host.
/// This needs no spare directory in the rootfs, so read-only rootfses work.
fn pivot(rootfs: &Path) -> Result<(), RootfsError> {
    let fail = |step, source| RootfsError::Pivot {
        step,
        rootfs: rootfs.to_path_buf(),
        source,
    };
    chdir(rootfs).map_err(|e| fail("chdir", e))?;
    debug!(rootfs = %rootfs.display(), "pivot_root(\".\", \".\")");
    pivot_root(".", ".").map_err(|e| fail("pivot_root", e))?;
    debug!("umount2(\".\", MNT_DETACH): detach the old root");
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| fail("detaching the old root", e))?;
    chdir("/").map_err(|e| fail("chdir to the new root", e))
}

fn do_mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &str,
) -> Result<(), RootfsError> {
    debug!(target = %target.display(), ?flags, data, "mount {what}");
    mount(source, target, fstype, flags, data).map_err(|source| RootfsError::Mount {
        fstype: what.to_string(),
        target: target.to_path_buf(),
        source,
    })
}

fn ensure_dir(path: &Path) -> Result<(), RootfsError> {
    match std::fs::DirBuilder::new().mode(0o755).create(path) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(RootfsError::MountPoint {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}
