//! The fixed table the permits' reservations live in: stable slots, one chain in admission
//! order, and a free list threaded through the same links.
//!
//! What it must do fast: take a slot for every admission (the hot path), give one back on every
//! settle, and let a sync walk the reservations admitted after an instant, newest first, without
//! visiting the older ones (a response's headers were made after the server saw those).
//!
//! How: every slot has one link, `older`. A slot in the chain points at the one admitted before
//! it; a free slot points at the next free one. Admission order is walk order, and admission
//! instants never go backwards (they are the engine clock's, which never does: see
//! [`Permits::insert`]), so the reservations admitted after an instant are the chain's newest:
//! the walk stops at the first one at or before it.
//!
//! A chain with one direction cannot unlink a slot from its middle in constant time, so removal
//! is lazy: the slot's record stays in the chain, marked settled (walks skip it, but still stop
//! at its admission instant, which keeps the order), and is unlinked when it reaches the top of
//! the chain or when an admission finds no free slot (one walk over the chain then frees every
//! settled slot). Settling the newest permit, the common case, frees its slot at once; the
//! walks that move recorded ends after a refund (`Permits::shift_ends_after`) unlink the
//! settled slots they pass.
//!
//! Against a chain in both directions (what the table had): 2 bytes a slot less and no
//! neighbour to rewrite on admission or removal; the cost is that a walk steps over the settled
//! permits admitted within its window, at most the table's size, and that an admission into a
//! table whose free list ran dry pays for one walk over it.

use core::num::NonZeroU32;

use super::ends::Ends;
use super::{Intent, LaneId, Permit, PermitError, Record, Reservation};
use crate::LimitKind;
use crate::cost::Charges;
use crate::lane::Priority;

mod refund;

/// No slot: the end of a chain (a table holds at most 65 535 slots, numbered below this).
const NONE: u16 = u16::MAX;

/// A fixed table of reservations with stable slots, chained in admission order (see the module
/// docs). A slot costs 94 bytes: the record (28), the pace ends (24, [`Ends`]), the intent (40)
/// and the link (2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Permits<const N: usize> {
    /// The records: live, settled and waiting to be unlinked (`live: false`), or free (not in
    /// the chain, `live: false`).
    slots: [Record; N],
    /// Where each slot's charges ended on each pace, after its admission (meaningful while the
    /// slot is live).
    ends: [Ends; N],
    /// What each slot's request asked for (meaningful while the slot is live).
    intents: [Intent; N],
    /// In the chain: the slot admitted before; free: the next free slot ([`NONE`] at the end).
    older: [u16; N],
    /// Stamped into every permit and checked on the way back; zero until set or derived.
    tag: u32,
    /// How long a permit may stay unsettled before an acquire that needs its slot reclaims it,
    /// in ms; [`Self::NEVER_MS`] (about 49 days or more asked for) never expires.
    ttl_ms: u32,
    /// The newest slot in the chain ([`NONE`] when the chain is empty); it is always live.
    newest: u16,
    /// The first free slot (at first slot 0); [`NONE`] when every slot is in the chain.
    free: u16,
    /// How many slots hold a live reservation.
    live: u16,
    next_id: NonZeroU32,
}

