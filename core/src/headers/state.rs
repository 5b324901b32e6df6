//! The parser's working state between fields: what was kept, what was superseded, the IETF
//! tables, and the small helpers that record a value once or report why it was not used.

use super::*;

/// Everything the parser keeps besides the snapshot it fills.
///
/// Kept apart from the [`Snapshot`] so that [`parse`] and [`parse_into`] can fill the caller's
/// snapshot in place. Only a few words are initialised per response: the IETF tables are
/// created by the first IETF field.
#[derive(Debug, Clone)]
pub(super) struct State {
    pub(super) next_index: usize,
    pub(super) family: Option<Family>,
    /// [`Self::family`] when it is a vendor's (Anthropic, OpenAI): the family whose quota
    /// fields go straight to [`Self::push_vendor`].
    pub(super) vendor: Option<Family>,
    pub(super) ietf_dialect: Option<Dialect>,
    /// Per scope, the input position of the `remaining` value kept (saturated, as
    /// [`Ignored::index`] is): the field to blame if it exceeds the limit.
    pub(super) remaining_at: Positions,
    /// Per scope, the input positions of the `limit` and `reset` values kept.
    pub(super) limit_at: Positions,
    pub(super) reset_at: Positions,
    /// Bit [`Scope::index`]: a valid `remaining` of that scope was read and not found within
    /// a limit kept before it (the scopes [`Self::check_remaining`] looks at).
    pub(super) with_remaining: u8,
    /// Bit [`Scope::index`]: a vendor `limit` or `remaining` of that scope was the `-1`
    /// sentinel (zero, the usual case, skips [`Self::drop_unlimited`]).
    pub(super) unlimited: u8,
    /// Whether `retry-after-ms` and `retry-after` were seen (for the SDK readings of a repeat).
    pub(super) sdk_seen: [bool; 2],
    /// Created by the first IETF field: some 1 400 bytes that a vendor response never needs
    /// initialised.
    #[cfg(feature = "ietf")]
    pub(super) ietf: Option<ietf::Tables>,
}

/// The input position of one fact per scope ([`Scope::index`]), `u16::MAX` until one is set.
///
/// Stored complemented (`!position`), so that a table of unknown positions is all zeros, and
/// aligned to 8 bytes: a new [`State`] is then zeroed by the aligned `memclr` the rest of
/// headroom links anyway on 32-bit targets, where three tables of `0xff` bytes linked a
/// `memset` of their own (184 bytes of flash).
#[derive(Debug, Clone, Copy)]
#[repr(align(8))]
pub(super) struct Positions([u16; 8]);

impl Positions {
    /// Every position unknown.
    pub(super) const UNKNOWN: Self = Self([0; 8]);

    /// The position at `scope`, `u16::MAX` if none was set; `None` past the last scope.
    pub(super) fn get(&self, scope: usize) -> Option<u16> {
        self.0.get(scope).map(|stored| !stored)
    }

    /// Sets the position at `scope` (nothing past the last scope).
    pub(super) fn set(&mut self, scope: usize, position: u16) {
        if let Some(stored) = self.0.get_mut(scope) {
            *stored = !position;
        }
    }
}

/// A typed fact about one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fact {
    Limit(u64),
    Remaining(u64),
    Reset(Reset),
    /// Only the IETF policies carry a window.
    #[cfg(feature = "ietf")]
    Window(Duration),
}

impl State {
    pub(super) fn new() -> Self {
        Self {
            next_index: 0,
            family: None,
            vendor: None,
            ietf_dialect: None,
            remaining_at: Positions::UNKNOWN,
            limit_at: Positions::UNKNOWN,
            reset_at: Positions::UNKNOWN,
            with_remaining: 0,
            unlimited: 0,
            sdk_seen: [false; 2],
            #[cfg(feature = "ietf")]
            ietf: None,
        }
    }

    /// Reads the next field, at the position after the last one pushed: the streaming
    /// [`super::Parser`]'s entry.
    pub(super) fn push(&mut self, s: &mut Snapshot, memos: &mut Memos, name: &[u8], value: &[u8]) {
        let index = self.next_index;
        self.next_index = index.saturating_add(1);
        self.push_at(s, memos, index, name, value);
    }

