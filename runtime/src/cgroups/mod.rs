//! cgroup limits: memory, CPU and process count, on cgroup v1 (and hybrid)
//! and v2 hosts.
//!
//! Every group nsbox makes lives under its own parent, `nsbox`, at the top
//! of a hierarchy (`/sys/fs/cgroup/memory/nsbox/<name>` on v1,
//! `/sys/fs/cgroup/nsbox/<name>` on v2), never under the group of the
//! process that runs nsbox. [`Cgroup`] is one container's group(s); a small
//! `Driver` trait hides whether they are one v2 group or a group in each
//! v1 hierarchy that a limit needs. Each controller's file names and value
//! formats live in a file of their own (`memory.rs`, `cpu.rs`, `pids.rs`).
//!
//! The order at start: [`Cgroup::check`] before anything exists, then
//! [`Cgroup::create`], then [`Cgroup::add_process`] with the container's
//! init before it runs user code (and before it unshares its cgroup
//! namespace, so the namespace's root is the container's own group).

mod cpu;
mod error;
mod fs;
mod layout;
mod limits;
mod memory;
mod pids;
mod v1;
mod v2;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use error::CgroupError;
pub use layout::{detect, detect_at, Layout};
pub use limits::{
    parse_cpus, parse_memory, parse_pids, CpuQuota, LimitError, Limits, Resource, CPU_PERIOD_US,
    MAX_MEMORY, MAX_PIDS, MIN_CPU_QUOTA_US, MIN_MEMORY,
};

/// The name of nsbox's parent group in every hierarchy.
pub const PARENT: &str = "nsbox";

/// CPU time a group used and how often its quota held it back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// CPU time used by the group's processes, in microseconds.
    pub usage_us: u64,
    /// Periods in which the group ran out of quota.
    pub nr_throttled: u64,
    /// Time the group spent throttled, in microseconds.
    pub throttled_us: u64,
}

/// What the container mounts at its `/sys/fs/cgroup`, inside its cgroup
/// namespace, so it sees its own group as the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsideMounts {
    /// One cgroup2 filesystem at `/sys/fs/cgroup`.
    Unified,
    /// A tmpfs at `/sys/fs/cgroup` with one cgroup v1 hierarchy per entry.
    V1(Vec<V1Mount>),
}

/// One cgroup v1 hierarchy to mount inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// The directory under `/sys/fs/cgroup`, e.g. `memory` or `cpu,cpuacct`.
    pub dir: String,
    /// The mount options: the hierarchy's controllers, e.g. `cpu,cpuacct`.
    /// The kernel only mounts a v1 hierarchy with its exact controller set.
    pub options: String,
}

/// What each cgroup version does with a container's group(s) once made.
trait Driver: std::fmt::Debug + Send + Sync {
    /// Writes `pid` to `cgroup.procs` of every group.
    fn add_process(&self, pid: i32) -> Result<(), CgroupError>;
    /// OOM kills so far; 0 when the group has no memory controller.
    fn oom_kills(&self) -> Result<u64, CgroupError>;
    /// CPU usage and throttling so far.
    fn cpu_stats(&self) -> Result<CpuStats, CgroupError>;
    /// Processes and threads now.
    fn pids_current(&self) -> Result<u64, CgroupError>;
    /// Memory in use now (`peak == false`), or the most so far.
    fn memory(&self, peak: bool) -> Result<u64, CgroupError>;
    /// The group directories.
    fn paths(&self) -> Vec<PathBuf>;
    /// The cgroup filesystems to mount inside the container.
    fn inside_mounts(&self) -> InsideMounts;
    /// Removes every group, trying all of them; the first error is returned.
    fn remove(&self) -> Result<(), CgroupError>;
}

/// One container's cgroup(s). Dropping it leaves the groups in place: call
/// [`Cgroup::remove`], or [`remove_stale`] after a crash.
#[derive(Debug)]
pub struct Cgroup {
    name: String,
    driver: Box<dyn Driver>,
}

impl Cgroup {
    /// Preflight, before anything exists: every controller that `limits`
    /// needs is on the host (v1: a hierarchy with that controller is mounted;
    /// v2: it is listed in the root's `cgroup.controllers`). The error names
    /// the missing controller.
    pub fn check(layout: &Layout, limits: &Limits) -> Result<(), CgroupError> {
        match layout {
            Layout::V1 { root } | Layout::Hybrid { root, .. } => v1::check(root, limits),
            Layout::V2 { root } => v2::check(root, limits),
        }
    }

