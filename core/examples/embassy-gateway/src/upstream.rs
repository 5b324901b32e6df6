//! The provider the gateway sends to, simulated: there is no network on the board, so "send"
//! asks this model and waits out a fixed latency.
//!
//! The model is the provider's request bucket as Anthropic describes it: `rpm` requests a
//! minute, refilled continuously, holding at most one second's worth. A request that finds the
//! bucket empty gets a 429 with `retry-after`; every answer carries `date` and the
//! `anthropic-ratelimit-requests-*` fields, describing the bucket when the response leaves. The fields are written by `headroom::headers::emit`
//! and read back by `headroom::headers::parse`, exactly as a gateway would read them off the
//! wire, and each answer is tallied so the run can be judged.

use core::fmt::Write as _;

use headroom::headers::{self, Dialect, Quota, Reset, RetryAfter, Scope, Snapshot};
use headroom::time::{self, UnixTime};

/// The wall clock at the start of the run (the server's `date` is this plus the run's time).
const EPOCH_SECS: u64 = 1_764_460_800;

/// The header fields of one response, as they would come off the wire.
pub type Fields = heapless::Vec<(&'static str, heapless::String<40>), 8>;

/// How the provider answered over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// 200s.
    pub served: u32,
    /// 429s.
    pub refused: u32,
    /// When the first and the last request arrived (µs since the start).
    pub first: Option<u64>,
    /// When the last request arrived.
    pub last: u64,
}

/// A provider's request bucket (a GCRA: the theoretical arrival time of the next request).
#[derive(Debug)]
pub struct Upstream {
    rpm: u32,
    /// µs between two requests at the limit's rate.
    interval: u64,
    /// How far ahead of its time a request may come: one second's worth, less one request.
    tolerance: u64,
    /// The theoretical arrival time of the next request, µs since the start.
    tat: u64,
    tally: Tally,
}

impl Upstream {
    /// A provider allowing `rpm` requests a minute (at least 1), its bucket full.
    pub const fn new(rpm: u32) -> Self {
        let rpm = if rpm == 0 { 1 } else { rpm };
        let interval = 60_000_000 / rpm as u64;
        let per_second = if rpm / 60 == 0 { 1 } else { rpm / 60 };
        Self {
            rpm,
            interval,
            tolerance: (per_second as u64 - 1) * interval,
            tat: 0,
            tally: Tally {
                served: 0,
                refused: 0,
                first: None,
                last: 0,
            },
        }
    }

    /// Decides on a request arriving at `now` (µs since the start): 200 if the bucket has room
    /// (it is charged), else 429.
    pub fn admit(&mut self, now: u64) -> u16 {
        self.tally.first.get_or_insert(now);
        self.tally.last = now;
        let due = self.tat.max(now);
        if now >= due.saturating_sub(self.tolerance) {
            self.tat = due + self.interval;
            self.tally.served += 1;
            200
        } else {
            self.tally.refused += 1;
            429
        }
    }

    /// The header fields of a response with `status` sent at `now`: the bucket as it is then
    /// (as the provider writes them, when the response leaves), and on a 429 when a request
    /// would fit.
    pub fn headers(&self, now: u64, status: u16) -> Fields {
        let mut snapshot = Snapshot {
            status: Some(status),
            date: Some(UnixTime::from_secs(EPOCH_SECS + now / 1_000_000)),
            ..Snapshot::default()
        };
        if status == 429 {
            let wait = self.tat.saturating_sub(self.tolerance).saturating_sub(now);
            snapshot.retry_after = Some(RetryAfter::Delay(time::micros(wait)));
        }
        // Whole requests the bucket could take now, and when it is full again.
        let remaining =
            (now + self.tolerance + self.interval).saturating_sub(self.tat) / self.interval;
        snapshot.quotas[Scope::Requests.index()] = Some(Quota {
            limit: Some(u64::from(self.rpm)),
            remaining: Some(remaining),
            reset: Some(Reset::At(UnixTime::from_micros(
                EPOCH_SECS * 1_000_000 + self.tat.max(now),
            ))),
            ..Quota::default()
        });
        wire(&snapshot)
    }

    /// The answers so far.
    pub const fn tally(&self) -> Tally {
        self.tally
    }
}

/// `snapshot` written as header fields by `headroom::headers::emit`.
fn wire(snapshot: &Snapshot) -> Fields {
    let mut fields = Fields::new();
    // Nothing is lost: the longest value (an HTTP date) has 29 characters, and at most 6
    // fields are written.
    let _ = headers::emit(snapshot, Dialect::Anthropic, &mut |name, value| {
        let mut text = heapless::String::new();
        text.write_fmt(value)?;
        fields.push((name, text)).map_err(|_| core::fmt::Error)
    });
    fields
}