    /// Reads one field at input position `index`. Inlined into [`super::fill`]'s loop, which
    /// counts the positions in a register: most fields of a response are not rate-limit
    /// fields, and they leave after the name lookup without a call. A vendor value is trimmed
    /// only when it is not read as it stands ([`Self::push_vendor`]).
    #[inline(always)]
    pub(super) fn push_at(
        &mut self,
        s: &mut Snapshot,
        memos: &mut Memos,
        index: usize,
        name: &[u8],
        value: &[u8],
    ) {
        match names::field_of(name) {
            Field::Other => {}
            Field::Quota {
                family,
                scope,
                part,
            } => {
                // One comparison for every vendor field after the first: the vendor family
                // claimed (none before the first field, nor for IETF).
                if self.vendor != Some(family)
                    && !self.other_family(s, index, family, scope, part, value)
                {
                    return;
                }
                self.push_vendor(s, memos, index, family, scope, part, value);
            }
            // Apart from the other fields where time matters more than flash.
            Field::Date if cfg!(target_pointer_width = "64") => {
                push_date(s, memos, index, values::trim(value));
            }
            field => self.push_field(s, memos, index, field, values::trim(value)),
        }
    }

    /// A quota field that is not of the vendor family claimed ([`Self::vendor`]): the response's
    /// first rate-limit field, an IETF ≤ -06 one, or one of another family than the first
    /// (reported as superseded). Whether it is a vendor field for [`Self::push_vendor`] to
    /// read; the others are done with here. Out of line on 64-bit targets (once per response
    /// for a vendor); inlined on others, where a call of its own costs flash.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(always))]
    fn other_family(
        &mut self,
        s: &mut Snapshot,
        index: usize,
        family: Family,
        scope: Scope,
        part: Part,
        raw: &[u8],
    ) -> bool {
        if !self.claim(s, index, family) {
            return false;
        }
        if family == Family::Ietf {
            // Never reached without the `ietf` feature (`names::field_of` makes such a field
            // `Disabled`): `cfg!` lets the linker drop the reader from that build.
            if cfg!(feature = "ietf") {
                self.push_ietf_split(s, index, scope, part, values::trim(raw));
            }
            return false;
        }
        self.vendor = Some(family);
        true
    }