    /// Makes the container's group(s) under nsbox's parent and writes the
    /// limits. On v1 that is `<root>/<hierarchy>/nsbox/<name>` in each
    /// hierarchy a limit needs (plus cpuacct next to cpu, for accounting); on
    /// v2 it is `<root>/nsbox/<name>`, with the needed controllers enabled
    /// in the root's and the parent's `cgroup.subtree_control` (they stay
    /// enabled there: other containers may use them). On failure, whatever
    /// was made is removed again. An empty group of the same name left by a
    /// killed run is replaced; one with processes in it is an error.
    /// On v1, limits that are all unset make no group at all.
    pub fn create(layout: &Layout, name: &str, limits: &Limits) -> Result<Cgroup, CgroupError> {
        check_name(name)?;
        let driver: Box<dyn Driver> = match layout {
            Layout::V1 { root } | Layout::Hybrid { root, .. } => {
                Box::new(v1::create(root, name, limits)?)
            }
            Layout::V2 { root } => Box::new(v2::create(root, name, limits)?),
        };
        Ok(Cgroup {
            name: name.to_string(),
            driver,
        })
    }

    /// Reopens an existing container's group(s) by name, for cleanup and for
    /// later commands; `None` when there is none.
    pub fn open(layout: &Layout, name: &str) -> Option<Cgroup> {
        check_name(name).ok()?;
        let driver: Box<dyn Driver> = match layout {
            Layout::V1 { root } | Layout::Hybrid { root, .. } => Box::new(v1::open(root, name)?),
            Layout::V2 { root } => Box::new(v2::open(root, name)?),
        };
        Some(Cgroup {
            name: name.to_string(),
            driver,
        })
    }

    /// The container name the group(s) are named after.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves a process (the container's init, before it runs user code) into
    /// the group(s) by writing its PID to `cgroup.procs`.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        self.driver.add_process(pid)
    }

    /// OOM kills in the group so far (v1: `memory.oom_control`, v2:
    /// `memory.events`); 0 when there is no memory limit.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        self.driver.oom_kills()
    }

    /// CPU time used and throttling so far. On v1 this needs a CPU limit
    /// (the group is only in the cpu and cpuacct hierarchies then).
    pub fn cpu_stats(&self) -> Result<CpuStats, CgroupError> {
        self.driver.cpu_stats()
    }

    /// Processes and threads in the group now; needs a pids limit on v1.
    pub fn pids_current(&self) -> Result<u64, CgroupError> {
        self.driver.pids_current()
    }

    /// Memory in use now, in bytes; needs a memory limit on v1.
    pub fn memory_current(&self) -> Result<u64, CgroupError> {
        self.driver.memory(false)
    }

    /// The most memory in use at once so far, in bytes; needs a memory limit
    /// on v1 and Linux 5.19 on v2.
    pub fn memory_peak(&self) -> Result<u64, CgroupError> {
        self.driver.memory(true)
    }

    /// The group directories, for inspection and debugging.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.driver.paths()
    }

    /// On cgroup v2, the group's directory opened for `clone3`'s
    /// `CLONE_INTO_CGROUP`; `None` on v1, where a process joins one group
    /// per hierarchy by writing `cgroup.procs`.
    pub fn v2_dir(&self) -> Option<Result<std::os::fd::OwnedFd, CgroupError>> {
        if self.driver.inside_mounts() != InsideMounts::Unified {
            return None;
        }
        let path = self.driver.paths().into_iter().next()?;
        let flags = nix::fcntl::OFlag::O_PATH
            | nix::fcntl::OFlag::O_DIRECTORY
            | nix::fcntl::OFlag::O_CLOEXEC;
        let dir = nix::fcntl::open(&path, flags, nix::sys::stat::Mode::empty());
        Some(dir.map_err(|e| CgroupError::Read {
            path,
            source: e.into(),
        }))
    }

    /// What to mount at `/sys/fs/cgroup` inside the container's cgroup
    /// namespace: one cgroup2 mount on v2, or one v1 mount per hierarchy the
    /// container's group is in.
    pub fn inside_mounts(&self) -> InsideMounts {
        self.driver.inside_mounts()
    }

    /// Removes the group(s), never nsbox's parent. The processes should be
    /// gone; a group the kernel still calls busy is retried for up to a
    /// second, since an exited group is released asynchronously.
    pub fn remove(self) -> Result<(), CgroupError> {
        self.driver.remove()
    }
}

/// Removes the groups under nsbox's parents that have no processes and whose
/// name `is_live` does not claim as a running container. Returns the paths
/// removed.
pub fn remove_stale(
    layout: &Layout,
    is_live: &dyn Fn(&str) -> bool,
) -> Result<Vec<PathBuf>, CgroupError> {
    let parents = match layout {
        Layout::V1 { root } | Layout::Hybrid { root, .. } => v1::parents(root),
        Layout::V2 { root } => vec![root.join(PARENT)],
    };
    let mut removed = Vec::new();
    for parent in parents {
        fs::sweep(&parent, is_live, &mut removed)?;
    }
    Ok(removed)
}

/// A container name becomes a directory name: it must be one plain path
/// component.
fn check_name(name: &str) -> Result<(), CgroupError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(CgroupError::InvalidName(name.to_string()));
    }
    Ok(())
}
