//! The container's init: PID 1 of the new PID namespace.
//!
//! This process is nsbox's own code, cloned into the new namespaces by
//! `namespaces::clone_into_new_namespaces`. It waits for the host to release
//! it (its cgroup and network link exist by then), finishes the setup from
//! the inside (cgroup namespace, network, hostname, filesystems), starts the
//! command as PID 2, and then stays as a tiny init: it forwards signals to
//! the command, reaps every orphan, and exits with the command's status.
//! When it exits, the kernel kills whatever is left in the namespace.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, sethostname, ForkResult, Pid};
use tracing::debug;

use crate::cgroups::InsideMounts;
use crate::config::{ContainerConfig, CONTAINER_PATH};
use crate::net::InsideConfig;
use crate::sync::Channel;
use crate::{namespaces, pty, rootfs};

/// Signals the host forwards to the init and the init to the command.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The signals kept blocked in nsbox and its init, and received with
/// signalfd or sigwait instead of handlers.
pub fn handled_signals() -> SigSet {
    let mut set = SigSet::empty();
    for &sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
    set
}

/// What the init needs besides the configuration it inherited.
pub struct InitArgs<'a> {
    /// The container's configuration.
    pub config: &'a ContainerConfig,
    /// The init's end of the handshake.
    pub channel: Channel,
    /// The cgroup filesystem to mount; some means a cgroup namespace.
    pub cgroups: Option<InsideMounts>,
    /// The container's address on eth0, if it has a link.
    pub net: Option<InsideConfig>,
}

