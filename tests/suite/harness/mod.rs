//! The suite's harness: run the real `nsbox` binary against the fixture
//! rootfs, with names no other test uses, and report failures with the
//! exact command, exit status, stdout and stderr.
//!
//! Root gating: a test that needs root calls [`require_root`] first, which
//! fails the test (never passes it) when the suite is not run as root. To
//! leave root tests out on purpose, run `cargo nextest run --profile
//! unprivileged`: nextest then lists them as skipped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod pty;

/// The nsbox binary cargo built for this suite: where nextest says it is
/// at run time (it rewrites the path when it runs an archive elsewhere),
/// else the path cargo baked in at build time.
pub fn nsbox_bin() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        std::env::var("NEXTEST_BIN_EXE_nsbox")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_nsbox").to_string())
    })
}

/// Fails the test unless it runs as root.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "this test needs root and was not run: run the suite as root (ci/test), or \
             leave root tests out with `cargo nextest run --profile unprivileged`"
        );
    }
    let rootfs = fixture_rootfs();
    assert!(
        rootfs.join("NSBOX_FIXTURE").is_file(),
        "fixture rootfs {} is missing: run ci/setup first",
        rootfs.display()
    );
}

/// The fixture rootfs built by `fixtures/build-rootfs`.
pub fn fixture_rootfs() -> PathBuf {
    std::env::var_os("NSBOX_ROOTFS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/nsbox/rootfs"))
}

/// A name no other test (or earlier run) uses: `prefix-<pid>-<n>`, kept
/// short enough for a hostname.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix: String = prefix.chars().take(30).collect();
    format!("{prefix}-{}-{n}", std::process::id())
}

/// `nsbox run` with a unique name and a read-only rootfs (tests share the
/// fixture). Networking is off unless `extra` holds a `--net` of its own.
pub fn run(name: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(nsbox_bin());
    cmd.env("NSBOX_ROOTFS", fixture_rootfs())
        .env_remove("RUST_LOG")
        .args(base_args(name, extra))
        .timeout(Duration::from_secs(60));
    cmd
}

fn base_args<'a>(name: &'a str, extra: &'a [&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run", "--read-only", "--name", name];
    if !extra.contains(&"--net") {
        args.extend(["--net", "none"]);
    }
    args.extend(extra);
    args
}

/// Runs `nsbox run --name NAME ARGS... -- COMMAND...` to completion and
/// returns its output; `extra` go before the `--`.
pub fn run_to_end(name: &str, extra: &[&str], command: &[&str]) -> Outcome {
    let mut cmd = run(name, extra);
    cmd.arg("--").args(command);
    Outcome::from(
        cmd.output().expect("nsbox runs"),
        describe(name, extra, command),
    )
}

/// A shell command run in a fresh container, expected to succeed; returns stdout.
pub fn sh(name: &str, script: &str) -> String {
    let out = run_to_end(name, &[], &["/bin/sh", "-c", script]);
    out.assert_code(0);
    out.stdout
}

fn describe(name: &str, extra: &[&str], command: &[&str]) -> String {
    let args = base_args(name, extra);
    format!(
        "{} {} -- {}",
        nsbox_bin(),
        shell_words(&args),
        shell_words(command)
    )
}

