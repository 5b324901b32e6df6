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
//! On the hot path, [`parse_into`] refills a snapshot the caller keeps, and a [`Reader`] also
//! remembers the last `Date` and RFC 3339 reset it read, which responses of one second repeat:
//! the same snapshot, for a comparison instead of reading a date.
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
//! * Limits: `0` is [`HeaderError::ZeroLimit`]; Azure's `-1` sentinel on a vendor limit or
//!   remaining means "unlimited": that quota is left out and its fields are reported as
//!   [`HeaderError::Unlimited`]; other negatives are [`HeaderError::Negative`]; more than a
//!   `u64` is [`HeaderError::NumberTooLarge`].
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
//!   latter, as the SDKs do. Their lenient readings by the SDKs' float parsers are kept too
//!   ([`SdkReadings`]), for presets that read them as their SDK does ([`Snapshot::server_value`]).
//!
//! # Dialects as Cargo features
//!
//! Each dialect's reader is a feature: `anthropic` (`anthropic-ratelimit-*`, `-priority-*`,
//! `-fast-*`), `openai` (`x-ratelimit-*`) and `ietf` (the `RateLimit` drafts, with their
//! Structured Field parser); all three are on by default. A firmware client of one provider
//! turns the others off to save flash (`default-features = false, features = ["anthropic"]`).
//! A field of a dialect that is off is still recognised by name, then reported as
//! [`HeaderError::DialectDisabled`] and not used: never read as another field, never a quota.
//! It does not claim the response's [`Dialect`] either. `Date`, `retry-after`,
//! `retry-after-ms` and `x-should-retry` belong to no dialect and are always read.
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

mod emit;
#[cfg(feature = "ietf")]
mod ietf;
mod memo;
mod names;
#[cfg(feature = "ietf")]
mod sf;
mod snapshot;
mod state;
mod values;

#[cfg(test)]
mod tests;

pub use emit::{emit, field_names};
#[cfg(feature = "ietf")]
pub use ietf::IETF_CAPACITY;
pub use snapshot::*;

use memo::Memos;
use names::{Family, Field, Part};
use state::*;

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
///         ("anthropic-ratelimit-requests-limit", "60"),
///         ("anthropic-ratelimit-requests-remaining", "59"),
///         ("anthropic-ratelimit-requests-reset", "1s"),
///         ("anthropic-ratelimit-tokens-limit", "-1"),
///     ],
/// );
/// assert_eq!(snapshot.dialect, Dialect::Anthropic);
/// let requests = snapshot.quota(Scope::Requests).unwrap();
/// assert_eq!((requests.limit, requests.remaining), (Some(60), Some(59)));
/// assert_eq!(requests.reset, Some(Reset::After(time::secs(1))));
/// assert_eq!(snapshot.ignored[0].index, 3);
/// assert_eq!(snapshot.ignored[0].why, HeaderError::Unlimited);
/// assert_eq!(snapshot.quota(Scope::Tokens), None);
/// ```
pub fn parse<I, N, V>(status: Option<u16>, pairs: I) -> Snapshot
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    fresh(status, pairs, &mut Memos::one_response())
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
    out.clear(status);
    fill(out, pairs, &mut Memos::one_response());
}

/// A new snapshot of `pairs`: [`parse`], with `memos` to remember in.
fn fresh<I, N, V>(status: Option<u16>, pairs: I, memos: &mut Memos) -> Snapshot
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut snapshot = Snapshot {
        status,
        ..Snapshot::default()
    };
    fill(&mut snapshot, pairs, memos);
    snapshot
}

/// Reads `pairs` into a fresh `snapshot` (one with only its status set). Inlined into its
/// callers on 64-bit targets (the loop then sees the snapshot it fills); one copy on others.
#[cfg_attr(target_pointer_width = "64", inline(always))]
fn fill<I, N, V>(snapshot: &mut Snapshot, pairs: I, memos: &mut Memos)
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut state = State::new();
    let mut index: Count = 0;
    for (name, value) in pairs {
        #[cfg_attr(
            target_pointer_width = "64",
            expect(
                clippy::useless_conversion,
                reason = "a `usize` on 64-bit targets, a `u16` on others"
            )
        )]
        state.push_at(
            snapshot,
            memos,
            usize::from(index),
            name.as_ref(),
            value.as_ref(),
        );
        index = if cfg!(target_pointer_width = "64") {
            // No input has 2^64 fields: the count never wraps, and needs no test.
            index.wrapping_add(1)
        } else {
            index.saturating_add(1)
        };
    }
    state.finish(snapshot);
}

