//! cgroup limits (placeholder, being written).
