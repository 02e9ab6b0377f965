//! Requirement: PID 1 of the container reaps orphans, so no zombies pile up.

use crate::harness::{require_root, run_to_end, unique};

/// Makes five orphans (each reparented to PID 1, exiting shortly after),
/// then waits up to five seconds for all of them to be gone from /proc: a
/// reaped process vanishes, a zombie stays with state Z.
const SCRIPT: &str = r#"
pids=""
for i in 1 2 3 4 5; do pids="$pids $(zombie-maker)"; done
echo "orphans:$pids"
n=0
while [ $n -lt 100 ]; do
  left=""
  for p in $pids; do [ -e /proc/$p ] && left="$left $p"; done
  [ -z "$left" ] && { echo all-reaped; exit 0; }
  n=$((n+1)); sleep 0.05
done
for p in $left; do grep State /proc/$p/status; done
echo not-reaped:$left
"#;

#[test]
fn root_orphans_are_reaped_by_the_containers_init() {
    require_root();
    let out = run_to_end(&unique("reap"), &[], &["/bin/sh", "-c", SCRIPT]);
    out.assert_code(0);
    let orphans = out
        .stdout
        .lines()
        .find(|l| l.starts_with("orphans:"))
        .unwrap_or_default();
    assert_eq!(
        orphans.split_whitespace().count(),
        6,
        "five orphans were not made\n{out}"
    );
    assert!(out.stdout.contains("all-reaped"), "zombies left\n{out}");
}
