//! Driving nsbox through a pseudo-terminal, as a person at a terminal does.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::pty::openpty;

/// nsbox running with a terminal as its stdin, stdout and stderr.
pub struct Session {
    /// The nsbox process.
    pub child: Child,
    master: OwnedFd,
    /// Everything read from the terminal so far.
    pub seen: String,
    /// Where the last expected text ended in `seen`.
    cursor: usize,
    /// The command line, for the evidence.
    command: String,
}

impl Session {
    /// Starts `nsbox ARGS...` on a new pseudo-terminal of 24x80.
    pub fn start(args: &[&str]) -> Session {
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let slave = pty.slave;
        let mut cmd = Command::new(super::nsbox_bin());
        cmd.env("NSBOX_ROOTFS", super::fixture_rootfs())
            .env("TERM", "xterm")
            .env_remove("RUST_LOG")
            .args(args)
            .stdin(Stdio::from(slave.try_clone().expect("dup slave")))
            .stdout(Stdio::from(slave.try_clone().expect("dup slave")))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().expect("nsbox starts");
        Session {
            child,
            master: pty.master,
            seen: String::new(),
            cursor: 0,
            command: format!("nsbox {}", super::shell_words(args)),
        }
    }

    /// Resizes the terminal and tells nsbox, as a terminal emulator's
    /// kernel would with SIGWINCH to the foreground job.
    pub fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from `size`.
        let ret = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        assert_eq!(ret, 0, "resizing the terminal");
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGWINCH).expect("signal nsbox");
    }

    /// Types `bytes` at the terminal.
    pub fn send(&self, bytes: &str) {
        nix::unistd::write(&self.master, bytes.as_bytes()).expect("write to terminal");
    }

    /// Reads until `text` shows after the previous expected text; later
    /// calls search on from where this match ends.
    pub fn expect(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.seen[self.cursor..].find(text) {
                self.cursor += at + text.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "terminal never showed {text:?}; it showed:\n{}",
                self.seen
            );
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd we own, for a bounded time.
            if unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) } <= 0 {
                continue;
            }
            let mut buf = [0u8; 4096];
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(n) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => panic!(
                    "terminal closed before showing {text:?}; it showed:\n{}",
                    self.seen
                ),
            }
        }
    }

    /// Waits for nsbox to exit; returns its exit code.
    pub fn wait(mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "nsbox did not exit; terminal showed:\n{}",
                self.seen
            );
            // Keep the terminal drained so nsbox never blocks writing to it.
            let mut buf = [0u8; 4096];
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one pollfd we own, for a bounded time.
            if unsafe { libc::poll(&mut pfd, 1, 20) } > 0 {
                if let Ok(n) = nix::unistd::read(&self.master, &mut buf) {
                    self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The terminal transcript is the evidence of an interactive session.
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status
                .code()
                .map(|c| c.to_string())
                .unwrap_or_else(|| status.to_string()),
            _ => "still running when the test ended".to_string(),
        };
        println!(
            "=== evidence ===\ncommand: {} (on a pseudo-terminal)\nexit status: {status}\n--- stdout ---\n{}\n--- stderr ---\n\n=== end evidence ===",
            self.command,
            self.seen.replace('\r', "")
        );
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
