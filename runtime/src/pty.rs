//! Pseudo-terminals: the container's own, and the host terminal in raw mode.
//!
//! When nsbox's stdin is a terminal, the init opens a pseudo-terminal from
//! the container's private devpts (so `tty` inside names `/dev/pts/0`), makes
//! its slave the command's controlling terminal, and passes the master to
//! nsbox on the host, which relays bytes between it and the host terminal.
//! The host terminal goes raw for that time, so Ctrl-C reaches the
//! container's line discipline and interrupts its foreground job, not nsbox.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use tracing::debug;

/// A terminal step that failed.
#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    /// Opening or unlocking the pseudo-terminal failed.
    #[error("{step} of the pseudo-terminal")]
    Open {
        /// Which step.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        source: nix::Error,
    },
    /// Reading or setting the host terminal's mode failed.
    #[error("{0} the host terminal's mode")]
    Mode(&'static str, #[source] nix::Error),
}

/// The container's pseudo-terminal, opened inside its devpts.
pub struct Terminal {
    /// The master side, which goes to the host.
    pub master: OwnedFd,
    slave_path: String,
}

nix::ioctl_read_bad!(get_winsize, libc::TIOCGWINSZ, libc::winsize);
nix::ioctl_write_ptr_bad!(set_winsize, libc::TIOCSWINSZ, libc::winsize);

/// Opens a new pseudo-terminal through the container's `/dev/ptmx`, sized
/// like the host terminal on our stdin.
pub fn open_in_container() -> Result<Terminal, PtyError> {
    let fail = |step| move |source| PtyError::Open { step, source };
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(fail("opening"))?;
    grantpt(&master).map_err(fail("granting"))?;
    unlockpt(&master).map_err(fail("unlocking"))?;
    let slave_path = ptsname_r(&master).map_err(fail("naming"))?;
    debug!(slave = %slave_path, "opened the container's pseudo-terminal");
    let master = OwnedFd::from(master);
    copy_window_size(std::io::stdin().as_fd(), master.as_fd());
    Ok(Terminal { master, slave_path })
}

impl Terminal {
    /// In the command's process, after `setsid`: open the slave, which makes
    /// it our controlling terminal, and put it on fds 0, 1 and 2.
    pub fn make_controlling(&self) -> nix::Result<()> {
        let flags = OFlag::O_RDWR;
        let slave = nix::fcntl::open(
            self.slave_path.as_str(),
            flags,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: TIOCSCTTY takes an int argument and only changes this
        // session's controlling terminal.
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } == -1 {
            return Err(nix::Error::last());
        }
        for target in 0..=2 {
            // SAFETY: dup2 onto the standard descriptors of this process,
            // which is about to exec.
            if unsafe { libc::dup2(slave.as_raw_fd(), target) } == -1 {
                return Err(nix::Error::last());
            }
        }
        Ok(())
    }
}

/// Copies the window size of terminal `from` to terminal `to`; silently
/// does nothing when `from` is not a terminal.
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which we own.
    if unsafe { get_winsize(from.as_raw_fd(), &mut size) }.is_ok() {
        // SAFETY: TIOCSWINSZ reads one winsize from `size`.
        let _ = unsafe { set_winsize(to.as_raw_fd(), &size) };
    }
}

/// The host terminal in raw mode; the saved mode comes back on drop, which
/// covers every return path of the relay, errors included.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches the terminal on stdin to raw mode.
    pub fn enable() -> Result<RawMode, PtyError> {
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).map_err(|e| PtyError::Mode("reading", e))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .map_err(|e| PtyError::Mode("setting", e))?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSAFLUSH, &self.saved);
    }
}
