//! The hash of a request id for the tables that hold a whole trace's ids (the reader's requests
//! in flight, a workload builder's ids), chosen so that consecutive ids sit side by side.
//!
//! A trace of requests only keeps every request in flight to its end: a million ids in one
//! table. With a hash that scatters them, every insert lands on a cold cache line and a cold
//! page, and those misses, not the instructions, were most of a load (≈ 0.3 s of 0.5 s for a
//! million requests on the reader's thread). Ids are mostly a stem and a counter (`r1`, `r2`,
//! …, `req-000123`), sent in order. Here an id ending in digits is hashed as its stem, the
//! number of digits and its counter divided by [`RUN`]: the [`RUN`] consecutive counters of one
//! run share a random block of the table and take its slots in order, so a million inserts touch
//! a new cache line every few ids instead of every id. The top seven bits, which the table
//! compares before the ids themselves, come from the whole counter, so neighbours in a block
//! do not look alike. Blocks are still scattered, so no long runs of full slots form (the
//! clustering of linear probing), and ids of any other shape hash as before (foldhash,
//! fixed seed: the ids come from a file, not from a peer choosing collisions).

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

/// Consecutive counters placed side by side (a power of two).
const RUN: u64 = 64;

/// The most trailing digits read as a counter (at most 19 fit a `u64`).
const MAX_DIGITS: usize = 18;

/// Hashes request ids (see the module).
#[derive(Debug, Default, Clone)]
pub(crate) struct IdHasher(FixedState);

impl IdHasher {
    /// The hash of `id`.
    pub(crate) fn hash(&self, id: &[u8]) -> u64 {
        let digits = id
            .iter()
            .rev()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if digits == 0 || digits > MAX_DIGITS {
            return self.0.hash_one(id);
        }
        let (stem, counter) = id.split_at(id.len().saturating_sub(digits));
        let counter = counter.iter().fold(0u64, |value, &digit| {
            value * 10 + u64::from(digit.wrapping_sub(b'0'))
        });
        let block = self.0.hash_one((stem, digits, counter / RUN));
        let tag = counter.wrapping_mul(0x9e37_79b9_7f4a_7c15) & !(u64::MAX >> 7);
        (block & (u64::MAX >> 7) & !(RUN - 1)) | (counter % RUN) | tag
    }
}

#[cfg(test)]
mod tests {
    use super::{IdHasher, RUN};

    #[test]
    fn consecutive_counters_take_consecutive_slots_with_distinct_tags() {
        let hasher = IdHasher::default();
        let first = hasher.hash(b"r128");
        let tags: std::collections::HashSet<u64> = (128..128 + RUN)
            .map(|n| {
                let hash = hasher.hash(format!("r{n}").as_bytes());
                assert_eq!(hash & (u64::MAX >> 7), (first & (u64::MAX >> 7)) + n - 128);
                hash >> 57
            })
            .collect();
        assert!(tags.len() > RUN as usize / 2, "{}", tags.len());
    }

    #[test]
    fn other_runs_stems_and_spellings_land_elsewhere() {
        let hasher = IdHasher::default();
        let block = |id: &str| hasher.hash(id.as_bytes()) & (u64::MAX >> 7) & !(RUN - 1);
        assert_ne!(block("r1"), block("r65"));
        assert_ne!(block("r1"), block("q1"));
        assert_ne!(block("r1"), block("r01"));
        assert_eq!(hasher.hash(b"abc"), hasher.hash(b"abc"));
        assert_ne!(hasher.hash(b"abc"), hasher.hash(b"abd"));
        let long = "9".repeat(40);
        assert_eq!(hasher.hash(long.as_bytes()), hasher.hash(long.as_bytes()));
    }
}
