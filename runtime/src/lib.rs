//! nsbox: a small container runtime straight on Linux namespaces and cgroups.
//!
//! The library holds every step of starting a container; the `nsbox` binary
//! is a thin command-line edge over it. [`container::run`] reads top to
//! bottom as the script of a start.

pub mod cgroups;
pub mod check;
pub mod cli;
pub mod config;
pub mod container;
pub mod detach;
pub mod devices;
pub mod exec;
pub mod init;
pub mod lifecycle;
pub mod namespaces;
pub mod net;
pub mod pty;
pub mod rootfs;
pub mod state;
pub mod supervise;
pub mod sync;

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}
