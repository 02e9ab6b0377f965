//! The few filesystem operations cgroupfs needs, each traced at debug level
//! so `--debug` shows every step nsbox takes in the cgroup tree.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::debug;

use super::CgroupError;

/// How long removing a container's groups keeps retrying while the kernel
/// still calls them busy.
const RMDIR_PATIENCE: Duration = Duration::from_secs(1);
/// The longest pause between two `rmdir` attempts.
const RMDIR_MAX_PAUSE: Duration = Duration::from_millis(100);

/// Writes `value` to a control file in one write. The file is never
/// created: a missing control file means the controller is not there, and
/// that must fail rather than leave a stray regular file.
pub(super) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    debug!("cgroup write {} = {}", path.display(), value);
    let fail = |source| CgroupError::Write {
        path: path.into(),
        value: value.into(),
        source,
    };
    #[cfg(test)]
    super::fake::check_write(path, value).map_err(fail)?;
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(fail)?;
    file.write_all(value.as_bytes()).map_err(fail)?;
    #[cfg(test)]
    super::fake::after_write(path, value);
    Ok(())
}

/// Reads a whole control file.
pub(super) fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })
}

/// Reads a control file that holds one number.
pub(super) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.into(),
        detail: format!("expected a number, found {:?}", text.trim()),
    })
}

/// Reads the number after `key` in a flat keyed file such as `cpu.stat`
/// (one `key value` pair per line); `None` when the key is absent.
pub(super) fn read_key(path: &Path, key: &str) -> Result<Option<u64>, CgroupError> {
    let text = read(path)?;
    let Some(value) = text
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
    else {
        return Ok(None);
    };
    let number = value.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.into(),
        detail: format!(
            "expected a number after \"{key}\", found {:?}",
            value.trim()
        ),
    })?;
    Ok(Some(number))
}

/// Like [`read_key`], but a missing key is an error.
pub(super) fn require_key(path: &Path, key: &str) -> Result<u64, CgroupError> {
    read_key(path, key)?.ok_or_else(|| CgroupError::Parse {
        path: path.into(),
        detail: format!("no \"{key}\" line"),
    })
}

/// Makes nsbox's parent group unless it exists. It is shared by every
/// container and never removed.
pub(super) fn ensure_parent(path: &Path) -> Result<(), CgroupError> {
    if path.is_dir() {
        return Ok(());
    }
    match mkdir(path) {
        // Another nsbox made it in the meantime.
        Err(CgroupError::Create { source, .. }) if source.kind() == ErrorKind::AlreadyExists => {
            Ok(())
        }
        other => other,
    }
}

/// Makes a container's group. A group of that name left behind by a killed
/// run is removed and made afresh when it has no processes; when it has
/// some, it belongs to a live container and is an error.
pub(super) fn make_group(path: &Path) -> Result<(), CgroupError> {
    if path.is_dir() {
        if has_processes(path)? {
            return Err(CgroupError::InUse(path.into()));
        }
        remove_group(path)?;
    }
    mkdir(path)
}

fn mkdir(path: &Path) -> Result<(), CgroupError> {
    debug!("cgroup mkdir {}", path.display());
    std::fs::create_dir(path).map_err(|source| CgroupError::Create {
        path: path.into(),
        source,
    })?;
    #[cfg(test)]
    super::fake::after_mkdir(path);
    Ok(())
}

/// True when a process is in the group or in any group below it.
pub(super) fn has_processes(group: &Path) -> Result<bool, CgroupError> {
    if !read(&group.join("cgroup.procs"))?.trim().is_empty() {
        return Ok(true);
    }
    for child in subgroups(group)? {
        if has_processes(&child)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The groups directly below `group`.
pub(super) fn subgroups(group: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let fail = |source| CgroupError::Read {
        path: group.into(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(group).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        if entry.file_type().map_err(fail)?.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Removes a group and any groups a container made below it, deepest first.
/// A group that is already gone counts as removed.
pub(super) fn remove_group(group: &Path) -> Result<(), CgroupError> {
    remove_groups(&[group.to_path_buf()])
}

/// Removes several groups, trying every one, with one shared time limit so
/// that a container whose processes linger costs at most [`RMDIR_PATIENCE`]
/// however many hierarchies it is in. The first error is returned.
pub(super) fn remove_groups(groups: &[PathBuf]) -> Result<(), CgroupError> {
    let deadline = Instant::now() + RMDIR_PATIENCE;
    let mut first_error = None;
    for group in groups {
        if let Err(err) = remove_tree(group, deadline) {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn remove_tree(group: &Path, deadline: Instant) -> Result<(), CgroupError> {
    if !group.exists() {
        return Ok(());
    }
    for child in subgroups(group)? {
        remove_tree(&child, deadline)?;
    }
    rmdir(group, deadline)
}

/// `rmdir` that waits, until `deadline`, while the kernel still reports the
/// group busy: processes killed with their PID namespace exit after its init
/// is reaped, and an emptied group is released asynchronously, so an
/// immediate `rmdir` can fail with EBUSY.
fn rmdir(path: &Path, deadline: Instant) -> Result<(), CgroupError> {
    debug!("cgroup rmdir {}", path.display());
    #[cfg(test)]
    super::fake::before_rmdir(path);
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(RMDIR_MAX_PAUSE);
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: path.into(),
                    source,
                })
            }
        }
    }
}

/// Removes the groups under an nsbox parent that have no processes and
/// that `is_live` does not claim, adding their paths to `removed`.
pub(super) fn sweep(
    parent: &Path,
    is_live: &dyn Fn(&str) -> bool,
    removed: &mut Vec<PathBuf>,
) -> Result<(), CgroupError> {
    if !parent.is_dir() {
        return Ok(());
    }
    for group in subgroups(parent)? {
        let name = group
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if is_live(name) || has_processes(&group)? {
            continue;
        }
        remove_group(&group)?;
        removed.push(group);
    }
    Ok(())
}
