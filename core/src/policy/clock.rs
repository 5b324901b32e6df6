//! The engine's own clock: the caller's instants, with wild steps taken out.
//!
//! # Why
//!
//! Every bucket stores an absolute instant (its theoretical arrival time). If the caller's clock
//! jumps a year forward and is then corrected, every charge taken during the jump sits a year in
//! the future, and the lane waits a year. At `now = u64::MAX` the arithmetic saturates and every
//! check passes. Neither is the caller's fault in any useful sense: wall clocks get corrected,
//! counters are mis-widened, a test passes `Instant::from_ticks(u64::MAX)`.
//!
//! # The rule
//!
//! The engine keeps its own monotonic time `e` and the last instant the caller passed. It starts
//! at the caller's first instant (so the two agree for any sane clock; an absurd first instant
//! beyond 2^62 µs starts it there). Each call advances `e` by the caller's step, clamped:
//!
//! * a step backwards adds nothing (no time passed). After a small one (within the step bound)
//!   the engine waits for the caller's clock to come back to where it was, as if it had not
//!   moved; after a large one (a correction of an earlier jump) the caller's new instant becomes
//!   the reference, so the next forward step counts from there;
//! * a step forwards adds at most the *step bound*: the configured bound (10 minutes by
//!   default) or, when longer, the time until every bucket is full again. The second term
//!   keeps guarantee 2: a `Wait { until }` is never further away than the time to full, so
//!   coming back at `until` always finds the engine there. A larger jump is "now" for refill
//!   (every bucket is full afterwards) but the engine's time does not follow it, so a later
//!   correction leaves no debt behind.
//!
//! Instants going out (`Wait::until`, retry instants) are translated back: `now + (x − e)`.
//! With a well-behaved clock the offset between the two is constant and the translation exact.

use crate::time::{Duration, Instant};

/// The latest engine time a first call may start at.
const START_CAP: u64 = 1 << 62;

/// The engine's time, derived from the caller's instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct EngineClock {
    /// The engine's time, µs.
    engine: u64,
    /// The caller's instant at the last call, µs; `None` before the first.
    last: Option<u64>,
    /// The configured forward step bound, µs.
    max_step: u64,
}

impl EngineClock {
    /// The default forward step bound: 10 minutes.
    pub(crate) const DEFAULT_MAX_STEP: Duration = crate::time::secs(600);

    pub(crate) const fn new() -> Self {
        Self {
            engine: 0,
            last: None,
            max_step: Self::DEFAULT_MAX_STEP.as_ticks(),
        }
    }

    pub(crate) const fn with_max_step(mut self, max_step: Duration) -> Self {
        self.max_step = max_step.as_ticks();
        self
    }

    pub(crate) const fn max_step(&self) -> Duration {
        Duration::from_ticks(self.max_step)
    }

    /// The engine time `now` maps to, without moving the clock. `horizon` gives the latest
    /// instant (engine time) any bucket is busy until; it is asked for only when the step is
    /// longer than the bound.
    pub(crate) fn peek(&self, now: Instant, horizon: impl FnOnce() -> u64) -> u64 {
        let now = now.as_ticks();
        match self.last {
            // The engine starts at the caller's time (so instants agree), unless that is
            // absurdly late: then at 2^62 µs, leaving 2^62 µs (146 000 years) of headroom.
            None => now.min(START_CAP),
            Some(last) => {
                let mut step = now.saturating_sub(last);
                if step > self.max_step {
                    step = step.min(self.max_step.max(horizon().saturating_sub(self.engine)));
                }
                self.engine.saturating_add(step)
            }
        }
    }

    /// Moves the clock to the caller's `now` and answers the engine time.
    pub(crate) fn advance(&mut self, now: Instant, horizon: impl FnOnce() -> u64) -> u64 {
        let engine = self.peek(now, horizon);
        self.settle_at(now, engine)
    }

    /// Records a correction of the caller's clock (a step back larger than the bound) without
    /// moving the engine: later steps count from the corrected clock. Anything else is left
    /// alone, so a refusal at an ordinary instant changes nothing.
    pub(crate) fn note_correction(&mut self, now: Instant) {
        let now = now.as_ticks();
        if self
            .last
            .is_some_and(|last| now < last && last.saturating_sub(now) > self.max_step)
        {
            self.last = Some(now);
        }
    }

    /// Moves the clock to `engine`, the time [`EngineClock::peek`] gave for the caller's `now`
    /// before a decision was taken at it (a decision changes the horizon, so peeking again
    /// could answer later).
    pub(crate) fn settle_at(&mut self, now: Instant, engine: u64) -> u64 {
        self.engine = engine;
        let now = now.as_ticks();
        // A small step back keeps the reference: no time passes until the caller's clock is
        // back where it was. A large one is a correction: count from the corrected clock.
        let small_step_back = self
            .last
            .is_some_and(|last| now < last && last.saturating_sub(now) <= self.max_step);
        if !small_step_back {
            self.last = Some(now);
        }
        self.engine
    }

