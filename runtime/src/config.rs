//! What a container is made of, checked before anything is created.
//!
//! Every check here runs in the calling process, on the host, before a
//! namespace, mount, cgroup or link exists, so a bad argument never leaves
//! anything half-made behind.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::cgroups::Limits;
use crate::net::NetMode;

/// The rootfs used when `--rootfs` is not given and `NSBOX_ROOTFS` is unset.
pub const DEFAULT_ROOTFS: &str = "/var/lib/nsbox/rootfs";
/// The environment variable that overrides [`DEFAULT_ROOTFS`].
pub const ROOTFS_ENV: &str = "NSBOX_ROOTFS";
/// The command run when none is given.
pub const DEFAULT_COMMAND: &str = "/bin/sh";
/// The search path inside the container, for the command and the shell.
pub const CONTAINER_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The kernel's limit on a hostname (`HOST_NAME_MAX`).
pub const HOSTNAME_MAX: usize = 64;
/// The longest container name accepted.
pub const NAME_MAX: usize = 64;

/// A container's configuration after every check passed.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// The container's name, unique among running containers.
    pub name: String,
    /// The hostname set in its UTS namespace.
    pub hostname: String,
    /// The root filesystem: an absolute path with symlinks resolved.
    pub rootfs: PathBuf,
    /// The command and its arguments; `command[0]` is resolved in the rootfs.
    pub command: Vec<String>,
    /// Mount the rootfs read-only.
    pub read_only: bool,
    /// Give the container a pseudo-terminal of its own.
    pub tty: bool,
    /// How the container is networked.
    pub net: NetMode,
    /// cgroup limits; empty means no cgroup is made.
    pub limits: Limits,
    /// The environment of the command.
    pub env: Vec<(String, String)>,
    /// How long the container may go on after nsbox got SIGTERM before it
    /// is killed.
    pub stop_timeout: std::time::Duration,
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The rootfs path does not exist.
    #[error("rootfs {0} does not exist")]
    RootfsMissing(PathBuf),
    /// The rootfs path cannot be resolved for another reason.
    #[error("rootfs {path} cannot be used")]
    RootfsUnusable {
        /// The path as given.
        path: PathBuf,
        /// Why it could not be resolved.
        #[source]
        source: std::io::Error,
    },
    /// The rootfs is the host's own root.
    #[error("rootfs {0} is the host's root; give a directory holding a root filesystem")]
    RootfsIsHostRoot(PathBuf),
    /// A directory nsbox mounts on is a symlink or not a directory.
    #[error("rootfs {rootfs}: /{entry} is {what}; nsbox mounts only on directories of the rootfs")]
    MountPointUnusable {
        /// The rootfs.
        rootfs: PathBuf,
        /// The entry, e.g. `proc`.
        entry: &'static str,
        /// What it is instead.
        what: &'static str,
    },
    /// The rootfs path is not a directory.
    #[error("rootfs {0} is not a directory")]
    RootfsNotDirectory(PathBuf),
    /// The hostname is empty.
    #[error("hostname must not be empty")]
    HostnameEmpty,
    /// The hostname is over the kernel's limit.
    #[error("hostname {name:?} is {len} bytes long; the limit is {HOSTNAME_MAX}")]
    HostnameTooLong {
        /// The hostname given.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The hostname holds a character a hostname cannot hold.
    #[error(
        "hostname {0:?} must be labels of letters, digits, '-' and '_', joined by single dots, \
         none starting or ending with '-'"
    )]
    HostnameInvalid(String),
    /// The container name is not acceptable.
    #[error(
        "container name {0:?} must be 1 to {NAME_MAX} characters from letters, digits, '_', '.' \
         and '-', starting with a letter or digit"
    )]
    NameInvalid(String),
    /// The command is not in the rootfs.
    #[error("command {command:?} not found in rootfs {rootfs}")]
    CommandNotFound {
        /// The command as given.
        command: String,
        /// The rootfs searched.
        rootfs: PathBuf,
    },
    /// The command exists but cannot be executed.
    #[error("command {command:?} in rootfs {rootfs} is not executable ({why})")]
    CommandNotExecutable {
        /// The command as given.
        command: String,
        /// The rootfs searched.
        rootfs: PathBuf,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The command is empty.
    #[error("command must not be empty")]
    CommandEmpty,
}

impl ConfigError {
    /// The exit status nsbox ends with for this error: 127 for a command not
    /// found, 126 for one that cannot run, 125 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::CommandNotFound { .. } => 127,
            ConfigError::CommandNotExecutable { .. } => 126,
            _ => 125,
        }
    }
}

