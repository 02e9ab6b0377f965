//! Requirement: on a terminal, the container gets a pseudo-terminal of its
//! own and the shell has job control: Ctrl-C interrupts the foreground job,
//! not the container; `exit` ends it with its status.

use std::time::Duration;

use crate::harness::pty::Session;
use crate::harness::{eventually, has_descendant, require_root, unique};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn root_interactive_shell_with_job_control() {
    require_root();
    let name = unique("tty");
    let mut session = Session::start(&[
        "run",
        "--read-only",
        "--net",
        "none",
        "--name",
        &name,
        "--hostname",
        "ttybox",
    ]);
    session.send("hostname; tty\r");
    session.expect("ttybox", WAIT);
    session.expect("/dev/pts/0", WAIT);
    session.send("stty size\r");
    session.expect("24 80", WAIT);
    // The host terminal is resized: nsbox passes the new size on.
    session.resize(40, 100);
    session.send("stty size\r");
    session.expect("40 100", WAIT);
    // A long sleep in the foreground, interrupted by Ctrl-C: the shell
    // survives, reports the interrupted job's status, and goes on.
    session.send("sleep 60\r");
    let nsbox_pid = session.child.id() as i32;
    let sleeping = eventually(WAIT, || has_descendant(nsbox_pid, "sleep"));
    assert!(
        sleeping,
        "sleep never started; terminal showed:\n{}",
        session.seen
    );
    session.send("\x03");
    session.send("echo sleep-ended-$?\r");
    session.expect("sleep-ended-130", WAIT);
    session.send("exit 7\r");
    assert_eq!(session.wait(WAIT), 7);
}
