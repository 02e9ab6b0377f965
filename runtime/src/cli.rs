//! The command line: what a user types, turned into a checked
//! [`ContainerConfig`]. Parsing and validation need no root, so they are
//! unit-tested here.

use std::io::IsTerminal;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cgroups::{self, Limits};
use crate::config::{self, ConfigError, ContainerConfig};
use crate::net::NetMode;
use crate::supervise::STOP_GRACE;

/// nsbox: run a command in a container made straight from Linux namespaces
/// and cgroups.
#[derive(Debug, Parser)]
#[command(name = "nsbox", version, about, long_about = None)]
pub struct Cli {
    /// Trace every kernel step (clone flags, mounts, cgroup writes, netlink
    /// requests) on stderr. RUST_LOG=nsbox=debug does the same.
    #[arg(long, global = true)]
    pub debug: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// nsbox's verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command (default /bin/sh) in a new container and wait for it
    /// (or, with -d, return once it runs).
    #[command(after_help = RUN_AFTER_HELP)]
    Run(Box<RunArgs>),
    /// Run a command inside a running container.
    Exec {
        /// Give the command a terminal (needs one on stdin).
        #[arg(short = 't', long)]
        tty: bool,
        /// Accepted for docker users; stdin is always passed on.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// The container.
        name: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List containers: running, exited (kept until rm) and dead.
    #[command(alias = "ps", alias = "ls")]
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a detached container's output.
    Logs {
        /// Keep printing until the container ends.
        #[arg(short = 'f', long)]
        follow: bool,
        /// The container.
        name: String,
    },
    /// Stop a container: SIGTERM, then SIGKILL after a timeout.
    Stop {
        /// Seconds to wait before SIGKILL.
        #[arg(short = 't', long, default_value_t = STOP_GRACE.as_secs())]
        time: u64,
        /// The containers.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal (default SIGKILL) to a container.
    Kill {
        /// The signal, e.g. TERM, SIGUSR1 or 15.
        #[arg(short = 's', long, default_value = "KILL")]
        signal: String,
        /// The container.
        name: String,
    },
    /// Remove stopped containers (with -f, running ones too).
    Rm {
        /// Kill a running container first; an unknown name is no error.
        #[arg(short = 'f', long)]
        force: bool,
        /// The containers.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print a container's configuration and state as JSON.
    Inspect {
        /// The container.
        name: String,
    },
    /// Remove what killed nsbox processes left behind (state, cgroups,
    /// address leases, links).
    Cleanup,
    /// Report what this host offers nsbox, and what will not work and why.
    Check,
}

const RUN_AFTER_HELP: &str = "\
Exit status: the command's; 128+N if it was killed by signal N (137 after an
out-of-memory kill, also reported on stderr); 125 if nsbox failed or the input
was bad; 126 if the command cannot run; 127 if it is not found. Needs root.

Environment: NSBOX_ROOTFS (default rootfs), NSBOX_STATE_DIR (state, default
/run/nsbox), NSBOX_BRIDGE (default nsbox0), NSBOX_SUBNET (default
10.117.0.0/24), RUST_LOG (like --debug).";

/// Parses a signal name (`TERM`, `SIGTERM`, `term`) or number.
pub fn parse_signal(text: &str) -> Option<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(n) = text.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name).ok()
}

