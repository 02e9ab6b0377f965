//! `nsbox check`: what this host offers nsbox, and what will not work and
//! why, before the first run. It only looks: nothing is created.

use std::path::Path;

use crate::cgroups::{self, Cgroup, CpuQuota, Limits};
use crate::config;
use crate::net::{self, NetMode, NetSettings};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether nsbox can use it.
    pub ok: bool,
    /// What was checked.
    pub item: String,
    /// What was found, or what will not work and why.
    pub detail: String,
}

fn finding(ok: bool, item: &str, detail: impl Into<String>) -> Finding {
    Finding {
        ok,
        item: item.to_string(),
        detail: detail.into(),
    }
}

/// Checks the host; `rootfs` is the rootfs `nsbox run` would use.
pub fn check(rootfs: &Path, state_root: &Path) -> Vec<Finding> {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut findings = vec![finding(true, "kernel", kernel.trim())];
    for ns in ["mnt", "pid", "uts", "ipc", "net", "cgroup"] {
        let present = Path::new("/proc/self/ns").join(ns).exists();
        findings.push(finding(
            present,
            &format!("{ns} namespace"),
            match present {
                true => "available",
                false => "missing: the kernel was built without it; nsbox cannot start containers",
            },
        ));
    }
    findings.extend(cgroup_findings());
    findings.extend(kernel_feature_findings());
    findings.push(match NetSettings::for_host() {
        Ok(settings) => match net::preflight(&settings, &NetMode::Bridge { ip: None }) {
            Ok(()) => finding(
                true,
                "network",
                format!("bridge {} on {}", settings.bridge, settings.subnet),
            ),
            Err(e) => finding(
                false,
                "network",
                format!("{} (use --net none meanwhile)", crate::error_chain(&e)),
            ),
        },
        Err(e) => finding(false, "network", crate::error_chain(&e)),
    });
    // The state directory is made on first use: its nearest existing
    // ancestor must be writable.
    let existing = state_root
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let writable = nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK).is_ok();
    findings.push(finding(
        writable,
        "state directory",
        match writable {
            true => state_root.display().to_string(),
            false => format!(
                "{} is not writable: no container can start",
                existing.display()
            ),
        },
    ));
    findings.push(match config::resolve_rootfs(rootfs) {
        Ok(path) => match config::check_command(&path, config::DEFAULT_COMMAND) {
            Ok(()) => finding(true, "rootfs", path.display().to_string()),
            Err(e) => finding(false, "rootfs", e.to_string()),
        },
        Err(e) => finding(
            false,
            "rootfs",
            format!("{e}: build it with fixtures/build-rootfs or pass --rootfs"),
        ),
    });
    findings
}

fn cgroup_findings() -> Vec<Finding> {
    let layout = match cgroups::detect() {
        Ok(layout) => layout,
        Err(e) => {
            return vec![finding(
                false,
                "cgroups",
                format!(
                    "{}: --memory, --cpus and --pids will not work",
                    crate::error_chain(&e)
                ),
            )]
        }
    };
    let mut findings = vec![finding(true, "cgroups", layout.to_string())];
    let probes = [
        (
            "memory controller",
            "--memory",
            Limits {
                memory: Some(64 << 20),
                ..Limits::default()
            },
        ),
        (
            "cpu controller",
            "--cpus",
            Limits {
                cpu: Some(CpuQuota {
                    quota_us: 50_000,
                    period_us: 100_000,
                }),
                ..Limits::default()
            },
        ),
        (
            "pids controller",
            "--pids",
            Limits {
                pids: Some(64),
                ..Limits::default()
            },
        ),
    ];
    for (item, flag, limits) in probes {
        findings.push(match Cgroup::check(&layout, &limits) {
            Ok(()) => finding(true, item, "available"),
            Err(e) => finding(
                false,
                item,
                format!("{}: {flag} will be refused", crate::error_chain(&e)),
            ),
        });
    }
    findings
}

/// Kernel pieces that may be modules: present when loaded, built in (the
/// kernel's symbol table has their code) or installed as a module.
fn kernel_feature_findings() -> Vec<Finding> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = Path::new("/lib/modules").join(release.trim());
    let dep = std::fs::read_to_string(modules.join("modules.dep")).unwrap_or_default();
    let symbols = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let known = |name: &str, symbol: &str| {
        Path::new("/sys/module").join(name).exists()
            || symbols
                .lines()
                .any(|l| l.split_whitespace().nth(2) == Some(symbol))
            || dep.contains(&format!("/{name}.ko"))
    };
    let mut findings = Vec::new();
    let features = [
        ("veth", "veth_newlink", "veth pairs"),
        ("bridge", "br_dev_xmit", "the nsbox bridge"),
    ];
    for (module, symbol, what) in features {
        let ok = known(module, symbol);
        let detail = match ok {
            true => format!("{module}: loaded, built in or installed as a module"),
            false => format!("{module} not found: the default network will fail; use --net none"),
        };
        findings.push(finding(ok, what, detail));
    }
    // SAFETY: pidfd_open on our own PID; the descriptor is closed at once.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id() as i32, 0) };
    if pidfd >= 0 {
        // SAFETY: closing the descriptor we just opened.
        unsafe { libc::close(pidfd as i32) };
    }
    findings.push(finding(
        pidfd >= 0,
        "pidfd",
        match pidfd >= 0 {
            true => "available (exec, stop, kill pin the container's init)",
            false => "pidfd_open is missing (Linux 5.3+): exec, stop and kill will fail",
        },
    ));
    findings
}
