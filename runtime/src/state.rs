//! Runtime state: one directory per container under the state root
//! (`/run/nsbox` by default, `NSBOX_STATE_DIR` to change it).
//!
//! A container's directory holds a `lock` file, locked (flock) by the nsbox
//! process that owns the container for as long as it lives, and a
//! `state.json` record written atomically (temporary file, then rename). The
//! lock is what makes a name unique and what tells a live container from
//! one whose nsbox was killed: the kernel drops the lock when its holder
//! dies, however it dies.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::debug;

/// The state root when `NSBOX_STATE_DIR` is unset.
pub const DEFAULT_STATE_DIR: &str = "/run/nsbox";
/// The environment variable that overrides [`DEFAULT_STATE_DIR`].
pub const STATE_DIR_ENV: &str = "NSBOX_STATE_DIR";

/// A state operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A container of that name is running.
    #[error("a container named {0:?} is already running")]
    NameInUse(String),
    /// An exited container of that name is kept until `nsbox rm`.
    #[error("an exited container named {0:?} exists; remove it with `nsbox rm {0}`")]
    NameKept(String),
    /// No container of that name exists.
    #[error("no container named {0:?}")]
    NoSuchContainer(String),
    /// A file under the state root could not be used.
    #[error("{doing} {path}")]
    Io {
        /// What was being done.
        doing: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

/// What the record says of a container's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state")]
pub enum Status {
    /// Started and, as far as the record knows, running.
    #[default]
    Running,
    /// Ended; the record is kept until `nsbox rm` (detached containers).
    Exited {
        /// The command's exit code, or 128 + the signal that killed it.
        code: i32,
        /// How many processes the memory cgroup killed.
        oom_kills: u64,
    },
}

/// What is recorded of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// The container's name.
    pub name: String,
    /// The host PID of the container's init.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/PID/stat), which tells it
    /// from a later process that reuses its PID.
    pub init_start: u64,
    /// Whether it runs detached, with its output in its log.
    pub detached: bool,
    /// Running or exited.
    pub status: Status,
    /// The host PID of the nsbox process that owns it.
    pub owner_pid: u32,
    /// The hostname inside.
    pub hostname: String,
    /// The rootfs.
    pub rootfs: PathBuf,
    /// The command.
    pub command: Vec<String>,
    /// The address on eth0, if any.
    pub address: Option<String>,
    /// The host end of its veth, if any.
    pub host_link: Option<String>,
    /// Its cgroup directories.
    pub cgroups: Vec<PathBuf>,
    /// Seconds since the epoch at creation.
    pub created: u64,
}

/// A container as seen now: its record and whether it really runs.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The last record written.
    pub record: Record,
    /// What is true now.
    pub life: Life,
}

/// Whether a container runs, ended, or lost its nsbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Its nsbox holds the lock: it runs.
    Running,
    /// It ended and its record was kept.
    Exited {
        /// The exit code.
        code: i32,
        /// OOM kills seen.
        oom_kills: u64,
    },
    /// Its nsbox was killed: the container died with it, and what it held
    /// waits for `nsbox rm` or `nsbox cleanup`.
    Dead,
}

impl Life {
    /// The word `nsbox list` shows.
    pub fn describe(&self) -> String {
        match self {
            Life::Running => "running".into(),
            Life::Exited { code, oom_kills: 0 } => format!("exited ({code})"),
            Life::Exited { code, .. } => format!("exited ({code}, out of memory)"),
            Life::Dead => "dead (its nsbox was killed)".into(),
        }
    }
}

/// The directory of container `name`.
pub fn container_dir(root: &Path, name: &str) -> PathBuf {
    containers_dir(root).join(name)
}

/// Container `name` as it is now, if it exists.
pub fn observe(root: &Path, name: &str) -> Option<Observed> {
    let dir = container_dir(root, name);
    let record = read_record(&dir)?;
    let life = if is_live(root, name) {
        Life::Running
    } else {
        match record.status {
            Status::Exited { code, oom_kills } => Life::Exited { code, oom_kills },
            Status::Running => Life::Dead,
        }
    };
    Some(Observed { record, life })
}

