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
pub mod classify;
pub mod datetime;
pub mod headers;
mod limit;
pub mod time;

pub use limit::{ConfigError, Limit, LimitKind};
