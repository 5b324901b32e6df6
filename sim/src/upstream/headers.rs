//! The response headers the simulated provider writes, from its own state.
//!
//! The values are what a real response carries (`docs/protocol.md` §1, §2): for Anthropic,
//! `anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}`
//! with token `remaining` rounded to the nearest thousand and resets as RFC 3339 instants (time
//! until full, rounded up to the second), the combined `tokens` quota being the sum of input
//! and output when the lane has no combined limit of its own; for OpenAI,
//! `x-ratelimit-{limit,remaining,reset}-*` with exact `remaining` and Go-style durations
//! truncated to the millisecond. Both carry `date` and, on a 429 or 529, `x-should-retry: true`
//! and `retry-after` in whole seconds when the provider sends it. A 529 carries nothing about
//! the quota.
//!
//! The provider's choices (rounding, the combined quota, what a 529 says) make a [`Snapshot`]
//! ([`HeaderState::snapshot`]); the core's one emitter ([`headers::emit`]) writes it as text
//! when the wire form is wanted ([`render`]). The snapshot is also exactly what the core's
//! parser reads back from that text, so a client can be handed it directly, skipping the
//! render → parse round trip (a property test holds the two equal).

use std::fmt::{self, Write as _};

use headroom::LimitKind;
use headroom::headers::{
    self, Dialect as Parsed, Quota, Reset, RetryAfter, Scope, SdkReadings, Snapshot,
};
use headroom::time::{self, UnixTime};

use crate::workload::Dialect;

/// Header fields as (name, value) strings, reused from one response to the next so that emitting
/// them allocates nothing once warm.
#[derive(Debug, Default, Clone)]
pub struct HeaderBuf {
    text: String,
    fields: Vec<(&'static str, u32, u32)>,
}

impl HeaderBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every field, keeping the memory.
    pub fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }

    fn push(&mut self, name: &'static str, value: fmt::Arguments<'_>) -> fmt::Result {
        let start = u32::try_from(self.text.len()).map_err(|_| fmt::Error)?;
        self.text.write_fmt(value)?;
        let end = u32::try_from(self.text.len()).map_err(|_| fmt::Error)?;
        self.fields.push((name, start, end));
        Ok(())
    }

    /// The fields in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::HeaderBuf;
    ///
    /// let buf = HeaderBuf::new();
    /// assert_eq!(buf.pairs().count(), 0);
    /// ```
    pub fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.fields.iter().map(|&(name, start, end)| {
            let value = self.text.get(start as usize..end as usize).unwrap_or("");
            (name, value)
        })
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }
}

/// One quota as the provider sees it when answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaView {
    /// Units per minute.
    pub limit: u64,
    /// Whole units available now.
    pub remaining: u64,
    /// Microseconds until full.
    pub time_to_full_us: u64,
}

/// Everything the headers of one response say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderState {
    /// The response's HTTP status.
    pub status: u16,
    /// Wall clock of the response, µs since the Unix epoch.
    pub date_unix_us: u64,
    /// How far the `Date` field is off `date_unix_us` (resets are not skewed), µs.
    pub date_skew_us: i64,
    /// `retry-after` in seconds (429 only).
    pub retry_after_s: Option<u64>,
    /// The quotas, indexed by [`LimitKind::index`].
    pub quotas: [Option<QuotaView>; 4],
}

/// Token `remaining` as Anthropic reports it: rounded to the nearest thousand.
pub fn round_thousand(units: u64) -> u64 {
    units.saturating_add(500) / 1000 * 1000
}

/// The reset instant in whole seconds: time to full, rounded up.
fn reset_secs(date_unix_us: u64, time_to_full_us: u64) -> u64 {
    date_unix_us
        .saturating_add(time_to_full_us)
        .div_ceil(1_000_000)
}

impl HeaderState {
    /// What the headers of this response say in `dialect`, as the core's parser reads them.
    ///
    /// Anthropic token `remaining` is rounded to the nearest thousand; when that rounds above
    /// the limit, the parser keeps `remaining − 500` (an excess of at most 500 is rounding) or
    /// drops it, and so does this. The combined `tokens` quota of an Anthropic lane without one
    /// is the sum of input and output.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::Scope;
    /// use headroom_sim::upstream::{HeaderState, QuotaView};
    /// use headroom_sim::workload::Dialect;
    ///
    /// let mut state = HeaderState { status: 200, date_unix_us: 1_748_772_000_000_000, ..Default::default() };
    /// state.quotas[1] = Some(QuotaView { limit: 30_000, remaining: 12_499, time_to_full_us: 35_000_000 });
    /// let snapshot = state.snapshot(Dialect::Anthropic);
    /// assert_eq!(snapshot.quota(Scope::InputTokens).unwrap().remaining, Some(12_000));
    /// ```
    pub fn snapshot(&self, dialect: Dialect) -> Snapshot {
        let mut snapshot = Snapshot::default();
        self.snapshot_into(dialect, &mut snapshot);
        snapshot
    }

