//! `nsbox run -d`: the container runs under a monitor process, and the
//! command returns once it is running.
//!
//! The caller forks the monitor, which leaves the caller's session and runs
//! the same start path as a foreground run ([`container::run`]) with its
//! output going to the container's log. Once the command runs (or the start
//! fails), the monitor says so on a pipe, and the caller prints the name
//! (or the error) and exits. The monitor stays as the container's nsbox: it
//! waits for it, records its exit status and OOM kills, removes its cgroup
//! and address, and keeps its record and log until `nsbox rm`.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::unistd::{fork, ForkResult};

use crate::config::ContainerConfig;
use crate::container::{self, StartError};
use crate::state::StateError;

/// The monitor's end of the pipe to the waiting caller.
pub struct Detach {
    ready: OwnedFd,
}

impl Detach {
    /// Points the monitor's (and so the container's) stdin at /dev/null and
    /// its stdout and stderr at `dir/log`.
    pub(crate) fn redirect_output(&self, dir: &Path) -> Result<(), StartError> {
        let path = dir.join("log");
        let log = OpenOptions::new().create(true).append(true).open(&path);
        let null = OpenOptions::new().read(true).open("/dev/null");
        let fail = |source| {
            StartError::State(StateError::Io {
                doing: "opening the log",
                path: path.clone(),
                source,
            })
        };
        let (log, null) = (log.map_err(fail)?, null.map_err(fail)?);
        for (from, to) in [
            (null.as_raw_fd(), 0),
            (log.as_raw_fd(), 1),
            (log.as_raw_fd(), 2),
        ] {
            // SAFETY: dup2 onto this process's standard descriptors.
            if unsafe { libc::dup2(from, to) } == -1 {
                return Err(fail(std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// Tells the caller that the command runs.
    pub(crate) fn report_started(&self, name: &str) {
        let _ = nix::unistd::write(&self.ready, format!("ok {name}\n").as_bytes());
    }

    fn report_failure(&self, code: i32, message: &str) {
        let _ = nix::unistd::write(&self.ready, format!("err {code} {message}\n").as_bytes());
    }
}

/// Starts `config` detached. Returns the container's name once its command
/// runs, or the exit code and message of the failure.
pub fn start(config: &ContainerConfig) -> Result<String, (i32, String)> {
    let (read_end, write_end) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| (125, format!("creating a pipe: {e}")))?;
    // SAFETY: nsbox is single-threaded here; the child goes on to run the
    // start path, which is what a fresh nsbox process would do.
    match unsafe { fork() }.map_err(|e| (125, format!("forking the monitor: {e}")))? {
        ForkResult::Child => {
            drop(read_end);
            // Out of the caller's session, so its terminal's signals and
            // hangup do not reach the container.
            let _ = nix::unistd::setsid();
            let detach = Detach { ready: write_end };
            let code = match container::run(config, Some(&detach)) {
                Ok(ended) => ended.exit_code,
                Err(err) => {
                    detach.report_failure(err.exit_code(), &crate::error_chain(&err));
                    err.exit_code()
                }
            };
            std::process::exit(code)
        }
        ForkResult::Parent { .. } => {
            drop(write_end);
            // One line; EOF first means the monitor died before answering.
            let mut answer = String::new();
            let _ = BufReader::new(std::fs::File::from(read_end)).read_line(&mut answer);
            parse_answer(answer.trim_end_matches('\n'))
        }
    }
}

fn parse_answer(answer: &str) -> Result<String, (i32, String)> {
    if let Some(name) = answer.strip_prefix("ok ") {
        return Ok(name.to_string());
    }
    if let Some(rest) = answer.strip_prefix("err ") {
        let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
        return Err((code.parse().unwrap_or(125), message.to_string()));
    }
    Err((
        125,
        "the monitor exited before the container started".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_answer;

    #[test]
    fn answers() {
        assert_eq!(parse_answer("ok web"), Ok("web".to_string()));
        assert_eq!(
            parse_answer("err 127 command not found"),
            Err((127, "command not found".into()))
        );
        assert_eq!(parse_answer("").unwrap_err().0, 125);
    }
}
