//! Names of 16 to 48 bytes (every vendor name) on 64-bit targets: hashed from the words that
//! are compared anyway, then compared with words prepared at compile time.
//!
//! Why: a response carries a dozen `anthropic-ratelimit-*` names of 32 to 43 bytes, so the cost
//! of recognising a name is mostly the cost of comparing five or six words. The general path
//! ([`super::recognise`]) picks the candidate from two single bytes, then derives each word's
//! case bits from the pattern as it goes. Here the two words that pick the candidate (bytes
//! 8–15 and the last eight) are kept in registers and compared too, and each pattern word comes
//! with its case bits, so a word costs a load, an or, a xor and an or. The patterns sit in the
//! hash's 64 slots themselves (a lookup is one load, no test for an empty slot): 7 KB of
//! tables, which is why 32-bit targets, short of flash and of 64-bit registers, do not have
//! them.

use super::{Field, NAMES};

/// The shortest name this path takes: bytes 8–15 must exist.
pub(super) const SHORTEST: usize = 16;

/// The longest name this path takes: five words from the front and the one ending at the end.
pub(super) const LONGEST: usize = 48;

/// Bit 0x20 in every byte: what [`slot_of`] sets so that a name's case does not change its slot.
const FOLD: u64 = 0x2020_2020_2020_2020;

/// The multiplier of [`slot_of`], found by search so that the 38 names of 16 to 48 bytes in
/// [`NAMES`] land in 38 different slots of 64 (a test checks it: `every_long_name_has_its_own_slot`).
const MAGIC: u64 = 0xcf79_ab75_0eff_25bb;

/// A name of [`NAMES`] as words: the eight-byte words at 0, 8, 16, 24 and 32 (those that fit
/// in the name; zero past them), then the word ending at its end, all lowercase, each
/// with the bits that ASCII case folding may set in it.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    words: [u64; 6],
    /// 0x20 in each letter byte of the word beside it, 0 elsewhere: a name word `w` matches
    /// pattern word `p` exactly when `w | fold == p` (only a letter and its uppercase form
    /// differ in bit 0x20 alone, and `-` has no case).
    folds: [u64; 6],
    len: usize,
    field: Field,
}

/// The word of `name` at byte `at`, little-endian, for the const tables (zero past the end).
const fn const_word(name: &[u8], at: usize) -> u64 {
    let mut word = 0;
    let mut i = 0;
    while i < 8 {
        if let Some((_, [byte, ..])) = name.split_at_checked(at.wrapping_add(i)) {
            word |= (*byte as u64) << i.wrapping_mul(8);
        }
        i = i.wrapping_add(1);
    }
    word
}

/// The case bits of a pattern word made of `a`–`z` and `-` (and zero bytes): 0x20 where the
/// byte is a letter (bit 0x40 set).
const fn case_bits(word: u64) -> u64 {
    (word & 0x4040_4040_4040_4040) >> 1
}

/// The slot of a name of [`SHORTEST`] to [`LONGEST`] bytes, from its length, its word at 8
/// (`middle`) and its last word (`end`), with the case of letters folded by setting bit 0x20
/// in every byte (a rotation by two bytes keeps the bytes aligned, so the fold still applies
/// byte by byte).
#[inline(always)]
const fn slot_of(len: usize, middle: u64, end: u64) -> usize {
    let key = ((middle ^ end.rotate_left(16)) | FOLD).wrapping_add(len as u64);
    (key.wrapping_mul(MAGIC) >> 58) as usize
}

/// Slot → the [`Pattern`] of the name of [`NAMES`] in it; an empty slot holds a pattern of
/// length 0, which no name of this path has. Indexed by the slot itself, so that a lookup is
/// one load with no test for an empty slot. Built at compile time.
#[expect(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of bounds would fail the build"
)]
const SLOTS: [Pattern; 64] = {
    let empty = Pattern {
        words: [0; 6],
        folds: [0; 6],
        len: 0,
        field: Field::Other,
    };
    let mut slots = [empty; 64];
    let mut i = 0;
    while i < NAMES.len() {
        let (name, field) = NAMES[i];
        let len = name.len();
        if SHORTEST <= len && len <= LONGEST {
            let mut pattern = Pattern {
                len,
                field,
                ..empty
            };
            let mut k = 0;
            while k < 5 {
                if 8 * k + 8 <= len {
                    pattern.words[k] = const_word(name, 8 * k);
                }
                k += 1;
            }
            pattern.words[5] = const_word(name, len - 8);
            k = 0;
            while k < 6 {
                pattern.folds[k] = case_bits(pattern.words[k]);
                k += 1;
            }
            slots[slot_of(len, const_word(name, 8), const_word(name, len - 8))] = pattern;
        }
        i += 1;
    }
    slots
};

/// The eight bytes of `name` at `at` as a little-endian word (zero if they are not all there,
/// which the callers' length checks rule out).
#[inline(always)]
fn word(name: &[u8], at: usize) -> u64 {
    name.get(at..at.wrapping_add(8))
        .and_then(|chunk| chunk.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// The known field a name of [`SHORTEST`] to [`LONGEST`] bytes is, compared exactly without
/// regard to ASCII case; `None` if it is none of [`NAMES`].
#[inline(always)]
pub(super) fn known(name: &[u8]) -> Option<Field> {
    let len = name.len();
    let (middle, end) = (word(name, 8), word(name, len.wrapping_sub(8)));
    let pattern = SLOTS.get(slot_of(len, middle, end))?;
    if pattern.len != len {
        return None;
    }
    let [p0, p8, p16, p24, p32, p_end] = pattern.words;
    let [f0, f8, f16, f24, f32, f_end] = pattern.folds;
    let differ = |word: u64, fold: u64, pattern: u64| (word | fold) ^ pattern;
    let mut diff =
        differ(self::word(name, 0), f0, p0) | differ(middle, f8, p8) | differ(end, f_end, p_end);
    if len > 24 {
        diff |= differ(self::word(name, 16), f16, p16);
    }
    if len > 32 {
        diff |= differ(self::word(name, 24), f24, p24);
    }
    if len > 40 {
        diff |= differ(self::word(name, 32), f32, p32);
    }
    (diff == 0).then_some(pattern.field)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The perfect hash is perfect for the names it serves.
    #[test]
    fn every_long_name_has_its_own_slot() {
        let mut taken = std::collections::BTreeMap::new();
        for (i, &(name, field)) in NAMES.iter().enumerate() {
            let len = name.len();
            if !(SHORTEST..=LONGEST).contains(&len) {
                continue;
            }
            let slot = slot_of(len, const_word(name, 8), const_word(name, len - 8));
            if let Some(other) = taken.insert(slot, i) {
                panic!("{name:?} and {:?} share a slot", NAMES[other].0);
            }
            assert_eq!((SLOTS[slot].len, SLOTS[slot].field), (len, field));
            assert_eq!(known(name), Some(field));
            assert_eq!(known(&name.to_ascii_uppercase()), Some(field));
        }
        assert_eq!(taken.len(), 38);
        // What `recognise` relies on to send most short names away at their first byte.
        let prefixes = [&b"anthropic-"[..], b"x-ratelimit-", b"ratelimit-"];
        for name in NAMES.iter().map(|(name, _)| *name).chain(prefixes) {
            assert!(matches!(name[0], b'a' | b'd' | b'r' | b'x'), "{name:?}");
        }
    }
}