    /// [`HeaderState::snapshot`] written over `snapshot`, whatever it held: every field is
    /// set, so a client can keep one snapshot and have it refilled for each response instead of
    /// receiving (and copying) a fresh one of several hundred bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{Scope, Snapshot};
    /// use headroom_sim::upstream::{HeaderState, QuotaView};
    /// use headroom_sim::workload::Dialect;
    ///
    /// let mut state = HeaderState { status: 200, date_unix_us: 1_748_772_000_000_000, ..Default::default() };
    /// state.quotas[0] = Some(QuotaView { limit: 50, remaining: 49, time_to_full_us: 1_200_000 });
    /// let mut snapshot = Snapshot::default();
    /// state.snapshot_into(Dialect::Anthropic, &mut snapshot);
    /// state.quotas[0] = None;
    /// state.snapshot_into(Dialect::Anthropic, &mut snapshot);
    /// assert_eq!(snapshot, state.snapshot(Dialect::Anthropic));
    /// assert!(snapshot.quota(Scope::Requests).is_none());
    /// ```
    pub fn snapshot_into(&self, dialect: Dialect, snapshot: &mut Snapshot) {
        // What the parser makes of a response without fields (`Snapshot { status, ..default }`,
        // a field added to `Snapshot` included) with the fields every response has, written
        // once: not a parse of nothing and a rewrite.
        let date_us = self.date_unix_us.saturating_add_signed(self.date_skew_us);
        *snapshot = Snapshot {
            status: Some(self.status),
            date: Some(UnixTime::from_secs(date_us / 1_000_000)),
            retry_after: self.retry_after_s.map(|s| RetryAfter::Delay(time::secs(s))),
            sdk_retry_after: self
                .retry_after_s
                .map(|s| SdkReadings::exact(time::secs(s)))
                .unwrap_or_default(),
            should_retry: matches!(self.status, 429 | 529).then_some(true),
            ..Snapshot::default()
        };
        if self.status == 529 {
            return;
        }
        let mut any = false;
        match dialect {
            Dialect::Anthropic => {
                let mut views = self.quotas;
                let [_, input, output, tokens] = views;
                if tokens.is_none()
                    && let (Some(input), Some(output)) = (input, output)
                {
                    views[LimitKind::Tokens.index()] = Some(QuotaView {
                        limit: input.limit.saturating_add(output.limit),
                        remaining: round_thousand(input.remaining)
                            .saturating_add(round_thousand(output.remaining)),
                        time_to_full_us: input.time_to_full_us.max(output.time_to_full_us),
                    });
                }
                for (kind, view) in LimitKind::ALL.into_iter().zip(&views) {
                    let Some(quota) = *view else {
                        continue;
                    };
                    let remaining = match kind {
                        LimitKind::Requests => Some(quota.remaining),
                        _ => {
                            let rounded = round_thousand(quota.remaining);
                            match rounded.checked_sub(quota.limit) {
                                None | Some(0) => Some(rounded),
                                Some(excess) if excess <= 500 => Some(rounded - 500),
                                Some(_) => None,
                            }
                        }
                    };
                    let reset = reset_secs(self.date_unix_us, quota.time_to_full_us);
                    if let Some(slot) = snapshot.quotas.get_mut(Scope::of(kind).index()) {
                        *slot = Some(Quota {
                            limit: Some(quota.limit),
                            remaining,
                            reset: Some(Reset::At(UnixTime::from_secs(reset))),
                            window: None,
                        });
                    }
                    any = true;
                }
                if any {
                    snapshot.dialect = Parsed::Anthropic;
                }
            }
            Dialect::OpenAi => {
                for (kind, view) in LimitKind::ALL.into_iter().zip(&self.quotas) {
                    let Some(quota) = *view else {
                        continue;
                    };
                    let reset_ms = quota.time_to_full_us / 1_000;
                    if let Some(slot) = snapshot.quotas.get_mut(Scope::of(kind).index()) {
                        *slot = Some(Quota {
                            limit: Some(quota.limit),
                            remaining: (quota.remaining <= quota.limit).then_some(quota.remaining),
                            reset: Some(Reset::After(time::millis(reset_ms))),
                            window: None,
                        });
                    }
                    any = true;
                }
                if any {
                    snapshot.dialect = Parsed::OpenAi;
                }
            }
        }
    }
}

