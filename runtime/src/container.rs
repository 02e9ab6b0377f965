//! Starting a container, as a script: each step in the order the kernel
//! needs it, with the process and namespaces it runs in.
//!
//! Everything up to "claim the name" only checks; nothing exists yet, so a
//! refusal leaves nothing behind. From then on every resource is held by a
//! guard that removes it on any return path, errors included.

use std::os::fd::AsFd;

use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use tracing::{debug, warn};

use crate::cgroups::{self, Cgroup, Layout};
use crate::config::ContainerConfig;
use crate::detach::Detach;
use crate::init::{self, InitArgs};
use crate::namespaces::{self, Side};
use crate::net::{self, Lease, NetMode, NetSettings};
use crate::state::{self, Claim, Record, Status};
use crate::sync::{self, Outcome};
use crate::{pty, supervise};

/// Why a container could not be started or supervised.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A cgroup step failed.
    #[error(transparent)]
    Cgroup(#[from] cgroups::CgroupError),
    /// A network step failed.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// The name is taken or the state could not be written.
    #[error(transparent)]
    State(#[from] state::StateError),
    /// clone or unshare failed.
    #[error("creating namespaces")]
    Namespace(#[from] namespaces::NamespaceError),
    /// The handshake with the init broke.
    #[error(transparent)]
    Sync(#[from] sync::SyncError),
    /// The host terminal could not be switched to raw mode.
    #[error(transparent)]
    Pty(#[from] pty::PtyError),
    /// Supervising the running container failed.
    #[error(transparent)]
    Supervise(#[from] supervise::SuperviseError),
    /// Blocking nsbox's signals failed.
    #[error("blocking signals")]
    Signals(#[source] nix::Error),
    /// The init reported a failure from inside the container.
    #[error("{message}")]
    Inside {
        /// 125, 126 or 127.
        exit_code: i32,
        /// What failed, as the init worded it.
        message: String,
    },
}

impl StartError {
    /// nsbox's exit status for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Inside { exit_code, .. } => *exit_code,
            _ => 125,
        }
    }
}

/// How a container ended.
#[derive(Debug, Clone, Copy)]
pub struct Ended {
    /// The command's exit code, or 128 + the signal that killed it.
    pub exit_code: i32,
    /// How many processes the memory cgroup killed for being over the limit.
    pub oom_kills: u64,
}

/// What exists on the host for one container; dropping it removes it all,
/// except the state of a detached container that ran: its final record
/// and log stay for `nsbox list`, `logs` and `rm`.
#[derive(Default)]
struct Made {
    claim: Option<Claim>,
    cgroup: Option<Cgroup>,
    lease: Option<Lease>,
    keep: Option<Record>,
}

impl Drop for Made {
    fn drop(&mut self) {
        if let Some(cgroup) = self.cgroup.take() {
            if let Err(e) = cgroup.remove() {
                warn!("cannot remove cgroup: {}", crate::error_chain(&e));
            }
        }
        if let Some(lease) = self.lease.take() {
            if let Err(e) = lease.release() {
                warn!("cannot release address: {}", crate::error_chain(&e));
            }
        }
        if let Some(claim) = self.claim.take() {
            match self.keep.take() {
                Some(record) => {
                    if let Err(e) = claim.keep(&record) {
                        warn!(
                            "cannot record the container's end: {}",
                            crate::error_chain(&e)
                        );
                    }
                }
                None => claim.release(),
            }
        }
    }
}

/// The init as seen from the host; killed and reaped if dropped early.
struct InitProcess {
    pid: Pid,
    reaped: bool,
}

impl Drop for InitProcess {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// What the host offers for this container, checked before anything is
/// made: the cgroup layout if limits were asked for, the network settings
/// if the container gets a link.
fn preflight(
    config: &ContainerConfig,
) -> Result<(Option<Layout>, Option<NetSettings>), StartError> {
    let layout = match config.limits.is_empty() {
        true => None,
        false => Some(cgroups::detect()?),
    };
    if let Some(layout) = &layout {
        Cgroup::check(layout, &config.limits)?;
    }
    let net_settings = match config.net {
        NetMode::None => None,
        NetMode::Bridge { .. } => Some(NetSettings::for_host()?),
    };
    if let Some(settings) = &net_settings {
        net::preflight(settings, &config.net)?;
    }
    Ok((layout, net_settings))
}

/// Steps 2 to 4 of a start, on the host, before the clone.
fn make(
    config: &ContainerConfig,
    layout: Option<&Layout>,
    net_settings: Option<&NetSettings>,
    detach: Option<&Detach>,
) -> Result<Made, StartError> {
    // 2. Claim the name; the lock lives as long as this process. A dead
    //    container of the same name leaves a record: clean up after it.
    let mut made = Made::default();
    let claim = made
        .claim
        .insert(state::claim(&state::state_root(), &config.name)?);
    if let Some(stale) = claim.stale_record() {
        clean_dead(&stale);
    }
    if let Some(detach) = detach {
        detach.redirect_output(claim.dir())?;
    }
    // 3. The cgroup, with its limits written, before any process is in it.
    if let Some(layout) = layout {
        made.cgroup = Some(Cgroup::create(layout, &config.name, &config.limits)?);
    }
    // 4. An address, leased for the container's life.
    if let (Some(settings), NetMode::Bridge { ip }) = (net_settings, &config.net) {
        made.lease = Some(net::allocate(settings, &config.name, *ip)?);
    }
    Ok(made)
}

/// Runs a container to its end and returns how it ended. With `detach`,
/// this process is the container's monitor: the container's output goes to
/// its log, `detach` hears once the command runs, and the state is kept
/// after the end.
pub fn run(config: &ContainerConfig, detach: Option<&Detach>) -> Result<Ended, StartError> {
    // 1. Preflight, on the host: every refusal happens before anything exists.
    let (layout, net_settings) = preflight(config)?;

    // 2-4. The name, the cgroup and the address, each removed again by
    //      `made` on any return.
    let mut made = make(config, layout.as_ref(), net_settings.as_ref(), detach)?;

    // 5. Block the signals nsbox relays, so none is lost before the loop
    //    reads them; the init inherits the mask and waits for them itself.
    let mut signals = block_signals()?;
    let (host_end, init_end) = sync::pair()?;
    let cgroup_fs = made.cgroup.as_ref().map(Cgroup::inside_mounts);
    let inside_net = made.lease.as_ref().map(Lease::inside_config);

    // 6. Clone the init into new mount, PID, UTS, IPC and network namespaces;
    //    on cgroup v2, straight into its cgroup.
    let v2_dir = made.cgroup.as_ref().and_then(Cgroup::v2_dir).transpose()?;
    let init = match namespaces::clone_into_new_namespaces(v2_dir.as_ref().map(|d| d.as_fd()))? {
        Side::Child => {
            drop(host_end);
            init::main(InitArgs {
                config,
                channel: init_end,
                cgroups: cgroup_fs,
                net: inside_net,
            })
        }
        Side::Parent(pid) => InitProcess { pid, reaped: false },
    };
    drop(init_end);
    debug!(
        pid = init.pid.as_raw(),
        "init cloned; it waits for the host"
    );

    // 7. Host side, while the init waits: move it into its cgroup, then give
    //    its network namespace the container's end of a veth pair.
    if let (Some(cgroup), None) = (&made.cgroup, &v2_dir) {
        cgroup.add_process(init.pid.as_raw())?;
    }
    drop(v2_dir);
    if let (Some(settings), Some(lease)) = (&net_settings, &made.lease) {
        net::attach(settings, lease, init.pid.as_raw())?;
        debug!(address = %lease.addr, link = %lease.host_ifname, "container address");
    }
    let mut record = record(config, init.pid, &made, detach.is_some());
    if let Some(claim) = &made.claim {
        claim.write_record(&record)?;
    }

    // 8. Release the init: it finishes the setup inside and execs the command.
    host_end.release()?;
    let (outcome, master) = host_end.wait_outcome()?;
    if let Outcome::Failed { exit_code, message } = outcome {
        return Err(StartError::Inside { exit_code, message });
    }
    if let Some(detach) = detach {
        detach.report_started(&config.name);
    }

    // 9. Supervise until the init exits, relaying the terminal if any.
    let raw_mode = match (config.tty, &master) {
        (true, Some(_)) => Some(pty::RawMode::enable()?),
        _ => None,
    };
    let mut init = init;
    let exit_code = supervise::supervise(init.pid, &mut signals, master, config.stop_timeout)?;
    init.reaped = true;
    drop(raw_mode);

    // 10. Read the OOM counter before `made` drops and removes the cgroup.
    let oom_kills = made
        .cgroup
        .as_ref()
        .and_then(|c| c.oom_kills().ok())
        .unwrap_or(0);
    if detach.is_some() {
        record.status = Status::Exited {
            code: exit_code,
            oom_kills,
        };
        made.keep = Some(record);
    }
    Ok(Ended {
        exit_code,
        oom_kills,
    })
}

pub(crate) fn block_signals() -> Result<SignalFd, StartError> {
    let set = init::handled_signals();
    set.thread_block().map_err(StartError::Signals)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(StartError::Signals)
}

/// A container whose nsbox was killed left its record: remove its cgroup.
/// (Its lease is stale and its veth went with its namespace.)
pub(crate) fn clean_dead(record: &Record) {
    debug!(name = %record.name, "cleaning up after a dead container of the same name");
    if record.cgroups.is_empty() {
        return;
    }
    if let Some(cgroup) = cgroups::detect()
        .ok()
        .and_then(|l| Cgroup::open(&l, &record.name))
    {
        let _ = cgroup.remove();
    }
}

fn record(config: &ContainerConfig, pid: Pid, made: &Made, detached: bool) -> Record {
    Record {
        name: config.name.clone(),
        pid: pid.as_raw(),
        init_start: crate::lifecycle::start_time(pid.as_raw()).unwrap_or(0),
        detached,
        status: Status::Running,
        owner_pid: std::process::id(),
        hostname: config.hostname.clone(),
        rootfs: config.rootfs.clone(),
        command: config.command.clone(),
        address: made
            .lease
            .as_ref()
            .map(|l| format!("{}/{}", l.addr, l.prefix)),
        host_link: made.lease.as_ref().map(|l| l.host_ifname.clone()),
        cgroups: made.cgroup.as_ref().map(Cgroup::paths).unwrap_or_default(),
        created: std::time::UNIX_EPOCH
            .elapsed()
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}
