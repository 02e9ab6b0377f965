//! cgroup v1: one hierarchy per controller (or per co-mounted set, such as
//! `cpu,cpuacct`), each a directory under the root. A container gets a group
//! `<hierarchy>/nsbox/<name>` in each hierarchy that one of its limits
//! needs, plus cpuacct next to cpu so its CPU time is accounted.
//!
//! A hierarchy is found by its directory name, which is how distributions
//! mount them: `memory`, `pids`, `cpu,cpuacct` (with `cpu` and `cpuacct`
//! symlinks to it). The name also gives the controller set that a mount of
//! the hierarchy inside the container must repeat.

use std::path::{Path, PathBuf};

use super::{cpu, fs, memory, pids};
use super::{CgroupError, CpuStats, Driver, InsideMounts, Limits, V1Mount, PARENT};

/// The controllers nsbox makes groups for.
const USED: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// A mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// Its directory name, which lists its controllers: `memory`, `cpu,cpuacct`.
    name: String,
    /// Its mount point, `<root>/<name>`.
    dir: PathBuf,
}

impl Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.name.split(',').any(|c| c == controller)
    }
}

/// Finds the hierarchy holding `controller`: `<root>/<controller>` itself or
/// the directory it links to, else a directory whose name lists it.
fn find(root: &Path, controller: &str) -> Option<Hierarchy> {
    let direct = root.join(controller);
    if is_hierarchy(&direct) {
        let name = match std::fs::read_link(&direct) {
            Ok(target) => target.file_name()?.to_str()?.to_string(),
            Err(_) => controller.to_string(),
        };
        return Some(Hierarchy {
            dir: root.join(&name),
            name,
        });
    }
    let entries = std::fs::read_dir(root).ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let name = entry.file_name().into_string().ok()?;
        let found = Hierarchy {
            dir: root.join(&name),
            name,
        };
        (found.has(controller) && is_hierarchy(&found.dir)).then_some(found)
    })
}

fn is_hierarchy(dir: &Path) -> bool {
    dir.join("cgroup.procs").is_file()
}

fn push_unique(list: &mut Vec<Hierarchy>, hierarchy: Hierarchy) {
    if !list.contains(&hierarchy) {
        list.push(hierarchy);
    }
}

/// The hierarchies `limits` need, or the first controller that is missing.
fn needed(root: &Path, limits: &Limits) -> Result<Vec<Hierarchy>, CgroupError> {
    let mut list = Vec::new();
    for controller in limits.controllers() {
        let found = find(root, controller).ok_or(CgroupError::MissingController(controller))?;
        push_unique(&mut list, found);
        // Accounting only: a host without cpuacct still gets its CPU limit.
        if let Some(acct) = (controller == "cpu")
            .then(|| find(root, "cpuacct"))
            .flatten()
        {
            push_unique(&mut list, acct);
        }
    }
    Ok(list)
}

/// The mounted hierarchies of the controllers nsbox uses.
fn used(root: &Path) -> Vec<Hierarchy> {
    let mut list = Vec::new();
    for found in USED.iter().filter_map(|c| find(root, c)) {
        push_unique(&mut list, found);
    }
    list
}

/// nsbox's parent group in every hierarchy it uses.
pub(super) fn parents(root: &Path) -> Vec<PathBuf> {
    used(root).into_iter().map(|h| h.dir.join(PARENT)).collect()
}

/// Checks that a hierarchy is mounted for every controller `limits` need.
pub(super) fn check(root: &Path, limits: &Limits) -> Result<(), CgroupError> {
    needed(root, limits).map(drop)
}

/// Makes the container's groups and writes the limits; on failure removes
/// the groups made so far.
pub(super) fn create(root: &Path, name: &str, limits: &Limits) -> Result<V1Groups, CgroupError> {
    let mut made = V1Groups {
        members: Vec::new(),
    };
    for hierarchy in needed(root, limits)? {
        if let Err(err) = made.add(hierarchy, name, limits) {
            // The first error is the one worth reporting; removal is best effort.
            let _ = made.remove();
            return Err(err);
        }
    }
    Ok(made)
}

/// Reopens a container's existing groups; `None` when it has none.
pub(super) fn open(root: &Path, name: &str) -> Option<V1Groups> {
    let members: Vec<Member> = used(root)
        .into_iter()
        .map(|h| Member {
            group: h.dir.join(PARENT).join(name),
            hierarchy: h.name,
        })
        .filter(|m| m.group.is_dir())
        .collect();
    (!members.is_empty()).then_some(V1Groups { members })
}

/// A container's group in one hierarchy.
#[derive(Debug)]
struct Member {
    /// The hierarchy's name, e.g. `memory` or `cpu,cpuacct`.
    hierarchy: String,
    /// The group, `<root>/<hierarchy>/nsbox/<name>`.
    group: PathBuf,
}

impl Member {
    fn has(&self, controller: &str) -> bool {
        self.hierarchy.split(',').any(|c| c == controller)
    }
}

/// A container's groups, one per v1 hierarchy.
#[derive(Debug)]
pub(super) struct V1Groups {
    members: Vec<Member>,
}

impl V1Groups {
    /// Makes the group in one hierarchy (and nsbox's parent there, if it is
    /// the first container) and writes that hierarchy's limits.
    fn add(
        &mut self,
        hierarchy: Hierarchy,
        name: &str,
        limits: &Limits,
    ) -> Result<(), CgroupError> {
        let parent = hierarchy.dir.join(PARENT);
        fs::ensure_parent(&parent)?;
        let group = parent.join(name);
        fs::make_group(&group)?;
        self.members.push(Member {
            hierarchy: hierarchy.name,
            group: group.clone(),
        });
        let member = &self.members[self.members.len() - 1];
        if let Some(bytes) = limits.memory.filter(|_| member.has("memory")) {
            memory::set_v1(&group, bytes)?;
        }
        if let Some(quota) = limits.cpu.filter(|_| member.has("cpu")) {
            cpu::set_v1(&group, quota)?;
        }
        if let Some(max) = limits.pids.filter(|_| member.has("pids")) {
            pids::set(&group, max)?;
        }
        Ok(())
    }

    fn group(&self, controller: &'static str) -> Result<&Path, CgroupError> {
        let member = self.members.iter().find(|m| m.has(controller));
        member
            .map(|m| m.group.as_path())
            .ok_or(CgroupError::NotInHierarchy(controller))
    }
}

impl Driver for V1Groups {
    fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for member in &self.members {
            fs::write(&member.group.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn oom_kills(&self) -> Result<u64, CgroupError> {
        match self.group("memory") {
            Ok(group) => memory::oom_kills_v1(group),
            Err(_) => Ok(0),
        }
    }

    fn cpu_stats(&self) -> Result<CpuStats, CgroupError> {
        cpu::stats_v1(self.group("cpu")?, self.group("cpuacct")?)
    }

    fn pids_current(&self) -> Result<u64, CgroupError> {
        pids::current(self.group("pids")?)
    }

    fn memory(&self, peak: bool) -> Result<u64, CgroupError> {
        let group = self.group("memory")?;
        if peak {
            memory::peak(group, false)
        } else {
            memory::current(group, false)
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.members.iter().map(|m| m.group.clone()).collect()
    }

    fn inside_mounts(&self) -> InsideMounts {
        let mounts = self.members.iter().map(|m| V1Mount {
            dir: m.hierarchy.clone(),
            options: m.hierarchy.clone(),
        });
        InsideMounts::V1(mounts.collect())
    }

    fn remove(&self) -> Result<(), CgroupError> {
        fs::remove_groups(&self.paths())
    }
}