    /// A vendor field of the family claimed: the bulk of every response, so kept lean: a
    /// count goes straight into its slot, without the [`Fact`] of [`Self::set_fact`]. `raw` is
    /// the value untrimmed: the common well-formed values are read as they stand, and only a
    /// value that is not goes through [`values::trim`] (which gives the same result for them).
    #[inline(always)]
    #[expect(
        clippy::too_many_arguments,
        reason = "inlined into the loop over the fields: the arguments are registers"
    )]
    fn push_vendor(
        &mut self,
        s: &mut Snapshot,
        memos: &mut Memos,
        index: usize,
        family: Family,
        scope: Scope,
        part: Part,
        raw: &[u8],
    ) {
        match part {
            Part::Limit | Part::Remaining => match values::plain_count(raw) {
                Some(count) => self.keep_count(s, index, scope, part, count),
                None => self.push_count(s, index, scope, part, raw),
            },
            Part::Reset => {
                // Anthropic's resets repeat one instant: from memory, the result is kept
                // straight from it (64-bit targets; on others [`reset`] looks it up).
                if cfg!(target_pointer_width = "64")
                    && let Some(result) = memos.reset.recall(raw)
                {
                    return self.keep_reset(s, index, scope, result);
                }
                let result = reset(memos, raw, family == Family::Anthropic);
                self.keep_reset(s, index, scope, result);
            }
        }
    }

    /// Keeps a vendor reset, or reports why it is not kept.
    #[inline(always)]
    fn keep_reset(
        &mut self,
        s: &mut Snapshot,
        index: usize,
        scope: Scope,
        result: Result<Reset, HeaderError>,
    ) {
        match result {
            Ok(reset) => keep_at(s, index, scope.index(), &mut self.reset_at, reset, |q| {
                &mut q.reset
            }),
            Err(why) => report(s, index, why),
        }
    }

    /// A vendor count that is not plain digits ([`values::plain_count`]): white space, Azure's
    /// `-1`, errors, long numbers; every count on 32-bit targets. Out of line where there is
    /// a plain count (64-bit targets), so that it is read and kept without a result to carry;
    /// inlined on others, where it is the only road and a call of its own costs flash.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    #[cfg_attr(not(target_pointer_width = "64"), inline(always))]
    fn push_count(&mut self, s: &mut Snapshot, index: usize, scope: Scope, part: Part, raw: &[u8]) {
        match values::vendor_count(raw) {
            Err(HeaderError::Unlimited) => {
                self.unlimited |= scope_bit(scope);
                report(s, index, HeaderError::Unlimited);
            }
            Err(why) => report(s, index, why),
            Ok(count) => self.keep_count(s, index, scope, part, count),
        }
    }

    /// Keeps a vendor limit (`part` [`Part::Limit`], not zero) or remaining count.
    #[inline(always)]
    fn keep_count(&mut self, s: &mut Snapshot, index: usize, scope: Scope, part: Part, count: u64) {
        let at = scope.index();
        if part == Part::Limit {
            if count == 0 {
                return report(s, index, HeaderError::ZeroLimit);
            }
            keep_at(s, index, at, &mut self.limit_at, count, |q| &mut q.limit);
        } else {
            keep_at(s, index, at, &mut self.remaining_at, count, |q| {
                &mut q.remaining
            });
            // Within a limit kept before it (vendors send the limit first): nothing left for
            // [`Self::check_remaining`], as a kept value never changes before it runs.
            let limit = s
                .quotas
                .get(at)
                .and_then(Option::as_ref)
                .and_then(|q| q.limit);
            if limit.is_none_or(|limit| count > limit) {
                self.with_remaining |= scope_bit(scope);
            }
        }
    }

    /// An IETF ≤ -06 `RateLimit-Limit`, `-Remaining` or `-Reset`.
    #[inline(never)]
    fn push_ietf_split(
        &mut self,
        s: &mut Snapshot,
        index: usize,
        scope: Scope,
        part: Part,
        value: &[u8],
    ) {
        self.ietf_generation(Dialect::IetfSplit);
        let head = ietf_head(value);
        let fact = match part {
            Part::Limit => values::limit(head).map(Fact::Limit),
            Part::Remaining => values::count(head).map(Fact::Remaining),
            Part::Reset => {
                values::delay_seconds(head).map(|delay| Fact::Reset(Reset::After(delay)))
            }
        };
        self.set_fact(s, index, scope, fact);
    }

    /// Every other field: once per response at most, so out of the way of [`Self::push_vendor`].
    #[inline(never)]
    pub(super) fn push_field(
        &mut self,
        s: &mut Snapshot,
        memos: &mut Memos,
        index: usize,
        field: Field,
        value: &[u8],
    ) {
        match field {
            Field::Other | Field::Quota { .. } => {}
            Field::Unsupported => report(s, index, HeaderError::Unsupported),
            Field::Disabled => report(s, index, HeaderError::DialectDisabled),
            Field::Date => push_date(s, memos, index, value),
            Field::RetryAfter => {
                let retry_after = values::retry_after(value);
                set_once(s, index, retry_after, |s| &mut s.retry_after);
                let delay = match retry_after {
                    Ok(RetryAfter::Delay(delay)) => Some(delay),
                    _ => None,
                };
                let seen = self.sdk_seen.get_mut(1);
                sdk_reading(seen, &mut s.sdk_retry_after, value, delay, values::SECONDS);
            }
            Field::RetryAfterMs => {
                let delay = values::retry_after_ms(value);
                set_once(s, index, delay, |s| &mut s.retry_after_ms);
                let seen = self.sdk_seen.get_mut(0);
                sdk_reading(
                    seen,
                    &mut s.sdk_retry_after_ms,
                    value,
                    delay.ok(),
                    values::MILLIS,
                );
            }
            Field::ShouldRetry => {
                set_once(s, index, values::boolean(value), |s| &mut s.should_retry);
            }
            #[cfg(feature = "ietf")]
            Field::RateLimit => {
                if self.claim(s, index, Family::Ietf) {
                    self.push_rate_limit(s, index, value);
                }
            }
            #[cfg(feature = "ietf")]
            Field::RateLimitPolicy => {
                if self.claim(s, index, Family::Ietf) {
                    self.push_policy(s, index, value);
                }
            }
            // `names::field_of` turns these into `Disabled` when the feature is off.
            #[cfg(not(feature = "ietf"))]
            Field::RateLimit | Field::RateLimitPolicy => {
                report(s, index, HeaderError::DialectDisabled);
            }
        }
    }

    /// Resolves what needs the whole response. Inlined into [`super::fill`] on 64-bit targets:
    /// for a vendor response it is a few tests and the dialect; the work is out of line.
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    pub(super) fn finish(&mut self, s: &mut Snapshot) {
        #[cfg(feature = "ietf")]
        if self.ietf.as_ref().is_some_and(|tables| !tables.is_empty()) {
            self.resolve_ietf(s);
        }
        if self.unlimited != 0 {
            self.drop_unlimited(s);
        }
        // Nothing to check, the usual case on 64-bit targets: skipped there (on others the
        // test costs more flash than the time it saves).
        if cfg!(not(target_pointer_width = "64")) || self.with_remaining != 0 {
            self.check_remaining(s);
        }
        s.dialect = match self.family {
            None => Dialect::None,
            Some(Family::Anthropic) => Dialect::Anthropic,
            Some(Family::OpenAi) => Dialect::OpenAi,
            Some(Family::Ietf) => self.ietf_dialect.unwrap_or(Dialect::IetfSplit),
        };
        sort_by_index(&mut s.ignored);
    }

    /// Whether a field of `family` may be used; reports it as superseded if not.
    pub(super) fn claim(&mut self, s: &mut Snapshot, index: usize, family: Family) -> bool {
        match self.family {
            None => {
                self.family = Some(family);
                true
            }
            Some(first) if first == family => true,
            Some(_) => {
                report(s, index, HeaderError::Superseded);
                false
            }
        }
    }

    pub(super) fn ietf_generation(&mut self, dialect: Dialect) {
        if self.ietf_dialect.is_none() {
            self.ietf_dialect = Some(dialect);
        }
    }

    /// Sets one fact of a scope's quota: the first valid one wins.
    pub(super) fn set_fact(
        &mut self,
        s: &mut Snapshot,
        index: usize,
        scope: Scope,
        fact: Result<Fact, HeaderError>,
    ) {
        let fact = match fact {
            Ok(fact) => fact,
            Err(why) => return report(s, index, why),
        };
        let Some(entry) = s.quotas.get_mut(scope.index()) else {
            return;
        };
        let quota = entry.get_or_insert_with(Quota::default);
        let position = u16::try_from(index).unwrap_or(u16::MAX);
        let fresh = match fact {
            Fact::Limit(limit) => {
                let fresh = keep(&mut quota.limit, limit);
                if fresh == Some(true) {
                    self.limit_at.set(scope.index(), position);
                }
                fresh
            }
            Fact::Remaining(remaining) => {
                self.with_remaining |= scope_bit(scope);
                let fresh = keep(&mut quota.remaining, remaining);
                if fresh == Some(true) {
                    self.remaining_at.set(scope.index(), position);
                }
                fresh
            }
            Fact::Reset(reset) => {
                let fresh = keep(&mut quota.reset, reset);
                if fresh == Some(true) {
                    self.reset_at.set(scope.index(), position);
                }
                fresh
            }
            #[cfg(feature = "ietf")]
            Fact::Window(window) => keep(&mut quota.window, window),
        };
        if fresh.is_none() {
            report(s, index, HeaderError::Duplicate);
        }
    }

    /// Leaves out every quota with a `-1` sentinel, reporting each of its kept fields: an
    /// unlimited dimension is no quota, not one with only a reset.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    pub(super) fn drop_unlimited(&self, s: &mut Snapshot) {
        for scope in Scope::ALL {
            let i = scope.index();
            if self.unlimited & scope_bit(scope) == 0 {
                continue;
            }
            let Some(Some(quota)) = s.quotas.get_mut(i).map(Option::take) else {
                continue;
            };
            let kept = [
                (quota.limit.is_some(), self.limit_at.get(i)),
                (quota.remaining.is_some(), self.remaining_at.get(i)),
                (quota.reset.is_some(), self.reset_at.get(i)),
            ];
            for (_, at) in kept.into_iter().filter(|(kept, _)| *kept) {
                let at = at.map_or(usize::MAX, usize::from);
                report(s, at, HeaderError::Unlimited);
            }
        }
    }

    /// Drops (and reports) a `remaining` above `limit`, except Anthropic's token rounding.
    #[cfg_attr(target_pointer_width = "64", inline(never))]
    pub(super) fn check_remaining(&self, s: &mut Snapshot) {
        for scope in Scope::ALL {
            if self.with_remaining & scope_bit(scope) == 0 {
                continue;
            }
            let rounding = self.family == Some(Family::Anthropic)
                && scope.kind() != crate::LimitKind::Requests;
            let Some(Some(quota)) = s.quotas.get_mut(scope.index()) else {
                continue;
            };
            let (Some(limit), Some(remaining)) = (quota.limit, quota.remaining) else {
                continue;
            };
            if remaining <= limit {
                continue;
            }
            let floor = remaining.saturating_sub(500);
            if rounding && floor <= limit {
                quota.remaining = Some(floor);
            } else {
                quota.remaining = None;
                let index = self.remaining_at.get(scope.index());
                report(
                    s,
                    index.map_or(usize::MAX, usize::from),
                    HeaderError::RemainingAboveLimit,
                );
            }
        }
    }
}

