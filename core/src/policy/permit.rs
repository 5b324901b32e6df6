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

use crate::backoff::Attempt;
use crate::cost::{Charges, Cost};
use crate::lane::Priority;

mod ends;
mod table;

pub(crate) use table::Permits;

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
/// finds the table full and is admitted (a refused one leaves it in place). What it charged
/// stays charged (the request may have been sent; the buckets refill as usual), and handing it
/// back afterwards is [`PermitError::Unknown`]. Set the time-to-live above the longest a
/// response can take. The async limiter (feature `async`) cancels its guards' permits on drop,
/// so this is only a safety net there.
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
/// response (see `Permits::since`), so they hold nothing it does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Record {
    /// Admission sequence number: later admissions have later ids (modulo wrap-around, see
    /// the lane sync's `is_at_or_after`).
    pub(crate) id: NonZeroU32,
    pub(crate) lane: u8,
    /// Buckets charged, by [`crate::LimitKind::index`]; a bucket learned later was not charged.
    pub(crate) mask: u8,
    /// The request's priority (a retry keeps it), in what would be padding.
    pub(crate) priority: Priority,
    /// Whether the reservation still stands: a settled one stays in the table's chain, for its
    /// admission instant, until the table unlinks it (see [`Permits`]); a free slot's record is
    /// not live either.
    live: bool,
    /// When it was admitted (µs ticks), as two halves so the entry stays 4-byte aligned.
    issued_at: [u32; 2],
    /// Requests, input tokens, output tokens charged. Each is at most the burst of a bucket
    /// that was charged for it, so `u32` holds it exactly; amounts no bucket metered saturate.
    pub(crate) charged: [u32; 3],
}

/// A reservation taken out of the table to be settled or cancelled: its [`Record`], with where
/// each pace's charge for it ended (its TAT right after admission; unused entries for absent
/// paces), as the table kept them (read with the lane's base, [`Reservation::ends`]). Only
/// settling reads the ends, so the table keeps them beside the records rather than in them,
/// in 48 bits each (see `Ends`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Reservation {
    record: Record,
    ends: ends::Ends,
    /// Its slot while permits admitted after it are in flight (it stays in the chain, settled,
    /// until they are gone or a walk unlinks it): where a walk over them stops, valid until
    /// `Permits::shift_ends_after` (which may free it). `u16::MAX` when it was the newest.
    linked: u16,
}

impl core::ops::Deref for Reservation {
    type Target = Record;

    fn deref(&self) -> &Record {
        &self.record
    }
}

impl Reservation {
    /// Where each pace's charge ended (absolute µs), with `base` the lane's running refund
    /// shift now (see `Permits::shift_ends_after`).
    #[inline]
    pub(crate) fn ends(&self, base: &[u64; 4]) -> [u64; 4] {
        self.ends.get(self.record.issued_at(), base)
    }

    /// Its slot in the chain when permits were admitted after it (see
    /// `Permits::shift_ends_after`); `u16::MAX` when none was.
    pub(crate) const fn linked(&self) -> u16 {
        self.linked
    }
}

impl Record {
    /// A free slot's record: not live, not in the table's chain.
    const FREE: Self = Self {
        id: NonZeroU32::MIN,
        lane: 0,
        mask: 0,
        priority: Priority::Interactive,
        live: false,
        issued_at: [0; 2],
        charged: [0; 3],
    };

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

#[cfg(test)]
mod tests;
