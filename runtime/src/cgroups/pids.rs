//! The pids controller: the same two files on v1 and v2.

use std::path::Path;

use super::{fs, CgroupError};

/// Caps the number of processes and threads in the group.
pub(super) fn set(group: &Path, max: u64) -> Result<(), CgroupError> {
    fs::write(&group.join("pids.max"), &max.to_string())
}

/// Processes and threads in the group now.
pub(super) fn current(group: &Path) -> Result<u64, CgroupError> {
    fs::read_u64(&group.join("pids.current"))
}
