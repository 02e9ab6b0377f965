//! The verbs that act on existing containers: list, inspect, logs, stop,
//! kill, rm and cleanup.
//!
//! A stored PID is never trusted alone. Before nsbox signals or enters a
//! container, [`Target::open`] checks that the container's nsbox still holds
//! its lock, opens a pidfd on the recorded init, and then checks that the
//! process behind the pidfd started when the record says: a PID reused by an
//! unrelated host process fails that check, and from then on the pidfd
//! keeps naming the same process whatever happens to the PID.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::cgroups;
use crate::container::clean_dead;
use crate::init::FORWARDED;
use crate::net::{self, NetSettings};
use crate::state::{self, Life, Observed, Record, StateError};

/// A lifecycle verb that failed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The state said no, or could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The container exists but does not run.
    #[error("container {0:?} is not running")]
    NotRunning(String),
    /// `rm` without `-f` on a running container.
    #[error("container {0:?} is running; stop it first, or use `nsbox rm -f`")]
    StillRunning(String),
    /// The container did not end in time, even after SIGKILL.
    #[error("container {0:?} did not stop")]
    DidNotStop(String),
    /// A system call on the container's init failed.
    #[error("{doing} container {name:?}")]
    Sys {
        /// What was being done.
        doing: &'static str,
        /// The container.
        name: String,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// `kill` with a signal the init would not pass on.
    #[error(
        "{0} cannot be sent: the container's init passes on only SIGINT, SIGTERM, SIGHUP, \
         SIGQUIT, SIGUSR1 and SIGUSR2, and SIGKILL ends the container"
    )]
    SignalNotPassedOn(Signal),
    /// The log could not be read.
    #[error("reading the log of container {name:?}")]
    Log {
        /// The container.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The start time of process `pid` in clock ticks since boot (field 22 of
/// /proc/PID/stat), which with the PID names one process for good.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_field(&stat, 22)
}

/// Numeric field `field` (counted from 1, as proc(5) does) of the text of a
/// /proc/PID/stat file. The comm in field 2 may hold spaces and
/// parentheses, so fields are counted from after its last `)`.
pub(crate) fn stat_field(stat: &str, field: usize) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split(' ').nth(field.checked_sub(3)?)?.parse().ok()
}

/// A running container's init, pinned by a pidfd.
pub struct Target {
    /// The container's record.
    pub record: Record,
    pidfd: OwnedFd,
}

impl Target {
    /// Opens running container `name`, or fails with a clear reason.
    pub fn open(root: &Path, name: &str) -> Result<Target, LifecycleError> {
        let observed = find(root, name)?;
        if observed.life != Life::Running {
            return Err(LifecycleError::NotRunning(name.to_string()));
        }
        let record = observed.record;
        // SAFETY: pidfd_open takes a PID and flags and returns a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, record.pid, 0) };
        if fd < 0 {
            return Err(LifecycleError::NotRunning(name.to_string()));
        }
        // SAFETY: the kernel just returned this descriptor to us.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // Checked after the pidfd exists: if the start time matches now,
        // the pidfd names the container's init and no other process.
        if record.init_start == 0 || start_time(record.pid) != Some(record.init_start) {
            return Err(LifecycleError::NotRunning(name.to_string()));
        }
        Ok(Target { record, pidfd })
    }

    /// The pidfd of the init.
    pub fn pidfd(&self) -> &OwnedFd {
        &self.pidfd
    }

    /// Sends `sig` to the container's init, which forwards it to the
    /// command (SIGKILL ends the init and with it the whole container).
    pub fn signal(&self, sig: Signal) -> Result<(), LifecycleError> {
        // SAFETY: pidfd_send_signal on our pidfd with no siginfo.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig as i32,
                0usize,
                0u32,
            )
        };
        let name = self.record.name.clone();
        match (ret, nix::Error::last()) {
            (0.., _) => Ok(()),
            // The init is gone (another stop or rm got there first).
            (_, nix::Error::ESRCH) => Err(LifecycleError::NotRunning(name)),
            (_, source) => Err(LifecycleError::Sys {
                doing: "signalling",
                name,
                source,
            }),
        }
    }
}

