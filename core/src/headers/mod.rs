//! Rate-limit header fields → a validated [`Snapshot`], in one pass, without copying.
//!
//! Every response carries the provider's view of our quota, but in one of several dialects and
//! with quirks that a naive reader turns into wrong waits: Anthropic's RFC 3339 resets that lie
//! at or before `Date`, OpenAI's Go durations (`6m0s`), Azure's `-1` sentinels, three
//! generations of the IETF draft (including examples in the draft that break its own grammar),
//! `Retry-After` as seconds, fractions or HTTP-dates. [`parse`] reads `(name, value)` byte pairs,
//! as an embedded HTTP stack hands them over, into a fixed-size [`Snapshot`]; nothing is
//! allocated and no input can make it panic. A value that cannot be used is skipped and
//! reported in [`Snapshot::ignored`] with its position and reason; the rest of the response
//! still counts (the IETF draft: "Malformed RateLimit header fields MUST be ignored").
//!
//! # Rules
//!
//! * Names are matched without regard to case; values are trimmed of SP and HTAB.
//! * A repeated field: the first *valid* value wins; a later valid value that differs is
//!   reported as [`HeaderError::Duplicate`]; an identical repeat is silently accepted.
//! * Dialect: the first rate-limit family seen (`anthropic-*`, `x-ratelimit-*`, IETF) is the
//!   response's [`Dialect`]. Rate-limit fields of another family are reported as
//!   [`HeaderError::Superseded`] and not used: a proxy that adds its own `x-ratelimit-*` on top of
//!   a provider's `anthropic-ratelimit-*` describes a different limit, and mixing the two
//!   would blend two buckets into one. The IETF generations count as one family; the reported
//!   dialect is the generation of the first IETF field that shows it (`RateLimit-Policy` with
//!   integer items alone counts as ≤ -06).
//! * Limits: `0` is [`HeaderError::ZeroLimit`]; negatives (Azure's `-1`) are
//!   [`HeaderError::Negative`]; more than a `u64` is [`HeaderError::NumberTooLarge`].
//! * `remaining` above `limit`: the remaining value is dropped and reported
//!   ([`HeaderError::RemainingAboveLimit`]), the limit kept; an inconsistent count must not
//!   admit more than the server allows, while the limit is still good for pacing. One exception:
//!   Anthropic rounds token `remaining` to the nearest thousand, so with a limit such as 1 500 a
//!   nearly full bucket reads 2 000. An excess of at most 500 on an Anthropic token scope is that
//!   rounding, and `remaining − 500`, the smallest true value it can stand for, is kept.
//! * Resets: RFC 3339 (Anthropic; also accepted in `x-ratelimit-reset-*`), Go durations (OpenAI)
//!   and plain integers, read as seconds (Azure). A reset at or before `Date` is kept as sent;
//!   [`Quota::reset_in`] turns it into zero ("already full").
//! * OpenAI's `x-ratelimit-*-project-tokens` and `-tokens_usage_based`, Anthropic's
//!   `anthropic-ratelimit-unified-*` and other unknown suffixes of a rate-limit family are other
//!   pools than the ones a [`Scope`] names; they are reported as [`HeaderError::Unsupported`],
//!   not folded into `tokens`. `x-ratelimit-*-input-tokens`/`-output-tokens` are accepted as
//!   their scopes.
//! * `retry-after` and `retry-after-ms` are both kept; [`Snapshot::server_delay`] prefers the
//!   latter, as the SDKs do.
//!
//! # IETF drafts
//!
//! * ≤ -06: `RateLimit-Limit`, `-Remaining`, `-Reset` (parameters and later list members
//!   ignored) give the [`Scope::Requests`] quota; `RateLimit-Policy: 100;w=10` gives its window
//!   when its quota equals the limit.
//! * -07: `RateLimit: limit=100, remaining=50, reset=5`, same policy field.
//! * ≥ -08: `RateLimit-Policy: "permin";q=50;w=60` and `RateLimit: "permin";r=15;t=40`, matched
//!   by name. Tolerated deviations seen in the draft's own examples: a Token instead of a String
//!   name; `q` on `RateLimit` (used as the limit when no policy of that name exists). A limit
//!   item without the required `r` is ignored ([`HeaderError::BadStructuredField`]); a limit item
//!   with no policy still gives remaining and reset. `t` becomes [`Reset::After`].
//! * Several policies: headroom keeps one quota per scope, so the most restrictive one is kept
//!   and the others are reported as [`HeaderError::Superseded`]. Most restrictive means the
//!   smallest known `remaining` (the limit that binds now), then the lowest rate `q / w` (what
//!   binds in the long run), then the earliest in the input.
//! * A quota unit other than `"requests"` (`qu="content-bytes"`, `"concurrent-requests"`, -08's
//!   `"bytes"`) is not a request rate: reported as [`HeaderError::Unsupported`].
//! * A field that is not a well-formed Structured Field is ignored as a whole (RFC 9651).
//! * Capacity: at most [`IETF_CAPACITY`] named policies and as many limit items are kept; more
//!   are reported as [`HeaderError::TooMany`]. Names longer than 32 bytes are refused as
//!   [`HeaderError::BadStructuredField`].