/// Every container with a record, oldest first.
pub fn observe_all(root: &Path) -> Vec<Observed> {
    let Ok(entries) = std::fs::read_dir(containers_dir(root)) else {
        return Vec::new();
    };
    let mut all: Vec<Observed> = entries
        .flatten()
        .filter_map(|e| observe(root, &e.file_name().to_string_lossy()))
        .collect();
    all.sort_by(|a, b| (a.record.created, &a.record.name).cmp(&(b.record.created, &b.record.name)));
    all
}

/// The state root from the environment or the default.
pub fn state_root() -> PathBuf {
    std::env::var_os(STATE_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR))
}

fn containers_dir(root: &Path) -> PathBuf {
    root.join("containers")
}

/// The claim on a container name; held for the container's life.
#[derive(Debug)]
pub struct Claim {
    dir: PathBuf,
    lock: File,
}

fn io<'a>(doing: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io {
        doing,
        path: path.to_path_buf(),
        source,
    }
}

/// Claims `name` for a new container: fails with [`StateError::NameInUse`]
/// if a live nsbox holds it, and with [`StateError::NameKept`] if an exited
/// container of that name is kept. A dead one's directory (its owner died)
/// is taken over; the caller cleans up what its record names with
/// [`Claim::stale_record`].
pub fn claim(root: &Path, name: &str) -> Result<Claim, StateError> {
    let claim = claim_any(root, name)?;
    match claim.stale_record() {
        Some(Record {
            status: Status::Exited { .. },
            ..
        }) => Err(StateError::NameKept(name.to_string())),
        _ => Ok(claim),
    }
}

/// Claims `name` whatever its record says, to remove it or clean it up.
pub fn claim_any(root: &Path, name: &str) -> Result<Claim, StateError> {
    let dir = containers_dir(root).join(name);
    let lock_path = dir.join("lock");
    loop {
        let open = || {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .mode(0o600)
                .open(&lock_path)
        };
        let lock = in_fresh_dir(&dir, open).map_err(io("opening lock", &lock_path))?;
        if !lock_soon(&lock) {
            return Err(StateError::NameInUse(name.to_string()));
        }
        // The previous owner may have removed the file between our open and
        // our lock; a lock on an unlinked file claims nothing, so retry.
        let same = std::fs::metadata(&lock_path)
            .ok()
            .zip(lock.metadata().ok())
            .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
        if same {
            debug!(dir = %dir.display(), "claimed container name");
            return Ok(Claim { dir, lock });
        }
    }
}

