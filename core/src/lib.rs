#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc = include_str!("../README.md")]
#![doc(test(attr(deny(warnings))))]
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic
)]

pub mod backoff;
mod bucket;
pub mod classify;
mod cost;
pub mod datetime;
#[cfg(feature = "embedded-hal")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded-hal")))]
pub mod hal;
pub mod headers;
mod lane;
mod limit;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod limiter;
mod permille;
mod policy;
#[cfg(any(feature = "rand_core_06", feature = "rand_core_09"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "rand_core_06", feature = "rand_core_09")))
)]
pub mod rng;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod stdtime;
#[cfg(test)]
mod test_support;
pub mod time;

pub use backoff::Attempt;
pub use bucket::Bucket;
pub use classify::Outcome;
pub use cost::{CacheReads, Cost, CostModel, OutputCharge, Usage};
pub use lane::{FleetMember, LaneConfig, Priority};
pub use limit::{ConfigError, Limit, LimitKind};
pub use policy::{
    Acquire, BucketStatus, DefaultPolicy, LaneId, Permit, PermitError, Policy, Rejection, Response,
    Retry,
};
