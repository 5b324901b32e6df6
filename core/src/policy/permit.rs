//! Permits: the in-flight reservations, in a fixed-size table.
//!
//! Every admitted request holds a [`Permit`] until its response is settled or it is cancelled.
//! The table remembers what each permit charged, to which buckets and when, so that settling
//! refunds or debits exactly the difference, and so that a server's snapshot can be merged
//! knowing which reservations the server could not have seen yet.
//!
//! A [`Permit`] is neither `Copy` nor `Clone`: settling or cancelling consumes it, so settling
//! twice does not compile.
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
use crate::backoff::RetryState;
use crate::cost::Charges;
use crate::time::Instant;

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

/// The right to send one admitted request. Hand it back through
/// [`crate::Policy::settle`] when the response arrives, or [`crate::Policy::cancel`] if the
/// request is never sent.
#[must_use = "a permit holds a reservation until it is settled or cancelled"]
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Permit {
    pub(crate) id: NonZeroU32,
    pub(crate) slot: u16,
    pub(crate) lane: LaneId,
    pub(crate) attempt: Attempt,
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

    /// The attempt this permit is for (its retry count and deadline).
    pub const fn attempt(&self) -> &Attempt {
        &self.attempt
    }
}

/// Where a request is in its retry life: the retries taken so far and an optional deadline.
///
/// # Examples
///
/// ```
/// use headroom::Attempt;
/// use headroom::time::Instant;
///
/// let attempt = Attempt::first().with_deadline(Instant::from_ticks(30_000_000));
/// assert_eq!(attempt.retries(), 0);
/// assert_eq!(attempt.deadline(), Some(Instant::from_ticks(30_000_000)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attempt {
    pub(super) retry: RetryState,
    pub(super) deadline: Option<Instant>,
}

impl Attempt {
    /// A first attempt with no deadline.
    pub const fn first() -> Self {
        Self {
            retry: RetryState::new(),
            deadline: None,
        }
    }

    /// The same attempt with a deadline: no wait or retry may end at or after it.
    pub const fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The deadline, if any.
    pub const fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Retries taken before this attempt.
    pub const fn retries(&self) -> u32 {
        self.retry.retries()
    }

    /// The retry bookkeeping.
    pub const fn retry_state(&self) -> &RetryState {
        &self.retry
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

/// What one in-flight request charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Reservation {
    /// Admission sequence number: later admissions have later ids (modulo wrap-around, see
    /// [`is_at_or_after`]).
    pub(crate) id: NonZeroU32,
    pub(crate) lane: u8,
    /// Buckets charged, by [`LimitKind::index`]; a bucket learned later was not charged.
    pub(crate) mask: u8,
    /// Position of this slot in [`Permits::live`].
    live_pos: u16,
    /// When it was admitted (µs ticks), as two halves so the entry stays 4-byte aligned
    /// (28 bytes instead of 32).
    issued_at: [u32; 2],
    /// Requests, input tokens, output tokens charged. Each is at most the burst of a bucket
    /// that was charged for it, so `u32` holds it exactly; amounts no bucket metered saturate.
    pub(crate) charged: [u32; 3],
}

impl Reservation {
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

/// A fixed table of reservations with stable slots.
///
/// Insertion pops a free slot and removal pushes it back, both O(1); iteration walks only the
/// live entries, so a table sized for thousands of requests costs nothing while few are in
/// flight.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Permits<const N: usize> {
    slots: [Option<Reservation>; N],
    /// Occupied slots, unordered.
    live: heapless::Vec<u16, N>,
    /// Slots released since they were first used, as a stack.
    free: heapless::Vec<u16, N>,
    /// Slots `fresh..N` have never been used.
    fresh: u16,
    next_id: NonZeroU32,
    /// The latest admission instant stamped: stamps never go backwards, so a clock that steps
    /// back cannot make a permit look older (and so already seen by the server) than it is.
    latest_stamp: u64,
}

impl<const N: usize> Permits<N> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: [None; N],
            live: heapless::Vec::new(),
            free: heapless::Vec::new(),
            fresh: 0,
            next_id: NonZeroU32::MIN,
            latest_stamp: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len() >= N
    }

    /// Stores a reservation; `None` when the table is full.
    pub(crate) fn insert(
        &mut self,
        lane: LaneId,
        mask: u8,
        issued_at: u64,
        up: &Charges,
        attempt: Attempt,
    ) -> Option<Permit> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if usize::from(self.fresh) < N => {
                let slot = self.fresh;
                self.fresh = self.fresh.saturating_add(1);
                slot
            }
            None => return None,
        };
        let live_pos = u16::try_from(self.live.len()).ok()?;
        let entry = self.slots.get_mut(usize::from(slot))?;
        self.live.push(slot).ok()?;
        let id = self.next_id;
        self.next_id = id.checked_add(1).unwrap_or(NonZeroU32::MIN);
        let issued_at = issued_at.max(self.latest_stamp);
        self.latest_stamp = issued_at;
        let narrow = |kind: LimitKind| u32::try_from(up.get(kind)).unwrap_or(u32::MAX);
        *entry = Some(Reservation {
            id,
            lane: lane.0,
            mask,
            live_pos,
            issued_at: [issued_at as u32, (issued_at >> 32) as u32],
            charged: [
                narrow(LimitKind::Requests),
                narrow(LimitKind::InputTokens),
                narrow(LimitKind::OutputTokens),
            ],
        });
        Some(Permit {
            id,
            slot,
            lane,
            attempt,
        })
    }

    /// Takes the reservation a permit stands for out of the table.
    pub(crate) fn remove(&mut self, permit: &Permit) -> Result<Reservation, PermitError> {
        let entry = self
            .slots
            .get_mut(usize::from(permit.slot))
            .ok_or(PermitError::Unknown)?;
        let reservation = match *entry {
            Some(reservation)
                if reservation.id == permit.id && reservation.lane == permit.lane.0 =>
            {
                reservation
            }
            _ => return Err(PermitError::Unknown),
        };
        *entry = None;
        let pos = usize::from(reservation.live_pos);
        if pos < self.live.len() {
            self.live.swap_remove(pos);
            // The slot that moved into `pos` learns its new position.
            if let Some(&moved) = self.live.get(pos)
                && let Some(Some(moved)) = self.slots.get_mut(usize::from(moved))
            {
                moved.live_pos = reservation.live_pos;
            }
        }
        // Cannot fail: at most N slots are ever free.
        let _ = self.free.push(permit.slot);
        Ok(reservation)
    }

    /// The live reservations, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Reservation> {
        self.live
            .iter()
            .filter_map(|&slot| self.slots.get(usize::from(slot))?.as_ref())
    }

    /// The live reservations, mutably, in slot order (a free slot holds `None`).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Reservation> {
        self.slots.iter_mut().filter_map(Option::as_mut)
    }
}
