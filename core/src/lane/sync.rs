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
//! * **Two constraints per limit.** The pace (the configured burst, refilled by time alone) is
//!   never raised by a header; the provider's window is corrected by every response, down at
//!   once and up only as far as its own refill allows. Admission needs both, so a lying, caching
//!   or stale header can at worst make the engine slower. The window also learns what others
//!   spend on the same key and the provider's real burst: see the `window` module.
//! * **Limits are learned.** A quota's `limit` (with its window, or a minute) creates the window
//!   when the lane lacked it, or rescales it when it changed (a tier upgrade, a workspace cap);
//!   a lane that adopts server limits (the default) rescales its pace too, keeping the used
//!   fraction. Self-imposed limits (`adopt_server_limits(false)`) keep their pace whatever the
//!   server says. A limit more than `max_limit_growth` times the current one (4× by default) is
//!   adopted only when the next response says it again; until then that response's
//!   `remaining` (units of the new limit) still corrects the window's level but teaches
//!   neither the provider's capacity nor the share of the key. A lane that started with no
//!   limits at all paces at a provisional rate until its first limits arrive, then drops it.
//!   A combined tokens limit that is only the sum of the input and output limits (Anthropic's
//!   `tokens-*`, in a response that reports those two) is not learned by a lane that reserves
//!   `max_tokens`: admission by those two never overdraws it (see `Lane::tokens_implied`).
//! * **Unseen reservations are subtracted.** The window's level becomes
//!   `remaining − rounding − Σ charges of our permits the server may not have counted`: those
//!   admitted less than the policy's transit allowance (default 500 ms) before the headers
//!   arrived. One admitted longer ago reached the provider before the headers were made.
//!   Admission order is not trusted: concurrent connections reorder requests on the way, so a
//!   request admitted just before the responding one may still be in transit. From then on the
//!   subtracted permits count as charged to that window, so settling or cancelling them gives
//!   back exactly what the correction took (even from a window learned after they were
//!   admitted). Counting one twice is safe but slow; missing one would over-admit. Requests
//!   slower to reach the provider than the allowance need a longer one
//!   (`Policy::with_transit_allowance`); a provider on the same host, a shorter one. When the
//!   unseen charges exceed `remaining`, the window is left in debt by the difference; any debt
//!   is capped at one window's worth, so no estimate or header can stall a lane for longer (what
//!   the cap forgave was never taken, so refunds pay it off before refilling the window: see the
//!   `window` module).
//! * **Rounding is read down.** Anthropic rounds token `remaining` to the nearest thousand, so
//!   up to 500 more may be used than it says: 500 is subtracted for Anthropic token quotas.
//! * **Only the newest response may raise a level.** A snapshot from a request admitted before
//!   the last one applied can only lower a window, never raise it; so can headers observed
//!   without a request of ours (`Policy::observe`): stale information makes the engine more
//!   careful, never less.
//! * **The snapshot is read as if taken now.** Refill between the server's instant and ours is
//!   ignored, which errs on the safe side.

use core::num::NonZeroU32;

use super::window::{Report, Window};
use crate::cost::Charges;
use crate::headers::{Dialect, Snapshot};
use crate::lane::{Lane, pace_bit, window_bit};
use crate::time::{Duration, secs};
use crate::{Bucket, Limit, LimitKind};

/// What Anthropic's "rounded to the nearest thousand" can hide.
const ANTHROPIC_TOKEN_ROUNDING: u64 = 500;

/// The window of a quota whose dialect does not name one: providers publish per-minute limits.
const DEFAULT_WINDOW_SECS: u64 = 60;

/// Where a response stands among the others, for [`Lane::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// The response to the request admitted with this id.
    Admitted(NonZeroU32),
    /// Headers seen without a request of ours: they may lower, never raise.
    Unordered,
}

