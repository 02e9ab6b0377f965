//! cgroup v2: one unified hierarchy. A container gets one group,
//! `<root>/nsbox/<name>`, with every controller its limits need.
//!
//! A controller is usable in a group only once its parent enables it in
//! `cgroup.subtree_control`, so nsbox enables it in the root and in its own
//! parent. A group with enabled controllers below it may hold no processes
//! (the "no internal processes" rule), so processes only ever go into the
//! leaf, never into nsbox's parent.

use std::path::{Path, PathBuf};

use super::{cpu, fs, memory, pids};
use super::{CgroupError, CpuStats, Driver, InsideMounts, Limits, PARENT};

/// Checks that the root offers every controller `limits` need.
pub(super) fn check(root: &Path, limits: &Limits) -> Result<(), CgroupError> {
    let offered = fs::read(&root.join("cgroup.controllers"))?;
    let offered: Vec<&str> = offered.split_whitespace().collect();
    let missing = limits
        .controllers()
        .into_iter()
        .find(|c| !offered.contains(c));
    missing.map_or(Ok(()), |c| Err(CgroupError::MissingController(c)))
}

/// Enables the controllers in the root and in nsbox's parent, makes the
/// container's group and writes the limits; on failure removes the group.
pub(super) fn create(root: &Path, name: &str, limits: &Limits) -> Result<V2Group, CgroupError> {
    check(root, limits)?;
    let controllers = limits.controllers();
    enable(root, &controllers)?;
    let parent = root.join(PARENT);
    fs::ensure_parent(&parent)?;
    enable(&parent, &controllers)?;
    let group = V2Group {
        dir: parent.join(name),
    };
    fs::make_group(&group.dir)?;
    if let Err(err) = group.write_limits(limits) {
        // The first error is the one worth reporting; removal is best effort.
        let _ = group.remove();
        return Err(err);
    }
    Ok(group)
}

/// Reopens a container's existing group; `None` when there is none.
pub(super) fn open(root: &Path, name: &str) -> Option<V2Group> {
    let dir = root.join(PARENT).join(name);
    dir.is_dir().then_some(V2Group { dir })
}

/// Enables, for the children of `group`, those of `controllers` that are
/// not enabled yet. Nothing is written when all are, so a start with
/// everything in place costs one read.
fn enable(group: &Path, controllers: &[&str]) -> Result<(), CgroupError> {
    let file = group.join("cgroup.subtree_control");
    let enabled = fs::read(&file)?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::write(&file, &missing.join(" "))
}

/// A container's v2 group.
#[derive(Debug)]
pub(super) struct V2Group {
    dir: PathBuf,
}

impl V2Group {
    fn write_limits(&self, limits: &Limits) -> Result<(), CgroupError> {
        if let Some(bytes) = limits.memory {
            memory::set_v2(&self.dir, bytes)?;
        }
        if let Some(quota) = limits.cpu {
            cpu::set_v2(&self.dir, quota)?;
        }
        if let Some(max) = limits.pids {
            pids::set(&self.dir, max)?;
        }
        Ok(())
    }
}

impl Driver for V2Group {
    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        fs::write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn oom_kills(&self) -> Result<u64, CgroupError> {
        memory::oom_kills_v2(&self.dir)
    }

    fn cpu_stats(&self) -> Result<CpuStats, CgroupError> {
        cpu::stats_v2(&self.dir)
    }

    fn pids_current(&self) -> Result<u64, CgroupError> {
        pids::current(&self.dir)
    }

    fn memory(&self, peak: bool) -> Result<u64, CgroupError> {
        if peak {
            memory::peak(&self.dir, true)
        } else {
            memory::current(&self.dir, true)
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir.clone()]
    }

    fn inside_mounts(&self) -> InsideMounts {
        InsideMounts::Unified
    }

    fn remove(&self) -> Result<(), CgroupError> {
        fs::remove_group(&self.dir)
    }
}
