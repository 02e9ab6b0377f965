//! The v2 driver against a fake unified hierarchy.

use super::{demo_limits, pairs};
use crate::cgroups::fake::{self, FakeTree};
use crate::cgroups::{remove_stale, Cgroup, CgroupError, CpuStats, InsideMounts, Limits};

const ALL: &str = "cpuset cpu io memory hugetlb pids rdma misc";

fn host(swap: bool) -> FakeTree {
    fake::v2(ALL, swap)
}

#[test]
fn create_enables_controllers_then_writes_limits() {
    let tree = host(true);
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();

    let expected = pairs(&[
        ("cgroup.subtree_control", "+memory +cpu +pids"),
        ("nsbox/cgroup.subtree_control", "+memory +cpu +pids"),
        ("nsbox/web/memory.max", "33554432"),
        ("nsbox/web/memory.swap.max", "0"),
        ("nsbox/web/cpu.max", "50000 100000"),
        ("nsbox/web/pids.max", "20"),
    ]);
    assert_eq!(tree.writes(), expected);
    assert_eq!(tree.read("cgroup.subtree_control"), "memory cpu pids");
    assert_eq!(tree.read("nsbox/web/memory.max"), "33554432");
    assert_eq!(tree.read("nsbox/web/memory.swap.max"), "0");
    assert_eq!(tree.read("nsbox/web/cpu.max"), "50000 100000");
    assert_eq!(tree.read("nsbox/web/pids.max"), "20");
    assert_eq!(cgroup.paths(), [tree.path("nsbox/web")]);
    assert_eq!(cgroup.inside_mounts(), InsideMounts::Unified);
    // The directory clone3 starts the container in.
    let dir = cgroup
        .v2_dir()
        .expect("a v2 group has a directory")
        .unwrap();
    let opened = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ))
    .unwrap();
    assert_eq!(opened, tree.path("nsbox/web"));
}

#[test]
fn only_the_needed_controllers_are_enabled() {
    let tree = host(true);
    let limits = Limits {
        pids: Some(5),
        ..Limits::default()
    };
    Cgroup::create(tree.layout(), "web", &limits).unwrap();

    let expected = pairs(&[
        ("cgroup.subtree_control", "+pids"),
        ("nsbox/cgroup.subtree_control", "+pids"),
        ("nsbox/web/pids.max", "5"),
    ]);
    assert_eq!(tree.writes(), expected);
    assert!(!tree.path("nsbox/web/memory.max").exists());
}

#[test]
fn controllers_already_enabled_are_not_written_again() {
    let tree = host(true);
    Cgroup::create(tree.layout(), "first", &demo_limits()).unwrap();
    let before = tree.writes().len();
    Cgroup::create(tree.layout(), "second", &demo_limits()).unwrap();

    let second: Vec<String> = tree.writes()[before..]
        .iter()
        .map(|w| w.0.clone())
        .collect();
    assert!(
        second.iter().all(|path| path.starts_with("nsbox/second/")),
        "{second:?}"
    );
}

#[test]
fn without_swap_only_memory_max_is_written() {
    let tree = host(false);
    let limits = Limits {
        memory: Some(64 << 20),
        ..Limits::default()
    };
    Cgroup::create(tree.layout(), "web", &limits).unwrap();

    let leaf: Vec<_> = tree
        .writes()
        .into_iter()
        .filter(|w| w.0.starts_with("nsbox/web"))
        .collect();
    assert_eq!(leaf, pairs(&[("nsbox/web/memory.max", "67108864")]));
}

#[test]
fn a_missing_controller_is_named_before_anything_is_made() {
    let tree = fake::v2("cpu memory", true);
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
    assert!(!tree.path("nsbox").exists());
    assert!(tree.writes().is_empty());
}

#[test]
fn a_refused_limit_removes_the_group_and_names_file_and_value() {
    let tree = host(true);
    tree.refuse_writes_to("cpu.max");
    let err = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap_err();

    let path = tree.path("nsbox/web/cpu.max");
    assert_eq!(
        err.to_string(),
        format!("cannot write \"50000 100000\" to {}", path.display())
    );
    assert!(std::error::Error::source(&err).is_some());
    assert!(!tree.path("nsbox/web").exists());
    assert!(tree.path("nsbox").is_dir(), "the shared parent stays");
}

#[test]
fn an_empty_stale_group_is_made_afresh() {
    let tree = host(true);
    let stale = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    drop(stale);
    let limits = Limits {
        memory: Some(64 << 20),
        ..Limits::default()
    };
    Cgroup::create(tree.layout(), "web", &limits).unwrap();
    assert_eq!(tree.read("nsbox/web/memory.max"), "67108864");
    assert_eq!(
        tree.read("nsbox/web/pids.max"),
        "max",
        "old limits do not carry over"
    );
}