/// Writes the headers of a response into `buf` (cleared first), through the core's emitter.
///
/// # Examples
///
/// ```
/// use headroom_sim::upstream::{HeaderBuf, HeaderState, QuotaView, render};
/// use headroom_sim::workload::Dialect;
///
/// let mut state = HeaderState { status: 429, date_unix_us: 1_748_772_000_000_000, retry_after_s: Some(2), ..Default::default() };
/// state.quotas[0] = Some(QuotaView { limit: 50, remaining: 0, time_to_full_us: 1_200_000 });
/// let mut buf = HeaderBuf::new();
/// render(&state, Dialect::Anthropic, &mut buf);
/// assert_eq!(buf.get("date"), Some("Sun, 01 Jun 2025 10:00:00 GMT"));
/// assert_eq!(buf.get("anthropic-ratelimit-requests-reset"), Some("2025-06-01T10:00:02Z"));
/// assert_eq!(buf.get("retry-after"), Some("2"));
/// ```
pub fn render(state: &HeaderState, dialect: Dialect, buf: &mut HeaderBuf) {
    buf.clear();
    let parsed = match dialect {
        Dialect::Anthropic => Parsed::Anthropic,
        Dialect::OpenAi => Parsed::OpenAi,
    };
    // Writing into a String only fails past 4 GiB of header text.
    let _ = headers::emit(&state.snapshot(dialect), parsed, &mut |name, value| {
        buf.push(name, value)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use headroom::headers::{self, Dialect as Parsed, Scope};
    use proptest::prelude::*;

    #[test]
    fn a_state_without_quotas_is_what_the_parser_makes_of_no_fields_plus_the_fixed_ones() {
        let dirty = [
            ("retry-after-ms", "1500"),
            ("anthropic-ratelimit-requests-limit", "x"),
            ("x-ratelimit-limit-requests", "60"),
        ];
        for status in [200u16, 429, 529] {
            let state = HeaderState {
                status,
                retry_after_s: Some(3),
                ..HeaderState::default()
            };
            let mut kept = headers::parse(Some(429), dirty);
            assert!(!kept.ignored.is_empty() && kept.retry_after_ms.is_some());
            state.snapshot_into(Dialect::Anthropic, &mut kept);
            let mut expected = headers::parse(Some(status), core::iter::empty::<(&str, &str)>());
            expected.date = Some(UnixTime::from_secs(0));
            expected.retry_after = Some(RetryAfter::Delay(time::secs(3)));
            expected.sdk_retry_after = SdkReadings::exact(time::secs(3));
            expected.should_retry = (status != 200).then_some(true);
            assert_eq!(kept, expected, "{status}");
        }
    }

    fn state() -> HeaderState {
        let mut state = HeaderState {
            status: 200,
            date_unix_us: 1_748_772_000_500_000,
            ..HeaderState::default()
        };
        state.quotas[0] = Some(QuotaView {
            limit: 50,
            remaining: 0,
            time_to_full_us: 700_000,
        });
        state.quotas[1] = Some(QuotaView {
            limit: 30_000,
            remaining: 12_499,
            time_to_full_us: 35_000_000,
        });
        state.quotas[2] = Some(QuotaView {
            limit: 8_000,
            remaining: 7_500,
            time_to_full_us: 3_750_000,
        });
        state
    }

    #[test]
    fn anthropic_headers_parse_back() {
        let mut buf = HeaderBuf::new();
        render(&state(), Dialect::Anthropic, &mut buf);
        let snapshot = headers::parse(Some(200), buf.pairs());
        assert_eq!(snapshot.dialect, Parsed::Anthropic);
        assert!(snapshot.ignored.is_empty(), "{:?}", snapshot.ignored);
        let input = snapshot.quota(Scope::InputTokens).unwrap();
        assert_eq!((input.limit, input.remaining), (Some(30_000), Some(12_000)));
        let output = snapshot.quota(Scope::OutputTokens).unwrap();
        assert_eq!(output.remaining, Some(8_000));
        let tokens = snapshot.quota(Scope::Tokens).unwrap();
        assert_eq!(
            (tokens.limit, tokens.remaining),
            (Some(38_000), Some(20_000))
        );
        assert_eq!(
            buf.get("anthropic-ratelimit-input-tokens-reset"),
            Some("2025-06-01T10:00:36Z")
        );
        assert_eq!(buf.get("retry-after"), None);
    }

    #[test]
    fn openai_headers_parse_back() {
        let mut state = state();
        state.quotas = [state.quotas[0], None, None, state.quotas[1]];
        state.status = 429;
        state.retry_after_s = Some(3);
        let mut buf = HeaderBuf::new();
        render(&state, Dialect::OpenAi, &mut buf);
        let snapshot = headers::parse(Some(429), buf.pairs());
        assert_eq!(snapshot.dialect, Parsed::OpenAi);
        let tokens = snapshot.quota(Scope::Tokens).unwrap();
        assert_eq!(tokens.remaining, Some(12_499));
        assert_eq!(buf.get("x-ratelimit-reset-tokens"), Some("35s"));
        assert_eq!(buf.get("x-ratelimit-reset-requests"), Some("700ms"));
        assert_eq!(snapshot.server_delay(), Some(headroom::time::secs(3)));
        assert_eq!(snapshot.should_retry, Some(true));
    }

    #[test]
    fn overloaded_has_no_quota() {
        let mut state = state();
        state.status = 529;
        let mut buf = HeaderBuf::new();
        render(&state, Dialect::Anthropic, &mut buf);
        assert_eq!(buf.pairs().count(), 2);
    }

    fn quota() -> impl Strategy<Value = Option<QuotaView>> {
        proptest::option::of((1u64..3_000_000, 0u64..=1_000, 0u64..200_000_000).prop_map(
            |(limit, permille, time_to_full_us)| QuotaView {
                limit,
                remaining: limit / 1_000 * permille + limit % 1_000 * permille / 1_000,
                time_to_full_us,
            },
        ))
    }

    proptest! {
        /// The snapshot handed to clients by default is what the core's parser reads from the
        /// rendered headers (`--wire-headers`).
        #[test]
        fn direct_snapshot_equals_render_then_parse(
            status in prop_oneof![Just(200u16), Just(429), Just(529)],
            date_unix_us in 1_600_000_000_000_000u64..1_900_000_000_000_000,
            date_skew_us in -5_000_000i64..5_000_000,
            retry_after_s in proptest::option::of(1u64..120),
            quotas in [quota(), quota(), quota(), quota()],
            openai in any::<bool>(),
        ) {
            let state = HeaderState { status, date_unix_us, date_skew_us, retry_after_s, quotas };
            let dialect = if openai { Dialect::OpenAi } else { Dialect::Anthropic };
            let mut buf = HeaderBuf::new();
            render(&state, dialect, &mut buf);
            let parsed = headers::parse(Some(status), buf.pairs());
            prop_assert!(parsed.ignored.is_empty(), "{:?}", parsed.ignored);
            prop_assert_eq!(parsed, state.snapshot(dialect));
        }
    }

    proptest! {
        /// Refilling a kept snapshot gives the fresh one, whatever the previous response left
        /// in it (here a wire-parsed snapshot with ignored fields, or another state's).
        #[test]
        fn snapshot_into_overwrites_every_field(
            status in prop_oneof![Just(200u16), Just(429), Just(529)],
            quotas in [quota(), quota(), quota(), quota()],
            before in [quota(), quota(), quota(), quota()],
            retry_after_s in proptest::option::of(1u64..120),
            openai in any::<bool>(),
        ) {
            let dialect = if openai { Dialect::OpenAi } else { Dialect::Anthropic };
            let state = HeaderState { status, date_unix_us: 1_748_772_000_500_000, date_skew_us: 0, retry_after_s, quotas };
            let previous = HeaderState { status: 429, retry_after_s: Some(7), quotas: before, ..state };
            let mut kept = headers::parse(
                Some(429),
                [("retry-after-ms", "1500"), ("anthropic-ratelimit-requests-limit", "x")],
            );
            prop_assert!(!kept.ignored.is_empty());
            state.snapshot_into(dialect, &mut kept);
            prop_assert_eq!(&kept, &state.snapshot(dialect));
            previous.snapshot_into(Dialect::Anthropic, &mut kept);
            state.snapshot_into(dialect, &mut kept);
            prop_assert_eq!(kept, state.snapshot(dialect));
        }
    }

    #[test]
    fn rounding() {
        assert_eq!(round_thousand(499), 0);
        assert_eq!(round_thousand(500), 1_000);
        assert_eq!(round_thousand(29_999), 30_000);
    }
}
