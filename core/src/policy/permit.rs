//! Permits: the in-flight reservations, in a fixed-size table.
//!
//! Every admitted request holds a [`Permit`] until its response is settled or it is cancelled.
//! The table remembers what each permit charged, to which buckets and when, so that settling
//! refunds or debits exactly the difference, and so that a server's snapshot can be merged
//! knowing which reservations the server could not have seen yet.
//!
//! A [`Permit`] is neither `Copy` nor `Clone`: settling or cancelling consumes it, so settling
//! twice does not compile. It is small (12 bytes: the hot path moves it around) because what a
//! retry needs (the cost, the priority, the [`Attempt`]) stays in the table beside the
//! reservation, where [`crate::Policy::complete`] finds it.
//!
//! # Permits belong to their policy
//!
//! A slot number and a sequence number alone do not tell two policies apart: two policies with
//! the same configuration issue the same first permit, and handing one policy's permit to the
//! other would refund a reservation that other never made. So every table carries a *tag*,
//! stamped into each permit it issues and checked on the way back; a permit with another tag is
//! [`PermitError::Unknown`] and changes nothing.
//!
//! The tag is the caller's (`Policy::with_tag`) or, by default, derived at the first admission
//! from that instant and the table's address, mixed by a 64-bit finaliser: no global counter or
//! atomic is needed, so it works on targets without atomics. What that guarantees: two policies
//! alive at the same time live at different addresses, so their derived tags differ unless the
//! mix of (address, first admission instant) collides, a chance of about 2⁻³² per pair; a policy
//! created later at the same address (a moved or re-created value) gets a different tag unless
//! its first admission falls at the very same instant. What it does not guarantee: a clone
//! shares its original's tag (its table is a copy, so a permit of one is valid in the other),
//! and a caller who needs certainty across restarts or many policies should set distinct tags
//! with `Policy::with_tag`.
//!
//! ```compile_fail
//! # use core::num::NonZeroU32;
//! # use headroom::{Acquire, Cost, LaneConfig, Limit, Policy, Priority, time::Instant};
//! let mut policy: Policy<1, 4> = Policy::new();
//! let lane = policy.add_lane(LaneConfig::new()).unwrap();
//! let now = Instant::from_ticks(0);
//! let Acquire::Admit(permit) = policy.acquire(now, lane, Cost::request(10, 10), Priority::Interactive) else { return };
//! policy.settle(now, permit, None).unwrap();
//! policy.settle(now, permit, None).unwrap(); // use of moved value
//! ```

use core::num::NonZeroU32;

use crate::LimitKind;
use crate::backoff::Attempt;
use crate::cost::{Charges, Cost};
use crate::lane::Priority;

mod ends;

use ends::Ends;

/// Names a lane of a [`crate::Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LaneId(pub(crate) u8);

impl LaneId {
    /// The lane at `index`, in the order lanes were added (for callers that store lanes by
    /// number; a lane that does not exist is rejected by the policy, never a panic).
    pub const fn from_index(index: u8) -> Self {
        Self(index)
    }

