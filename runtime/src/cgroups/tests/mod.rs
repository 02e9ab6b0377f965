//! Unit tests of both drivers against fake cgroupfs trees (see `fake.rs`):
//! no root needed, nothing on the host touched.

mod limits;
mod v1;
mod v2;

use super::{CpuQuota, Limits};

/// 32 MiB, half a CPU and 20 processes: the limits of the demo.
fn demo_limits() -> Limits {
    Limits {
        memory: Some(32 << 20),
        cpu: Some(CpuQuota {
            quota_us: 50_000,
            period_us: 100_000,
        }),
        pids: Some(20),
    }
}

/// Owned (path, value) pairs, for comparing with `FakeTree::writes`.
fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}
