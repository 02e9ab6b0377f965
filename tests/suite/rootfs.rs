//! Requirement: the shell starts at the top of the given rootfs; `ls` shows
//! the rootfs's files, not the host's. Works for a relative path, a trailing
//! slash and a symlink, and for a plain directory that is not a mount point.

use crate::harness::{fixture_rootfs, require_root, run_to_end, sh, unique};

#[test]
fn root_ls_shows_the_rootfs_not_the_host() {
    require_root();
    let out = sh(&unique("ls"), "pwd; ls -A /");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("/"), "working directory is not /: {out}");
    let listing: Vec<&str> = lines.collect();
    assert!(
        listing.contains(&"NSBOX_FIXTURE"),
        "fixture marker missing from ls /: {listing:?}"
    );
    // /work holds this checkout on the host; the container must not see it.
    assert!(
        !listing.contains(&"work"),
        "host directory visible: {listing:?}"
    );
    let expected: Vec<String> = {
        let mut names: Vec<String> = std::fs::read_dir(fixture_rootfs())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        listing, expected,
        "ls / inside differs from the rootfs on the host"
    );
}

#[test]
fn root_marker_file_is_read_from_the_rootfs() {
    require_root();
    let out = sh(&unique("cat"), "cat /NSBOX_FIXTURE");
    assert_eq!(out.trim(), "nsbox fixture rootfs");
}

#[test]
fn root_rootfs_given_relative_with_trailing_slash_or_by_symlink() {
    require_root();
    let rootfs = fixture_rootfs();
    let parent = rootfs.parent().unwrap();
    let base = rootfs.file_name().unwrap().to_str().unwrap();
    let link_dir = tempfile::tempdir().unwrap();
    let link = link_dir.path().join("via-link");
    std::os::unix::fs::symlink(&rootfs, &link).unwrap();
    let forms = [
        (parent.to_path_buf(), base.to_string()),
        (parent.to_path_buf(), format!("{base}/")),
        (parent.to_path_buf(), format!("./{base}//")),
        (
            std::path::PathBuf::from("/"),
            link.to_str().unwrap().to_string(),
        ),
    ];
    for (cwd, given) in forms {
        let name = unique("relroot");
        let mut cmd = crate::harness::run(&name, &["--rootfs", &given]);
        cmd.current_dir(&cwd)
            .args(["--", "/bin/cat", "/NSBOX_FIXTURE"]);
        let line = format!(
            "(in {}) nsbox run --rootfs {given} ... -- /bin/cat /NSBOX_FIXTURE",
            cwd.display()
        );
        let out = crate::harness::Outcome::from(cmd.output().unwrap(), line);
        out.assert_code(0);
        assert_eq!(
            out.stdout.trim(),
            "nsbox fixture rootfs",
            "--rootfs {given:?}"
        );
    }
}

#[test]
fn root_writes_go_to_a_private_tmp_and_the_rootfs_stays_read_only() {
    require_root();
    let name = unique("tmp");
    let out = run_to_end(
        &name,
        &[],
        &["/bin/sh", "-c", "echo hi > /tmp/f && cat /tmp/f; touch /ro-test 2>/dev/null && echo writable || echo read-only"],
    );
    out.assert_code(0);
    assert_eq!(out.stdout, "hi\nread-only\n", "{out}");
    assert!(!fixture_rootfs().join("ro-test").exists());
    assert!(
        !fixture_rootfs().join("tmp/f").exists(),
        "/tmp is not private"
    );
}