    /// The lane's position, in the order lanes were added.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The right to send one admitted request. Hand it back through [`crate::Policy::complete`]
/// when the response arrives, or [`crate::Policy::cancel`] if the request is never sent.
///
/// It names its reservation in the policy that issued it and no other (see the module docs on
/// tags); it is not `Clone`, so it is handed back at most once.
///
/// # A dropped permit is reclaimed after its time-to-live
///
/// Dropping a permit (a future cancelled by a timeout, a client that disconnected) does not
/// hand it back: the policy cannot see the drop. So that such a permit cannot hold its slot
/// forever, a permit not completed, settled or cancelled within the policy's time-to-live
/// (`Policy::with_permit_ttl`, 10 minutes by default) is reclaimed by the next acquire that
/// finds the table full. What it charged stays charged (the request may have been sent; the
/// buckets refill as usual), and handing it back afterwards is [`PermitError::Unknown`]. Set
/// the time-to-live above the longest a response can take. The async limiter (feature `async`)
/// cancels its guards' permits on drop, so this is only a safety net there.
///
/// # Examples
///
/// ```
/// use headroom::{Acquire, Cost, DefaultPolicy, LaneConfig, Priority, time::Instant};
///
/// let mut policy = DefaultPolicy::new();
/// let lane = policy.add_lane(LaneConfig::new()).unwrap();
/// let now = Instant::from_ticks(0);
/// let Acquire::Admit(permit) = policy.acquire(now, lane, Cost::request(10, 10), Priority::Interactive) else {
///     unreachable!()
/// };
/// assert_eq!(permit.lane(), lane);
/// assert_eq!(permit.id(), 1);
/// policy.cancel(now, permit).unwrap();
/// ```
#[must_use = "a permit holds a reservation until it is completed or cancelled"]
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Permit {
    pub(crate) id: NonZeroU32,
    pub(crate) tag: NonZeroU32,
    pub(crate) slot: u16,
    pub(crate) lane: LaneId,
}

impl Permit {
    /// The lane the permit was admitted on.
    pub const fn lane(&self) -> LaneId {
        self.lane
    }

    /// A number unique among the policy's recent permits, for logs.
    pub const fn id(&self) -> u32 {
        self.id.get()
    }
}

/// Why a permit was not accepted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PermitError {
    /// The permit does not belong to this policy (or its reservation is gone).
    Unknown,
}

impl core::fmt::Display for PermitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown permit",
        })
    }
}

impl core::error::Error for PermitError {}

/// What one in-flight request charged, as the table keeps it: the sync walks these on every
/// response (see [`Permits::since`]), so they hold nothing it does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Record {
    /// Admission sequence number: later admissions have later ids (modulo wrap-around, see
    /// [`is_at_or_after`]).
    pub(crate) id: NonZeroU32,
    pub(crate) lane: u8,
    /// Buckets charged, by [`LimitKind::index`]; a bucket learned later was not charged.
    pub(crate) mask: u8,
    /// The request's priority (a retry keeps it), in what would be padding.
    pub(crate) priority: Priority,
    /// When it was admitted (µs ticks), as two halves so the entry stays 4-byte aligned.
    issued_at: [u32; 2],
    /// Requests, input tokens, output tokens charged. Each is at most the burst of a bucket
    /// that was charged for it, so `u32` holds it exactly; amounts no bucket metered saturate.
    pub(crate) charged: [u32; 3],
}

/// A reservation taken out of the table to be settled or cancelled: its [`Record`], with where
/// each pace's charge for it ended (its TAT right after admission, absolute µs; unused entries
/// for absent paces). Only settling reads the ends, so the table keeps them beside the records
/// rather than in them, in 48 bits each (see [`Ends`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Reservation {
    record: Record,
    ends: [u64; 4],
}

impl core::ops::Deref for Reservation {
    type Target = Record;

    fn deref(&self) -> &Record {
        &self.record
    }
}

impl Reservation {
    /// Where each pace's charge ended (absolute µs).
    pub(crate) const fn ends(&self) -> [u64; 4] {
        self.ends
    }
}

impl Record {
    /// When it was admitted (µs ticks).
    pub(crate) const fn issued_at(&self) -> u64 {
        let [low, high] = self.issued_at;
        ((high as u64) << 32) | low as u64
    }

    /// The charges as taken, combined tokens included.
    pub(crate) fn charges(&self) -> Charges {
        let [requests, input, output] = self.charged.map(u64::from);
        Charges([requests, input, output, input.saturating_add(output)])
    }
}

