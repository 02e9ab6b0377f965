//! Making the container's process in its new namespaces.
//!
//! One `clone(2)` with fork semantics (no new stack, no shared memory)
//! creates the container's init directly in new mount, PID, UTS, IPC and
//! network namespaces: it is PID 1 of its PID namespace from its first
//! instruction. The cgroup namespace is left for the init to `unshare` once
//! the host has moved it into its cgroup, so the namespace's root is that
//! group and not the host's.

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use tracing::debug;

/// The namespaces every container gets at clone time.
pub const CLONE_FLAGS: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET);

/// A namespace operation the kernel refused.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// clone(2) failed.
    #[error("clone with {flags:?}")]
    Clone {
        /// The flags asked for.
        flags: CloneFlags,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// unshare(2) failed.
    #[error("unshare {flags:?}")]
    Unshare {
        /// The flags asked for.
        flags: CloneFlags,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
}

/// Which side of the clone this process is on.
pub enum Side {
    /// The caller, with the new process's PID as seen on the host.
    Parent(Pid),
    /// The new process, PID 1 of its namespace.
    Child,
}

/// Clones the current process into new namespaces, like `fork(2)`.
///
/// The caller must be single-threaded: the child is a copy of this one
/// thread, and locks held by other threads would stay locked in it.
pub fn clone_into_new_namespaces() -> Result<Side, NamespaceError> {
    let flags = CLONE_FLAGS;
    debug!(?flags, "clone");
    let raw = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: clone without CLONE_VM and with a null stack behaves as fork:
    // the child gets a copy of the address space and continues here. nsbox
    // is single-threaded at this point, so no lock is held by a thread that
    // does not exist in the child.
    let ret = unsafe { libc::syscall(libc::SYS_clone, raw, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(NamespaceError::Clone {
            flags,
            source: nix::Error::last(),
        }),
        0 => Ok(Side::Child),
        pid => Ok(Side::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Gives the calling process a new cgroup namespace rooted at its cgroup.
pub fn unshare_cgroup() -> Result<(), NamespaceError> {
    let flags = CloneFlags::CLONE_NEWCGROUP;
    debug!(?flags, "unshare");
    nix::sched::unshare(flags).map_err(|source| NamespaceError::Unshare { flags, source })
}