impl<const N: usize> Permits<N> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [Record::FREE; N],
            ends: [Ends::EMPTY; N],
            intents: [Intent::EMPTY; N],
            older: Self::free_list(),
            tag: 0,
            ttl_ms: Self::DEFAULT_TTL_MS,
            newest: NONE,
            free: if N == 0 { NONE } else { 0 },
            live: 0,
            next_id: NonZeroU32::MIN,
        }
    }

    /// Every slot free, in slot order: slot `i` is followed by `i + 1`, the last by [`NONE`] (a
    /// table has at most 65 535 slots, so every number fits below it).
    const fn free_list() -> [u16; N] {
        let mut links = [NONE; N];
        let mut slot = 0;
        while slot < N {
            let next = slot.saturating_add(1);
            #[expect(clippy::indexing_slicing, reason = "slot < N; `get_mut` is not const")]
            let link = &mut links[slot];
            *link = if next < N { next as u16 } else { NONE };
            slot = next;
        }
        links
    }

    /// The default time-to-live: 10 minutes.
    pub(crate) const DEFAULT_TTL_MS: u32 = 600_000;

    /// The time-to-live that never expires: what a time-to-live of `u32::MAX` ms (about 49
    /// days) or more is kept as. A caller asking for `Duration::MAX` means *never*; kept as 49
    /// days, a permit held that long was reclaimed from under it.
    pub(crate) const NEVER_MS: u32 = u32::MAX;

    /// The time-to-live of an unsettled permit, in µs (`u64::MAX`: never).
    pub(crate) const fn ttl_us(&self) -> u64 {
        if self.ttl_ms == Self::NEVER_MS {
            u64::MAX
        } else {
            (self.ttl_ms as u64).saturating_mul(1_000)
        }
    }

    /// Sets the time-to-live, in µs (rounded up to a millisecond; about 49 days or more is
    /// [`Self::NEVER_MS`]).
    pub(crate) const fn set_ttl_us(&mut self, ttl_us: u64) {
        let ms = ttl_us.div_ceil(1_000);
        self.ttl_ms = if ms >= Self::NEVER_MS as u64 {
            Self::NEVER_MS
        } else {
            ms as u32
        };
    }

    /// Whether a live reservation was issued at least the time-to-live before `now` (engine
    /// µs): what [`Self::reclaim_expired`] would drop, left in place.
    #[cold]
    pub(crate) fn has_expired(&self, now: u64) -> bool {
        now.checked_sub(self.ttl_us()).is_some_and(|cutoff| {
            self.slots
                .iter()
                .any(|record| record.live && record.issued_at() <= cutoff)
        })
    }

    /// Drops every reservation issued at least the time-to-live before `now` (engine µs),
    /// without refunding it, and frees their slots; answers whether any was dropped. Called
    /// only when every slot is live.
    #[cold]
    pub(crate) fn reclaim_expired(&mut self, now: u64) -> bool {
        let Some(cutoff) = now.checked_sub(self.ttl_us()) else {
            return false;
        };
        let live = self.live;
        self.unlink_settled(Some(cutoff));
        self.live < live
    }

    /// Unlinks every settled slot from the chain and frees it, after settling (without refund)
    /// every live one issued at or before `expired_by`: one walk from the newest. An admission
    /// that finds no free slot while fewer than `N` are live calls it, and so does reclaiming.
    #[cold]
    fn unlink_settled(&mut self, expired_by: Option<u64>) {
        let mut newer = NONE;
        let mut slot = self.newest;
        while let Some(record) = self.slots.get_mut(usize::from(slot)) {
            if record.live && expired_by.is_some_and(|cutoff| record.issued_at() <= cutoff) {
                record.live = false;
                self.live = self.live.saturating_sub(1);
            }
            let live = record.live;
            let older = self.older(slot);
            if live {
                newer = slot;
            } else {
                match self.older.get_mut(usize::from(newer)) {
                    Some(link) => *link = older,
                    None => self.newest = older,
                }
                self.release(slot);
            }
            slot = older;
        }
    }

    /// Puts `slot`, settled and out of the chain, on the free list.
    fn release(&mut self, slot: u16) {
        if let Some(link) = self.older.get_mut(usize::from(slot)) {
            *link = self.free;
            self.free = slot;
        }
    }

    /// The table's tag, if set or derived yet.
    pub(crate) const fn tag(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.tag)
    }

    /// Sets the tag; permits issued under another tag are no longer accepted.
    pub(crate) const fn set_tag(&mut self, tag: NonZeroU32) {
        self.tag = tag.get();
    }

    /// The tag, derived from `now` and the table's address on first use (see the module docs
    /// of `permit`).
    #[inline]
    fn stamp(&mut self, now: u64) -> NonZeroU32 {
        match NonZeroU32::new(self.tag) {
            Some(tag) => tag,
            None => self.derive_tag(now),
        }
    }

    #[cold]
    fn derive_tag(&mut self, now: u64) -> NonZeroU32 {
        let address = core::ptr::from_ref(self).addr() as u64;
        let mixed = mix(address ^ now.rotate_left(32));
        let tag =
            NonZeroU32::new((mixed ^ mixed.wrapping_shr(32)) as u32).unwrap_or(NonZeroU32::MIN);
        self.tag = tag.get();
        tag
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.live)
    }

    /// Whether every slot holds a live reservation.
    pub(crate) fn is_full(&self) -> bool {
        self.len() >= N
    }

    /// Stores a reservation; `None` when the table is full.
    #[inline]
    #[expect(
        clippy::too_many_arguments,
        reason = "one admission's facts, stored in one place"
    )]
    pub(crate) fn insert(
        &mut self,
        lane: LaneId,
        mask: u8,
        issued_at: u64,
        up: &Charges,
        ends: &[u64; 4],
        base: &[u64; 4],
        priority: Priority,
        intent: Intent,
    ) -> Option<Permit> {
        // The walks' order: `issued_at` is the engine clock's, which never goes backwards, so
        // a caller's clock that steps back cannot make a permit look older (and so already
        // seen by the server) than it is. The table keeps no stamp of its own.
        debug_assert!(
            self.slots
                .get(usize::from(self.newest))
                .is_none_or(|newest| newest.issued_at() <= issued_at),
            "admission instants go backwards"
        );
        if self.free == NONE {
            self.unlink_settled(None);
        }
        let slot = self.free;
        let entry = self.slots.get_mut(usize::from(slot))?;
        let link = self.older.get_mut(usize::from(slot))?;
        self.free = *link;
        *link = self.newest;
        self.newest = slot;
        // A slot was free, so fewer than `N` are live: no wrap.
        self.live = self.live.wrapping_add(1);
        let id = self.next_id;
        self.next_id = id.checked_add(1).unwrap_or(NonZeroU32::MIN);
        let narrow = |kind: LimitKind| u32::try_from(up.get(kind)).unwrap_or(u32::MAX);
        *entry = Record {
            id,
            lane: lane.0,
            mask,
            priority,
            live: true,
            issued_at: [issued_at as u32, (issued_at >> 32) as u32],
            charged: [
                narrow(LimitKind::Requests),
                narrow(LimitKind::InputTokens),
                narrow(LimitKind::OutputTokens),
            ],
        };
        if let Some(kept) = self.intents.get_mut(usize::from(slot)) {
            *kept = intent;
        }
        if let Some(kept) = self.ends.get_mut(usize::from(slot)) {
            kept.set(ends, issued_at, base);
        }
        let tag = self.stamp(issued_at);
        Some(Permit {
            id,
            tag,
            slot,
            lane,
        })
    }

    /// The live record `permit` stands for; `None` for a permit of another table (another tag)
    /// or one no longer live.
    fn live_record(&self, permit: &Permit) -> Option<&Record> {
        match self.slots.get(usize::from(permit.slot)) {
            Some(record)
                if permit.tag.get() == self.tag
                    && record.live
                    && record.id == permit.id
                    && record.lane == permit.lane.0 =>
            {
                Some(record)
            }
            _ => None,
        }
    }

    /// What a live permit's request asked for; `None` for a permit of another table or one no
    /// longer live.
    pub(crate) fn intent(&self, permit: &Permit) -> Option<&Intent> {
        self.live_record(permit)?;
        self.intents.get(usize::from(permit.slot))
    }

    /// Takes the reservation a permit stands for out of the table, with what its request asked
    /// for. A permit of another table (another tag) is refused and changes nothing.
    pub(crate) fn remove(&mut self, permit: &Permit) -> Result<(Reservation, Intent), PermitError> {
        let slot = usize::from(permit.slot);
        let (Some(kept), Some(intent), Some(ends)) = (
            self.slots.get_mut(slot),
            self.intents.get(slot).copied(),
            self.ends.get(slot),
        ) else {
            return Err(PermitError::Unknown);
        };
        if !(kept.live
            && permit.tag.get() == self.tag
            && kept.id == permit.id
            && kept.lane == permit.lane.0)
        {
            return Err(PermitError::Unknown);
        }
        kept.live = false;
        let record = *kept;
        let ends = *ends;
        self.live = self.live.saturating_sub(1);
        // The newest leaves the chain at once, with nothing admitted after it; any other stays
        // in it, settled, and marks where a walk over the later ones stops.
        let linked = if permit.slot == self.newest {
            self.newest = self.older(permit.slot);
            self.release(permit.slot);
            self.unlink_newest_settled();
            NONE
        } else {
            permit.slot
        };
        Ok((
            Reservation {
                record,
                ends,
                linked,
            },
            intent,
        ))
    }

    /// Frees the settled slots at the top of the chain, so that the newest is live.
    #[inline]
    fn unlink_newest_settled(&mut self) {
        while let Some(record) = self.slots.get(usize::from(self.newest))
            && !record.live
        {
            let slot = self.newest;
            self.newest = self.older(slot);
            self.release(slot);
        }
    }

    /// The slot admitted just before `slot` in the chain (`NONE` at the oldest).
    fn older(&self, slot: u16) -> u16 {
        self.older.get(usize::from(slot)).copied().unwrap_or(NONE)
    }

    /// The live reservations admitted after `cutoff` (all of them for `None`), newest first:
    /// a walk back along the chain that stops at the first one (live or settled) admitted at or
    /// before it.
    pub(crate) fn since(&self, cutoff: Option<u64>) -> impl Iterator<Item = &Record> {
        let mut slot = self.newest;
        core::iter::from_fn(move || {
            loop {
                let record = self.slots.get(usize::from(slot))?;
                if cutoff.is_some_and(|cutoff| record.issued_at() <= cutoff) {
                    return None;
                }
                slot = self.older(slot);
                if record.live {
                    return Some(record);
                }
            }
        })
    }

    /// Calls `f` on each live reservation admitted after `cutoff` (all of them for `None`),
    /// newest first, as [`Permits::since`] walks them.
    pub(crate) fn for_each_since(&mut self, cutoff: Option<u64>, mut f: impl FnMut(&mut Record)) {
        let mut slot = self.newest;
        while let Some(record) = self.slots.get_mut(usize::from(slot)) {
            if cutoff.is_some_and(|cutoff| record.issued_at() <= cutoff) {
                return;
            }
            if record.live {
                f(record);
            }
            slot = self.older(slot);
        }
    }
}

/// SplitMix64's finaliser: every input bit affects every output bit.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ z.wrapping_shr(30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ z.wrapping_shr(27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ z.wrapping_shr(31)
}
