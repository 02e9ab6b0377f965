//! Which cgroup layout the host has: v1, hybrid (v1 controllers plus an
//! empty cgroup2 mount, as on this project's development machines) or v2.

use std::fmt;
use std::path::{Path, PathBuf};

use super::CgroupError;

/// How the host's cgroup filesystems are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1 only: one hierarchy per controller (or co-mounted group of
    /// controllers, such as `cpu,cpuacct`) in a directory under `root`.
    V1 {
        /// The directory holding the hierarchies, usually `/sys/fs/cgroup`.
        root: PathBuf,
    },
    /// cgroup v1 hierarchies under `root` plus a cgroup2 mount at `unified`.
    /// nsbox uses only the v1 hierarchies here: the unified one carries no
    /// controller that nsbox needs.
    Hybrid {
        /// The directory holding the v1 hierarchies, usually `/sys/fs/cgroup`.
        root: PathBuf,
        /// The cgroup2 mount, usually `/sys/fs/cgroup/unified`.
        unified: PathBuf,
    },
    /// cgroup v2 only: one unified hierarchy mounted at `root`.
    V2 {
        /// The cgroup2 mount, usually `/sys/fs/cgroup`.
        root: PathBuf,
    },
}

impl Layout {
    /// The directory nsbox's groups are made under (the v1 hierarchies'
    /// parent, or the cgroup2 mount).
    pub fn root(&self) -> &Path {
        match self {
            Layout::V1 { root } | Layout::Hybrid { root, .. } | Layout::V2 { root } => root,
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::V1 { root } => write!(f, "cgroup v1 at {}", root.display()),
            Layout::Hybrid { root, unified } => write!(
                f,
                "cgroup v1 at {} (hybrid, cgroup2 at {})",
                root.display(),
                unified.display()
            ),
            Layout::V2 { root } => write!(f, "cgroup v2 at {}", root.display()),
        }
    }
}

/// The v1 controllers the kernel knows; a v1 mount carrying none of them
/// (such as systemd's `name=systemd`) holds no resource controller.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// Detects the layout from this process's mount table.
pub fn detect() -> Result<Layout, CgroupError> {
    let path = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
        path: path.into(),
        source,
    })?;
    detect_at(&text)
}

/// Detects the layout from the text of a `/proc/<pid>/mountinfo` file.
pub fn detect_at(mountinfo: &str) -> Result<Layout, CgroupError> {
    let mut v1_root = None;
    let mut unified = None;
    for mount in mountinfo.lines().filter_map(parse_line) {
        match mount.fstype {
            "cgroup" if v1_root.is_none() && mount.has_controller() => {
                v1_root = mount.point.parent().map(Path::to_path_buf);
            }
            "cgroup2" if unified.is_none() => unified = Some(mount.point),
            _ => {}
        }
    }
    match (v1_root, unified) {
        (Some(root), None) => Ok(Layout::V1 { root }),
        (Some(root), Some(unified)) => Ok(Layout::Hybrid { root, unified }),
        (None, Some(root)) => Ok(Layout::V2 { root }),
        (None, None) => Err(CgroupError::NotMounted),
    }
}

/// The fields of one mountinfo line that detection needs.
struct Mount<'a> {
    point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

impl Mount<'_> {
    fn has_controller(&self) -> bool {
        self.super_options
            .split(',')
            .any(|opt| V1_CONTROLLERS.contains(&opt))
    }
}

/// Splits a line as proc(5) describes it: the mount point is the fifth
/// field; after the optional fields and a lone `-` come the filesystem type,
/// the source and the superblock options.
fn parse_line(line: &str) -> Option<Mount<'_>> {
    let fields: Vec<&str> = line.split(' ').collect();
    let point = fields.get(4)?;
    let dash = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    Some(Mount {
        point: PathBuf::from(unescape(point)),
        fstype: fields.get(dash + 1)?,
        super_options: fields.get(dash + 3).copied().unwrap_or(""),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space) in a mount point.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .and_then(|d| std::str::from_utf8(d).ok());
        match code.and_then(|d| u8::from_str_radix(d, 8).ok()) {
            Some(byte) if bytes[i] == b'\\' => {
                out.push(byte);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This project's development machines: v1 controllers, each in its own
    /// hierarchy, systemd's named hierarchy, and an empty cgroup2 mount.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// An older distribution: v1 only, with cpu and cpuacct co-mounted.
    const V1: &str = "\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid shared:9 - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory
";

    /// A current distribution: one cgroup2 mount.
    const V2: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn hybrid_is_v1_controllers_plus_unified() {
        let layout = detect_at(HYBRID).unwrap();
        let expected = Layout::Hybrid {
            root: "/sys/fs/cgroup".into(),
            unified: "/sys/fs/cgroup/unified".into(),
        };
        assert_eq!(layout, expected);
        assert_eq!(layout.root(), Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn v1_without_cgroup2_is_v1() {
        assert_eq!(
            detect_at(V1).unwrap(),
            Layout::V1 {
                root: "/sys/fs/cgroup".into()
            }
        );
    }

    #[test]
    fn a_lone_cgroup2_mount_is_v2() {
        assert_eq!(
            detect_at(V2).unwrap(),
            Layout::V2 {
                root: "/sys/fs/cgroup".into()
            }
        );
    }

    #[test]
    fn a_named_v1_hierarchy_alone_does_not_make_v1() {
        let text = "\
26 25 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
27 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
        assert_eq!(
            detect_at(text).unwrap(),
            Layout::V2 {
                root: "/sys/fs/cgroup/unified".into()
            }
        );
    }

    #[test]
    fn no_cgroup_mount_is_an_error() {
        let text = "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n";
        let err = detect_at(text).unwrap_err();
        assert_eq!(err.to_string(), "no cgroup filesystem is mounted");
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        let text = "35 24 0:30 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            detect_at(text).unwrap(),
            Layout::V2 {
                root: "/mnt/my cgroups".into()
            }
        );
    }

    #[test]
    fn this_host_has_a_layout() {
        // Reads only the mount table, so it runs anywhere cgroups are mounted.
        let layout = detect().unwrap();
        assert!(layout.root().is_absolute(), "{layout}");
    }
}
