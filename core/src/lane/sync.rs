//! Server truth into the buckets: learning limits and correcting levels from response headers.
//!
//! # The problem
//!
//! The local model drifts: estimates are wrong, other clients share the quota, tiers change, a
//! process restarts with empty state. Every response carries the server's own numbers, so the
//! buckets should follow them. But a snapshot is taken by the server at one instant while other
//! requests of ours were still on their way, and responses arrive out of order. Copying
//! `remaining` into the bucket would over-admit (it ignores reservations the server had not seen
//! yet) or go backwards in time (an old response overwriting a newer one).
//!
//! # The rules
//!
//! * **Limits are learned.** A quota's `limit` (with its window, or a minute) creates the bucket
//!   when the lane lacked it, or rescales it, keeping the used fraction, when it changed (a tier
//!   upgrade, a workspace cap). A lane that started with no limits at all paces at a provisional
//!   rate until the first limit arrives, then drops it.
//! * **Unseen reservations are subtracted.** The level becomes
//!   `remaining − rounding − Σ charges of our permits the server may not have counted`. A permit
//!   admitted before the responding request was sent first and has been seen; so has one
//!   admitted more than the policy's transit allowance (default 500 ms) before the headers
//!   arrived, since it reached the provider before the headers were made. The others — admitted
//!   after the responding request *and* within the allowance — are subtracted. Counting one
//!   twice is safe but slow: when the requests bucket paces one request per 1.2 s and responses
//!   take seconds, subtracting every later permit would hold each new request back by a whole
//!   extra interval; missing one would over-admit. Requests slower to reach the provider than
//!   the allowance need a longer one (`Policy::with_transit_allowance`).
//!   When the unseen charges exceed `remaining`, the bucket is left in debt by the difference,
//!   not merely emptied: those requests will still count when they arrive.
//! * **Rounding is read down.** Anthropic rounds token `remaining` to the nearest thousand, so
//!   up to 500 more may be used than it says: 500 is subtracted for Anthropic token quotas.
//! * **Only the newest response may raise a level.** A snapshot from a request admitted before
//!   the last one applied can only lower a bucket, never raise it: stale information makes the engine
//!   more careful, never less.
//! * **The snapshot is read as if taken now.** Refill between the server's instant and ours is
//!   ignored, which errs on the safe side.

use core::num::NonZeroU32;

use crate::cost::Charges;
use crate::headers::{Dialect, Snapshot};
use crate::lane::Lane;
use crate::time::secs;
use crate::{Bucket, Limit, LimitKind};

/// What Anthropic's "rounded to the nearest thousand" can hide.
const ANTHROPIC_TOKEN_ROUNDING: u64 = 500;

/// The window of a quota whose dialect does not name one: providers publish per-minute limits.
const DEFAULT_WINDOW_SECS: u64 = 60;

impl Lane {
    /// Folds one response's snapshot into the lane.
    ///
    /// `order` orders responses (the admission id of the request that got this response);
    /// `unseen` is what our in-flight permits charged that the server may not have counted yet.
    pub(crate) fn observe(
        &mut self,
        now: u64,
        snapshot: &Snapshot,
        order: NonZeroU32,
        unseen: &Charges,
    ) {
        let teaches_limits = LimitKind::ALL.into_iter().any(|kind| {
            snapshot
                .quota_of(kind)
                .is_some_and(|quota| quota.limit.is_some())
        });
        if self.provisional && teaches_limits {
            self.buckets = [None, None, None, None];
            self.provisional = false;
        }
        let authoritative = self
            .synced
            .is_none_or(|synced| is_at_or_after(order, synced));
        if authoritative {
            self.synced = Some(order);
        }
        for kind in LimitKind::ALL {
            let Some(quota) = snapshot.quota_of(kind) else {
                continue;
            };
            if self.adopt_server_limits
                && let Some(amount) = quota.limit
            {
                let window = quota.window.unwrap_or(secs(DEFAULT_WINDOW_SECS));
                if let Ok(limit) = Limit::new_checked(amount, window) {
                    self.learn(now, kind, limit);
                }
            }
            let (Some(remaining), Some(bucket)) = (quota.remaining, self.bucket_mut(kind)) else {
                continue;
            };
            let rounding = match (snapshot.dialect, kind) {
                (Dialect::Anthropic, LimitKind::Requests) => 0,
                (Dialect::Anthropic, _) => ANTHROPIC_TOKEN_ROUNDING,
                _ => 0,
            };
            let remaining = remaining.saturating_sub(rounding);
            if authoritative {
                bucket.set_level(now, remaining, unseen.get(kind));
            } else {
                bucket.lower_to(now, remaining, unseen.get(kind));
            }
        }
    }

    /// Creates or rescales the bucket of `kind` for a limit the server reported.
    fn learn(&mut self, now: u64, kind: LimitKind, reported: Limit) {
        let Some(slot) = self.buckets.get_mut(kind.index()) else {
            return;
        };
        match slot {
            Some(bucket) => {
                let current = bucket.limit();
                if current.amount() != reported.amount()
                    || current.window_ms() != reported.window_ms()
                {
                    let now = crate::time::Instant::from_ticks(now);
                    bucket.set_limit(now, kind, current.with_rate_of(reported));
                }
            }
            None => *slot = Some(Bucket::new(kind, reported)),
        }
    }
}

/// Whether admission `id` came at or after admission `since`. Ids wrap after 2³² admissions, so
/// the comparison is on the wrapping difference (serial-number arithmetic, as TCP compares
/// sequence numbers): correct while the two are less than 2³¹ admissions apart.
pub(crate) const fn is_at_or_after(id: NonZeroU32, since: NonZeroU32) -> bool {
    id.get().wrapping_sub(since.get()) < (1 << 31)
}

#[cfg(test)]
mod tests;