impl Lane {
    /// Folds one response's snapshot into the lane.
    ///
    /// `order` orders responses; `unseen` is what our in-flight permits charged that the
    /// server may not have counted yet; `horizon_us` is the reaction horizon of the windows.
    pub(crate) fn observe(
        &mut self,
        now: u64,
        snapshot: &Snapshot,
        order: Order,
        unseen: &Charges,
        horizon_us: u64,
    ) {
        self.forget_full();
        let newest = match order {
            Order::Admitted(id) => {
                let newest = self.synced.is_none_or(|synced| is_at_or_after(id, synced));
                if newest {
                    self.synced = Some(id);
                }
                newest
            }
            Order::Unordered => false,
        };
        // Read once a response, not matched per kind.
        let token_rounding = match snapshot.dialect {
            Dialect::Anthropic => ANTHROPIC_TOKEN_ROUNDING,
            _ => 0,
        };
        for kind in LimitKind::ALL {
            let Some(quota) = snapshot.quota_of(kind) else {
                continue;
            };
            if kind == LimitKind::Tokens && self.tokens_implied(snapshot, quota.limit, quota.window)
            {
                continue;
            }
            // Whether `remaining` counts units of the window's limit (see `Report::own_limit`).
            let mut own_limit = true;
            if let Some(amount) = quota.limit {
                let window = quota.window.unwrap_or(secs(DEFAULT_WINDOW_SECS));
                // On 64-bit targets only: on 32-bit ones the shortcut's code costs more flash
                // than its time is worth there (the full path gives the same lane).
                if cfg!(target_pointer_width = "64")
                    && self.reports_current_limit(kind, amount, window)
                {
                    // What `learn` does with it, without validating it into a `Limit` first.
                    if let Some(pending) = self.pending_limits.get_mut(kind.index()) {
                        *pending = NOT_PENDING;
                    }
                } else {
                    let reported = Limit::new_checked(amount, window);
                    if let Ok(limit) = reported {
                        self.learn(now, kind, limit);
                    }
                    // Compared as `learn` adopts it (the window read to the millisecond); a
                    // limit that is not one (`new_checked` refused it) counts no units of ours.
                    own_limit = match (reported, self.window(kind)) {
                        (_, None) => true,
                        (Ok(reported), Some(current)) => {
                            let current = current.limit();
                            current.amount() == reported.amount()
                                && current.window_ms() == reported.window_ms()
                        }
                        (Err(_), Some(_)) => false,
                    };
                }
            }
            let rounding = match kind {
                LimitKind::Requests => 0,
                _ => token_rounding,
            };
            let (Some(remaining), Some(window)) = (quota.remaining, self.window_mut(kind)) else {
                continue;
            };
            window.correct(
                now,
                Report {
                    remaining: remaining.saturating_sub(rounding),
                    unseen: unseen.get(kind),
                    rounding,
                    horizon_us,
                    newest,
                    own_limit,
                },
            );
        }
        // One share of the key for the whole lane: the most cautious of the windows' estimates.
        // Clients of one key send alike, so the split is the same on every limit, and a limit
        // whose bucket refills within a round trip (requests, a second's worth) hides the
        // split that a minute's worth of tokens shows.
        if newest {
            self.adopt_lane_share(now);
        }
        // The provisional pace gives way once the real requests limit is known, or once limits
        // were learned and none of them is on requests.
        if self.provisional {
            let learned_any = LimitKind::ALL
                .into_iter()
                .any(|kind| self.window(kind).is_some());
            let requests_pending = self.pending_limits[0] != NOT_PENDING;
            if self.window(LimitKind::Requests).is_some() || (learned_any && !requests_pending) {
                self.provisional = false;
                if self.window(LimitKind::Requests).is_none() {
                    self.set_pace(LimitKind::Requests, None);
                }
            }
        }
    }

    /// Every window adopts the smallest of the windows' shares (see `Window::adopt_share`).
    /// When all of them already have that share (the least is the most), none would change and
    /// the windows are left alone; so they are when there is none (the least is then above).
    fn adopt_lane_share(&mut self, now: u64) {
        let (least, most) = self
            .windows()
            .map(Window::share_fixed)
            .fold((u16::MAX, 0), |(least, most), share| {
                (least.min(share), most.max(share))
            });
        if least >= most {
            return;
        }
        for window in self.windows_mut() {
            window.adopt_share(now, least);
        }
    }

    /// A 429 on `kind` for a request that charged `cost` there: the window learns whether the
    /// provider's burst is smaller than assumed.
    pub(crate) fn refused(&mut self, now: u64, kind: LimitKind, cost: u64) {
        self.forget_full();
        if let Some(window) = self.window_mut(kind) {
            window.refused(now, cost);
        }
    }

