//! The v1 driver against fake hierarchies, laid out like this project's
//! development machines (each controller on its own) or like distributions
//! that co-mount cpu and cpuacct.

use super::{demo_limits, pairs};
use crate::cgroups::fake::{self, FakeTree};
use crate::cgroups::{memory, remove_stale, Cgroup, CgroupError, CpuStats, InsideMounts};
use crate::cgroups::{Limits, V1Mount};

/// This machine: every controller in a hierarchy of its own, swap accounted.
fn host() -> FakeTree {
    fake::v1(&["cpu", "cpuacct", "cpuset", "memory", "pids"], true)
}

fn mount(name: &str) -> V1Mount {
    V1Mount {
        dir: name.into(),
        options: name.into(),
    }
}

#[test]
fn create_writes_each_hierarchys_limits_in_the_kernels_order() {
    let tree = host();
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    // v1 joins by cgroup.procs, one hierarchy at a time: no clone3 directory.
    assert!(cgroup.v2_dir().is_none());

    // A fresh group starts unlimited, so the memory limit goes down before
    // memory+swap; the CFS period goes before the quota.
    let expected = pairs(&[
        ("memory/nsbox/web/memory.limit_in_bytes", "33554432"),
        ("memory/nsbox/web/memory.memsw.limit_in_bytes", "33554432"),
        ("cpu/nsbox/web/cpu.cfs_period_us", "100000"),
        ("cpu/nsbox/web/cpu.cfs_quota_us", "50000"),
        ("pids/nsbox/web/pids.max", "20"),
    ]);
    assert_eq!(tree.writes(), expected);
    assert_eq!(
        tree.read("memory/nsbox/web/memory.memsw.limit_in_bytes"),
        "33554432"
    );
    assert_eq!(tree.read("cpu/nsbox/web/cpu.cfs_quota_us"), "50000");
    let paths = ["memory", "cpu", "cpuacct", "pids"].map(|h| tree.path(&format!("{h}/nsbox/web")));
    assert_eq!(cgroup.paths(), paths);
    assert!(!tree.path("cpuset/nsbox").exists(), "no limit needs cpuset");
}

#[test]
fn raising_a_memory_limit_grows_memory_and_swap_first() {
    let tree = host();
    Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    let group = tree.path("memory/nsbox/web");
    let before = tree.writes().len();

    memory::set_v1(&group, 64 << 20).unwrap();
    memory::set_v1(&group, 16 << 20).unwrap();

    let expected = pairs(&[
        ("memory/nsbox/web/memory.memsw.limit_in_bytes", "67108864"),
        ("memory/nsbox/web/memory.limit_in_bytes", "67108864"),
        ("memory/nsbox/web/memory.limit_in_bytes", "16777216"),
        ("memory/nsbox/web/memory.memsw.limit_in_bytes", "16777216"),
    ]);
    assert_eq!(tree.writes()[before..], expected);
}

#[test]
fn without_swap_accounting_only_the_memory_limit_is_written() {
    let tree = fake::v1(&["memory", "pids"], false);
    let limits = Limits {
        memory: Some(64 << 20),
        ..Limits::default()
    };
    Cgroup::create(tree.layout(), "web", &limits).unwrap();
    let expected = pairs(&[("memory/nsbox/web/memory.limit_in_bytes", "67108864")]);
    assert_eq!(tree.writes(), expected);
}

#[test]
fn co_mounted_cpu_and_cpuacct_make_one_group() {
    let tree = fake::v1(&["cpu,cpuacct", "memory", "pids"], true);
    let limits = Limits {
        cpu: demo_limits().cpu,
        ..Limits::default()
    };
    let cgroup = Cgroup::create(tree.layout(), "web", &limits).unwrap();

    assert_eq!(cgroup.paths(), [tree.path("cpu,cpuacct/nsbox/web")]);
    assert_eq!(
        cgroup.inside_mounts(),
        InsideMounts::V1(vec![mount("cpu,cpuacct")])
    );
    tree.set("cpu,cpuacct/nsbox/web/cpuacct.usage", "5000000\n");
    assert_eq!(cgroup.cpu_stats().unwrap().usage_us, 5000);
}

#[test]
fn a_missing_hierarchy_is_named_before_anything_is_made() {
    let tree = fake::v1(&["cpu", "cpuacct", "memory"], true);
    let err = Cgroup::check(tree.layout(), &demo_limits()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the host has no \"pids\" cgroup controller"
    );

    let err = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap_err();
    assert!(
        matches!(err, CgroupError::MissingController("pids")),
        "{err}"
    );
    assert!(!tree.path("memory/nsbox").exists());
    assert!(tree.writes().is_empty());
}

#[test]
fn a_refused_limit_removes_every_group_made() {
    let tree = host();
    tree.refuse_writes_to("pids.max");
    let err = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap_err();

    let path = tree.path("pids/nsbox/web/pids.max");
    assert_eq!(
        err.to_string(),
        format!("cannot write \"20\" to {}", path.display())
    );
    for hierarchy in ["memory", "cpu", "cpuacct", "pids"] {
        assert!(
            !tree.path(&format!("{hierarchy}/nsbox/web")).exists(),
            "{hierarchy}"
        );
        assert!(
            tree.path(&format!("{hierarchy}/nsbox")).is_dir(),
            "{hierarchy} parent stays"
        );
    }
}

