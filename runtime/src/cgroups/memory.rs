//! The memory controller: the limit, no swap on top of it, and the OOM-kill
//! counter.
//!
//! v1 keeps two limits, memory alone (`memory.limit_in_bytes`) and memory
//! plus swap (`memory.memsw.limit_in_bytes`, present only with swap
//! accounting), and refuses any write that would leave the first above the
//! second. v2 has `memory.max` and a separate `memory.swap.max`.

use std::path::Path;

use super::{fs, CgroupError};

/// Sets a v1 group's limit to `bytes` and, where swap is accounted, its
/// memory+swap limit to the same value so the group cannot swap.
pub(super) fn set_v1(group: &Path, bytes: u64) -> Result<(), CgroupError> {
    let limit = group.join("memory.limit_in_bytes");
    let memsw = group.join("memory.memsw.limit_in_bytes");
    let value = bytes.to_string();
    if !memsw.exists() {
        return fs::write(&limit, &value);
    }
    // The kernel keeps limit <= memsw at every step: when raising, memsw must
    // grow first; when lowering (a fresh group starts unlimited), the limit
    // must shrink first.
    if bytes > fs::read_u64(&limit)? {
        fs::write(&memsw, &value)?;
        fs::write(&limit, &value)
    } else {
        fs::write(&limit, &value)?;
        fs::write(&memsw, &value)
    }
}

/// Sets a v2 group's `memory.max` to `bytes` and, where swap exists, its
/// `memory.swap.max` to 0.
pub(super) fn set_v2(group: &Path, bytes: u64) -> Result<(), CgroupError> {
    fs::write(&group.join("memory.max"), &bytes.to_string())?;
    let swap = group.join("memory.swap.max");
    if swap.exists() {
        fs::write(&swap, "0")?;
    }
    Ok(())
}

/// OOM kills in a v1 group: the `oom_kill` line of `memory.oom_control`
/// (Linux 4.13 and later).
pub(super) fn oom_kills_v1(group: &Path) -> Result<u64, CgroupError> {
    fs::require_key(&group.join("memory.oom_control"), "oom_kill")
}

/// OOM kills in a v2 group: the `oom_kill` line of `memory.events`; 0 when
/// the memory controller is not enabled for the group.
pub(super) fn oom_kills_v2(group: &Path) -> Result<u64, CgroupError> {
    let events = group.join("memory.events");
    if !events.exists() {
        return Ok(0);
    }
    fs::require_key(&events, "oom_kill")
}

/// Memory in use now, in bytes.
pub(super) fn current(group: &Path, v2: bool) -> Result<u64, CgroupError> {
    let file = if v2 {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    fs::read_u64(&group.join(file))
}

/// The most memory in use at once so far, in bytes (`memory.peak` needs
/// Linux 5.19 on v2).
pub(super) fn peak(group: &Path, v2: bool) -> Result<u64, CgroupError> {
    let file = if v2 {
        "memory.peak"
    } else {
        "memory.max_usage_in_bytes"
    };
    fs::read_u64(&group.join(file))
}
