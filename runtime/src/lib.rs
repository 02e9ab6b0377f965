//! nsbox: a small container runtime straight on Linux namespaces and cgroups.
//!
//! The library holds every step of starting a container; the `nsbox` binary is
//! a thin command-line edge over it. `container::run` reads top to bottom as
//! the script of a start.

pub mod cgroups;
pub mod net;