#[test]
fn a_busy_stale_group_fails_the_create_and_undoes_the_rest() {
    let tree = host();
    Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    tree.set("cpu/nsbox/web/cgroup.procs", "4242\n");
    let err = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap_err();

    assert!(
        matches!(err, CgroupError::InUse(ref p) if *p == tree.path("cpu/nsbox/web")),
        "{err}"
    );
    assert!(
        !tree.path("memory/nsbox/web").exists(),
        "made afresh, then undone"
    );
    assert_eq!(
        tree.read("cpu/nsbox/web/cgroup.procs"),
        "4242",
        "the busy group is untouched"
    );
}

#[test]
fn add_process_joins_every_hierarchy() {
    let tree = host();
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    cgroup.add_process(4242).unwrap();
    for hierarchy in ["memory", "cpu", "cpuacct", "pids"] {
        assert_eq!(
            tree.read(&format!("{hierarchy}/nsbox/web/cgroup.procs")),
            "4242"
        );
    }
}

#[test]
fn counters_come_from_the_kernels_files() {
    let tree = host();
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    tree.set(
        "memory/nsbox/web/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    );
    tree.set("cpuacct/nsbox/web/cpuacct.usage", "2500000000\n");
    tree.set(
        "cpu/nsbox/web/cpu.stat",
        "nr_periods 40\nnr_throttled 25\nthrottled_time 1200000000\n",
    );
    tree.set("pids/nsbox/web/pids.current", "7\n");
    tree.set("memory/nsbox/web/memory.usage_in_bytes", "4096\n");
    tree.set("memory/nsbox/web/memory.max_usage_in_bytes", "8192\n");

    assert_eq!(cgroup.oom_kills().unwrap(), 3);
    let expected = CpuStats {
        usage_us: 2_500_000,
        nr_throttled: 25,
        throttled_us: 1_200_000,
    };
    assert_eq!(cgroup.cpu_stats().unwrap(), expected);
    assert_eq!(cgroup.pids_current().unwrap(), 7);
    assert_eq!(cgroup.memory_current().unwrap(), 4096);
    assert_eq!(cgroup.memory_peak().unwrap(), 8192);
}

#[test]
fn an_oom_control_without_the_counter_is_reported() {
    let tree = host();
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    tree.set(
        "memory/nsbox/web/memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\n",
    );
    let err = cgroup.oom_kills().unwrap_err();
    let path = tree.path("memory/nsbox/web/memory.oom_control");
    assert_eq!(
        err.to_string(),
        format!(
            "unexpected contents in {}: no \"oom_kill\" line",
            path.display()
        )
    );
}

#[test]
fn readings_without_the_hierarchy_say_which_is_missing() {
    let tree = host();
    let limits = Limits {
        pids: Some(5),
        ..Limits::default()
    };
    let cgroup = Cgroup::create(tree.layout(), "web", &limits).unwrap();
    assert_eq!(
        cgroup.oom_kills().unwrap(),
        0,
        "no memory limit, no OOM kills"
    );
    let err = cgroup.cpu_stats().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the container's cgroup is not in the \"cpu\" hierarchy"
    );
    assert!(matches!(
        cgroup.memory_current(),
        Err(CgroupError::NotInHierarchy("memory"))
    ));
}

#[test]
fn inside_mounts_list_the_hierarchies_joined() {
    let tree = host();
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    let expected = ["memory", "cpu", "cpuacct", "pids"].map(mount).to_vec();
    assert_eq!(cgroup.inside_mounts(), InsideMounts::V1(expected));
}

#[test]
fn open_and_remove_cover_every_hierarchy() {
    let tree = host();
    Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    let opened = Cgroup::open(tree.layout(), "web").unwrap();
    assert_eq!(opened.paths().len(), 4);
    opened.remove().unwrap();
    for hierarchy in ["memory", "cpu", "cpuacct", "pids"] {
        assert!(
            !tree.path(&format!("{hierarchy}/nsbox/web")).exists(),
            "{hierarchy}"
        );
        assert!(tree.path(&format!("{hierarchy}/nsbox")).is_dir());
    }
    assert!(Cgroup::open(tree.layout(), "web").is_none());
}

#[test]
fn remove_stale_sweeps_every_hierarchy() {
    let tree = host();
    Cgroup::create(tree.layout(), "dead", &demo_limits()).unwrap();
    Cgroup::create(tree.layout(), "live", &demo_limits()).unwrap();
    let mut removed = remove_stale(tree.layout(), &|name| name == "live").unwrap();
    removed.sort();
    let mut expected =
        ["cpu", "cpuacct", "memory", "pids"].map(|h| tree.path(&format!("{h}/nsbox/dead")));
    expected.sort();
    assert_eq!(removed, expected);
    assert!(tree.path("memory/nsbox/live").is_dir());
}
