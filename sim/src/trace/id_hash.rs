//! The hash of a request id for the tables that hold a whole trace's ids (the reader's requests
//! in flight, a workload builder's ids), chosen so that consecutive ids sit side by side.
//!
//! A trace of requests only keeps every request in flight to its end: a million ids in one
//! table. With a hash that scatters them, every insert lands on a cold cache line and a cold
//! page, and those misses, not the instructions, were most of a load (≈ 0.3 s of 0.5 s for a
//! million requests on the reader's thread). Ids are mostly a stem and a counter (`r1`, `r2`,
//! …, `req-000123`), sent in order. Here an id ending in a digit is hashed as the rest of it:
//! the ten ids that differ only in that digit share a random block of [`BLOCK`] slots and sit
//! in it in the digit's order, so inserts in order touch a new page and a new cache line every
//! few ids instead of every id. The top seven bits, which the table compares before the ids
//! themselves, differ by the digit, so neighbours in a block do not look alike. Blocks stay
//! small and scattered, so no long runs of full slots form (the clustering of linear
//! probing, measured: blocks of 64 counters doubled the instructions of a growing table), and
//! ids of any other shape hash as before (foldhash, fixed seed: the ids come from a file, not
//! from a peer choosing collisions).

use std::hash::BuildHasher;

use foldhash::fast::FixedState;

/// Slots of the block a run of ids shares: the ten final digits, padded to a power of two.
const BLOCK: u64 = 16;

/// Hashes request ids (see the module).
#[derive(Debug, Default, Clone)]
pub(crate) struct IdHasher(FixedState);

impl IdHasher {
    /// The hash of `id`.
    pub(crate) fn hash(&self, id: &[u8]) -> u64 {
        match id.split_last() {
            Some((&last, stem)) if last.is_ascii_digit() => {
                let digit = u64::from(last - b'0');
                let stem = self.0.hash_one(stem);
                // The slot in the block from the digit, the tag (top seven bits) told apart by it.
                ((stem & !(BLOCK - 1)) | digit) ^ (digit << 57)
            }
            _ => self.0.hash_one(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, IdHasher};

    #[test]
    fn ids_differing_in_their_last_digit_share_a_block_with_distinct_tags() {
        let hasher = IdHasher::default();
        let hashes: Vec<u64> = (120..130)
            .map(|n| hasher.hash(format!("r{n}").as_bytes()))
            .collect();
        for (digit, hash) in (0..).zip(&hashes) {
            assert_eq!(hash % BLOCK, digit);
            assert_eq!(
                hash & (u64::MAX >> 7) & !(BLOCK - 1),
                hashes[0] & (u64::MAX >> 7) & !(BLOCK - 1)
            );
        }
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|hash| hash >> 57).collect();
        assert_eq!(tags.len(), 10);
    }

    #[test]
    fn other_stems_land_elsewhere_and_other_ids_hash_whole() {
        let hasher = IdHasher::default();
        let block = |id: &str| hasher.hash(id.as_bytes()) & (u64::MAX >> 7) & !(BLOCK - 1);
        assert_ne!(block("r19"), block("r20"));
        assert_ne!(block("r1"), block("q1"));
        assert_ne!(hasher.hash(b"abc"), hasher.hash(b"abd"));
        assert_eq!(hasher.hash(b""), hasher.hash(b""));
    }
}