mod ietf;
mod names;
mod sf;
mod snapshot;
mod values;

#[cfg(test)]
mod ietf_tests;
#[cfg(test)]
mod tests;

pub use ietf::IETF_CAPACITY;
pub use snapshot::*;

use names::{Family, Field, Part};

use crate::time::Duration;

/// Reads one response's header fields into a [`Snapshot`].
///
/// `status` is the HTTP status when the caller has it; `pairs` are the fields in the order
/// received. Zero-copy: names and values are only borrowed, so `&[u8]`, `&str`, `Vec<u8>` and
/// `String` all work.
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, Dialect, HeaderError, Reset, Scope};
/// use headroom::time;
///
/// let snapshot = headers::parse(
///     Some(200),
///     [
///         ("x-ratelimit-limit-requests", "60"),
///         ("x-ratelimit-remaining-requests", "59"),
///         ("x-ratelimit-reset-requests", "1s"),
///         ("x-ratelimit-limit-tokens", "-1"),
///     ],
/// );
/// assert_eq!(snapshot.dialect, Dialect::OpenAi);
/// let requests = snapshot.quota(Scope::Requests).unwrap();
/// assert_eq!((requests.limit, requests.remaining), (Some(60), Some(59)));
/// assert_eq!(requests.reset, Some(Reset::After(time::secs(1))));
/// assert_eq!(snapshot.ignored[0].index, 3);
/// assert_eq!(snapshot.ignored[0].why, HeaderError::Negative);
/// ```
pub fn parse<I, N, V>(status: Option<u16>, pairs: I) -> Snapshot
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut snapshot = Snapshot {
        status,
        ..Snapshot::default()
    };
    fill(&mut snapshot, pairs);
    snapshot
}

/// [`parse`] into a [`Snapshot`] the caller already has, which is overwritten: afterwards
/// `*out` equals `parse(status, pairs)`.
///
/// A [`Snapshot`] is some 600 bytes; a client that keeps one per lane (or in a `static`) can
/// refill it in place instead of having a new one built and copied out on every response.
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, Scope, Snapshot};
///
/// let fields = [("anthropic-ratelimit-requests-limit", "50"), ("retry-after", "16")];
/// let mut snapshot = Snapshot::default();
/// headers::parse_into(Some(429), fields, &mut snapshot);
/// assert_eq!(snapshot.quota(Scope::Requests).unwrap().limit, Some(50));
/// assert_eq!(snapshot, headers::parse(Some(429), fields));
///
/// // Everything from the previous response is gone.
/// headers::parse_into(Some(200), [("date", "Sat, 28 Nov 2026 04:00:00 GMT")], &mut snapshot);
/// assert_eq!(snapshot.quota(Scope::Requests), None);
/// assert_eq!(snapshot.status, Some(200));
/// ```
pub fn parse_into<I, N, V>(status: Option<u16>, pairs: I, out: &mut Snapshot)
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    *out = Snapshot {
        status,
        ..Snapshot::default()
    };
    fill(out, pairs);
}

/// Reads `pairs` into a fresh `snapshot` (one with only its status set).
fn fill<I, N, V>(snapshot: &mut Snapshot, pairs: I)
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut state = State::new();
    for (name, value) in pairs {
        state.push(snapshot, name.as_ref(), value.as_ref());
    }
    state.finish(snapshot);
}