/// `nsbox run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The root filesystem [default: $NSBOX_ROOTFS, else /var/lib/nsbox/rootfs].
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// The container's hostname [default: its name].
    #[arg(long)]
    pub hostname: Option<String>,
    /// The container's name [default: nsbox- and 8 random hex digits].
    #[arg(long)]
    pub name: Option<String>,
    /// Mount the rootfs read-only (/tmp, /dev and /proc stay writable).
    #[arg(long)]
    pub read_only: bool,
    /// Run in the background under a monitor; print the name once it runs.
    /// Output goes to the container's log (`nsbox logs`).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Network: "bridge" (a veth on nsbox's bridge) or "none" (loopback only).
    #[arg(long, value_name = "MODE", default_value = "bridge", value_parser = ["bridge", "none"])]
    pub net: String,
    /// The container's address on the bridge [default: the lowest free].
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<String>,
    /// Memory limit, e.g. 64m or 1g (binary units; at least 6m).
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// CPU limit in CPUs, e.g. 0.5 (from 0.01 to the host's CPUs).
    #[arg(long, value_name = "CPUS", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// Seconds the container may go on after nsbox gets SIGTERM (a shell
    /// ignores it) before it is killed; a second SIGTERM kills at once.
    #[arg(long, value_name = "SECS", default_value_t = STOP_GRACE.as_secs())]
    pub stop_timeout: u64,
    /// Limit on the number of processes (at least 2: the init counts).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids: Option<String>,
    /// The command and its arguments [default: /bin/sh].
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// A refused command line, with the exit status it earns.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The configuration itself is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A limit is wrong.
    #[error(transparent)]
    Limit(#[from] cgroups::LimitError),
    /// The name, used as the default hostname, is no valid hostname.
    #[error("the container's name is its hostname unless --hostname is given, and {0}")]
    NameAsHostname(#[source] ConfigError),
    /// `--ip` is not an IPv4 address.
    #[error("invalid --ip {0:?}: not an IPv4 address")]
    Ip(String),
    /// `--ip` with `--net none`.
    #[error("--ip needs --net bridge")]
    IpWithoutNet,
}

impl UsageError {
    /// nsbox's exit status for this refusal.
    pub fn exit_code(&self) -> i32 {
        match self {
            UsageError::Config(e) => e.exit_code(),
            _ => 125,
        }
    }
}

impl RunArgs {
    /// Checks everything that can be checked without root and turns the
    /// arguments into a configuration. Creates nothing.
    pub fn into_config(self) -> Result<ContainerConfig, UsageError> {
        let name = match self.name {
            Some(name) => name,
            None => config::generate_name(),
        };
        config::validate_name(&name)?;
        let defaulted = self.hostname.is_none();
        let hostname = self.hostname.unwrap_or_else(|| name.clone());
        config::validate_hostname(&hostname).map_err(|e| match defaulted {
            // The user gave no hostname: say where this one came from.
            true => UsageError::NameAsHostname(e),
            false => e.into(),
        })?;
        let limits = Limits {
            memory: self
                .memory
                .as_deref()
                .map(cgroups::parse_memory)
                .transpose()?,
            cpu: self.cpus.as_deref().map(cgroups::parse_cpus).transpose()?,
            pids: self.pids.as_deref().map(cgroups::parse_pids).transpose()?,
        };
        let ip = match &self.ip {
            Some(text) => Some(
                text.parse::<Ipv4Addr>()
                    .map_err(|_| UsageError::Ip(text.clone()))?,
            ),
            None => None,
        };
        let net = match (self.net.as_str(), ip) {
            ("none", Some(_)) => return Err(UsageError::IpWithoutNet),
            ("none", None) => NetMode::None,
            _ => NetMode::Bridge { ip },
        };
        let rootfs_arg = self.rootfs.unwrap_or_else(default_rootfs);
        let rootfs = config::resolve_rootfs(&rootfs_arg)?;
        let command = match self.command.is_empty() {
            true => vec![config::DEFAULT_COMMAND.to_string()],
            false => self.command,
        };
        config::check_command(&rootfs, &command[0])?;
        let tty = !self.detach && std::io::stdin().is_terminal();
        let env = config::default_env(&hostname, tty);
        Ok(ContainerConfig {
            name,
            hostname,
            rootfs,
            command,
            read_only: self.read_only,
            tty,
            net,
            limits,
            env,
            stop_timeout: std::time::Duration::from_secs(self.stop_timeout),
        })
    }
}

/// The rootfs when `--rootfs` is not given.
pub fn default_rootfs() -> PathBuf {
    std::env::var_os(config::ROOTFS_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_ROOTFS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("9"), Some(Signal::SIGKILL));
        assert_eq!(parse_signal("NOPE"), None);
        assert_eq!(parse_signal("99"), None);
    }

    fn parse(args: &[&str]) -> Result<ContainerConfig, UsageError> {
        let mut argv = vec!["nsbox", "run"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("arguments parse").command {
            Command::Run(run) => run.into_config(),
            _ => unreachable!(),
        }
    }

    fn rootfs() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        let sh = dir.path().join("bin/sh");
        std::fs::write(&sh, b"").unwrap();
        std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn defaults() {
        let root = rootfs();
        let cfg = parse(&["--rootfs", root.path().to_str().unwrap()]).unwrap();
        assert_eq!(cfg.command, vec!["/bin/sh"]);
        assert_eq!(cfg.hostname, cfg.name);
        assert!(cfg.name.starts_with("nsbox-"));
        assert!(matches!(cfg.net, NetMode::Bridge { ip: None }));
        assert!(cfg.limits.is_empty());
        assert!(cfg
            .env
            .iter()
            .any(|(k, v)| k == "PATH" && v.contains("/bin")));
    }

    #[test]
    fn options() {
        let root = rootfs();
        let path = root.path().to_str().unwrap();
        let args = [
            "--rootfs",
            path,
            "--name",
            "web",
            "--hostname",
            "h1",
            "--net",
            "none",
            "--read-only",
        ];
        let cfg =
            parse(&[&args[..], &["--memory", "64m", "--", "sh", "-c", "exit 3"]].concat()).unwrap();
        assert_eq!((cfg.name.as_str(), cfg.hostname.as_str()), ("web", "h1"));
        assert_eq!(cfg.command, vec!["sh", "-c", "exit 3"]);
        assert!(cfg.read_only);
        assert!(matches!(cfg.net, NetMode::None));
        assert_eq!(cfg.limits.memory, Some(64 << 20));
    }

    #[test]
    fn refusals_and_their_exit_codes() {
        let root = rootfs();
        let path = root.path().to_str().unwrap();
        let cases: &[(&[&str], &str, i32)] = &[
            (&["--hostname", ""], "hostname must not be empty", 125),
            (&["--name", "a/b"], "container name \"a/b\"", 125),
            (&["--ip", "10.1.2"], "invalid --ip \"10.1.2\"", 125),
            (
                &["--net", "none", "--ip", "10.117.0.9"],
                "--ip needs --net bridge",
                125,
            ),
            (&["--", "/bin/nope"], "command \"/bin/nope\" not found", 127),
            (&["--pids", "-1"], "pids", 125),
        ];
        for (args, message, code) in cases {
            let err = parse(&[&["--rootfs", path], *args].concat()).unwrap_err();
            assert!(err.to_string().contains(message), "{args:?}: {err}");
            assert_eq!(err.exit_code(), *code, "{args:?}");
        }
        let err = parse(&["--rootfs", "/nonexistent/rootfs"]).unwrap_err();
        assert_eq!(err.to_string(), "rootfs /nonexistent/rootfs does not exist");
    }
}
