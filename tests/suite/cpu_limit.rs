//! Requirement: a CPU limit holds. A busy loop under `--cpus 0.5` gets no
//! more CPU time than the quota allows, by the cgroup's own accounting, and
//! the kernel records throttling. No lower bound: a busy machine may give
//! the loop less.

use crate::harness::{require_root, run_to_end, unique};

/// Runs cpuhog, then prints the cgroup's CPU accounting as the container
/// sees it (v2: one cpu.stat; v1: cpuacct.usage in ns plus cpu.stat).
const SCRIPT: &str = r#"
cpuhog 3
if [ -f /sys/fs/cgroup/cpu.stat ]; then
  cat /sys/fs/cgroup/cpu.stat
else
  echo "usage_usec $(( $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000 ))"
  cat /sys/fs/cgroup/cpu/cpu.stat
fi
"#;

fn stat(stdout: &str, key: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in\n{stdout}"))
}

#[test]
fn root_cpuhog_gets_at_most_its_quota() {
    require_root();
    let out = run_to_end(
        &unique("cpu"),
        &["--cpus", "0.5"],
        &["/bin/sh", "-c", SCRIPT],
    );
    out.assert_code(0);
    let report: serde_json::Value = out
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no cpuhog report\n{out}"));
    // cpuhog's own view: at most half of its wall time, plus one 100 ms
    // period of slack for the quota's granularity.
    let (wall_ms, cpu_ms) = (
        report["wall_ms"].as_u64().unwrap(),
        report["cpu_ms"].as_u64().unwrap(),
    );
    assert!(
        cpu_ms <= wall_ms / 2 + 100,
        "cpuhog used {cpu_ms} ms of CPU in {wall_ms} ms at 0.5 CPUs\n{out}"
    );
    // The cgroup's accounting over its whole life (shell and cat included):
    // at most the quota of each period it ran in, plus one period's quota.
    let usage_us = stat(&out.stdout, "usage_usec");
    let periods = stat(&out.stdout, "nr_periods");
    let allowed = (periods + 1) * 50_000;
    assert!(
        usage_us <= allowed,
        "the group used {usage_us} us in {periods} periods of 50 ms quota\n{out}"
    );
    assert!(
        stat(&out.stdout, "nr_throttled") > 0,
        "no throttling recorded\n{out}"
    );
}

#[test]
fn root_cpu_quota_is_visible_inside() {
    require_root();
    let script = "cat /sys/fs/cgroup/cpu.max 2>/dev/null || \
                  echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)";
    let out = run_to_end(
        &unique("cpusee"),
        &["--cpus", "0.25"],
        &["/bin/sh", "-c", script],
    );
    out.assert_code(0);
    assert_eq!(out.stdout.trim(), "25000 100000", "{out}");
}