/// The streaming form of [`parse`], for HTTP stacks that hand over one field at a time.
///
/// # Examples
///
/// ```
/// use headroom::headers::{Parser, Scope};
///
/// let mut parser = Parser::new(Some(429));
/// parser.push(b"anthropic-ratelimit-requests-limit", b"50");
/// parser.push(b"Retry-After", b"16");
/// let snapshot = parser.finish();
/// assert_eq!(snapshot.quota(Scope::Requests).unwrap().limit, Some(50));
/// assert!(snapshot.server_delay().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    snapshot: Snapshot,
    state: State,
}

/// Everything the parser keeps besides the snapshot it fills.
///
/// Kept apart from the [`Snapshot`] so that [`parse`] and [`parse_into`] can fill the caller's
/// snapshot in place. Only a few words are initialised per response: the IETF tables are
/// `heapless` vectors whose storage is never touched unless an IETF field shows up.
#[derive(Debug, Clone)]
struct State {
    next_index: usize,
    family: Option<Family>,
    ietf_dialect: Option<Dialect>,
    /// Per scope, the input position of the `remaining` value kept (saturated, as
    /// [`Ignored::index`] is): the field to blame if it exceeds the limit.
    remaining_at: [u16; 8],
    /// The last RFC 3339 reset read: Anthropic sends the same one for every scope.
    last_reset: values::ResetMemo,
    ietf: ietf::Tables,
}

/// A typed fact about one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fact {
    Limit(u64),
    Remaining(u64),
    Reset(Reset),
    Window(Duration),
}

impl Parser {
    /// A parser for a response with `status` (if known).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::Parser;
    ///
    /// assert_eq!(Parser::new(Some(200)).finish().status, Some(200));
    /// ```
    pub fn new(status: Option<u16>) -> Self {
        Self {
            snapshot: Snapshot {
                status,
                ..Snapshot::default()
            },
            state: State::new(),
        }
    }

    /// Reads the next field. Its position (for [`Ignored::index`]) is the number of fields
    /// pushed before it.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{HeaderError, Parser};
    ///
    /// let mut parser = Parser::new(None);
    /// parser.push(b"Content-Type", b"application/json");
    /// parser.push(b"x-should-retry", b"perhaps");
    /// let snapshot = parser.finish();
    /// assert_eq!(snapshot.ignored[0].index, 1);
    /// assert_eq!(snapshot.ignored[0].why, HeaderError::BadBool);
    /// ```
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.state.push(&mut self.snapshot, name, value);
    }

    /// Resolves what needs the whole response (IETF policies, `remaining` against `limit`) and
    /// returns the snapshot. Ignored fields are listed in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{HeaderError, Parser, Scope};
    ///
    /// let mut parser = Parser::new(None);
    /// parser.push(b"x-ratelimit-remaining-requests", b"11");
    /// parser.push(b"x-ratelimit-limit-requests", b"10");
    /// let snapshot = parser.finish(); // only now can remaining be checked against limit
    /// assert_eq!(snapshot.quota(Scope::Requests).unwrap().remaining, None);
    /// assert_eq!(snapshot.ignored[0].why, HeaderError::RemainingAboveLimit);
    /// ```
    pub fn finish(mut self) -> Snapshot {
        self.state.finish(&mut self.snapshot);
        self.snapshot
    }
}

impl State {
    fn new() -> Self {
        Self {
            next_index: 0,
            family: None,
            ietf_dialect: None,
            remaining_at: [u16::MAX; 8],
            last_reset: values::ResetMemo::default(),
            ietf: ietf::Tables::default(),
        }
    }

    fn push(&mut self, s: &mut Snapshot, name: &[u8], value: &[u8]) {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        let field = names::classify(name);
        if field == Field::Other {
            return;
        }
        let value = values::trim(value);
        match field {
            Field::Other => {}
            Field::Unsupported => report(s, index, HeaderError::Unsupported),
            Field::Date => set_once(s, index, values::date(value), |s| &mut s.date),
            Field::RetryAfter => {
                set_once(s, index, values::retry_after(value), |s| &mut s.retry_after);
            }
            Field::RetryAfterMs => {
                let delay = values::retry_after_ms(value);
                set_once(s, index, delay, |s| &mut s.retry_after_ms);
            }
            Field::ShouldRetry => {
                set_once(s, index, values::boolean(value), |s| &mut s.should_retry);
            }
            Field::Quota {
                family,
                scope,
                part,
            } => {
                if !self.claim(s, index, family) {
                    return;
                }
                if family == Family::Ietf {
                    self.ietf_generation(Dialect::IetfSplit);
                }
                let fact = match part {
                    Part::Limit => values::limit(ietf_head(family, value)).map(Fact::Limit),
                    Part::Remaining => values::count(ietf_head(family, value)).map(Fact::Remaining),
                    Part::Reset if family == Family::Ietf => {
                        values::delay_seconds(ietf_head(family, value))
                            .map(|delay| Fact::Reset(Reset::After(delay)))
                    }
                    // Within one response every vendor reset is of the claimed family, so the
                    // memo needs no key beyond the bytes.
                    Part::Reset => self
                        .last_reset
                        .reset(value, family == Family::Anthropic)
                        .map(Fact::Reset),
                };
                self.set_fact(s, index, scope, fact);
            }
            Field::RateLimit => {
                if self.claim(s, index, Family::Ietf) {
                    self.push_rate_limit(s, index, value);
                }
            }
            Field::RateLimitPolicy => {
                if self.claim(s, index, Family::Ietf) {
                    self.push_policy(s, index, value);
                }
            }
        }
    }