/// Arguments as a shell would need them typed: quoted when they hold
/// anything but plain characters.
pub fn shell_words(args: &[&str]) -> String {
    let plain = |a: &str| {
        !a.is_empty()
            && a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    };
    let quote = |a: &&str| match plain(a) {
        true => a.to_string(),
        false => format!("'{}'", a.replace('\'', "'\\''")),
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// Records an exchange the test itself made (a request from the host and
/// its answer) as evidence, like the runs of nsbox.
pub fn record_exchange(what: &str, request: &str, answer: &str) {
    println!("=== evidence ===\ncommand: {what}\nexit status: 0\n--- stdout ---\n{answer}\n--- stderr ---\n(request: {request})\n=== end evidence ===");
}

/// What a finished nsbox printed, with the command line that ran it.
#[derive(Debug)]
pub struct Outcome {
    /// The command line, for failure reports.
    pub command: String,
    /// The exit status (`-1` if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// From a finished process.
    pub fn from(out: std::process::Output, command: String) -> Outcome {
        let outcome = Outcome {
            command,
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        outcome.record_evidence();
        outcome
    }

    /// Prints the run to the test's captured output, which nextest keeps in
    /// its JUnit report: the evidence the requirements report quotes.
    pub fn record_evidence(&self) {
        println!("=== evidence ===\n{self}\n=== end evidence ===");
    }

    /// Panics with the whole story unless the exit status is `code`.
    pub fn assert_code(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, code, "wrong exit status\n{self}");
        self
    }

    /// Panics with the whole story unless stderr contains `text`.
    pub fn assert_stderr_has(&self, text: &str) -> &Outcome {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{self}");
        self
    }

    /// The probe's JSON report, parsed from the last stdout line.
    pub fn probe(&self) -> serde_json::Value {
        let line = self.stdout.lines().rev().find(|l| l.starts_with('{'));
        let line = line.unwrap_or_else(|| panic!("no probe report in stdout\n{self}"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad probe JSON: {e}\n{self}"))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "command: {}\nexit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// A container running in the background, whose nsbox is killed (SIGKILL,
/// by PID) and reaped if the test ends early.
pub struct Running {
    /// The nsbox process.
    pub child: Child,
    /// Its stdout, read line by line.
    pub stdout: BufReader<ChildStdout>,
    /// The container's name.
    pub name: String,
    /// The command line, for reports.
    pub command: String,
    /// The stdout lines read so far, for the evidence.
    transcript: String,
    /// Whether the evidence was recorded.
    recorded: bool,
}

/// Starts `nsbox run` in the background with `extra` options and `command`.
pub fn spawn(name: &str, extra: &[&str], command: &[&str]) -> Running {
    let mut cmd = std::process::Command::new(nsbox_bin());
    cmd.env("NSBOX_ROOTFS", fixture_rootfs())
        .env_remove("RUST_LOG")
        .args(base_args(name, extra))
        .arg("--")
        .args(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("nsbox starts");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    Running {
        child,
        stdout,
        name: name.to_string(),
        command: describe(name, extra, command),
        transcript: String::new(),
        recorded: false,
    }
}

impl Running {
    /// Reads stdout lines until one contains `text`; panics after `within`.
    pub fn wait_for_line(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let fd = std::os::fd::AsRawFd::as_raw_fd(self.stdout.get_ref());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no line with {text:?} from container {} within {within:?}",
                self.name
            );
            if self.stdout.buffer().is_empty() && !readable(fd, left) {
                continue;
            }
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read container stdout");
            assert!(
                n > 0,
                "container {} closed stdout before printing {text:?}",
                self.name
            );
            self.transcript.push_str(&line);
            if line.contains(text) {
                return line;
            }
        }
    }

    /// The host PID of nsbox.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to nsbox (the process this test started, by PID).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).expect("signal nsbox");
    }

    /// Waits for nsbox to exit, at most `within`; returns its outcome.
    pub fn wait(mut self, within: Duration) -> Outcome {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for nsbox") {
                let mut stdout = String::new();
                let _ = std::io::Read::read_to_string(&mut self.stdout, &mut stdout);
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                }
                let code = std::os::unix::process::ExitStatusExt::into_raw(status);
                let code = status.code().unwrap_or(128 + (code & 0x7f));
                self.recorded = true;
                let outcome = Outcome {
                    command: self.command.clone(),
                    code,
                    stdout: std::mem::take(&mut self.transcript) + &stdout,
                    stderr,
                };
                outcome.record_evidence();
                return outcome;
            }
            assert!(
                Instant::now() < deadline,
                "nsbox for {} did not exit within {within:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !self.recorded {
            // The test ended with the container still running: record what
            // it printed up to then.
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
            let stdout = std::mem::take(&mut self.transcript) + &rest;
            let status = "killed when the test ended".to_string();
            println!("=== evidence ===\ncommand: {}\nexit status: {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n\n=== end evidence ===", self.command);
        }
    }
}

/// Waits until `fd` is readable or `within` passes.
fn readable(fd: i32, within: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = within.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: poll on one pollfd we own, for a bounded time.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// Polls `check` until it returns true or `within` passes; returns the last result.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The state root nsbox uses in these tests.
pub fn state_root() -> PathBuf {
    std::env::var_os("NSBOX_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/nsbox"))
}

/// Nothing of container `name` is left: no state directory, no cgroup.
pub fn assert_nothing_left(name: &str) {
    let state = state_root().join("containers").join(name);
    assert!(!state.exists(), "state {} left behind", state.display());
    for cg in cgroup_dirs(name) {
        assert!(!cg.exists(), "cgroup {} left behind", cg.display());
    }
}

/// Every place a cgroup of container `name` could be, v1 and v2.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup/nsbox").join(name)];
    for ctrl in ["memory", "cpu", "cpuacct", "pids", "cpu,cpuacct", "unified"] {
        dirs.push(
            PathBuf::from("/sys/fs/cgroup")
                .join(ctrl)
                .join("nsbox")
                .join(name),
        );
    }
    dirs
}

/// This process's namespace inode for `kind` (e.g. "net").
pub fn host_ns(kind: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{kind}"))
        .expect("read own namespace")
        .ino()
}

/// Whether a process named `comm` runs anywhere below host PID `root`.
pub fn has_descendant(root: i32, comm: &str) -> bool {
    let mut parents = std::collections::HashMap::new();
    let mut names = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // comm is in parentheses and may hold spaces; fields follow the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 2..]
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        parents.insert(pid, ppid.unwrap_or(0));
        names.insert(pid, stat[open + 1..close].to_string());
    }
    names
        .iter()
        .filter(|(_, name)| name.as_str() == comm)
        .any(|(&pid, _)| {
            let mut p = pid;
            for _ in 0..64 {
                p = parents.get(&p).copied().unwrap_or(0);
                if p == root {
                    return true;
                }
                if p <= 1 {
                    return false;
                }
            }
            false
        })
}

