//! Request slots for a fleet of gateways that share one key and know their place in it.
//!
//! Why: a provider enforces a low request limit over short intervals — Anthropic says a 60 RPM
//! limit "may be enforced as 1 request per second" — so at 50 RPM the key admits one request
//! per 1.2 s and two requests closer than that collide, whatever the senders' average rates.
//! Gateways that cannot see each other's traffic send at moments that are independent of each
//! other, so a request meets another one within the interval before it with a probability that
//! grows with the key's request rate (at 21 requests a minute, one in three). Dividing the
//! *rate* between them (the limit ÷ N) changes nothing: the collisions come from phase, not
//! from rate, and no header tells a gateway when the others will send.
//!
//! Hosts whose clocks agree (NTP keeps them within milliseconds) can divide *time* instead.
//! The key's request interval `T`, widened by a guard of `T/8`, is a slot; slot `k` of the
//! common time line belongs to member `k mod N`; a member sends a request only in the first
//! `T/8` of one of its own slots. Two requests of different members are then at least `T`
//! apart and never meet in the provider's request bucket, with no message between the
//! gateways at all. Tokens are not slotted: the token limits hold a minute of quota, and each
//! member learns its share of them from the headers (see `window`).
//!
//! The price: a member sends at most one request per `N` slots, `RPM ÷ (N × 9/8)` — no loss
//! when tokens bind (the usual case at low tiers), a real one when one member carries most of
//! the load, because a slot is never lent. Without seeing the others, a member learns that a
//! slot it does not own is free only by sending in it, and pays a 429 whenever the owner sends
//! too. Measured (a build in which a member whose learned share of the key was at least twice
//! its `1/N` borrowed other members' slots at the end of the owner's sending window, after any
//! request of the owner's, and stopped borrowing from an owner for twice as long after each
//! 429 there; seeds 1–5): 16 gateways, one with 70 % of the load, finished ≈ 5× sooner but
//! met 28 429s per 100 requests (every one the borrower's) instead of 2 per 100, since an
//! owner's next request is as unpredictable as the last; evenly loaded fleets met up to 47 per
//! 100 for ≤ 3 % less time. So slots are not lent: a fleet whose load is skewed wants one
//! shared budget instead (a store all members update).

use core::num::NonZeroU16;

/// This gateway's place in a fleet of gateways sharing one key: member `index` of `size`
/// (see [`LaneConfig::fleet_member`](crate::LaneConfig::fleet_member)).
///
/// All members must pass instants on a common time line (for instance microseconds of the
/// wall clock, as [`UnixTime`](crate::time::UnixTime) counts them): the slots are cut from it.
///
/// # Examples
///
/// ```
/// use core::num::NonZeroU16;
/// use headroom::FleetMember;
///
/// let four = NonZeroU16::new(4).unwrap();
/// let third = FleetMember::new(2, four).unwrap();
/// assert_eq!((third.index(), third.size().get()), (2, 4));
/// // There is no fifth member of four.
/// assert_eq!(FleetMember::new(4, four), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FleetMember {
    index: u16,
    size: NonZeroU16,
}

impl FleetMember {
    /// Member `index` (from 0) of `size`, or `None` when `index` is not below `size`.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::num::NonZeroU16;
    /// use headroom::FleetMember;
    ///
    /// assert!(FleetMember::new(0, NonZeroU16::MIN).is_some());
    /// ```
    pub const fn new(index: u16, size: NonZeroU16) -> Option<Self> {
        if index < size.get() {
            Some(Self { index, size })
        } else {
            None
        }
    }

    /// This member's index, from 0.
    pub const fn index(&self) -> u16 {
        self.index
    }

    /// How many members the fleet has.
    pub const fn size(&self) -> NonZeroU16 {
        self.size
    }