    fn finish(&mut self, s: &mut Snapshot) {
        self.resolve_ietf(s);
        self.check_remaining(s);
        s.dialect = match self.family {
            None => Dialect::None,
            Some(Family::Anthropic) => Dialect::Anthropic,
            Some(Family::OpenAi) => Dialect::OpenAi,
            Some(Family::Ietf) => self.ietf_dialect.unwrap_or(Dialect::IetfSplit),
        };
        sort_by_index(&mut s.ignored);
    }

    /// Whether a field of `family` may be used; reports it as superseded if not.
    fn claim(&mut self, s: &mut Snapshot, index: usize, family: Family) -> bool {
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

    fn ietf_generation(&mut self, dialect: Dialect) {
        if self.ietf_dialect.is_none() {
            self.ietf_dialect = Some(dialect);
        }
    }

    /// Sets one fact of a scope's quota: the first valid one wins.
    fn set_fact(
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
        let fresh = match fact {
            Fact::Limit(limit) => keep(&mut quota.limit, limit),
            Fact::Remaining(remaining) => {
                let fresh = keep(&mut quota.remaining, remaining);
                if fresh == Some(true)
                    && let Some(at) = self.remaining_at.get_mut(scope.index())
                {
                    *at = u16::try_from(index).unwrap_or(u16::MAX);
                }
                fresh
            }
            Fact::Reset(reset) => keep(&mut quota.reset, reset),
            Fact::Window(window) => keep(&mut quota.window, window),
        };
        if fresh.is_none() {
            report(s, index, HeaderError::Duplicate);
        }
    }

    /// Drops (and reports) a `remaining` above `limit`, except Anthropic's token rounding.
    fn check_remaining(&self, s: &mut Snapshot) {
        for scope in Scope::ALL {
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
                let index = self.remaining_at.get(scope.index()).copied();
                report(
                    s,
                    index.map_or(usize::MAX, usize::from),
                    HeaderError::RemainingAboveLimit,
                );
            }
        }
    }
}

/// Records a field as not used, once per position and reason.
fn report(s: &mut Snapshot, index: usize, why: HeaderError) {
    let position = u16::try_from(index).unwrap_or(u16::MAX);
    let seen = s
        .ignored
        .iter()
        .any(|ignored| ignored.index == position && ignored.why == why);
    if !seen {
        s.ignore(index, why);
    }
}

/// Sets a once-per-response value: the first valid one wins.
fn set_once<T: Copy + PartialEq>(
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
fn keep<T: Copy + PartialEq>(slot: &mut Option<T>, value: T) -> Option<bool> {
    match *slot {
        None => {
            *slot = Some(value);
            Some(true)
        }
        Some(kept) if kept == value => Some(false),
        Some(_) => None,
    }
}

/// Orders the ignored fields by position, keeping the order of reports about one field. An
/// insertion sort: there are at most [`IGNORED_CAPACITY`] of them, and a general-purpose sort
/// would cost kilobytes of flash for that.
fn sort_by_index(ignored: &mut [Ignored]) {
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

/// The first member of a ≤ -06 IETF field (`100;w=10, …` → `100`); vendor values as they are.
fn ietf_head(family: Family, value: &[u8]) -> &[u8] {
    if family != Family::Ietf {
        return value;
    }
    let end = value
        .iter()
        .position(|&b| b == b',' || b == b';')
        .unwrap_or(value.len());
    values::trim(value.get(..end).unwrap_or_default())
}