/// The rootfs's directories that nsbox mounts on.
pub const MOUNT_POINTS: &[&str] = &["proc", "sys", "dev", "tmp"];

/// Resolves the rootfs argument (relative, trailing slash, symlinks) to an
/// absolute directory path, and checks that what nsbox mounts on is a
/// directory (or missing: nsbox makes it) and not a symlink, which would
/// lead the mount outside the rootfs.
pub fn resolve_rootfs(given: &Path) -> Result<PathBuf, ConfigError> {
    let path = std::fs::canonicalize(given).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::RootfsMissing(given.to_path_buf()),
        _ => ConfigError::RootfsUnusable {
            path: given.to_path_buf(),
            source,
        },
    })?;
    if !path.is_dir() {
        return Err(ConfigError::RootfsNotDirectory(given.to_path_buf()));
    }
    if path == Path::new("/") {
        return Err(ConfigError::RootfsIsHostRoot(given.to_path_buf()));
    }
    for &entry in MOUNT_POINTS {
        let what = match std::fs::symlink_metadata(path.join(entry)) {
            Err(_) => continue,
            Ok(meta) if meta.file_type().is_symlink() => "a symlink",
            Ok(meta) if !meta.is_dir() => "not a directory",
            Ok(_) => continue,
        };
        return Err(ConfigError::MountPointUnusable {
            rootfs: given.to_path_buf(),
            entry,
            what,
        });
    }
    Ok(path)
}

/// Checks a hostname: 1 to 64 bytes; dot-separated labels of letters,
/// digits, '-' and '_' (which container names may hold), none empty and
/// none starting or ending with '-'.
pub fn validate_hostname(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::HostnameEmpty);
    }
    if name.len() > HOSTNAME_MAX {
        return Err(ConfigError::HostnameTooLong {
            name: name.to_string(),
            len: name.len(),
        });
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.split('.').all(label_ok) {
        return Err(ConfigError::HostnameInvalid(name.to_string()));
    }
    Ok(())
}

/// Checks a container name, which also names files and cgroups.
pub fn validate_name(name: &str) -> Result<(), ConfigError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !first_ok || !rest_ok || name.len() > NAME_MAX {
        return Err(ConfigError::NameInvalid(name.to_string()));
    }
    Ok(())
}

/// A fresh container name, `nsbox-` and eight hex digits.
pub fn generate_name() -> String {
    let mut buf = [0u8; 4];
    let filled = File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .is_ok();
    if !filled {
        let seed = std::process::id()
            ^ std::time::UNIX_EPOCH
                .elapsed()
                .unwrap_or_default()
                .subsec_nanos();
        buf = seed.to_le_bytes();
    }
    format!("nsbox-{:08x}", u32::from_le_bytes(buf))
}

/// Looks the command up in the rootfs the way the container will see it:
/// symlinks resolve inside the rootfs (`RESOLVE_IN_ROOT`), and a bare name is
/// searched along [`CONTAINER_PATH`].
pub fn check_command(rootfs: &Path, command: &str) -> Result<(), ConfigError> {
    if command.is_empty() {
        return Err(ConfigError::CommandEmpty);
    }
    let not_found = || ConfigError::CommandNotFound {
        command: command.to_string(),
        rootfs: rootfs.to_path_buf(),
    };
    let root = File::open(rootfs).map_err(|_| not_found())?;
    let candidates: Vec<String> = if command.contains('/') {
        vec![command.to_string()]
    } else {
        CONTAINER_PATH
            .split(':')
            .map(|dir| format!("{dir}/{command}"))
            .collect()
    };
    let mut found_unusable = None;
    for candidate in candidates {
        match inspect_in_root(&root, &candidate) {
            Some(Ok(())) => return Ok(()),
            Some(Err(why)) => found_unusable = found_unusable.or(Some(why)),
            None => {}
        }
    }
    match found_unusable {
        Some(why) => Err(ConfigError::CommandNotExecutable {
            command: command.to_string(),
            rootfs: rootfs.to_path_buf(),
            why,
        }),
        None => Err(not_found()),
    }
}

/// `None` when nothing is at `path` inside the root; otherwise whether it is
/// an executable regular file, and if not, why.
fn inspect_in_root(root: &File, path: &str) -> Option<Result<(), &'static str>> {
    let c_path = CString::new(path).ok()?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .mode(Mode::empty())
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root.as_fd(), c_path.as_c_str(), how).ok()?;
    let meta = File::from(fd).metadata().ok()?;
    Some(if meta.is_dir() {
        Err("it is a directory")
    } else if !meta.is_file() {
        Err("it is not a regular file")
    } else if meta.permissions().mode() & 0o111 == 0 {
        Err("no execute permission")
    } else {
        Ok(())
    })
}