    /// Whether the combined tokens limit of `snapshot`, `amount` per `window` (a minute when
    /// unnamed), says nothing the lane's input and output windows do not, on a lane that
    /// reserves `max_tokens` ([`crate::OutputCharge::Reserve`]). Such a limit is not learned.
    /// It must be Anthropic's (`anthropic-ratelimit-tokens-*`), in a response that reports
    /// the input and output quotas too (`remaining` of each: the two windows are corrected by
    /// the same response); the lane must have no combined pace or window of its own; and its
    /// input and output windows' limits, over that same window, must add up to at most
    /// `amount`.
    ///
    /// Why: Anthropic's combined limit is the input and output limits summed (its `remaining`,
    /// the two remainings summed). A bucket of the summed rate and capacity holds at least what
    /// the two hold together (when one of them is full it stops refilling, the sum does not),
    /// so admission by the two never overdraws it, while a fourth window and pace cost every
    /// admission their checks and every response their corrections (`complete` 2 314 → 1 936
    /// instructions without them, benches/RESULTS.md). A smaller combined limit, or one over
    /// another window, binds on its own and is learned. Another dialect's combined limit is
    /// always learned: OpenAI's `x-ratelimit-*-tokens` is the only token quota it reports, and
    /// input and output windows a caller configured are corrected by nothing else.
    ///
    /// Not under [`crate::OutputCharge::Actual`]: there a correction counts the output of the
    /// permits the provider has seen as already charged, though the provider counts it only as
    /// it is generated, so the output window runs optimistic between responses; the combined
    /// window, corrected with its own rounding and share, was measured to hold such lanes
    /// back where the two alone meet 429s (benches/RESULTS.md, thirteenth and sixteenth
    /// sessions). A lane whose cost model changes to it (`Policy::set_cost_model`)
    /// learns the combined window from its next response.
    ///
    /// A 429 that the classifier attributes to the combined limit (its rounded `remaining` the
    /// lowest share of its limit) then teaches no window the provider's burst: the input and
    /// output windows learn theirs from 429s attributed to them.
    fn tokens_implied(
        &self,
        snapshot: &Snapshot,
        amount: Option<u64>,
        window: Option<Duration>,
    ) -> bool {
        let combined = pace_bit(LimitKind::Tokens) | window_bit(LimitKind::Tokens);
        if self.cost_model.output != crate::OutputCharge::Reserve
            || self.present & combined != 0
            || snapshot.dialect != Dialect::Anthropic
        {
            return false;
        }
        let reported = |kind: LimitKind| {
            snapshot
                .quota_of(kind)
                .is_some_and(|quota| quota.remaining.is_some())
        };
        if !reported(LimitKind::InputTokens) || !reported(LimitKind::OutputTokens) {
            return false;
        }
        let (Some(amount), Some(input), Some(output)) = (
            amount,
            self.window(LimitKind::InputTokens),
            self.window(LimitKind::OutputTokens),
        ) else {
            return false;
        };
        // A window's assumed capacity is at most its limit's amount (whatever burst a
        // configured limit names), so the two hold at most their amounts together.
        let (input, output) = (input.limit(), output.limit());
        let window = window.unwrap_or(secs(DEFAULT_WINDOW_SECS)).as_ticks();
        input.window_ms() == output.window_ms()
            && u64::from(input.window_ms()).saturating_mul(1_000) == window
            && u64::from(input.amount()).saturating_add(u64::from(output.amount())) <= amount
    }

    /// Whether a reported limit of `amount` per `window` is exactly the one the window and the
    /// pace of `kind` already have, outside the provisional pace: the usual response, which
    /// [`Lane::learn`] would take through its first test (only a pending larger limit lapses).
    ///
    /// Read from the raw numbers, without [`Limit::new_checked`]: a window of exactly
    /// `window_ms · 1 000` µs and an amount equal to the window's (a non-zero `u32`) are what
    /// `new_checked` accepts and turns into that limit, without a burst. Any other report (a
    /// window not a whole number of milliseconds, a window with an explicit burst) answers
    /// `false` and goes through `new_checked` and `learn` as before.
    fn reports_current_limit(&self, kind: LimitKind, amount: u64, window: Duration) -> bool {
        if self.provisional && kind == LimitKind::Requests {
            return false;
        }
        let (Some(current), Some(pace)) = (self.window(kind), self.bucket(kind)) else {
            return false;
        };
        let (current, pace) = (current.limit(), pace.limit());
        current.burst().is_none()
            && amount == u64::from(current.amount())
            && window.as_ticks() == u64::from(current.window_ms()).saturating_mul(1_000)
            && pace.amount() == current.amount()
            && pace.window_ms() == current.window_ms()
    }

