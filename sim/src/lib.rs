//! `headroom-sim`: the std half of headroom. It reads and writes traces, shows what the core's
//! header parser understood, and (in time) simulates a provider so strategies can be compared.
//!
//! Every subcommand of the `headroom` binary is a module here with a `run` function, so the
//! binary stays a thin dispatcher and the logic is testable as a library.

pub mod audit;
pub mod cli;
pub mod har;
pub mod import_har;
pub mod inspect;
pub mod trace;

/// The workspace README's Rust examples, run as doctests so the front page cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
pub mod engine;
pub mod matrix;
pub mod metrics;
pub mod mock;
pub mod plot;
pub mod proxy;
pub mod report;
pub mod simulate;
pub mod store;
pub mod strategy;
pub mod unique_keys;
pub mod upstream;
pub mod workload;
pub mod world;
