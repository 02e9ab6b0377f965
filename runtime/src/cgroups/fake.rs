//! A fake cgroupfs for unit tests: a tree in a temporary directory whose
//! control files appear on `mkdir`, vanish on `rmdir` and refuse writes the
//! way the kernel would. `fs.rs` calls the hooks below in test builds; they
//! act only on paths inside the tree of the current test's thread.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::Layout;

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
}

struct Kernel {
    root: PathBuf,
    v2: bool,
    swap: bool,
    /// Every write attempted, in order, with paths relative to the root.
    writes: Vec<(String, String)>,
    /// A control file name whose writes fail with EINVAL.
    refuse: Option<String>,
    /// `cgroup.subtree_control` as it was before the write in progress.
    subtree_before: String,
}

/// The fake tree of one test; the hooks stop acting when it is dropped.
pub(super) struct FakeTree {
    dir: TempDir,
    layout: Layout,
}

/// A v1 tree with these hierarchies (`"cpu,cpuacct"` gets `cpu` and
/// `cpuacct` symlinks, as distributions make them); `swap` adds
/// `memory.memsw.*` to memory groups.
pub(super) fn v1(hierarchies: &[&str], swap: bool) -> FakeTree {
    let dir = tempfile::tempdir().unwrap();
    for hierarchy in hierarchies {
        let path = dir.path().join(hierarchy);
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("cgroup.procs"), "1\n").unwrap();
        for controller in hierarchy.split(',').filter(|c| c != hierarchy) {
            std::os::unix::fs::symlink(hierarchy, dir.path().join(controller)).unwrap();
        }
    }
    let layout = Layout::V1 {
        root: dir.path().into(),
    };
    install(dir, layout, false, swap)
}

/// A v2 tree whose root offers `controllers` (space-separated); `swap` adds
/// `memory.swap.max` to groups with the memory controller.
pub(super) fn v2(controllers: &str, swap: bool) -> FakeTree {
    let dir = tempfile::tempdir().unwrap();
    put(dir.path(), "cgroup.controllers", controllers);
    put(dir.path(), "cgroup.subtree_control", "");
    put(dir.path(), "cgroup.procs", "1\n");
    let layout = Layout::V2 {
        root: dir.path().into(),
    };
    install(dir, layout, true, swap)
}

fn install(dir: TempDir, layout: Layout, v2: bool, swap: bool) -> FakeTree {
    let kernel = Kernel {
        root: dir.path().into(),
        v2,
        swap,
        writes: Vec::new(),
        refuse: None,
        subtree_before: String::new(),
    };
    KERNEL.with(|k| *k.borrow_mut() = Some(kernel));
    FakeTree { dir, layout }
}

impl FakeTree {
    /// The layout to pass to the code under test.
    pub(super) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A path in the tree.
    pub(super) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// The contents of a file in the tree, trimmed.
    pub(super) fn read(&self, relative: &str) -> String {
        let path = self.path(relative);
        let text = std::fs::read_to_string(&path);
        text.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }

    /// Sets a file's contents, as the kernel would update a counter.
    pub(super) fn set(&self, relative: &str, contents: &str) {
        std::fs::write(self.path(relative), contents).unwrap();
    }

    /// Writes attempted so far: (path relative to the root, value).
    pub(super) fn writes(&self) -> Vec<(String, String)> {
        with_kernel(|k| k.writes.clone()).unwrap_or_default()
    }

    /// Makes every later write to a file of this name fail with EINVAL.
    pub(super) fn refuse_writes_to(&self, file_name: &str) {
        with_kernel(|k| k.refuse = Some(file_name.to_string()));
    }
}

impl Drop for FakeTree {
    fn drop(&mut self) {
        KERNEL.with(|k| *k.borrow_mut() = None);
    }
}

fn with_kernel<T>(f: impl FnOnce(&mut Kernel) -> T) -> Option<T> {
    KERNEL.with(|k| k.borrow_mut().as_mut().map(f))
}