/// The bridge nsbox attaches containers to.
pub fn bridge() -> String {
    std::env::var("NSBOX_BRIDGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "nsbox0".into())
}

/// A running container's state record.
pub fn record(name: &str) -> serde_json::Value {
    let path = state_root()
        .join("containers")
        .join(name)
        .join("state.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// An HTTP client whose every connection is bound to nsbox's bridge
/// (SO_BINDTODEVICE), so a missing route fails instead of leaving the host.
pub fn bridge_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .interface(&bridge())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client")
}

/// Runs `nsbox ARGS...` (any verb) to completion; returns its outcome.
pub fn nsbox(args: &[&str]) -> Outcome {
    let out = std::process::Command::new(nsbox_bin())
        .env("NSBOX_ROOTFS", fixture_rootfs())
        .env_remove("RUST_LOG")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("nsbox runs");
    Outcome::from(out, format!("nsbox {}", args.join(" ")))
}

/// A detached container, removed (`nsbox rm -f`) when the test ends.
pub struct Detached {
    /// Its name.
    pub name: String,
}

impl Detached {
    /// `nsbox run -d` with `extra` options and `command`; asserts that it
    /// printed the name and exited 0.
    pub fn start(prefix: &str, extra: &[&str], command: &[&str]) -> Detached {
        let name = unique(prefix);
        let mut args = vec!["run", "-d", "--read-only", "--name", &name];
        args.extend(extra);
        args.push("--");
        args.extend(command);
        let out = nsbox(&args);
        out.assert_code(0);
        assert_eq!(
            out.stdout.trim(),
            name,
            "run -d did not print the name\n{out}"
        );
        Detached { name }
    }

    /// `nsbox exec NAME COMMAND...`.
    pub fn exec(&self, command: &[&str]) -> Outcome {
        nsbox(&[&["exec", self.name.as_str()], command].concat())
    }

    /// The container's `nsbox list --json` row.
    pub fn row(&self) -> serde_json::Value {
        let out = nsbox(&["list", "--json"]);
        out.assert_code(0);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
        rows.into_iter()
            .find(|r| r["name"] == self.name.as_str())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Waits until `nsbox logs` shows `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> String {
        let mut last = String::new();
        let seen = eventually(within, || {
            last = nsbox(&["logs", &self.name]).stdout;
            last.contains(text)
        });
        assert!(
            seen,
            "log of {} never showed {text:?}; it has:\n{last}",
            self.name
        );
        last
    }
}

impl Drop for Detached {
    fn drop(&mut self) {
        let _ = std::process::Command::new(nsbox_bin())
            .args(["rm", "-f", &self.name])
            .output();
    }
}

/// Whether the lease file of address `cidr` (`10.117.0.5/24`) names
/// container `name`. Tests run in parallel, so a freed address may already
/// be leased to another test's container: that is not a leak.
pub fn lease_held_by(cidr: &str, name: &str) -> bool {
    let ip = cidr.split('/').next().unwrap_or(cidr);
    // Leases are host-wide, whatever NSBOX_STATE_DIR says.
    let lease = std::path::Path::new("/run/nsbox/net/leases").join(ip);
    std::fs::read_to_string(lease).is_ok_and(|text| text.contains(&format!("\"{name}\"")))
}

/// The interface index of host link `name`, if it exists.
pub fn link_index(name: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex")).ok()?;
    Some(text.trim().to_string())
}

/// Whether a host link with interface index `index` exists. Link names
/// derive from addresses and may be reused at once; indexes are not.
pub fn index_exists(index: &str) -> bool {
    let links = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten();
    links
        .into_iter()
        .any(|e| link_index(&e.file_name().to_string_lossy()).as_deref() == Some(index))
}

/// GETs `http://ADDR:PORT/` over nsbox's bridge and asserts that the
/// container's echo-server answered with `hostname`.
pub fn assert_answers_as(addr: &str, port: u16, hostname: &str) {
    let url = format!("http://{addr}:{port}/");
    let body = bridge_client()
        .get(&url)
        .send()
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(
        body.starts_with(&format!("hostname={hostname}\n")),
        "{url} answered {body:?}"
    );
}
