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

    /// Where the clock would move for the caller's `now`, without moving it: the engine time
    /// `now` maps to, and the caller instant later steps would count from. `horizon` gives the
    /// latest instant (engine time) any bucket is busy until; it is asked for only when the step
    /// is longer than the bound.
    ///
    /// Both are worked out here, once, so that an admission moves the clock with two stores
    /// ([`EngineClock::move_to`]) and a refusal translates its instant out without comparing
    /// the two clocks again ([`Tick::to_caller`]).
    #[inline]
    pub(crate) fn tick_for(&self, now: Instant, horizon: impl FnOnce() -> u64) -> Tick {
        let now = now.as_ticks();
        // The common call: a step forward (or none) within the bound, which the engine takes
        // whole. Tested first, without the horizon or the step back's tests (the general
        // answer below is the same for it: a unit test holds the two equal). On 64-bit targets
        // only: on 32-bit ones its own code costs more flash (128 B) than it saves time.
        if cfg!(target_pointer_width = "64")
            && let Some(last) = self.last
            && let Some(step) = now.checked_sub(last)
            && step <= self.max_step
        {
            return Tick {
                engine: self.engine.saturating_add(step),
                from: now,
            };
        }
        self.tick_any(now, horizon)
    }

    /// [`EngineClock::tick_for`] of any step, in µs.
    fn tick_any(&self, now: u64, horizon: impl FnOnce() -> u64) -> Tick {
        match self.last {
            // The engine starts at the caller's time (so instants agree), unless that is
            // absurdly late: then at 2^62 µs, leaving 2^62 µs (146 000 years) of headroom.
            None => Tick {
                engine: now.min(START_CAP),
                from: now,
            },
            Some(last) => {
                let step = self.step(now, last, horizon);
                // The same test as `small_step_back`, on the `last` in hand.
                let small_step_back = now < last && last.saturating_sub(now) <= self.max_step;
                Tick {
                    engine: self.engine.saturating_add(step),
                    from: if small_step_back { last } else { now },
                }
            }
        }
    }

    /// Moves the clock where [`EngineClock::tick_for`] said it would go for a caller's instant,
    /// once a decision was taken there (a decision changes the horizon, so looking again could
    /// answer later); answers the engine time.
    #[inline]
    pub(crate) const fn move_to(&mut self, tick: Tick) -> u64 {
        self.engine = tick.engine;
        self.last = Some(tick.from);
        tick.engine
    }

    /// The engine time `now` maps to, without moving the clock (see [`EngineClock::tick_for`]).
    pub(crate) fn peek(&self, now: Instant, horizon: impl FnOnce() -> u64) -> u64 {
        let now = now.as_ticks();
        match self.last {
            // As in `tick_for`.
            None => now.min(START_CAP),
            Some(last) => {
                let step = self.step(now, last, horizon);
                self.engine.saturating_add(step)
            }
        }
    }

    /// The engine time that passes from the caller's `last` instant to its `now`: none for a
    /// step back, the step itself up to the bound, beyond it the bound or, when longer, the
    /// time until the `horizon`.
    #[inline(always)]
    fn step(&self, now: u64, last: u64, horizon: impl FnOnce() -> u64) -> u64 {
        let mut step = now.saturating_sub(last);
        if step > self.max_step {
            step = step.min(self.max_step.max(horizon().saturating_sub(self.engine)));
        }
        step
    }

    /// Moves the clock to the caller's `now` and answers the engine time.
    pub(crate) fn advance(&mut self, now: Instant, horizon: impl FnOnce() -> u64) -> u64 {
        let engine = self.peek(now, horizon);
        self.settle_at(now, engine)
    }

    /// After a refusal at the caller instant [`EngineClock::tick_for`] looked at: records a
    /// correction of the caller's clock (a step back larger than the bound) without moving the
    /// engine, so that later steps count from the corrected clock. Anything else is left alone,
    /// so a refusal at an ordinary instant changes nothing.
    ///
    /// Only a correction's tick counts from an instant before the last one: a forward step's
    /// counts from the caller's instant, a small step back's from the last instant itself. So
    /// one comparison does what `EngineClock::note_correction` (the tests' reference) does
    /// with three.
    #[inline]
    pub(crate) fn note_refusal(&mut self, tick: Tick) {
        if self.last.is_some_and(|last| tick.from < last) {
            self.last = Some(tick.from);
        }
    }

    /// [`EngineClock::note_refusal`] from the caller's instant itself (the reference the
    /// tests hold it to).
    #[cfg(test)]
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
        if !self.small_step_back(now) {
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
        Instant::from_ticks(self.counts_from(now.as_ticks()).saturating_add(ahead))
    }

    /// Whether the caller's `now` is a small step back (within the bound) from the instant the
    /// clock last moved at. A small step back keeps the reference: no time passes until the
    /// caller's clock is back where it was. A large one is a correction: count from the
    /// corrected clock.
    #[inline]
    fn small_step_back(&self, now: u64) -> bool {
        self.last
            .is_some_and(|last| now < last && last.saturating_sub(now) <= self.max_step)
    }

    /// The caller instant that maps to the engine's time once the clock moves at the caller's
    /// `now`: `now` itself, or after a small step back the instant it stepped back from.
    #[inline]
    fn counts_from(&self, now: u64) -> u64 {
        match self.last {
            Some(last) if self.small_step_back(now) => last,
            _ => now,
        }
    }

    /// A caller instant at or before `now` as an engine instant (`engine_now` is what `now`
    /// mapped to).
    pub(crate) fn from_caller_past(now: Instant, engine_now: u64, at: Instant) -> u64 {
        let behind = now.as_ticks().saturating_sub(at.as_ticks());
        engine_now.saturating_sub(behind)
    }
}

