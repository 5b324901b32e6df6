//! The ids of the requests in flight, each with the line that sent it: what the reader must
//! remember to check that a response answers a request and that a request does not reuse the
//! id of one still in flight.
//!
//! A trace of requests only keeps every request in flight to its end, so this set is as long as
//! the trace. A `HashMap<String, usize>` spends ≈ 100 bytes and an allocation per id; here the
//! ids sit one after the other in one buffer (each behind its length and followed by its line,
//! both LEB128 varints), and the table holds 16-byte entries (where the id starts, its hash)
//! hashed so that consecutive ids sit side by side ([`IdHasher`]). The hash is kept so that a
//! growing table moves its entries without reading and hashing every id again (that was
//! ≈ 200 instructions a line on a trace of requests only); the line, needed only for an
//! error, waits in the buffer. A removed id leaves its bytes behind; when those outweigh the
//! live ones the buffer is rebuilt, so the memory follows the ids in flight, not the trace.

use hashbrown::{HashTable, hash_table};

use super::id_hash::IdHasher;

/// Dead bytes below which the buffer is never rebuilt (a rebuild costs a pass over the table).
const MIN_REBUILD: usize = 1 << 16;

/// One id in flight: where its record starts in the buffer, and the id's hash.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    hash: u64,
}

/// The requests in flight: id → the line of the request.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    /// Each id's record: its length (LEB128), its bytes, its request's line (LEB128); live and
    /// removed ones alike.
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

    /// How many ids the table holds before it grows.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Whether the next new id makes the table grow.
    pub(super) fn is_full(&self) -> bool {
        self.table.len() == self.table.capacity()
    }

    /// Room for `more` ids beyond those in flight, each as long as those so far on average:
    /// one move of the table instead of one at every doubling. Room that cannot be allocated
    /// is not reserved (the table grows as it would).
    pub(super) fn reserve(&mut self, more: usize) {
        let live = self.bytes.len().saturating_sub(self.dead);
        let per_id = live.div_ceil(self.table.len().max(1));
        if self.table.try_reserve(more, |entry| entry.hash).is_ok() {
            let _ = self.bytes.try_reserve(more.saturating_mul(per_id));
        }
    }

    /// The line of the request in flight with `id`.
    #[cfg(test)]
    pub(super) fn get(&self, id: &str) -> Option<usize> {
        let hash = self.hasher.hash(id.as_bytes());
        self.table
            .find(hash, |entry| {
                id_at(&self.bytes, entry.start) == id.as_bytes()
            })
            .map(|entry| record_at(&self.bytes, entry.start).1)
    }

    /// Records `id` as in flight since `line`, unless a request with it already is: then the
    /// line of that request, and nothing changes. One hash and one probe of the table.
    pub(super) fn insert(&mut self, id: &str, line: usize) -> Result<(), usize> {
        let hash = self.hasher.hash(id.as_bytes());
        let bytes = &self.bytes;
        let found = self.table.entry(
            hash,
            |entry| id_at(bytes, entry.start) == id.as_bytes(),
            |entry| entry.hash,
        );
        match found {
            hash_table::Entry::Occupied(first) => Err(record_at(bytes, first.get().start).1),
            hash_table::Entry::Vacant(free) => {
                let start = self.bytes.len();
                push_record(&mut self.bytes, id.as_bytes(), line);
                free.insert(Entry { start, hash });
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
        let (_, line, end) = record_at(bytes, entry.start);
        self.dead = self.dead.saturating_add(end.saturating_sub(entry.start));
        let live = self.bytes.len().saturating_sub(self.dead);
        if self.dead >= MIN_REBUILD && self.dead > live {
            self.rebuild();
        }
        Some(line)
    }

    /// Copies the live ids into a fresh buffer and points the entries at their new places.
    fn rebuild(&mut self) {
        let live = self.bytes.len().saturating_sub(self.dead);
        let mut fresh = Vec::with_capacity(live.saturating_mul(2));
        for entry in &mut self.table {
            let (id, line, _) = record_at(&self.bytes, entry.start);
            entry.start = fresh.len();
            push_record(&mut fresh, id, line);
        }
        self.bytes = fresh;
        self.dead = 0;
    }
}

/// Appends the record of `id` sent on `line`.
fn push_record(bytes: &mut Vec<u8>, id: &[u8], line: usize) {
    push_varint(bytes, id.len());
    bytes.extend_from_slice(id);
    push_varint(bytes, line);
}

/// Appends `value` as a LEB128 varint.
fn push_varint(bytes: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        bytes.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// The LEB128 varint at `at`, and where it ends.
fn varint_at(bytes: &[u8], at: usize) -> (usize, usize) {
    let mut value = 0usize;
    let mut shift = 0u32;
    let mut at = at;
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        value |= usize::from(byte & 0x7f).checked_shl(shift).unwrap_or(0);
        shift += 7;
        if byte < 0x80 {
            break;
        }
    }
    (value, at)
}

/// The id of the record at `start` (empty if the buffer is shorter: never for an entry of the
/// table).
fn id_at(bytes: &[u8], start: usize) -> &[u8] {
    let (len, at) = varint_at(bytes, start);
    bytes.get(at..at.saturating_add(len)).unwrap_or_default()
}

/// The id and line of the record at `start`, and where the record ends.
fn record_at(bytes: &[u8], start: usize) -> (&[u8], usize, usize) {
    let (len, at) = varint_at(bytes, start);
    let end = at.saturating_add(len);
    let (line, after) = varint_at(bytes, end);
    (bytes.get(at..end).unwrap_or_default(), line, after)
}

#[cfg(test)]
mod tests {
    use super::{InFlight, MIN_REBUILD, push_record, record_at};

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
        let mut bytes = Vec::new();
        push_record(&mut bytes, &[b'x'; 300], 1 << 20);
        assert_eq!(bytes.len(), 2 + 300 + 3);
        assert_eq!(record_at(&bytes, 0), (&[b'x'; 300][..], 1 << 20, 305));
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