/// The environment the command starts with: a sane `PATH`, `HOME`, `TERM`
/// and `HOSTNAME`, nothing inherited from the host but the terminal type.
pub fn default_env(hostname: &str, tty: bool) -> Vec<(String, String)> {
    let term = match (tty, std::env::var("TERM")) {
        (true, Ok(term)) if !term.is_empty() => term,
        (true, _) => "xterm".to_string(),
        (false, _) => "dumb".to_string(),
    };
    vec![
        ("PATH".to_string(), CONTAINER_PATH.to_string()),
        ("HOME".to_string(), "/root".to_string()),
        ("TERM".to_string(), term),
        ("HOSTNAME".to_string(), hostname.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn hostnames() {
        assert!(validate_hostname("web-1.local").is_ok());
        assert!(matches!(
            validate_hostname(""),
            Err(ConfigError::HostnameEmpty)
        ));
        let long = "a".repeat(65);
        let err = validate_hostname(&long).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("hostname {long:?} is 65 bytes long; the limit is 64")
        );
        assert!(validate_hostname(&"a".repeat(64)).is_ok());
        assert!(validate_hostname("db_1.test-2").is_ok());
        for bad in [
            "a b", "a/b", "-lead", "trail-", ".", "a..b", "trail.", ".lead", "a.-b",
        ] {
            assert!(validate_hostname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names() {
        for ok in ["web", "a", "db_1.test-2", &"x".repeat(64)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let name = generate_name();
        assert!(validate_name(&name).is_ok());
        assert_eq!(name.len(), "nsbox-".len() + 8);
    }

    fn fake_rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("busybox"), b"").unwrap();
        std::fs::set_permissions(bin.join("busybox"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(bin.join("data"), b"").unwrap();
        symlink("busybox", bin.join("sh")).unwrap();
        // An absolute symlink must resolve inside the rootfs, not on the host.
        symlink("/bin/busybox", bin.join("abs")).unwrap();
        symlink("/usr/bin/env", bin.join("escapes")).unwrap();
        dir
    }

    #[test]
    fn commands_resolve_inside_the_rootfs() {
        let root = fake_rootfs();
        let path = root.path();
        assert!(check_command(path, "/bin/sh").is_ok());
        assert!(check_command(path, "sh").is_ok());
        assert!(check_command(path, "abs").is_ok());
        // /usr/bin/env exists on the host but not in the rootfs.
        let err = check_command(path, "/bin/escapes").unwrap_err();
        assert_eq!(err.exit_code(), 127);
        let err = check_command(path, "nope").unwrap_err();
        assert_eq!(err.exit_code(), 127);
        assert!(err
            .to_string()
            .starts_with("command \"nope\" not found in rootfs"));
        let err = check_command(path, "/bin/data").unwrap_err();
        assert_eq!(err.exit_code(), 126);
        assert!(err.to_string().contains("no execute permission"));
        let err = check_command(path, "/bin").unwrap_err();
        assert_eq!(err.exit_code(), 126);
        assert_eq!(check_command(path, "").unwrap_err().exit_code(), 125);
    }

    #[test]
    fn rootfs_paths() {
        let root = fake_rootfs();
        let link = root.path().join("link");
        symlink(root.path(), &link).unwrap();
        let canonical = std::fs::canonicalize(root.path()).unwrap();
        assert_eq!(resolve_rootfs(&link).unwrap(), canonical);
        let trailing = PathBuf::from(format!("{}/", root.path().display()));
        assert_eq!(resolve_rootfs(&trailing).unwrap(), canonical);
        let missing = root.path().join("missing");
        assert!(matches!(
            resolve_rootfs(&missing),
            Err(ConfigError::RootfsMissing(_))
        ));
        let file = root.path().join("bin/data");
        assert!(matches!(
            resolve_rootfs(&file),
            Err(ConfigError::RootfsNotDirectory(_))
        ));
        assert!(matches!(
            resolve_rootfs(Path::new("/")),
            Err(ConfigError::RootfsIsHostRoot(_))
        ));
        symlink("/tmp", root.path().join("tmp")).unwrap();
        let err = resolve_rootfs(root.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("/tmp is a symlink; nsbox mounts only on directories of the rootfs"),
            "{err}"
        );
    }
}