/// Why the setup inside failed; the message goes to the host.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error("entering a cgroup namespace")]
    Namespace(#[from] namespaces::NamespaceError),
    #[error("configuring the network inside")]
    Net(#[from] crate::net::NetError),
    #[error("setting hostname {name:?}")]
    Hostname { name: String, source: nix::Error },
    #[error("preparing the root filesystem")]
    Rootfs(#[from] rootfs::RootfsError),
    #[error("opening the container's terminal")]
    Pty(#[from] pty::PtyError),
    #[error("starting the command")]
    Spawn(#[source] nix::Error),
    #[error("{0}")]
    Exec(String),
}

/// Runs the init; never returns.
pub fn main(args: InitArgs<'_>) -> ! {
    die_with_parent_undumpable();
    // SAFETY: PR_SET_NAME copies the name from a static C string.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"nsbox-init".as_ptr(), 0, 0, 0) };
    show_as_init();
    close_inherited_fds(&args.channel);
    let code = match start(&args) {
        Ok(command) => reap_until_exit(command),
        Err((code, err)) => {
            let message = crate::error_chain(&err);
            // If the host is gone there is nobody left to tell.
            let _ = args.channel.report_failure(code, message);
            code
        }
    };
    std::process::exit(code)
}

/// For nsbox's own processes inside a container (the init, the exec
/// helper): if nsbox dies, so do they, so nothing runs unmanaged; and they
/// are not dumpable, so processes in the container cannot ptrace them or
/// open their /proc files (and through them the host's nsbox binary).
pub(crate) fn die_with_parent_undumpable() {
    // SAFETY: prctl with these options only changes this process's flags.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

/// Makes `ps` in the container show the init as `nsbox-init` rather than
/// nsbox's whole host command line. The kernel reads /proc/1/cmdline from
/// the process's argument area (its bounds are fields 48 and 49 of
/// /proc/self/stat); the area is overwritten in place and padded with NULs.
/// Best effort: on any surprise the old command line stays.
fn show_as_init() {
    const NAME: &[u8] = b"nsbox-init";
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    let bound = |field| crate::lifecycle::stat_field(&stat, field).map(|v| v as usize);
    let (Some(start), Some(end)) = (bound(48), bound(49)) else {
        return;
    };
    if end <= start + NAME.len() {
        return;
    }
    // SAFETY: [start, end) is this process's own argument area, mapped and
    // writable for its whole life; nothing in the init reads argv again.
    let area = unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
    area.fill(0);
    area[..NAME.len()].copy_from_slice(NAME);
}

/// Closes every descriptor the init inherited from nsbox except the standard
/// ones and the handshake socket: locks, leases, pipes and signalfds belong
/// to nsbox on the host, not to a process inside the container.
fn close_inherited_fds(channel: &Channel) {
    let keep = channel.as_raw_fd() as u32;
    // SAFETY: close_range only closes descriptors of this process, none of
    // which the init uses besides those kept.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, keep - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32);
    }
}

fn start(args: &InitArgs<'_>) -> Result<Pid, (i32, InitError)> {
    let fail = |e: InitError| (125, e);
    args.channel.wait_release().map_err(|e| fail(e.into()))?;
    if args.cgroups.is_some() {
        // Now that the host moved us into our cgroup, a new cgroup namespace
        // makes that group the root of what the container sees.
        namespaces::unshare_cgroup().map_err(|e| fail(e.into()))?;
    }
    crate::net::configure_inside(args.net.as_ref()).map_err(|e| fail(e.into()))?;
    let config = args.config;
    debug!(hostname = %config.hostname, "sethostname");
    sethostname(&config.hostname).map_err(|source| {
        fail(InitError::Hostname {
            name: config.hostname.clone(),
            source,
        })
    })?;
    rootfs::enter(&config.rootfs, config.read_only, args.cgroups.as_ref())
        .map_err(|e| fail(e.into()))?;
    let terminal = match config.tty {
        true => Some(pty::open_in_container().map_err(|e| fail(e.into()))?),
        false => None,
    };
    let command = spawn_command(config, terminal.as_ref())?;
    let master = terminal.as_ref().map(|t| t.master.as_fd());
    args.channel
        .report_started(master)
        .map_err(|e| fail(e.into()))?;
    Ok(command)
}

/// Forks the command as PID 2 and execs it. Returns once the exec is known
/// to have succeeded; an exec failure comes back through a close-on-exec
/// pipe as the errno, and becomes exit code 127 or 126.
pub(crate) fn spawn_command(
    config: &ContainerConfig,
    terminal: Option<&pty::Terminal>,
) -> Result<Pid, (i32, InitError)> {
    let (err_read, err_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| (125, InitError::Spawn(e)))?;
    let argv: Vec<CString> = config.command.iter().map(|a| cstring(a)).collect();
    let env: Vec<CString> = config
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect();
    let program = resolve_in_path(&config.command[0]);
    debug!(?argv, program = %program.to_string_lossy(), "exec");
    // SAFETY: the init is single-threaded; the child only calls
    // async-signal-safe functions before exec or _exit.
    match unsafe { fork() }.map_err(|e| (125, InitError::Spawn(e)))? {
        ForkResult::Child => {
            drop(err_read);
            let errno = exec_command(&program, &argv, &env, terminal);
            let _ = nix::unistd::write(&err_write, &(errno as i32).to_ne_bytes());
            // SAFETY: _exit ends this forked child without running the
            // parent's atexit handlers or flushing its stdio twice.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => {
            drop(err_write);
            let mut buf = [0u8; 4];
            let n = loop {
                match nix::unistd::read(&err_read, &mut buf) {
                    Err(nix::Error::EINTR) => continue,
                    other => break other.unwrap_or(0),
                }
            };
            if n == 4 {
                let errno = nix::Error::from_raw(i32::from_ne_bytes(buf));
                let _ = waitpid(child, None);
                return Err(exec_failure(&program, errno));
            }
            Ok(child)
        }
    }
}

/// Why exec failed, in words and as the exit status docker users know:
/// 127 when nothing runnable is there, 126 when something is but cannot run.
fn exec_failure(program: &CString, errno: nix::Error) -> (i32, InitError) {
    let program = program.to_string_lossy();
    let exists = nix::unistd::access(program.as_ref(), nix::unistd::AccessFlags::F_OK).is_ok();
    let (code, text) = match errno {
        nix::Error::ENOENT if exists => (
            127,
            format!("cannot run {program:?}: its interpreter or dynamic loader is missing from the rootfs"),
        ),
        nix::Error::ENOENT => (127, format!("command {program:?} not found")),
        nix::Error::EACCES => (126, format!("command {program:?} is not executable")),
        nix::Error::ENOEXEC => (126, format!("command {program:?} is not in a format this kernel runs")),
        errno => (126, format!("cannot run {program:?}: {}", errno.desc())),
    };
    (code, InitError::Exec(text))
}

/// In the forked child: a session of its own (with the container's terminal
/// as its controlling tty, if any), default signals, only fds 0-2, exec.
/// Returns only on failure, with the errno.
fn exec_command(
    program: &CString,
    argv: &[CString],
    env: &[CString],
    terminal: Option<&pty::Terminal>,
) -> nix::Error {
    let _ = nix::unistd::setsid();
    if let Some(terminal) = terminal {
        if let Err(e) = terminal.make_controlling() {
            return e;
        }
    }
    let _ = handled_signals().thread_unblock();
    // Everything past stderr is closed at exec, whatever its flags were.
    // SAFETY: close_range only marks descriptors of this process.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    match nix::unistd::execve(program, argv, env) {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

/// The init's life after the start: forward signals to the command, reap
/// every child (orphans are reparented to us), and exit with the command's
/// status once it is gone: its exit code, or 128 + the signal that killed it.
pub(crate) fn reap_until_exit(command: Pid) -> i32 {
    let signals = handled_signals();
    loop {
        let sig = match signals.wait() {
            Ok(sig) => sig,
            Err(_) => continue,
        };
        if FORWARDED.contains(&sig) {
            debug!(?sig, pid = command.as_raw(), "forward signal");
            let _ = kill(command, sig);
            continue;
        }
        if let Some(code) = reap(command) {
            return code;
        }
    }
}

/// Reaps every exited child; returns the exit code once `command` is among them.
fn reap(command: Pid) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, status)) if pid == command => code = Some(status),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                code = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => {}
        }
    }
}

/// The command's program path: as given when it has a slash, else the first
/// executable match along the container's PATH (we are inside its root now).
fn resolve_in_path(command: &str) -> CString {
    if command.contains('/') {
        return cstring(command);
    }
    CONTAINER_PATH
        .split(':')
        .map(|dir| format!("{dir}/{command}"))
        .find(|path| nix::unistd::access(path.as_str(), nix::unistd::AccessFlags::X_OK).is_ok())
        .map(|path| cstring(&path))
        .unwrap_or_else(|| cstring(command))
}

fn cstring(s: &str) -> CString {
    // Arguments come from the command line, which cannot hold NUL bytes.
    CString::new(s).unwrap_or_default()
}