/// What a permit's request asked for beyond its reservation, kept beside it so that a retry
/// can be re-acquired from the permit alone: the cost's token counts (its request count is the
/// reservation's requests charge, and the priority sits in the reservation's padding) and the
/// attempt. Not part of [`Record`]: the sync code walks the records on every
/// response, and these bytes would only slow that walk down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Intent {
    input_tokens: u64,
    max_tokens: u64,
    pub(crate) attempt: Attempt,
}

impl Intent {
    const EMPTY: Self = Self::new(&Cost::request(0, 0), Attempt::first());

    /// What a request of `cost` asked for, on `attempt`.
    pub(crate) const fn new(cost: &Cost, attempt: Attempt) -> Self {
        Self {
            input_tokens: cost.input_tokens(),
            max_tokens: cost.max_tokens(),
            attempt,
        }
    }

    /// The request's input estimate, as asked.
    pub(crate) const fn input_tokens(&self) -> u64 {
        self.input_tokens
    }
}

impl Record {
    /// The request's cost, as asked (with what else it asked for, `intent`).
    pub(crate) fn cost(&self, intent: &Intent) -> Cost {
        let [requests, ..] = self.charged;
        let requests = NonZeroU32::new(requests).unwrap_or(NonZeroU32::MIN);
        Cost::new(requests, intent.input_tokens, intent.max_tokens)
    }
}

/// No slot: the end of a chain (a table holds at most 65 535 slots, numbered below this).
const NONE: u16 = u16::MAX;

/// A slot's neighbours in admission order while it is live; while it is free, `newer` chains
/// the free list (threaded through every slot when the table is made, so taking a free slot
/// is one load and one store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Link {
    older: u16,
    newer: u16,
}

impl Link {
    const UNLINKED: Self = Self {
        older: NONE,
        newer: NONE,
    };
}

/// A fixed table of reservations with stable slots, chained in admission order.
///
/// Insertion pops a free slot and appends it to the chain, removal unlinks it and pushes it on
/// the free list: a few loads and stores each, no search. A slot costs 96 bytes: the record
/// (28), the pace ends (24, [`Ends`]), the intent (40) and the links (4). The chain is in admission order, and
/// admission instants never go backwards (see `latest_stamp`), so the reservations admitted
/// after an instant are a suffix of it: the sync walks back from the newest and stops at the
/// first one old enough for the server to have seen, however many are in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Permits<const N: usize> {
    slots: [Option<Record>; N],
    /// Where each slot's charges ended on each pace, after its admission (meaningful while the
    /// slot is occupied).
    ends: [Ends; N],
    /// What each slot's request asked for (meaningful while the slot is occupied).
    intents: [Intent; N],
    /// Each slot's neighbours: in admission order while live, the free list while free.
    links: [Link; N],
    /// Stamped into every permit and checked on the way back; zero until set or derived.
    tag: u32,
    /// How long a permit may stay unsettled before an acquire that needs its slot reclaims it,
    /// in ms (saturating: about 49 days at most).
    ttl_ms: u32,
    /// The oldest and newest live slots ([`NONE`] when none is live).
    oldest: u16,
    newest: u16,
    /// The most recently freed slot (at first slot 0), heading the free list through
    /// [`Link::newer`]; [`NONE`] when every slot is live.
    free: u16,
    /// How many slots are live.
    live: u16,
    next_id: NonZeroU32,
    /// The latest admission instant stamped: stamps never go backwards, so a clock that steps
    /// back cannot make a permit look older (and so already seen by the server) than it is.
    latest_stamp: u64,
}

