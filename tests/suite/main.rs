//! nsbox's verification suite: one module per requirement, each booting
//! real containers from the fixture rootfs and asserting on what they print.
//!
//! Tests whose names start with `root_` need root (see `harness`); the
//! rest run anywhere.

mod harness;

mod bad_input;
mod cpu_limit;
mod exit_codes;
mod fd_isolation;
mod host_check;
mod hostname;
mod interactive;
mod lifecycle;
mod memory_limit;
mod mount_isolation;
mod multiple_containers;
mod namespaces;
mod network;
mod network_cleanup;
mod pid_isolation;
mod pids_limit;
mod reaping;
mod rootfs;
mod signals;