/// The bit of `scope` in [`State::unlimited`].
const fn scope_bit(scope: Scope) -> u8 {
    1 << scope.index()
}

/// `Date`, from `memos` when they remember dates. On 64-bit targets inlined into the loop over
/// the fields, apart from [`State::push_field`] (every response has one, and it needs few
/// registers); called from [`State::push_field`] on others.
#[cfg_attr(target_pointer_width = "64", inline(always))]
fn push_date(s: &mut Snapshot, memos: &mut Memos, index: usize, value: &[u8]) {
    let date = if memos.dates {
        memos.date.read(value, values::date)
    } else {
        values::date(value)
    };
    set_once(s, index, date, |s| &mut s.date);
}

/// Records a field as not used, once per position and reason. Out of line: a well-formed
/// response never calls it.
#[cold]
#[inline(never)]
pub(super) fn report(s: &mut Snapshot, index: usize, why: HeaderError) {
    let position = u16::try_from(index).unwrap_or(u16::MAX);
    let seen = s
        .ignored
        .iter()
        .any(|ignored| ignored.index == position && ignored.why == why);
    if !seen {
        s.ignore(index, why);
    }
}

/// Records the SDK readings of one `retry-after-ms` or `retry-after` field (`unit` as for
/// [`values::python_float`]). A repeat keeps the first readings: the SDKs' HTTP libraries join
/// the values with `", "`, and `parseFloat` reads the first one's prefix (NaN if it was empty).
///
/// `strict` is headroom's own reading of the value. When the value is a plain integer of at
/// most twelve digits (`20`, `1500`: what servers send), every float parser reads it exactly as
/// that delay, so [`SdkReadings::exact`] stands in for the two float scans.
pub(super) fn sdk_reading(
    seen: Option<&mut bool>,
    slot: &mut SdkReadings,
    value: &[u8],
    strict: Option<Duration>,
    unit: i64,
) {
    if seen.map(|seen| core::mem::replace(seen, true)) == Some(true) {
        slot.javascript.get_or_insert(SdkNumber::NaN);
        return;
    }
    if let Some(delay) = strict
        && (1..=12).contains(&value.len())
        && value.iter().all(u8::is_ascii_digit)
    {
        *slot = SdkReadings::exact(delay);
        return;
    }
    slot.python = values::python_float(value, unit);
    slot.javascript = (!value.is_empty()).then(|| values::javascript_float(value, unit));
}