/// Removes a claimed container's state and what its dead owner left.
fn remove_claimed(claim: state::Claim) {
    if let Some(record) = claim.stale_record() {
        clean_dead(&record);
    }
    claim.release();
}

fn find(root: &Path, name: &str) -> Result<Observed, LifecycleError> {
    state::observe(root, name).ok_or_else(|| StateError::NoSuchContainer(name.to_string()).into())
}

/// Waits until container `name` is no longer running (its nsbox released
/// the lock after the teardown); false if `within` passed first.
fn wait_ended(root: &Path, name: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while state::is_live(root, name) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// `nsbox stop`: SIGTERM, then SIGKILL after `timeout`.
pub fn stop(root: &Path, name: &str, timeout: Duration) -> Result<(), LifecycleError> {
    let target = match Target::open(root, name) {
        Err(LifecycleError::NotRunning(_)) => return Ok(()),
        other => other?,
    };
    match target.signal(Signal::SIGTERM) {
        Err(LifecycleError::NotRunning(_)) => {}
        other => other?,
    }
    if wait_ended(root, name, timeout) {
        return Ok(());
    }
    kill_and_wait(root, &target)
}

/// SIGKILL, then wait for the container's nsbox to finish its teardown. A
/// container that is already gone counts as stopped.
fn kill_and_wait(root: &Path, target: &Target) -> Result<(), LifecycleError> {
    let name = &target.record.name;
    match target.signal(Signal::SIGKILL) {
        Err(LifecycleError::NotRunning(_)) => {}
        other => other?,
    }
    match wait_ended(root, name, Duration::from_secs(10)) {
        true => Ok(()),
        false => Err(LifecycleError::DidNotStop(name.clone())),
    }
}

/// `nsbox kill`: one signal to the container.
/// Signals other than these and SIGKILL would reach only the init (nsbox's
/// code), not the command: SIGSTOP, say, would freeze the init alone.
pub fn kill(root: &Path, name: &str, sig: Signal) -> Result<(), LifecycleError> {
    if sig != Signal::SIGKILL && !FORWARDED.contains(&sig) {
        return Err(LifecycleError::SignalNotPassedOn(sig));
    }
    Target::open(root, name)?.signal(sig)
}

/// `nsbox rm`: removes a stopped (or, with `force`, a running) container
/// and everything it held; true if there was one. With `force`, an unknown
/// name is not an error.
pub fn rm(root: &Path, name: &str, force: bool) -> Result<bool, LifecycleError> {
    let observed = match (find(root, name), force) {
        (Ok(observed), _) => observed,
        (Err(_), true) => return Ok(false),
        (Err(e), false) => return Err(e),
    };
    if observed.life == Life::Running {
        if !force {
            return Err(LifecycleError::StillRunning(name.to_string()));
        }
        match Target::open(root, name) {
            Ok(target) => kill_and_wait(root, &target)?,
            Err(LifecycleError::NotRunning(_)) => {}
            // A concurrent rm removed it meanwhile.
            Err(LifecycleError::State(StateError::NoSuchContainer(_))) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    let claim = match state::claim_any(root, name) {
        Ok(claim) => claim,
        // Another nsbox holds the name now: a concurrent rm (or a monitor
        // finishing its teardown). Done once the state is gone.
        Err(StateError::NameInUse(_)) => return wait_removed(root, name).map(|_| true),
        Err(e) => return Err(e.into()),
    };
    remove_claimed(claim);
    if let Ok(settings) = NetSettings::for_host() {
        // The dead container's lease is stale now; free it.
        let _ = net::remove_stale(&settings);
    }
    Ok(true)
}

/// Waits for whoever holds container `name` to finish removing it.
fn wait_removed(root: &Path, name: &str) -> Result<(), LifecycleError> {
    let dir = state::container_dir(root, name);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        if Instant::now() >= deadline {
            return Err(StateError::NameInUse(name.to_string()).into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// `nsbox cleanup`: removes what killed nsbox processes left behind: dead
/// containers' state and cgroups, stale leases and links. Exited detached
/// containers stay for `nsbox rm`. Returns what was removed.
pub fn cleanup(root: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    for name in state::stale_names(root) {
        if let Ok(claim) = state::claim(root, &name) {
            remove_claimed(claim);
            removed.push(format!("state of container {name:?}"));
        }
    }
    if let Ok(layout) = cgroups::detect() {
        let live = |name: &str| state::container_dir(root, name).exists();
        if let Ok(paths) = cgroups::remove_stale(&layout, &live) {
            removed.extend(paths.iter().map(|p| format!("cgroup {}", p.display())));
        }
    }
    if let Ok(settings) = NetSettings::for_host() {
        if let Ok(items) = net::remove_stale(&settings) {
            removed.extend(items);
        }
    }
    removed
}

/// `nsbox inspect`: the record and the truth about it, as JSON.
pub fn inspect(root: &Path, name: &str) -> Result<serde_json::Value, LifecycleError> {
    let observed = find(root, name)?;
    let mut value = serde_json::to_value(&observed.record).expect("records always serialise");
    value["life"] = observed.life.describe().into();
    value["running"] = (observed.life == Life::Running).into();
    if observed.life == Life::Dead {
        // The record still says running: its nsbox died before it could
        // write the end.
        value["status"] = serde_json::json!({ "state": "dead" });
    }
    value["log"] = state::container_dir(root, name)
        .join("log")
        .display()
        .to_string()
        .into();
    Ok(value)
}

/// One row of `nsbox list`.
pub fn list_rows(root: &Path) -> Vec<serde_json::Value> {
    let now = std::time::UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_secs())
        .unwrap_or(0);
    state::observe_all(root)
        .into_iter()
        .map(|o| {
            let r = &o.record;
            let running = o.life == Life::Running;
            // An ended container's PID and address may belong to another
            // process or container by now: shown only while it runs.
            serde_json::json!({
                "name": r.name, "status": o.life.describe(), "running": running,
                "pid": running.then_some(r.pid), "address": r.address.as_ref().filter(|_| running),
                "command": r.command.join(" "), "age_seconds": now.saturating_sub(r.created),
            })
        })
        .collect()
}

/// `nsbox logs`: copies the container's log to `out`; with `follow`, keeps
/// copying until the container ends.
pub fn logs(
    root: &Path,
    name: &str,
    follow: bool,
    out: &mut dyn Write,
) -> Result<(), LifecycleError> {
    let observed = find(root, name)?;
    let fail = |source| LifecycleError::Log {
        name: name.to_string(),
        source,
    };
    let path = state::container_dir(root, name).join("log");
    let mut log = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !observed.record.detached => {
            return Ok(())
        }
        Err(e) => return Err(fail(e)),
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        log.read_to_end(&mut buf).map_err(fail)?;
        out.write_all(&buf)
            .and_then(|_| out.flush())
            .map_err(fail)?;
        if !follow || !state::is_live(root, name) {
            // One last read: the container may have written before it ended.
            buf.clear();
            log.read_to_end(&mut buf).map_err(fail)?;
            return out.write_all(&buf).map_err(fail);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::stat_field;

    #[test]
    fn stat_fields_count_from_after_the_comm() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 7";
        assert_eq!(stat_field(stat, 1), None);
        assert_eq!(stat_field(stat, 4), Some(1));
        assert_eq!(stat_field(stat, 8), None, "-1 is no count");
        assert_eq!(stat_field(stat, 9), Some(4194560));
        assert_eq!(stat_field(stat, 10), Some(7));
        assert_eq!(stat_field(stat, 3), None, "the state is a letter");
        assert_eq!(stat_field(stat, 40), None);
    }
}