/// Takes the lock, trying for a few milliseconds: [`is_live`] and
/// [`stale_names`] probe a lock by taking it for an instant, which must not
/// look like an owner. An owner holds it for good.
fn lock_soon(file: &File) -> bool {
    for _ in 0..25 {
        if try_lock(file) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    false
}

fn try_lock(file: &File) -> bool {
    // SAFETY: flock on a descriptor we own; no memory is involved.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

impl Claim {
    /// The record a dead previous owner left, if any.
    pub fn stale_record(&self) -> Option<Record> {
        read_record(&self.dir)
    }

    /// Writes the container's record atomically.
    pub fn write_record(&self, record: &Record) -> Result<(), StateError> {
        let tmp = self.dir.join("state.json.tmp");
        let path = self.dir.join("state.json");
        let bytes = serde_json::to_vec_pretty(record).expect("records always serialise");
        let mut file = File::create(&tmp).map_err(io("writing", &tmp))?;
        file.write_all(&bytes).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("renaming", &path))
    }

    /// The container's state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the final record and gives up the lock, keeping the state
    /// (record and log) for `nsbox list`, `logs` and `rm`.
    pub fn keep(self, record: &Record) -> Result<(), StateError> {
        self.write_record(record)
    }

    /// Removes the container's state; the name is free again, and the
    /// state root is left empty once no container remains.
    pub fn release(self) {
        for file in ["state.json", "state.json.tmp", "log", "lock"] {
            let _ = std::fs::remove_file(self.dir.join(file));
        }
        prune_empty_dirs(&self.dir, 3);
        drop(self.lock);
    }
}

/// Removes `dir` and up to `levels - 1` of its parents, as long as each is
/// empty; stops at the first that is not. Paired with [`in_fresh_dir`],
/// which recreates what a concurrent prune removed.
pub(crate) fn prune_empty_dirs(dir: &Path, levels: usize) {
    for dir in dir.ancestors().take(levels) {
        if std::fs::remove_dir(dir).is_err() {
            return;
        }
    }
}

/// Creates `dir` (and its parents) and runs `create`, which makes a file in
/// it. If a concurrent [`prune_empty_dirs`] removed the directory in between
/// (`create` fails with NotFound), the directory is made again; once the
/// file exists the directory is not empty and no prune can remove it.
pub(crate) fn in_fresh_dir<T>(
    dir: &Path,
    mut create: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut attempts = 0;
    loop {
        std::fs::create_dir_all(dir)?;
        match create() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 16 => attempts += 1,
            outcome => return outcome,
        }
    }
}

fn read_record(dir: &Path) -> Option<Record> {
    let bytes = std::fs::read(dir.join("state.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// How long a state directory without a record may exist before it counts
/// as stale: an nsbox holds the lock from the start but writes the record
/// only after the clone, and a cleanup must not take a starting container's
/// name in between.
const UNRECORDED_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The names of containers whose owner died without cleaning up: their lock
/// is free, their record does not say they exited, and they have a record
/// or are older than a starting container can be. Claiming such a name
/// takes it over.
pub fn stale_names(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(containers_dir(root)) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let record = read_record(&dir);
        if matches!(
            record,
            Some(Record {
                status: Status::Exited { .. },
                ..
            })
        ) {
            continue;
        }
        let recorded = record.is_some();
        let old = std::fs::metadata(&dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > UNRECORDED_GRACE);
        let free = match File::open(dir.join("lock")) {
            Ok(file) => try_lock(&file),
            Err(_) => true,
        };
        if free && (recorded || old) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}

/// Whether a container of this name is running (its lock is held).
pub fn is_live(root: &Path, name: &str) -> bool {
    let lock = containers_dir(root).join(name).join("lock");
    File::open(lock).is_ok_and(|file| !try_lock(&file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_claimed_once_and_freed_by_release() {
        let root = tempfile::tempdir().unwrap();
        let claim1 = claim(root.path(), "web").unwrap();
        assert!(is_live(root.path(), "web"));
        let err = claim(root.path(), "web").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a container named \"web\" is already running"
        );
        claim1
            .write_record(&Record {
                name: "web".into(),
                pid: 42,
                ..Record::default()
            })
            .unwrap();
        claim1.release();
        assert!(!is_live(root.path(), "web"));
        assert!(
            !root.path().join("containers").exists(),
            "empty state directories stay"
        );
        let again = claim(root.path(), "web").unwrap();
        assert!(again.stale_record().is_none());
        again.release();
    }

    #[test]
    fn a_dead_owner_leaves_a_stale_claim_that_can_be_taken_over() {
        let root = tempfile::tempdir().unwrap();
        let first = claim(root.path(), "db").unwrap();
        first
            .write_record(&Record {
                name: "db".into(),
                pid: 7,
                ..Record::default()
            })
            .unwrap();
        // Dropping without release is what a killed owner looks like.
        drop(first);
        assert_eq!(stale_names(root.path()), vec!["db".to_string()]);
        let second = claim(root.path(), "db").unwrap();
        assert_eq!(second.stale_record().unwrap().pid, 7);
        assert!(stale_names(root.path()).is_empty());
        second.release();
    }
}
