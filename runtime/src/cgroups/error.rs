//! What can go wrong while making, using or removing a container's cgroup.

use std::io;
use std::path::PathBuf;

/// A cgroup operation that failed; each message names the path or value.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A control file or a mount table could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a value written to a control file.
    #[error("cannot write \"{value}\" to {path}")]
    Write {
        /// The control file.
        path: PathBuf,
        /// The value that was refused.
        value: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A group directory could not be made.
    #[error("cannot create cgroup {path}")]
    Create {
        /// The group that could not be made.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A group directory could not be removed.
    #[error("cannot remove cgroup {path}")]
    Remove {
        /// The group that is still there.
        path: PathBuf,
        /// Why (EBUSY when processes are still in it).
        #[source]
        source: io::Error,
    },
    /// A control file held something other than what the kernel documents.
    #[error("unexpected contents in {path}: {detail}")]
    Parse {
        /// The control file.
        path: PathBuf,
        /// What was wrong with it.
        detail: String,
    },
    /// A limit needs a controller that the host does not offer.
    #[error("the host has no \"{0}\" cgroup controller")]
    MissingController(&'static str),
    /// A group of that name exists and still has processes in it.
    #[error("cgroup {0} already exists and has processes in it")]
    InUse(PathBuf),
    /// The name cannot be used as a single cgroup directory name.
    #[error("invalid cgroup name {0:?}: it must be one path component, not \".\" or \"..\"")]
    InvalidName(String),
    /// No cgroup filesystem was found in the mount table.
    #[error("no cgroup filesystem is mounted")]
    NotMounted,
    /// A reading needs a controller that this container's group was not made with.
    #[error("the container's cgroup is not in the \"{0}\" hierarchy")]
    NotInHierarchy(&'static str),
}
