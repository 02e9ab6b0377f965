//! Lease files: one per address, locked for as long as its container lives.
//!
//! A lease file appears under its address's name already complete and
//! already locked: it is written and `flock`ed under a temporary name first,
//! then `link`ed into place, and `link` fails with `EEXIST` when the address
//! is taken. The lock lives on the open file, so it ends when the owning
//! nsbox exits, however it exits; a lease file nobody has locked is stale.
//!
//! Whoever removes a lease file holds its lock at that moment, which is what
//! makes taking over a stale lease safe against a concurrent taker. Looking
//! at an existing lease happens under an exclusive lock on the lease
//! directory, held for microseconds: otherwise a taker's brief hold on a
//! stale lease would look like a live owner to everyone else.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use super::NetError;

/// The start of temporary lease file names; they never parse as addresses.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// Rounds of "take over a stale lease, then link" before giving up on one
/// address; each round needs a different process to interfere.
const CLAIM_ROUNDS: usize = 8;

/// What a lease file says about its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseRecord {
    /// The container's name.
    pub container: String,
    /// The nsbox process that holds the lease.
    pub pid: u32,
}

/// What was found at a lease file's path.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Locked by a live nsbox on behalf of `container`.
    Live { container: String },
    /// Not locked by anyone; `removed` says whether it was deleted.
    Stale { container: String, removed: bool },
    /// No file there (any more).
    Gone,
}

/// A complete, locked lease file under a temporary name, ready to be linked
/// under an address's name.
pub(crate) struct Claimant {
    file: File,
    temp: TempName,
}

/// A temporary lease file name, removed when dropped.
struct TempName(PathBuf);

impl Drop for TempName {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
        // A failed claim may have been the last file in the directory.
        if let Some(dir) = self.0.parent() {
            crate::state::prune_empty_dirs(dir, 3);
        }
    }
}

impl Claimant {
    /// Write `record` to a new temporary file in `dir` and lock it.
    pub(crate) fn create(dir: &Path, record: &LeaseRecord) -> Result<Self, NetError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let serial = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{TEMP_PREFIX}{}-{serial}", std::process::id()));
        let fail = |action, source| NetError::Lease {
            action,
            path: path.clone(),
            source,
        };
        // std opens with O_CLOEXEC, so the lock never leaks into an exec'd
        // program; a cloned child shares it only until it execs.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| fail("create lease file", e))?;
        let temp = TempName(path.clone());
        if !try_lock(&file).map_err(|e| fail("lock lease file", e))? {
            let busy = io::Error::from(io::ErrorKind::WouldBlock);
            return Err(fail("lock new lease file", busy));
        }
        let text = serde_json::to_vec(record).map_err(io::Error::other);
        text.and_then(|t| file.write_all(&t))
            .map_err(|e| fail("write lease file", e))?;
        Ok(Claimant { file, temp })
    }

    /// Try to make this the lease at `path`. Returns `None` on success, or
    /// the container that holds the address.
    pub(crate) fn try_claim(&self, path: &Path) -> Result<Option<String>, NetError> {
        for _ in 0..CLAIM_ROUNDS {
            match fs::hard_link(&self.temp.0, path) {
                Ok(()) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    let path = path.into();
                    return Err(NetError::Lease {
                        action: "link lease file",
                        path,
                        source,
                    });
                }
            }
            if let Probe::Live { container } = probe(path, true)? {
                return Ok(Some(container));
            }
        }
        let source = io::Error::other("the lease keeps changing hands");
        Err(NetError::Lease {
            action: "claim lease file",
            path: path.into(),
            source,
        })
    }

    /// The locked file, once it is linked under its address's name; the
    /// temporary name goes away.
    pub(crate) fn into_file(self) -> File {
        let Claimant { file, temp } = self;
        drop(temp);
        file
    }
}

/// Look at the lease file at `path`: is its owner alive? A stale file is
/// removed when `remove` is set.
pub(crate) fn probe(path: &Path, remove: bool) -> Result<Probe, NetError> {
    let fail = |action, source| NetError::Lease {
        action,
        path: path.into(),
        source,
    };
    let directory = path.parent().unwrap_or(Path::new("."));
    let Some(_directory_lock) = lock_directory(directory)? else {
        return Ok(Probe::Gone);
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Gone),
        Err(e) => return Err(fail("open lease file", e)),
    };
    let locked = try_lock(&file).map_err(|e| fail("lock lease file", e))?;
    let container = read_owner(&mut file);
    if !locked {
        return Ok(Probe::Live { container });
    }
    // The lock is ours now, but the file may have been replaced between the
    // open and the lock: only the inode still at `path` may be removed.
    if !same_file(&file, path).map_err(|e| fail("inspect lease file", e))? {
        return Ok(Probe::Gone);
    }
    if remove {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("remove stale lease file", e)),
        }
    }
    Ok(Probe::Stale {
        container,
        removed: remove,
    })
}

/// Take the lease directory's lock, waiting for it; it is released when the
/// returned file is dropped. `None` when there is no directory yet.
fn lock_directory(dir: &Path) -> Result<Option<File>, NetError> {
    let fail = |action, source| NetError::Lease {
        action,
        path: dir.into(),
        source,
    };
    let handle = match File::open(dir) {
        Ok(handle) => handle,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail("open lease directory", e)),
    };
    loop {
        // SAFETY: flock only uses the descriptor number, and `handle` keeps
        // the descriptor open for the duration of the call.
        if unsafe { libc::flock(handle.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(Some(handle));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(fail("lock lease directory", err));
        }
    }
}

fn read_owner(file: &mut File) -> String {
    let mut text = Vec::new();
    let record = file
        .read_to_end(&mut text)
        .ok()
        .and_then(|_| serde_json::from_slice::<LeaseRecord>(&text).ok());
    record.map_or_else(|| "?".to_owned(), |r| r.container)
}

fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    match fs::metadata(path) {
        Ok(found) => Ok(held.dev() == found.dev() && held.ino() == found.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Take an exclusive `flock` without waiting; `false` when someone holds it.
///
/// `libc::flock` rather than nix's `Flock`: the latter unlocks on drop, and a
/// cloned child dropping its copy would then unlock the parent's lease.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock only uses the descriptor number, and `file` keeps the
        // descriptor open for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}
