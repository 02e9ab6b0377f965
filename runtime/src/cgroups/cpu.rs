//! The cpu controller: CFS bandwidth (a quota of CPU time per period) and
//! the usage and throttling counters that show it holding.

use std::path::Path;

use super::{fs, CgroupError, CpuQuota, CpuStats};

/// Sets a v1 group's bandwidth. The period goes first so the quota is
/// checked against the period it belongs to.
pub(super) fn set_v1(group: &Path, cpu: CpuQuota) -> Result<(), CgroupError> {
    fs::write(&group.join("cpu.cfs_period_us"), &cpu.period_us.to_string())?;
    fs::write(&group.join("cpu.cfs_quota_us"), &cpu.quota_us.to_string())
}

/// Sets a v2 group's bandwidth: `cpu.max` takes "quota period" at once.
pub(super) fn set_v2(group: &Path, cpu: CpuQuota) -> Result<(), CgroupError> {
    fs::write(
        &group.join("cpu.max"),
        &format!("{} {}", cpu.quota_us, cpu.period_us),
    )
}

/// v1 counters: usage from the cpuacct group (`cpuacct.usage`, in ns) and
/// throttling from the cpu group (`cpu.stat`, `throttled_time` in ns).
pub(super) fn stats_v1(cpu: &Path, cpuacct: &Path) -> Result<CpuStats, CgroupError> {
    let stat = cpu.join("cpu.stat");
    Ok(CpuStats {
        usage_us: fs::read_u64(&cpuacct.join("cpuacct.usage"))? / 1000,
        nr_throttled: fs::require_key(&stat, "nr_throttled")?,
        throttled_us: fs::require_key(&stat, "throttled_time")? / 1000,
    })
}

/// v2 counters, all from `cpu.stat`. Usage is always there; the throttling
/// lines appear only when the cpu controller is enabled for the group, and
/// count as 0 otherwise.
pub(super) fn stats_v2(group: &Path) -> Result<CpuStats, CgroupError> {
    let stat = group.join("cpu.stat");
    Ok(CpuStats {
        usage_us: fs::require_key(&stat, "usage_usec")?,
        nr_throttled: fs::read_key(&stat, "nr_throttled")?.unwrap_or(0),
        throttled_us: fs::read_key(&stat, "throttled_usec")?.unwrap_or(0),
    })
}