/// Sets a once-per-response value: the first valid one wins.
pub(super) fn set_once<T: Copy + PartialEq>(
    s: &mut Snapshot,
    index: usize,
    parsed: Result<T, HeaderError>,
    slot: impl Fn(&mut Snapshot) -> &mut Option<T>,
) {
    let value = match parsed {
        Ok(value) => value,
        Err(why) => return report(s, index, why),
    };
    if keep(slot(s), value).is_none() {
        report(s, index, HeaderError::Duplicate);
    }
}

/// Fills an empty `slot` (`Some(true)`), accepts an identical repeat (`Some(false)`), or
/// refuses a different value (`None`).
pub(super) fn keep<T: Copy + PartialEq>(slot: &mut Option<T>, value: T) -> Option<bool> {
    match *slot {
        None => {
            *slot = Some(value);
            Some(true)
        }
        Some(kept) if kept == value => Some(false),
        Some(_) => None,
    }
}

/// Sets one fact of the quota at `scope` (a [`Scope::index`]) that a vendor field carries: the
/// first valid value wins, its input position goes to `positions`, a different repeat is a
/// [`HeaderError::Duplicate`], an identical one is accepted. The lean form of
/// [`State::set_fact`], for the fields every response carries.
#[inline(always)]
fn keep_at<T: Copy + PartialEq>(
    s: &mut Snapshot,
    index: usize,
    scope: usize,
    positions: &mut Positions,
    value: T,
    slot: impl Fn(&mut Quota) -> &mut Option<T>,
) {
    let Some(entry) = s.quotas.get_mut(scope) else {
        return;
    };
    let kept = slot(entry.get_or_insert_with(Quota::default));
    match *kept {
        None => {
            *kept = Some(value);
            positions.set(scope, u16::try_from(index).unwrap_or(u16::MAX));
        }
        Some(first) if first == value => {}
        Some(_) => report(s, index, HeaderError::Duplicate),
    }
}