    /// An engine instant as the caller's instant, given the caller's `now` that mapped to
    /// `engine_now` (whether or not the clock moved there). After a small step back the engine
    /// counts no time until the caller's clock is back where it was, so the count starts there;
    /// after a large one (a correction) it starts at `now`.
    pub(crate) fn to_caller(self, now: Instant, engine_now: u64, engine_at: u64) -> Instant {
        let ahead = engine_at.saturating_sub(engine_now);
        let now = now.as_ticks();
        let from = match self.last {
            Some(last) if now < last && last.saturating_sub(now) <= self.max_step => last,
            _ => now,
        };
        Instant::from_ticks(from.saturating_add(ahead))
    }

    /// A caller instant at or before `now` as an engine instant (`engine_now` is what `now`
    /// mapped to).
    pub(crate) fn from_caller_past(now: Instant, engine_now: u64, at: Instant) -> u64 {
        let behind = now.as_ticks().saturating_sub(at.as_ticks());
        engine_now.saturating_sub(behind)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::arithmetic_side_effects,
        reason = "test arithmetic on small known values"
    )]
    use super::*;

    const SECOND: u64 = 1_000_000;

    #[test]
    fn a_steady_clock_agrees_with_the_caller() {
        let mut clock = EngineClock::new();
        let start = 3_600 * SECOND * 24 * 11;
        let e0 = clock.advance(Instant::from_ticks(start), || 0);
        assert_eq!(e0, start);
        let e1 = clock.advance(Instant::from_ticks(start + 5 * SECOND), || 0);
        assert_eq!(e1, start + 5 * SECOND);
        assert_eq!(
            clock.to_caller(Instant::from_ticks(e1), e1, e1 + 2 * SECOND),
            Instant::from_ticks(start + 7 * SECOND)
        );
    }

    #[test]
    fn an_absurd_first_instant_starts_at_the_cap() {
        let mut clock = EngineClock::new();
        assert_eq!(clock.advance(Instant::from_ticks(u64::MAX), || 0), 1 << 62);
        let e = clock.advance(Instant::from_ticks(u64::MAX), || 0);
        assert_eq!(e, 1 << 62);
    }

    #[test]
    fn a_small_step_back_waits_for_the_clock_to_return() {
        let mut clock = EngineClock::new();
        let e0 = clock.advance(Instant::from_ticks(100 * SECOND), || 0);
        let e1 = clock.advance(Instant::from_ticks(40 * SECOND), || 0);
        assert_eq!(e0, e1);
        assert_eq!(clock.advance(Instant::from_ticks(99 * SECOND), || 0), e0);
        let e2 = clock.advance(Instant::from_ticks(101 * SECOND), || 0);
        assert_eq!(e2 - e1, SECOND);
    }

    #[test]
    fn instants_out_count_from_where_the_engine_counts() {
        let mut clock = EngineClock::new();
        let e0 = clock.advance(Instant::from_ticks(100 * SECOND), || 0);
        // A small step back, not recorded (a refusal peeks): count from where the clock was.
        let back = Instant::from_ticks(99 * SECOND);
        assert_eq!(
            clock.to_caller(back, e0, e0 + SECOND),
            Instant::from_ticks(101 * SECOND)
        );
        // A correction by a year, not recorded either: count from the corrected clock.
        let year = 365 * 24 * 3_600 * SECOND;
        let mut jumped = EngineClock::new();
        let e1 = jumped.advance(Instant::from_ticks(year), || 0);
        assert_eq!(
            jumped.to_caller(Instant::from_ticks(SECOND), e1, e1 + SECOND),
            Instant::from_ticks(2 * SECOND)
        );
    }

    #[test]
    fn a_correction_after_a_jump_leaves_no_debt() {
        let mut clock = EngineClock::new();
        let e0 = clock.advance(Instant::from_ticks(SECOND), || 0);
        let year = 365 * 24 * 3_600 * SECOND;
        let e1 = clock.advance(Instant::from_ticks(year), || 0);
        assert_eq!(e1 - e0, 600 * SECOND);
        // Corrected back to 2 s: nothing passes, and the next second counts as a second.
        assert_eq!(clock.advance(Instant::from_ticks(2 * SECOND), || 0), e1);
        assert_eq!(
            clock.advance(Instant::from_ticks(3 * SECOND), || 0),
            e1 + SECOND
        );
    }

    #[test]
    fn a_wild_jump_counts_as_the_bound_or_the_horizon() {
        let mut clock = EngineClock::new();
        let e0 = clock.advance(Instant::from_ticks(0), || 0);
        let year = 365 * 24 * 3_600 * SECOND;
        let e1 = clock.advance(Instant::from_ticks(year), || 0);
        assert_eq!(e1 - e0, 600 * SECOND);
        // A bucket busy until an hour from now stretches the bound to that hour.
        let e2 = clock.advance(Instant::from_ticks(2 * year), || e1 + 3_600 * SECOND);
        assert_eq!(e2 - e1, 3_600 * SECOND);
        let e3 = clock.advance(Instant::from_ticks(u64::MAX), || 0);
        assert_eq!(e3 - e2, 600 * SECOND);
    }
}
