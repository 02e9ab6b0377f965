//! `nsbox exec`: a new process inside a running container.
//!
//! nsbox (on the host) pins the container's init with a pidfd (see
//! [`Target`]) and forks a helper, which joins the container's cgroups,
//! then all its namespaces at once with `setns(pidfd, ...)`, then its root
//! (through /proc/PID/root, opened before). Joining a PID namespace only
//! places the caller's children in it, so the helper forks the command,
//! which gets a PID of the container's and sees it in `ps`. The helper then
//! does for the command what the init does for a container's first
//! command: forwards signals, reaps, and exits with its status; nsbox
//! relays the terminal and exits with that status too.

use std::io::IsTerminal;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::{fork, ForkResult, Pid};
use tracing::debug;

use crate::cgroups::{self, Cgroup, Limits};
use crate::config::{self, ContainerConfig};
use crate::container::{block_signals, StartError};
use crate::init::{reap_until_exit, spawn_command};
use crate::lifecycle::{start_time, LifecycleError, Target};
use crate::net::NetMode;
use crate::sync::{self, Channel, Outcome};
use crate::{pty, supervise};

/// Why `nsbox exec` failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The container is unknown or not running.
    #[error(transparent)]
    Target(#[from] LifecycleError),
    /// Setting up nsbox's side failed.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The handshake with the helper broke.
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
    /// The arguments cannot work.
    #[error("{0}")]
    Usage(&'static str),
    /// The helper reported a failure from inside.
    #[error("{message}")]
    Inside {
        /// 125, 126 or 127.
        exit_code: i32,
        /// What failed.
        message: String,
    },
}

impl ExecError {
    /// nsbox's exit status for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::Inside { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }
}

/// The namespaces an exec joins: all of the container's.
const JOIN: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// Runs `command` in running container `name` and returns its exit status.
pub fn exec(root: &Path, name: &str, command: Vec<String>, tty: bool) -> Result<i32, ExecError> {
    if command.first().is_none_or(|c| c.is_empty()) {
        return Err(ExecError::Usage("command must not be empty"));
    }
    if tty && !std::io::stdin().is_terminal() {
        return Err(ExecError::Usage("-t needs a terminal on stdin"));
    }
    let target = Target::open(root, name)?;
    let pid = target.record.pid;
    let rootfd = open(
        format!("/proc/{pid}/root").as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|_| LifecycleError::NotRunning(name.to_string()))?;
    // The root was opened by PID: check it is still the same process.
    if start_time(pid) != Some(target.record.init_start) {
        return Err(LifecycleError::NotRunning(name.to_string()).into());
    }
    let hostname = target.record.hostname.clone();
    let config = ContainerConfig {
        name: name.to_string(),
        env: config::default_env(&hostname, tty),
        hostname,
        rootfs: "/".into(),
        command,
        read_only: false,
        tty,
        net: NetMode::None,
        limits: Limits::default(),
        stop_timeout: supervise::STOP_GRACE,
    };
    let mut signals = block_signals()?;
    let (host_end, helper_end) = sync::pair()?;
    // SAFETY: nsbox is single-threaded; the child runs the helper and exits.
    let helper = match unsafe { fork() }.map_err(StartError::Signals)? {
        ForkResult::Child => {
            drop(host_end);
            helper_main(&target, rootfd, &config, helper_end)
        }
        ForkResult::Parent { child } => child,
    };
    drop(helper_end);
    let (outcome, master) = host_end.wait_outcome()?;
    if let Outcome::Failed { exit_code, message } = outcome {
        let _ = nix::sys::wait::waitpid(helper, None);
        return Err(ExecError::Inside { exit_code, message });
    }
    let raw_mode = match (tty, &master) {
        (true, Some(_)) => Some(pty::RawMode::enable().map_err(StartError::from)?),
        _ => None,
    };
    let code = supervise::supervise(helper, &mut signals, master, supervise::STOP_GRACE)
        .map_err(StartError::from)?;
    drop(raw_mode);
    Ok(code)
}

/// The helper, in a child of nsbox: enter, start the command, supervise it.
fn helper_main(target: &Target, rootfd: OwnedFd, config: &ContainerConfig, channel: Channel) -> ! {
    crate::init::die_with_parent_undumpable();
    let code = match enter_and_spawn(target, &rootfd, config, &channel) {
        Ok(command) => reap_until_exit(command),
        Err((code, message)) => {
            let _ = channel.report_failure(code, message);
            code
        }
    };
    std::process::exit(code)
}

fn enter_and_spawn(
    target: &Target,
    rootfd: &OwnedFd,
    config: &ContainerConfig,
    channel: &Channel,
) -> Result<Pid, (i32, String)> {
    let fail =
        |what: &str, e: &dyn std::error::Error| (125, format!("{what}: {}", crate::error_chain(e)));
    join_cgroups(target).map_err(|e| fail("joining the container's cgroup", &e))?;
    debug!(flags = ?JOIN, pid = target.record.pid, "setns through the init's pidfd");
    nix::sched::setns(target.pidfd().as_fd(), JOIN).map_err(|e| match e {
        // The init exited since it was pinned: the container stopped.
        nix::Error::ESRCH => (
            125,
            format!("container {:?} is not running", target.record.name),
        ),
        e => fail("joining the container's namespaces", &e),
    })?;
    nix::unistd::fchdir(rootfd).map_err(|e| fail("entering the container's root", &e))?;
    nix::unistd::chroot(".").map_err(|e| fail("entering the container's root", &e))?;
    nix::unistd::chdir("/").map_err(|e| fail("entering the container's root", &e))?;
    let terminal = match config.tty {
        true => Some(pty::open_in_container().map_err(|e| fail("opening a terminal", &e))?),
        false => None,
    };
    let command = spawn_command(config, terminal.as_ref())
        .map_err(|(code, err)| (code, crate::error_chain(&err)))?;
    let master = terminal.as_ref().map(|t| t.master.as_fd());
    channel
        .report_started(master)
        .map_err(|e| fail("reporting the start", &e))?;
    Ok(command)
}

fn join_cgroups(target: &Target) -> Result<(), cgroups::CgroupError> {
    if target.record.cgroups.is_empty() {
        return Ok(());
    }
    let layout = cgroups::detect()?;
    match Cgroup::open(&layout, &target.record.name) {
        Some(cgroup) => cgroup.add_process(std::process::id() as i32),
        None => Ok(()),
    }
}