/// Orders the ignored fields by position, keeping the order of reports about one field. An
/// insertion sort: there are at most [`IGNORED_CAPACITY`] of them, and a general-purpose sort
/// would cost kilobytes of flash for that.
pub(super) fn sort_by_index(ignored: &mut [Ignored]) {
    for end in 1..ignored.len() {
        let mut at = end;
        while let Some(before) = at.checked_sub(1) {
            let Some([a, b]) = ignored.get_mut(before..=at) else {
                break;
            };
            if a.index <= b.index {
                break;
            }
            core::mem::swap(a, b);
            at = before;
        }
    }
}

/// A vendor reset ([`values::reset`] of the trimmed value), remembered in `memos` when it is
/// RFC 3339-shaped: Anthropic sends the same instant for every scope. Such a value is read
/// alike whatever `timestamp` says, so the memo needs no key beyond the bytes. `raw` is
/// untrimmed: when it does not start with white space and has a `-` at 4, its trimmed form has
/// that `-` at 4 too (trimming the end stops at it), so the memo is keyed by the bytes as
/// received. On 64-bit targets the caller has looked the value up in the memo already
/// ([`State::push_vendor`]).
#[inline(always)]
fn reset(memos: &mut Memos, raw: &[u8], timestamp: bool) -> Result<Reset, HeaderError> {
    let leading_space = matches!(raw.first(), Some(b' ' | b'\t'));
    let read = |raw: &[u8]| values::reset(values::trim(raw), true);
    if raw.get(4) == Some(&b'-') && !leading_space {
        if cfg!(target_pointer_width = "64") {
            memos.reset.miss(raw, read)
        } else {
            memos.reset.read(raw, read)
        }
    } else {
        values::reset(values::trim(raw), timestamp)
    }
}

/// The first member of a ≤ -06 IETF field (`100;w=10, …` → `100`).
pub(super) fn ietf_head(value: &[u8]) -> &[u8] {
    let end = value
        .iter()
        .position(|&b| b == b',' || b == b';')
        .unwrap_or(value.len());
    values::trim(value.get(..end).unwrap_or_default())
}
