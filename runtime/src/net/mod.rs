//! container networking (placeholder, being written).
