//! nsbox's side of a running container: wait for the init, forward signals
//! to it, and relay the terminal when there is one.
//!
//! This runs on the host, in nsbox's own process, for the container's whole
//! life. Signals arrive through a signalfd (they have been blocked since
//! before the clone, so none is lost), so one `poll` loop serves signals,
//! the host terminal and the container's terminal together.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tracing::debug;

use crate::init::FORWARDED;
use crate::pty;

/// A failure while supervising.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// A system call of the loop failed.
    #[error("{0} while supervising the container")]
    Sys(&'static str, #[source] nix::Error),
}

/// How long the terminal is drained after the init exited: the kernel has
/// killed everything in the namespace by then, so only buffered bytes remain.
const DRAIN: Duration = Duration::from_millis(200);

/// How long a container may go on after nsbox got SIGTERM before nsbox
/// kills it, as `docker stop` does: an interactive shell ignores SIGTERM.
/// A second SIGTERM kills it at once.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// When the container is killed if it has not ended by then.
struct Escalation {
    grace: Duration,
    deadline: Option<Instant>,
}

impl Escalation {
    /// A SIGTERM arrived: start the grace period, or end it at once if it
    /// had started. Returns true when the container must be killed now.
    fn on_term(&mut self) -> bool {
        match self.deadline {
            Some(_) => true,
            None => {
                self.deadline = Some(Instant::now() + self.grace);
                false
            }
        }
    }

    /// The poll timeout until the deadline.
    fn timeout(&self) -> PollTimeout {
        match self.deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Waits for the init to exit and returns nsbox's exit status: the init's
/// exit code (the command's, or 128 + its signal), or 128 + the signal
/// that killed the init itself. After a SIGTERM, the init is killed if it
/// has not ended within `grace`.
pub fn supervise(
    init: Pid,
    signals: &mut SignalFd,
    master: Option<OwnedFd>,
    grace: Duration,
) -> Result<i32, SuperviseError> {
    let mut relay = master.map(Relay::new);
    let mut status = None;
    let mut escalation = Escalation {
        grace,
        deadline: None,
    };
    loop {
        if let Some(code) = status {
            match relay.as_mut() {
                Some(r) if !r.master_done => r.drain(),
                _ => {}
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(r) = relay.as_ref() {
            r.poll_fds(&mut fds);
        }
        match poll(&mut fds, escalation.timeout()) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(SuperviseError::Sys("polling", e)),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            status = on_signal(init, signals, relay.as_ref(), &mut escalation)?;
        }
        if status.is_none() && escalation.expired() {
            debug!(
                pid = init.as_raw(),
                "still running after SIGTERM and the grace period: SIGKILL"
            );
            let _ = kill(init, Signal::SIGKILL);
            escalation.deadline = None;
        }
        if let Some(r) = relay.as_mut() {
            r.pump(&ready[1..]);
        }
    }
}

/// Handles one pending signal; returns the exit status once the init exited.
fn on_signal(
    init: Pid,
    signals: &mut SignalFd,
    relay: Option<&Relay>,
    escalation: &mut Escalation,
) -> Result<Option<i32>, SuperviseError> {
    let Some(info) = signals
        .read_signal()
        .map_err(|e| SuperviseError::Sys("reading signals", e))?
    else {
        return Ok(None);
    };
    let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
        return Ok(None);
    };
    match sig {
        Signal::SIGCHLD => Ok(match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
            _ => None,
        }),
        Signal::SIGWINCH => {
            if let Some(r) = relay {
                pty::copy_window_size(std::io::stdin().as_fd(), r.master.as_fd());
            }
            Ok(None)
        }
        Signal::SIGTERM if escalation.on_term() => {
            debug!(pid = init.as_raw(), "second SIGTERM: SIGKILL the init");
            let _ = kill(init, Signal::SIGKILL);
            Ok(None)
        }
        sig if FORWARDED.contains(&sig) => {
            debug!(?sig, pid = init.as_raw(), "forward signal to the init");
            let _ = kill(init, sig);
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Copies bytes host terminal → container terminal and back.
struct Relay {
    master: OwnedFd,
    stdin_done: bool,
    master_done: bool,
}

impl Relay {
    fn new(master: OwnedFd) -> Relay {
        Relay {
            master,
            stdin_done: false,
            master_done: false,
        }
    }

    /// Adds stdin and the master to the poll set, always in that order.
    fn poll_fds<'a>(&'a self, fds: &mut Vec<PollFd<'a>>) {
        let stdin_flags = if self.stdin_done {
            PollFlags::empty()
        } else {
            PollFlags::POLLIN
        };
        let master_flags = if self.master_done {
            PollFlags::empty()
        } else {
            PollFlags::POLLIN
        };
        // SAFETY: fd 0 stays open for nsbox's whole life.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        fds.push(PollFd::new(stdin, stdin_flags));
        fds.push(PollFd::new(self.master.as_fd(), master_flags));
    }

    /// Moves what is ready: `ready` holds the stdin and master readiness.
    fn pump(&mut self, ready: &[bool]) {
        let mut buf = [0u8; 8192];
        if ready[0] && !self.stdin_done {
            // SAFETY: fd 0 stays open for nsbox's whole life.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            match nix::unistd::read(stdin, &mut buf) {
                Ok(0) | Err(_) => self.stdin_done = true,
                Ok(n) => write_all(self.master.as_fd(), &buf[..n]),
            }
        }
        if ready[1] && !self.master_done {
            self.copy_out(&mut buf);
        }
    }

    fn copy_out(&mut self, buf: &mut [u8]) {
        match nix::unistd::read(&self.master, buf) {
            // EIO: every slave is closed, the container's side is gone.
            Ok(0) | Err(_) => self.master_done = true,
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|_| out.flush());
            }
        }
    }

    /// After the init exited: copy what is still buffered, for a bounded time.
    fn drain(&mut self) {
        let mut buf = [0u8; 8192];
        let deadline = std::time::Instant::now() + DRAIN;
        while !self.master_done && std::time::Instant::now() < deadline {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
            match poll(&mut fds, timeout) {
                Ok(n) if n > 0 => self.copy_out(&mut buf),
                _ => break,
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::Error::EINTR) => {}
            Err(_) => return,
        }
    }
}
