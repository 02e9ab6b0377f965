//! The parsers of `--memory`, `--cpus` and `--pids`: good inputs, and bad
//! ones with the message a user sees.

use rstest::rstest;

use crate::cgroups::limits::{online_cpus, parse_cpus_for, SIZE_HINT};
use crate::cgroups::{parse_cpus, parse_memory, parse_pids, CpuQuota, Limits};
use crate::cgroups::{CPU_PERIOD_US, MAX_PIDS, MIN_MEMORY};

#[rstest]
#[case("64m", 64 << 20)]
#[case("64M", 64 << 20)]
#[case("64MiB", 64 << 20)]
#[case("64mb", 64 << 20)]
#[case("1g", 1 << 30)]
#[case("1G", 1 << 30)]
#[case("6144k", 6 << 20)]
#[case("6291456", 6 << 20)]
#[case("6291456b", 6 << 20)]
#[case("2t", 2 << 40)]
fn memory_sizes_parse(#[case] input: &str, #[case] bytes: u64) {
    assert_eq!(parse_memory(input), Ok(bytes));
}

#[rstest]
#[case("0", "must be at least 6MiB")]
#[case("512k", "must be at least 6MiB")]
#[case("6291455", "must be at least 6MiB")]
#[case("-64m", "must not be negative")]
#[case("", SIZE_HINT)]
#[case("m", SIZE_HINT)]
#[case("lots", SIZE_HINT)]
#[case("1.5g", SIZE_HINT)]
#[case("64x", SIZE_HINT)]
#[case(" 64m", SIZE_HINT)]
#[case("99999999999999999999", "too large")]
#[case("17179869184g", "too large")]
#[case("8388608t", "too large")]
fn bad_memory_sizes_say_why(#[case] input: &str, #[case] reason: &str) {
    let err = parse_memory(input).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid memory limit \"{input}\": {reason}")
    );
}

#[rstest]
#[case("0.5", 50_000)]
#[case("1", 100_000)]
#[case("1.25", 125_000)]
#[case(".5", 50_000)]
#[case("0.01", 1_000)]
#[case("2", 200_000)]
fn cpus_parse(#[case] input: &str, #[case] quota_us: u64) {
    let parsed = parse_cpus_for(input, 2).unwrap();
    assert_eq!(
        parsed,
        CpuQuota {
            quota_us,
            period_us: CPU_PERIOD_US
        }
    );
}

#[rstest]
#[case("0", "must be greater than 0")]
#[case("0.0", "must be greater than 0")]
#[case("-1", "must be greater than 0")]
#[case(
    "0.009",
    "must be at least 0.01 (the kernel's smallest quota is 1000us per 100000us period)"
)]
#[case("3", "the host has only 2 cpus online")]
#[case("2.5", "the host has only 2 cpus online")]
#[case("NaN", "expected a number of cpus like 0.5 or 2")]
#[case("inf", "expected a number of cpus like 0.5 or 2")]
#[case("1e3", "expected a number of cpus like 0.5 or 2")]
#[case("1.2.3", "expected a number of cpus like 0.5 or 2")]
#[case("", "expected a number of cpus like 0.5 or 2")]
#[case(".", "expected a number of cpus like 0.5 or 2")]
fn bad_cpus_say_why(#[case] input: &str, #[case] reason: &str) {
    let err = parse_cpus_for(input, 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid cpu limit \"{input}\": {reason}")
    );
}

#[test]
fn one_cpu_host_is_named_in_the_singular() {
    let err = parse_cpus_for("2", 1).unwrap_err();
    assert_eq!(err.reason, "the host has only 1 cpu online");
}

#[test]
fn cpus_up_to_the_online_count_are_accepted_on_this_host() {
    assert!(parse_cpus("0.5").is_ok());
    let too_many = (online_cpus() + 1).to_string();
    assert!(parse_cpus(&too_many)
        .unwrap_err()
        .reason
        .contains("cpus online"));
}

#[rstest]
#[case("2", 2)]
#[case("20", 20)]
#[case("4194304", MAX_PIDS)]
fn pids_parse(#[case] input: &str, #[case] pids: u64) {
    assert_eq!(parse_pids(input), Ok(pids));
}

#[rstest]
#[case("0", "must be at least 2 (nsbox's init and the command count)")]
#[case("1", "must be at least 2 (nsbox's init and the command count)")]
#[case("-5", "must not be negative")]
#[case("", "expected a whole number of processes like 100")]
#[case("ten", "expected a whole number of processes like 100")]
#[case("2.5", "expected a whole number of processes like 100")]
#[case("4194305", "must be at most 4194304 (the kernel's pid limit)")]
#[case(
    "99999999999999999999",
    "must be at most 4194304 (the kernel's pid limit)"
)]
fn bad_pids_say_why(#[case] input: &str, #[case] reason: &str) {
    let err = parse_pids(input).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid pids limit \"{input}\": {reason}")
    );
}

#[test]
fn limits_name_the_controllers_they_need() {
    assert!(Limits::default().is_empty());
    let limits = Limits {
        memory: Some(MIN_MEMORY),
        cpu: None,
        pids: Some(5),
    };
    assert!(!limits.is_empty());
    assert_eq!(limits.controllers(), ["memory", "pids"]);
}