fn put(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

fn number(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

/// Records a write and refuses it where the kernel would.
pub(super) fn check_write(path: &Path, value: &str) -> io::Result<()> {
    let name = path.file_name().unwrap().to_str().unwrap();
    let dir = path.parent().unwrap();
    with_kernel(|k| {
        let Ok(relative) = path.strip_prefix(&k.root) else {
            return Ok(());
        };
        k.writes
            .push((relative.display().to_string(), value.to_string()));
        if k.refuse.as_deref() == Some(name) {
            return Err(einval());
        }
        // v1 keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        let new: Option<u64> = value.parse().ok();
        match name {
            "memory.limit_in_bytes" if memsw.exists() && new > Some(number(&memsw)) => {
                Err(einval())
            }
            "memory.memsw.limit_in_bytes"
                if new < Some(number(&dir.join("memory.limit_in_bytes"))) =>
            {
                Err(einval())
            }
            "cgroup.subtree_control" => {
                k.subtree_before = std::fs::read_to_string(path)?;
                Ok(())
            }
            _ => Ok(()),
        }
    })
    .unwrap_or(Ok(()))
}

/// Applies `+controller` writes to `cgroup.subtree_control` as the kernel
/// does: the file then lists the enabled controllers by name.
pub(super) fn after_write(path: &Path, value: &str) {
    if path.file_name().unwrap() != "cgroup.subtree_control" {
        return;
    }
    let before = with_kernel(|k| std::mem::take(&mut k.subtree_before)).unwrap_or_default();
    let mut enabled: Vec<&str> = before.split_whitespace().collect();
    for added in value.split_whitespace().filter_map(|t| t.strip_prefix('+')) {
        if !enabled.contains(&added) {
            enabled.push(added);
        }
    }
    std::fs::write(path, enabled.join(" ")).unwrap();
}

/// Fills a new group with the control files the kernel would show.
pub(super) fn after_mkdir(path: &Path) {
    let Some((v2, swap, root)) = with_kernel(|k| (k.v2, k.swap, k.root.clone())) else {
        return;
    };
    let Ok(relative) = path.strip_prefix(&root) else {
        return;
    };
    put(path, "cgroup.procs", "");
    let controllers = if v2 {
        put(path, "cgroup.subtree_control", "");
        let parent = path.parent().unwrap().join("cgroup.subtree_control");
        let enabled = std::fs::read_to_string(parent).unwrap();
        put(path, "cgroup.controllers", &enabled);
        put(
            path,
            "cpu.stat",
            "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
        );
        enabled
    } else {
        let hierarchy = relative.components().next().unwrap();
        hierarchy.as_os_str().to_str().unwrap().replace(',', " ")
    };
    for controller in controllers.split_whitespace() {
        for (name, contents) in control_files(controller, v2, swap) {
            put(path, name, contents);
        }
    }
}

/// The files a controller adds to a fresh group, with their initial values.
fn control_files(controller: &str, v2: bool, swap: bool) -> Vec<(&'static str, &'static str)> {
    const UNLIMITED: &str = "9223372036854771712";
    let mut files = match (controller, v2) {
        ("memory", false) => vec![
            ("memory.limit_in_bytes", UNLIMITED),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
            ("memory.usage_in_bytes", "0"),
            ("memory.max_usage_in_bytes", "0"),
        ],
        ("memory", true) => vec![
            ("memory.max", "max"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n"),
            ("memory.current", "0"),
            ("memory.peak", "0"),
        ],
        ("cpu", false) => vec![
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"),
        ],
        ("cpu", true) => vec![
            ("cpu.max", "max 100000"),
            ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"),
        ],
        ("cpuacct", _) => vec![("cpuacct.usage", "0")],
        ("pids", _) => vec![("pids.max", "max"), ("pids.current", "0")],
        _ => vec![],
    };
    if controller == "memory" && swap {
        files.push(if v2 {
            ("memory.swap.max", "max")
        } else {
            ("memory.memsw.limit_in_bytes", UNLIMITED)
        });
    }
    files
}

/// The kernel drops a group's control files with it, but refuses to remove
/// a group with processes: leave those files so the `rmdir` fails.
pub(super) fn before_rmdir(path: &Path) {
    let Some(root) = with_kernel(|k| k.root.clone()) else {
        return;
    };
    if !path.starts_with(&root) || !number_of_procs_is_zero(path) {
        return;
    }
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
}

fn number_of_procs_is_zero(group: &Path) -> bool {
    let procs = std::fs::read_to_string(group.join("cgroup.procs")).unwrap_or_default();
    procs.trim().is_empty()
}
