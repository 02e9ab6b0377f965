//! Making the container's process in its new namespaces.
//!
//! One `clone(2)` with fork semantics (no new stack, no shared memory)
//! creates the container's init directly in new mount, PID, UTS, IPC and
//! network namespaces: it is PID 1 of its PID namespace from its first
//! instruction. The cgroup namespace is left for the init to `unshare` once
//! the host has moved it into its cgroup, so the namespace's root is that
//! group and not the host's.

use std::os::fd::{AsRawFd, BorrowedFd};

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
/// With `cgroup` (a cgroup v2 directory), `clone3` starts the child inside
/// that group (`CLONE_INTO_CGROUP`): it never runs a single instruction
/// outside its limits, and the kernel skips the costly migration that a
/// write to `cgroup.procs` takes. Without it, a plain fork-like `clone`.
///
/// The caller must be single-threaded: the child is a copy of this one
/// thread, and locks held by other threads would stay locked in it.
pub fn clone_into_new_namespaces(cgroup: Option<BorrowedFd<'_>>) -> Result<Side, NamespaceError> {
    let flags = CLONE_FLAGS;
    let ret = match cgroup {
        Some(dir) => {
            debug!(?flags, "clone3 with CLONE_INTO_CGROUP");
            let args = CloneArgs {
                flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
                exit_signal: libc::SIGCHLD as u64,
                cgroup: dir.as_raw_fd() as u64,
                ..CloneArgs::default()
            };
            // SAFETY: clone3 with no CLONE_VM and no stack behaves as fork,
            // as above; `args` is a valid clone_args of the size passed.
            unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const CloneArgs,
                    size_of::<CloneArgs>(),
                )
            }
        }
        None => {
            debug!(?flags, "clone");
            let raw = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
            // SAFETY: clone without CLONE_VM and with a null stack behaves as
            // fork: the child gets a copy of the address space and continues
            // here. nsbox is single-threaded at this point, so no lock is held
            // by a thread that does not exist in the child.
            unsafe { libc::syscall(libc::SYS_clone, raw, 0usize, 0usize, 0usize, 0usize) }
        }
    };
    match ret {
        -1 => Err(NamespaceError::Clone {
            flags,
            source: nix::Error::last(),
        }),
        0 => Ok(Side::Child),
        pid => Ok(Side::Parent(Pid::from_raw(pid as i32))),
    }
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), which libc does not name yet.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Gives the calling process a new cgroup namespace rooted at its cgroup.
pub fn unshare_cgroup() -> Result<(), NamespaceError> {
    let flags = CloneFlags::CLONE_NEWCGROUP;
    debug!(?flags, "unshare");
    nix::sched::unshare(flags).map_err(|source| NamespaceError::Unshare { flags, source })
}