impl<const N: usize> Permits<N> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [None; N],
            ends: [Ends::EMPTY; N],
            intents: [Intent::EMPTY; N],
            links: Self::free_list(),
            tag: 0,
            ttl_ms: Self::DEFAULT_TTL_MS,
            oldest: NONE,
            newest: NONE,
            free: if N == 0 { NONE } else { 0 },
            live: 0,
            next_id: NonZeroU32::MIN,
            latest_stamp: 0,
        }
    }

    /// Every slot free, chained in slot order: slot `i` is followed by `i + 1`, the last by
    /// [`NONE`] (a table has at most 65 535 slots, so every number fits below it).
    const fn free_list() -> [Link; N] {
        let mut links = [Link::UNLINKED; N];
        let mut slot = 0;
        while slot < N {
            let next = slot.saturating_add(1);
            #[expect(clippy::indexing_slicing, reason = "slot < N; `get_mut` is not const")]
            let link = &mut links[slot];
            link.newer = if next < N { next as u16 } else { NONE };
            slot = next;
        }
        links
    }

    /// The default time-to-live: 10 minutes.
    pub(crate) const DEFAULT_TTL_MS: u32 = 600_000;

    /// The time-to-live of an unsettled permit, in µs.
    pub(crate) const fn ttl_us(&self) -> u64 {
        (self.ttl_ms as u64).saturating_mul(1_000)
    }

    /// Sets the time-to-live, in µs (rounded up to a millisecond, saturating at about 49 days).
    pub(crate) const fn set_ttl_us(&mut self, ttl_us: u64) {
        let ms = ttl_us.div_ceil(1_000);
        self.ttl_ms = if ms > u32::MAX as u64 {
            u32::MAX
        } else {
            ms as u32
        };
    }

    /// Drops every reservation issued at least the time-to-live before `now` (engine µs),
    /// without refunding it; answers whether any was dropped. They are the oldest: the walk
    /// stops at the first younger one.
    pub(crate) fn reclaim_expired(&mut self, now: u64) -> bool {
        let Some(cutoff) = now.checked_sub(self.ttl_us()) else {
            return false;
        };
        let mut reclaimed = false;
        while let Some(Some(oldest)) = self.slots.get(usize::from(self.oldest))
            && oldest.issued_at() <= cutoff
        {
            reclaimed |= self.take(self.oldest).is_some();
        }
        reclaimed
    }

    /// The table's tag, if set or derived yet.
    pub(crate) const fn tag(&self) -> Option<NonZeroU32> {
        NonZeroU32::new(self.tag)
    }

    /// Sets the tag; permits issued under another tag are no longer accepted.
    pub(crate) const fn set_tag(&mut self, tag: NonZeroU32) {
        self.tag = tag.get();
    }

    /// The tag, derived from `now` and the table's address on first use (see the module docs).
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

    pub(crate) fn is_full(&self) -> bool {
        self.free == NONE
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
        priority: Priority,
        intent: Intent,
    ) -> Option<Permit> {
        let slot = self.free;
        let entry = self.slots.get_mut(usize::from(slot))?;
        let link = self.links.get_mut(usize::from(slot))?;
        let newest = self.newest;
        self.free = link.newer;
        *link = Link {
            older: newest,
            newer: NONE,
        };
        match self.links.get_mut(usize::from(newest)) {
            Some(before) => before.newer = slot,
            None => self.oldest = slot,
        }
        self.newest = slot;
        // A slot was free, so fewer than `N` are live: no wrap.
        self.live = self.live.wrapping_add(1);
        let id = self.next_id;
        self.next_id = id.checked_add(1).unwrap_or(NonZeroU32::MIN);
        let issued_at = issued_at.max(self.latest_stamp);
        self.latest_stamp = issued_at;
        let narrow = |kind: LimitKind| u32::try_from(up.get(kind)).unwrap_or(u32::MAX);
        *entry = Some(Record {
            id,
            lane: lane.0,
            mask,
            priority,
            issued_at: [issued_at as u32, (issued_at >> 32) as u32],
            charged: [
                narrow(LimitKind::Requests),
                narrow(LimitKind::InputTokens),
                narrow(LimitKind::OutputTokens),
            ],
        });
        if let Some(kept) = self.intents.get_mut(usize::from(slot)) {
            *kept = intent;
        }
        if let Some(kept) = self.ends.get_mut(usize::from(slot)) {
            *kept = Ends::new(ends, issued_at);
        }
        let tag = self.stamp(issued_at);
        Some(Permit {
            id,
            tag,
            slot,
            lane,
        })
    }

    /// What a live permit's request asked for; `None` for a permit of another table or one no
    /// longer live.
    pub(crate) fn intent(&self, permit: &Permit) -> Option<&Intent> {
        let live = matches!(
            self.slots.get(usize::from(permit.slot)),
            Some(Some(reservation)) if reservation.id == permit.id && reservation.lane == permit.lane.0
        );
        if permit.tag.get() != self.tag || !live {
            return None;
        }
        self.intents.get(usize::from(permit.slot))
    }

    /// Takes the reservation a permit stands for out of the table, with what its request asked
    /// for. A permit of another table (another tag) is refused and changes nothing.
    pub(crate) fn remove(&mut self, permit: &Permit) -> Result<(Reservation, Intent), PermitError> {
        if permit.tag.get() != self.tag {
            return Err(PermitError::Unknown);
        }
        let intent = self
            .intents
            .get(usize::from(permit.slot))
            .copied()
            .ok_or(PermitError::Unknown)?;
        match self.slots.get(usize::from(permit.slot)) {
            Some(Some(reservation))
                if reservation.id == permit.id && reservation.lane == permit.lane.0 => {}
            _ => return Err(PermitError::Unknown),
        }
        let ends = self
            .ends
            .get(usize::from(permit.slot))
            .copied()
            .ok_or(PermitError::Unknown)?;
        let record = self.take(permit.slot).ok_or(PermitError::Unknown)?;
        let ends = ends.get(record.issued_at());
        Ok((Reservation { record, ends }, intent))
    }

    /// Empties `slot`, unlinks it and frees it; `None` if it held nothing.
    fn take(&mut self, slot: u16) -> Option<Record> {
        let reservation = self.slots.get_mut(usize::from(slot))?.take()?;
        let free = self.free;
        let link = self.links.get_mut(usize::from(slot))?;
        let Link { older, newer } = *link;
        *link = Link {
            older: NONE,
            newer: free,
        };
        self.free = slot;
        self.live = self.live.saturating_sub(1);
        match self.links.get_mut(usize::from(older)) {
            Some(before) => before.newer = newer,
            None => self.oldest = newer,
        }
        match self.links.get_mut(usize::from(newer)) {
            Some(after) => after.older = older,
            None => self.newest = older,
        }
        Some(reservation)
    }

    /// The slot admitted just before `slot` in the chain (`NONE` at the oldest).
    fn older(&self, slot: u16) -> u16 {
        self.links
            .get(usize::from(slot))
            .map_or(NONE, |link| link.older)
    }

    /// The live reservations admitted after `cutoff` (all of them for `None`), newest first:
    /// a walk back along the chain that stops at the first one admitted at or before it.
    pub(crate) fn since(&self, cutoff: Option<u64>) -> impl Iterator<Item = &Record> {
        let mut slot = self.newest;
        core::iter::from_fn(move || {
            let reservation = self.slots.get(usize::from(slot))?.as_ref()?;
            if cutoff.is_some_and(|cutoff| reservation.issued_at() <= cutoff) {
                return None;
            }
            slot = self.older(slot);
            Some(reservation)
        })
    }

    /// Calls `f` on each live reservation admitted after `cutoff` (all of them for `None`),
    /// newest first, as [`Permits::since`] walks them.
    pub(crate) fn for_each_since(&mut self, cutoff: Option<u64>, mut f: impl FnMut(&mut Record)) {
        let mut slot = self.newest;
        while let Some(Some(reservation)) = self.slots.get_mut(usize::from(slot)) {
            if cutoff.is_some_and(|cutoff| reservation.issued_at() <= cutoff) {
                return;
            }
            f(reservation);
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

#[cfg(test)]
mod tests;