/// What [`fill`] counts the fields' positions in. Positions are reported as `u16`, saturated
/// ([`Ignored::index`]). On 64-bit targets they are counted in a full register and saturated
/// where they are stored (a dozen stores against a test on every field); on others in a `u16`,
/// saturated as counted, so that the stores need no conversion (flash).
#[cfg(target_pointer_width = "64")]
type Count = usize;
#[cfg(not(target_pointer_width = "64"))]
type Count = u16;

/// [`parse_into`] for a client that reads response after response: it remembers the last `Date`
/// and the last RFC 3339 reset it read, with what they gave, so that a value repeated from the
/// previous response costs a comparison of a few words instead of reading a date.
///
/// Responses of one second carry the same `Date`, and Anthropic's resets move at most once a
/// second too, so under load nearly every response repeats them. What is remembered is the
/// exact bytes and the exact result (errors too): the snapshot is the one [`parse`] gives, field
/// for field and report for report; only the cost differs. It is 120 bytes on 64-bit targets, 100 on 32-bit ones.
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, Reader, Snapshot};
/// use headroom::time::UnixTime;
///
/// let mut reader = Reader::new();
/// let mut snapshot = Snapshot::default();
/// let first = [("date", "Sat, 28 Nov 2026 04:00:00 GMT"), ("retry-after", "2")];
/// reader.parse_into(Some(200), first, &mut snapshot);
/// assert_eq!(snapshot.date, Some(UnixTime::from_secs(1_795_838_400)));
///
/// // The same second again: remembered, and still the snapshot `parse` gives.
/// let again = [("date", "Sat, 28 Nov 2026 04:00:00 GMT")];
/// reader.parse_into(Some(200), again, &mut snapshot);
/// assert_eq!(snapshot, headers::parse(Some(200), again));
///
/// // A malformed date is reported as `parse` reports it, remembered or not.
/// let bad = [("date", "Sat, 29 Nov 2026 04:00:00 GMT")]; // a Sunday
/// reader.parse_into(Some(200), bad, &mut snapshot);
/// reader.parse_into(Some(200), bad, &mut snapshot);
/// assert_eq!(snapshot, headers::parse(Some(200), bad));
/// assert_eq!(snapshot.date, None);
/// ```
#[derive(Debug, Clone)]
pub struct Reader {
    memos: Memos,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            memos: Memos::across_responses(),
        }
    }
}

impl Reader {
    /// A reader that remembers nothing yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{self, Reader};
    ///
    /// let fields = [("anthropic-ratelimit-requests-limit", "50")];
    /// assert_eq!(Reader::new().parse(Some(200), fields), headers::parse(Some(200), fields));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// [`parse`], remembering as [`Reader`] says.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{Reader, Scope};
    ///
    /// let mut reader = Reader::new();
    /// let snapshot = reader.parse(Some(200), [("anthropic-ratelimit-requests-limit", "50")]);
    /// assert_eq!(snapshot.quota(Scope::Requests).unwrap().limit, Some(50));
    /// ```
    pub fn parse<I, N, V>(&mut self, status: Option<u16>, pairs: I) -> Snapshot
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        fresh(status, pairs, &mut self.memos)
    }

    /// [`parse_into`], remembering as [`Reader`] says: afterwards `*out` equals
    /// `parse(status, pairs)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{self, Reader, Snapshot};
    ///
    /// let fields = [("anthropic-ratelimit-requests-reset", "2026-11-28T04:00:00Z")];
    /// let (mut reader, mut snapshot) = (Reader::new(), Snapshot::default());
    /// for _ in 0..3 {
    ///     reader.parse_into(Some(200), fields, &mut snapshot);
    ///     assert_eq!(snapshot, headers::parse(Some(200), fields));
    /// }
    /// ```
    pub fn parse_into<I, N, V>(&mut self, status: Option<u16>, pairs: I, out: &mut Snapshot)
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        out.clear(status);
        fill(out, pairs, &mut self.memos);
    }
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
    memos: Memos,
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
            memos: Memos::one_response(),
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
        self.state
            .push(&mut self.snapshot, &mut self.memos, name, value);
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
    /// parser.push(b"anthropic-ratelimit-requests-remaining", b"11");
    /// parser.push(b"anthropic-ratelimit-requests-limit", b"10");
    /// let snapshot = parser.finish(); // only now can remaining be checked against limit
    /// assert_eq!(snapshot.quota(Scope::Requests).unwrap().remaining, None);
    /// assert_eq!(snapshot.ignored[0].why, HeaderError::RemainingAboveLimit);
    /// ```
    pub fn finish(mut self) -> Snapshot {
        self.state.finish(&mut self.snapshot);
        self.snapshot
    }
}