    /// Creates or rescales the window (and, when the lane adopts server limits, the pace) of
    /// `kind` for a limit the server reported, within the growth bound.
    fn learn(&mut self, now: u64, kind: LimitKind, reported: Limit) {
        // The provisional pace is not a limit anyone configured or reported: the first real one
        // replaces it whatever its size.
        let provisional = self.provisional && kind == LimitKind::Requests;
        // The usual response: the limit every response reports, already the window's and the
        // pace's rate. Nothing grows, nothing is rescaled; only a pending larger one lapses.
        if !provisional
            && self
                .window(kind)
                .is_some_and(|window| window.limit() == reported)
            && self.bucket(kind).is_some_and(|bucket| {
                let current = bucket.limit();
                current.amount() == reported.amount() && current.window_ms() == reported.window_ms()
            })
        {
            if let Some(pending) = self.pending_limits.get_mut(kind.index()) {
                *pending = NOT_PENDING;
            }
            return;
        }
        let current = self
            .bucket(kind)
            .filter(|_| !provisional)
            .map(Bucket::limit)
            .or_else(|| self.window(kind).map(Window::limit));
        if let Some(current) = current
            && grows_beyond(current, reported, self.max_limit_growth)
        {
            let Some(pending) = self.pending_limits.get_mut(kind.index()) else {
                return;
            };
            if *pending != pending_of(reported) {
                *pending = pending_of(reported);
                return;
            }
        }
        if let Some(pending) = self.pending_limits.get_mut(kind.index()) {
            *pending = NOT_PENDING;
        }
        match self.window_mut(kind) {
            Some(window) if window.limit() != reported => window.set_limit(now, kind, reported),
            Some(_) => {}
            None => {
                let (shared, fleet) = (self.shared_key, self.fleet_size());
                self.set_window(kind, Some(Window::new(kind, reported, shared, fleet)));
            }
        }
        if !self.adopt_server_limits && !provisional {
            return;
        }
        let adopt = self.adopt_server_limits;
        match self.bucket_mut(kind) {
            Some(bucket) if !provisional => {
                let current = bucket.limit();
                if current.amount() != reported.amount()
                    || current.window_ms() != reported.window_ms()
                {
                    let now = crate::time::Instant::from_ticks(now);
                    bucket.set_limit(now, kind, current.with_rate_of(reported));
                }
            }
            _ if !adopt => self.set_pace(kind, None),
            _ => self.set_pace(kind, Some(Bucket::new(kind, reported))),
        }
    }
}

/// No reported limit waiting to be confirmed ([`Lane::pending_limits`]).
pub(crate) const NOT_PENDING: u64 = 0;

/// A reported limit as it waits to be confirmed: its amount in the high half, its window in ms
/// in the low one (never [`NOT_PENDING`]: the amount is at least one). A reported limit has no
/// burst of its own, so these two are all of it, in 8 bytes rather than an `Option<Limit>`'s 12.
const fn pending_of(limit: Limit) -> u64 {
    ((limit.amount() as u64) << 32) | limit.window_ms() as u64
}

/// Whether `reported` is more than `multiple` times the rate of `current`.
fn grows_beyond(current: Limit, reported: Limit, multiple: u8) -> bool {
    // Rates compared as amount / window, cross-multiplied in u128 (no division, no overflow).
    let current_rate =
        u128::from(current.amount()).saturating_mul(u128::from(reported.window_ms()));
    let reported_rate =
        u128::from(reported.amount()).saturating_mul(u128::from(current.window_ms()));
    reported_rate > current_rate.saturating_mul(u128::from(multiple.max(1)))
}

/// Whether admission `id` came at or after admission `since`. Ids wrap after 2³² admissions, so
/// the comparison is on the wrapping difference (serial-number arithmetic, as TCP compares
/// sequence numbers): correct while the two are less than 2³¹ admissions apart.
pub(crate) const fn is_at_or_after(id: NonZeroU32, since: NonZeroU32) -> bool {
    id.get().wrapping_sub(since.get()) < (1 << 31)
}

#[cfg(test)]
mod tests;