/// Where [`EngineClock::tick_for`] found the clock would move for one caller instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tick {
    /// The engine time the caller's instant maps to: the time to decide at.
    pub(crate) engine: u64,
    /// The caller instant that maps to `engine` from now on: the caller's own, or after a small
    /// step back the one it stepped back from (no time passes until its clock is back there).
    from: u64,
}

impl Tick {
    /// An engine instant as the caller's instant, whether or not the clock moved: the caller's
    /// clock counts from `from`, as the engine's counts from `engine`. The same as
    /// [`EngineClock::to_caller`] for the caller instant this tick is for.
    pub(crate) const fn to_caller(self, engine_at: u64) -> Instant {
        Instant::from_ticks(
            self.from
                .saturating_add(engine_at.saturating_sub(self.engine)),
        )
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

    #[test]
    fn a_tick_moves_refuses_and_translates_as_the_long_way_does() {
        // What an admission does in one look (`tick_for`, then `move_to`), what a refusal
        // records (`note_refusal`) and its translation out (`Tick::to_caller`) against the
        // long way round, from every kind of
        // clock state: fresh, after forward steps, small and large steps back, wild jumps.
        let year = 365 * 24 * 3_600 * SECOND;
        let instants = [
            0,
            100 * SECOND,
            40 * SECOND,
            99 * SECOND,
            101 * SECOND,
            year,
            SECOND,
            2 * SECOND,
            u64::MAX,
            u64::MAX - 5 * SECOND,
            3 * SECOND,
        ];
        let horizons = [0, 3_600 * SECOND, u64::MAX];
        let mut states = std::vec![EngineClock::new()];
        // The default bound, none at all (every step back must still be told from a step
        // forward) and a short one.
        for bound in [
            EngineClock::DEFAULT_MAX_STEP.as_ticks(),
            u64::MAX,
            30 * SECOND,
        ] {
            let mut clock = EngineClock::new().with_max_step(Duration::from_ticks(bound));
            for &at in &instants {
                clock.advance(Instant::from_ticks(at), || 0);
                states.push(clock);
            }
        }
        for state in states {
            for &now in &instants {
                for horizon in horizons {
                    let now = Instant::from_ticks(now);
                    let tick = state.tick_for(now, || horizon);
                    // The short way of a step within the bound answers as the general one.
                    assert_eq!(tick, state.tick_any(now.as_ticks(), || horizon));
                    let engine = state.peek(now, || horizon);
                    assert_eq!(tick.engine, engine);
                    for ahead in [0, 1, SECOND, year, u64::MAX] {
                        let at = engine.saturating_add(ahead);
                        assert_eq!(tick.to_caller(at), state.to_caller(now, engine, at));
                    }
                    let (mut short, mut long) = (state, state);
                    assert_eq!(short.move_to(tick), long.settle_at(now, engine));
                    assert_eq!(short, long);
                    let (mut short, mut long) = (state, state);
                    short.note_refusal(tick);
                    long.note_correction(now);
                    assert_eq!(short, long);
                }
            }
        }
    }
}