#[test]
fn a_stale_group_with_processes_is_an_error_and_left_alone() {
    let tree = host(true);
    Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    tree.set("nsbox/web/cgroup.procs", "4242\n");

    let err = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap_err();
    let path = tree.path("nsbox/web");
    assert_eq!(
        err.to_string(),
        format!(
            "cgroup {} already exists and has processes in it",
            path.display()
        )
    );
    assert_eq!(tree.read("nsbox/web/cgroup.procs"), "4242");
}

#[test]
fn add_process_writes_the_pid_to_cgroup_procs() {
    let tree = host(true);
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    cgroup.add_process(4242).unwrap();
    assert_eq!(tree.read("nsbox/web/cgroup.procs"), "4242");
}

#[test]
fn counters_come_from_the_kernels_files() {
    let tree = host(true);
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    assert_eq!(cgroup.oom_kills().unwrap(), 0);

    tree.set(
        "nsbox/web/memory.events",
        "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n",
    );
    let stat = "usage_usec 900\nuser_usec 800\nsystem_usec 100\nnr_periods 30\n\
                nr_throttled 12\nthrottled_usec 4500\n";
    tree.set("nsbox/web/cpu.stat", stat);
    tree.set("nsbox/web/pids.current", "3\n");
    tree.set("nsbox/web/memory.current", "1048576\n");
    tree.set("nsbox/web/memory.peak", "2097152\n");

    assert_eq!(cgroup.oom_kills().unwrap(), 2);
    let expected = CpuStats {
        usage_us: 900,
        nr_throttled: 12,
        throttled_us: 4500,
    };
    assert_eq!(cgroup.cpu_stats().unwrap(), expected);
    assert_eq!(cgroup.pids_current().unwrap(), 3);
    assert_eq!(cgroup.memory_current().unwrap(), 1 << 20);
    assert_eq!(cgroup.memory_peak().unwrap(), 2 << 20);
}

#[test]
fn without_memory_or_cpu_controllers_counters_read_zero() {
    let tree = host(true);
    let limits = Limits {
        pids: Some(5),
        ..Limits::default()
    };
    let cgroup = Cgroup::create(tree.layout(), "web", &limits).unwrap();
    assert_eq!(cgroup.oom_kills().unwrap(), 0);
    assert_eq!(cgroup.cpu_stats().unwrap(), CpuStats::default());
}

#[test]
fn remove_takes_the_group_and_its_subgroups_but_not_the_parent() {
    let tree = host(true);
    let cgroup = Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    // A container may make groups of its own inside its namespace.
    std::fs::create_dir(tree.path("nsbox/web/inner")).unwrap();
    tree.set("nsbox/web/inner/cgroup.procs", "");
    cgroup.remove().unwrap();
    assert!(!tree.path("nsbox/web").exists());
    assert!(tree.path("nsbox").is_dir());
}

#[test]
fn open_finds_an_existing_group_only() {
    let tree = host(true);
    assert!(Cgroup::open(tree.layout(), "web").is_none());
    Cgroup::create(tree.layout(), "web", &demo_limits()).unwrap();
    let opened = Cgroup::open(tree.layout(), "web").unwrap();
    assert_eq!(opened.name(), "web");
    assert_eq!(opened.paths(), [tree.path("nsbox/web")]);
    opened.remove().unwrap();
}

#[test]
fn remove_stale_keeps_live_and_busy_groups() {
    let tree = host(true);
    for name in ["dead", "live", "busy"] {
        Cgroup::create(tree.layout(), name, &demo_limits()).unwrap();
    }
    tree.set("nsbox/busy/cgroup.procs", "4242\n");

    let removed = remove_stale(tree.layout(), &|name| name == "live").unwrap();
    assert_eq!(removed, [tree.path("nsbox/dead")]);
    assert!(tree.path("nsbox/live").is_dir());
    assert!(tree.path("nsbox/busy").is_dir());
}

#[test]
fn names_that_are_not_one_path_component_are_refused() {
    let tree = host(true);
    for name in ["", ".", "..", "a/b", "../escape"] {
        let err = Cgroup::create(tree.layout(), name, &demo_limits()).unwrap_err();
        assert!(
            matches!(err, CgroupError::InvalidName(_)),
            "{name:?}: {err}"
        );
        assert!(Cgroup::open(tree.layout(), name).is_none());
    }
    assert!(tree.writes().is_empty());
}
