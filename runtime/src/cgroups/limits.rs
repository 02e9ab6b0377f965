//! The limits a user asks for, and the parsers for `--memory`, `--cpus` and
//! `--pids`. Every value the kernel would refuse, or that makes no sense, is
//! rejected here, before anything is created.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The smallest memory limit accepted: 6 MiB, the same floor as Docker's.
/// Below a few MiB the kernel OOM-kills a shell before it prints a prompt,
/// so a smaller limit is almost surely a typo.
pub const MIN_MEMORY: u64 = 6 << 20;
/// The largest memory limit accepted: the kernel keeps limits in a signed
/// 64-bit counter.
pub const MAX_MEMORY: u64 = i64::MAX as u64;
/// The CFS period used for every CPU limit, in microseconds (the kernel's
/// default period).
pub const CPU_PERIOD_US: u64 = 100_000;
/// The kernel's smallest CFS quota, in microseconds (`cpu.cfs_quota_us`
/// refuses anything below 1 ms).
pub const MIN_CPU_QUOTA_US: u64 = 1_000;
/// The largest process limit the kernel takes (`PID_MAX_LIMIT` on 64-bit).
pub const MAX_PIDS: u64 = 4 << 20;

/// The cgroup limits of one container; `None` leaves that resource unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes; swap is not allowed on top of it.
    pub memory: Option<u64>,
    /// CPU time per period.
    pub cpu: Option<CpuQuota>,
    /// Largest number of processes (and threads) at once.
    pub pids: Option<u64>,
}

impl Limits {
    /// True when no limit is set, so no cgroup is needed.
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpu.is_none() && self.pids.is_none()
    }

    /// The controllers these limits need, by their kernel names.
    pub fn controllers(&self) -> Vec<&'static str> {
        let wanted = [
            ("memory", self.memory.is_some()),
            ("cpu", self.cpu.is_some()),
            ("pids", self.pids.is_some()),
        ];
        wanted
            .iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect()
    }
}

/// A CFS bandwidth limit: `quota_us` of CPU time in every `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuQuota {
    /// CPU time allowed per period, in microseconds, summed over all CPUs.
    pub quota_us: u64,
    /// Length of a period in microseconds.
    pub period_us: u64,
}

impl CpuQuota {
    /// The limit as a number of CPUs, e.g. 0.5.
    pub fn cpus(&self) -> f64 {
        self.quota_us as f64 / self.period_us as f64
    }
}

/// The resource a rejected limit was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `--memory`.
    Memory,
    /// `--cpus`.
    Cpu,
    /// `--pids`.
    Pids,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Memory => "memory",
            Resource::Cpu => "cpu",
            Resource::Pids => "pids",
        })
    }
}

/// A limit given on the command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {resource} limit \"{input}\": {reason}")]
pub struct LimitError {
    /// Which limit.
    pub resource: Resource,
    /// The text as given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl LimitError {
    fn new(resource: Resource, input: &str, reason: impl Into<String>) -> Self {
        LimitError {
            resource,
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

pub(super) const SIZE_HINT: &str =
    "expected a whole number of bytes with an optional k, m, g or t suffix, like 64m";

/// Parses a memory size: bytes, or a whole number with a `k`, `m`, `g` or
/// `t` suffix in binary units (any case, optionally followed by `b` or
/// `ib`). At least [`MIN_MEMORY`].
pub fn parse_memory(s: &str) -> Result<u64, LimitError> {
    let err = |reason: &str| LimitError::new(Resource::Memory, s, reason);
    if s.starts_with('-') {
        return Err(err("must not be negative"));
    }
    let lower = s.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(split);
    let shift = match suffix {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(err(SIZE_HINT)),
    };
    if digits.is_empty() {
        return Err(err(SIZE_HINT));
    }
    // Only digits are left, so a parse failure can only be an overflow.
    let number: u64 = digits.parse().map_err(|_| err("too large"))?;
    let bytes = number.checked_mul(1 << shift).filter(|b| *b <= MAX_MEMORY);
    let bytes = bytes.ok_or_else(|| err("too large"))?;
    if bytes < MIN_MEMORY {
        return Err(err("must be at least 6MiB"));
    }
    Ok(bytes)
}

/// Parses a number of CPUs such as `0.5`, `1` or `1.25` into a quota over a
/// [`CPU_PERIOD_US`] period. It must be at least 0.01 (the kernel's minimum
/// quota) and at most the number of CPUs online.
pub fn parse_cpus(s: &str) -> Result<CpuQuota, LimitError> {
    parse_cpus_for(s, online_cpus())
}

/// [`parse_cpus`] against a given number of online CPUs.
pub(super) fn parse_cpus_for(s: &str, online: u64) -> Result<CpuQuota, LimitError> {
    let err = |reason: String| LimitError::new(Resource::Cpu, s, reason);
    if s.starts_with('-') {
        return Err(err("must be greater than 0".into()));
    }
    let well_formed = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|b| *b == b'.').count() <= 1;
    if !well_formed {
        return Err(err("expected a number of cpus like 0.5 or 2".into()));
    }
    let cpus: f64 = s
        .parse()
        .map_err(|_| err("expected a number of cpus like 0.5 or 2".into()))?;
    if cpus <= 0.0 {
        return Err(err("must be greater than 0".into()));
    }
    if cpus > online as f64 {
        let plural = if online == 1 { "" } else { "s" };
        return Err(err(format!(
            "the host has only {online} cpu{plural} online"
        )));
    }
    let quota_us = (cpus * CPU_PERIOD_US as f64).round() as u64;
    if quota_us < MIN_CPU_QUOTA_US {
        let reason = format!(
            "must be at least 0.01 (the kernel's smallest quota is {MIN_CPU_QUOTA_US}us \
             per {CPU_PERIOD_US}us period)"
        );
        return Err(err(reason));
    }
    Ok(CpuQuota {
        quota_us,
        period_us: CPU_PERIOD_US,
    })
}

/// The smallest process limit that lets a container start: its init and
/// its command are two processes.
pub const MIN_PIDS: u64 = 2;

/// Parses a process count: a whole number from [`MIN_PIDS`] to [`MAX_PIDS`].
pub fn parse_pids(s: &str) -> Result<u64, LimitError> {
    let err = |reason: String| LimitError::new(Resource::Pids, s, reason);
    if s.starts_with('-') {
        return Err(err("must not be negative".into()));
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("expected a whole number of processes like 100".into()));
    }
    let too_large = || {
        err(format!(
            "must be at most {MAX_PIDS} (the kernel's pid limit)"
        ))
    };
    let pids: u64 = s.parse().map_err(|_| too_large())?;
    if pids < MIN_PIDS {
        return Err(err(format!(
            "must be at least {MIN_PIDS} (nsbox's init and the command count)"
        )));
    }
    if pids > MAX_PIDS {
        return Err(too_large());
    }
    Ok(pids)
}

/// The number of CPUs online now, as the kernel counts them.
pub(super) fn online_cpus() -> u64 {
    // SAFETY: sysconf only reads a system constant; it has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n >= 1 {
        n as u64
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
    }
}