    /// The earliest instant at or after `at` (µs) at which this member may send a request,
    /// when the key admits one request per `interval` µs. A fleet of one is never held back.
    pub(crate) fn next_send(&self, at: u64, interval: u64) -> u64 {
        if self.size.get() == 1 {
            return at;
        }
        let guard = (interval / 8).max(1);
        let slot = interval.saturating_add(guard);
        let cycle = slot.saturating_mul(u64::from(self.size.get()));
        // Only fleets of gateways pay for this division: the default lane has no member.
        let Some(phase) = at.checked_rem(cycle) else {
            return at;
        };
        let open = slot.saturating_mul(u64::from(self.index));
        let close = open.saturating_add(guard);
        if phase < open {
            at.saturating_add(open.saturating_sub(phase))
        } else if phase <= close {
            at
        } else {
            at.saturating_add(cycle.saturating_sub(phase))
                .saturating_add(open)
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "test arithmetic on small known values"
)]
mod tests {
    use super::*;

    fn member(index: u16, size: u16) -> FleetMember {
        let size = NonZeroU16::new(size).unwrap_or(NonZeroU16::MIN);
        FleetMember::new(index, size).unwrap_or(FleetMember {
            index: 0,
            size: NonZeroU16::MIN,
        })
    }

    const T: u64 = 1_200_000; // 50 RPM
    const SLOT: u64 = T + T / 8;

    #[test]
    fn each_member_sends_only_at_the_start_of_its_own_slots() {
        let second = member(1, 4);
        assert_eq!(second.next_send(0, T), SLOT);
        assert_eq!(second.next_send(SLOT, T), SLOT);
        assert_eq!(second.next_send(SLOT + T / 8, T), SLOT + T / 8);
        assert_eq!(second.next_send(SLOT + T / 8 + 1, T), 5 * SLOT);
        assert_eq!(second.next_send(4 * SLOT + 7, T), 5 * SLOT);
        assert_eq!(member(0, 4).next_send(SLOT, T), 4 * SLOT);
    }

    #[test]
    fn a_fleet_of_one_is_never_held_back() {
        assert_eq!(member(0, 1).next_send(12_345, T), 12_345);
    }

    #[test]
    fn sends_of_different_members_are_always_an_interval_apart() {
        // Every member sends as early as it may from many starting points: no two sends of
        // different members are closer than the key's interval.
        let size = 5;
        let mut sends = [[0_u64; 64]; 5];
        for (index, row) in sends.iter_mut().enumerate() {
            let me = member(u16::try_from(index).unwrap_or(0), size);
            let mut at = 3_141 * (index as u64 + 1);
            for send in row.iter_mut() {
                at = me.next_send(at, T);
                *send = at;
                at += T / 16 + 1_000 * index as u64;
            }
        }
        for (a, row) in sends.iter().enumerate() {
            for (b, other) in sends.iter().enumerate().filter(|&(b, _)| b != a) {
                for x in row {
                    for y in other {
                        assert!(x.abs_diff(*y) >= T, "members {a} and {b}: {x} vs {y}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// Whatever the fleet, the interval and the instants members ask at, the instants they
        /// are told are never before they asked, and any two of different members are at least
        /// one interval apart.
        #[test]
        fn members_never_meet(
            size in 2_u16..20,
            interval in 1_000_u64..100_000_000,
            asks in proptest::collection::vec((0_u16..20, 0_u64..1_000_000_000_000), 2..40),
        ) {
            let sends: Vec<(u16, u64)> = asks
                .iter()
                .map(|&(index, at)| {
                    let index = index % size;
                    let send = member(index, size).next_send(at, interval);
                    proptest::prop_assert!(send >= at);
                    Ok((index, send))
                })
                .collect::<Result<_, _>>()?;
            for (a, x) in &sends {
                for (b, y) in &sends {
                    if a != b {
                        proptest::prop_assert!(x.abs_diff(*y) >= interval, "{a}@{x} {b}@{y}");
                    }
                }
            }
        }
    }

    #[test]
    fn huge_instants_saturate_instead_of_wrapping() {
        let last = member(3, 4);
        assert!(last.next_send(u64::MAX - 1, T) >= u64::MAX - 1);
        assert!(member(1, 2).next_send(5, u64::MAX) >= 5);
    }
}
