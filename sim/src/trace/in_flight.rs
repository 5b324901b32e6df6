//! The ids of the requests in flight, each with the line that sent it: what the reader must
//! remember to check that a response answers a request and that a request does not reuse the
//! id of one still in flight.
//!
//! A trace of requests only keeps every request in flight to its end, so this set is as long as
//! the trace. A `HashMap<String, usize>` spends ≈ 100 bytes and an allocation per id; here the
//! ids' bytes sit one after the other in one buffer (each behind its length as a LEB128
//! varint), and the table holds 16-byte entries (where the id starts, its line) hashed so that
//! consecutive ids sit side by side ([`IdHasher`]). A removed id leaves its bytes behind; when those outweigh the
//! live ones the buffer is rebuilt, so the memory follows the ids in flight, not the trace.

use hashbrown::{HashTable, hash_table};

use super::id_hash::IdHasher;

/// Dead bytes below which the buffer is never rebuilt (a rebuild costs a pass over the table).
const MIN_REBUILD: usize = 1 << 16;

/// One id in flight: where its length prefix starts in the buffer, and its request's line.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    line: usize,
}

/// The requests in flight: id → the line of the request.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    /// Each id's length (LEB128) then its bytes, live and removed ones alike.
    bytes: Vec<u8>,
    /// The live ids.
    table: HashTable<Entry>,
    /// The hasher of ids.
    hasher: IdHasher,
    /// Bytes of `bytes` that no live entry points at.
    dead: usize,
}

impl InFlight {
    /// How many ids are in flight.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// The line of the request in flight with `id`.
    #[cfg(test)]
    pub(super) fn get(&self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash(id.as_bytes());
        self.table
            .find(hash, |entry| {
                id_at(&self.bytes, entry.start) == id.as_bytes()
            })
            .map(|entry| entry.line)
    }

    /// Records `id` as in flight since `line`, unless a request with it already is: then the
    /// line of that request, and nothing changes. One hash and one probe of the table.
    pub(super) fn insert(&mut self, id: &str, line: usize) -> Result<(), usize> {
        let hash = self.hasher.hash(id.as_bytes());
        let (bytes, hasher) = (&self.bytes, &self.hasher);
        let found = self.table.entry(
            hash,
            |entry| id_at(bytes, entry.start) == id.as_bytes(),
            |entry| hasher.hash(id_at(bytes, entry.start)),
        );
        match found {
            hash_table::Entry::Occupied(first) => Err(first.get().line),
            hash_table::Entry::Vacant(free) => {
                let start = self.bytes.len();
                push_id(&mut self.bytes, id.as_bytes());
                free.insert(Entry { start, line });
                Ok(())
            }
        }
    }

    /// Takes `id` out of flight; the line of its request, `None` when it was not in flight.
    pub(super) fn remove(&mut self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash(id.as_bytes());
        let bytes = &self.bytes;
        let found = self
            .table
            .find_entry(hash, |entry| id_at(bytes, entry.start) == id.as_bytes())
            .ok()?;
        let (entry, _) = found.remove();
        self.dead = self.dead.saturating_add(stored_len(id.len()));
        let live = self.bytes.len().saturating_sub(self.dead);
        if self.dead >= MIN_REBUILD && self.dead > live {
            self.rebuild();
        }
        Some(entry.line)
    }

    /// Copies the live ids into a fresh buffer and points the entries at their new places.
    fn rebuild(&mut self) {
        let live = self.bytes.len().saturating_sub(self.dead);
        let mut fresh = Vec::with_capacity(live.saturating_mul(2));
        for entry in &mut self.table {
            let id = id_at(&self.bytes, entry.start);
            entry.start = fresh.len();
            push_id(&mut fresh, id);
        }
        self.bytes = fresh;
        self.dead = 0;
    }
}

/// Appends `id` behind its length as a LEB128 varint.
fn push_id(bytes: &mut Vec<u8>, id: &[u8]) {
    let mut len = id.len();
    while len >= 0x80 {
        bytes.push((len & 0x7f) as u8 | 0x80);
        len >>= 7;
    }
    bytes.push(len as u8);
    bytes.extend_from_slice(id);
}

/// The bytes an id of `len` bytes takes in the buffer, its length prefix included.
fn stored_len(len: usize) -> usize {
    let mut prefix = 1;
    let mut rest = len >> 7;
    while rest > 0 {
        prefix += 1;
        rest >>= 7;
    }
    len.saturating_add(prefix)
}

/// The id whose length prefix starts at `start` (empty if the buffer is shorter: never for an
/// entry of the table).
fn id_at(bytes: &[u8], start: usize) -> &[u8] {
    let mut len = 0usize;
    let mut shift = 0u32;
    let mut at = start;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        len |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        shift += 7;
        if byte < 0x80 {
            break;
        }
    }
    bytes.get(at..at.saturating_add(len)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{InFlight, MIN_REBUILD, stored_len};

    #[test]
    fn ids_come_and_go_with_their_lines() {
        let mut set = InFlight::default();
        let long = "x".repeat(300);
        assert_eq!(set.insert("r1", 2), Ok(()));
        assert_eq!(set.insert("", 3), Ok(()));
        assert_eq!(set.insert(&long, 4), Ok(()));
        assert_eq!(set.insert("r1", 5), Err(2));
        assert_eq!(
            (set.get("r1"), set.get(""), set.get(&long)),
            (Some(2), Some(3), Some(4))
        );
        assert_eq!(set.get("r2"), None);
        assert_eq!(set.remove("r1"), Some(2));
        assert_eq!(set.remove("r1"), None);
        assert_eq!((set.len(), set.get(&long)), (2, Some(4)));
        assert_eq!(stored_len(300), 302);
    }

    #[test]
    fn removed_ids_do_not_pile_up() {
        let mut set = InFlight::default();
        assert_eq!(set.insert("kept", 1), Ok(()));
        for line in 2..200_000 {
            let id = format!("request-{line}");
            assert_eq!(set.insert(&id, line), Ok(()));
            assert_eq!(set.remove(&id), Some(line));
        }
        assert_eq!(set.get("kept"), Some(1));
        assert!(set.bytes.len() < 2 * MIN_REBUILD, "{}", set.bytes.len());
    }
}
