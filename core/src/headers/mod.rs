//! Rate-limit header fields → a validated [`Snapshot`].

mod snapshot;

pub use snapshot::*;
