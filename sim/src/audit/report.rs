//! The audit's findings, for people (a table) and for machines (`--format json`; the fields are
//! documented in the parent module).

use std::fmt::Write as _;

use headroom::LimitKind;
use serde::Serialize;

/// Error statistics of one limit: the engine's estimate minus the header's `remaining`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorStats {
    /// Responses compared.
    pub count: u64,
    /// Sum of |estimate − remaining|.
    pub sum_abs: u128,
    /// The largest estimate − remaining when positive (the engine thought more was left than
    /// the server said: the dangerous side), else 0.
    pub max_over: u64,
    /// The largest remaining − estimate when positive (the engine was more careful), else 0.
    pub max_under: u64,
    /// Responses where the estimate was above `remaining`.
    pub over: u64,
}

impl ErrorStats {
    /// Adds one comparison.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::audit::ErrorStats;
    ///
    /// let mut stats = ErrorStats::default();
    /// stats.add(1_000, 1_500);
    /// stats.add(2_000, 1_800);
    /// assert_eq!((stats.count, stats.max_over, stats.max_under, stats.over), (2, 200, 500, 1));
    /// assert_eq!(stats.mean_abs(), 350.0);
    /// ```
    pub fn add(&mut self, estimate: u64, remaining: u64) {
        self.count = self.count.saturating_add(1);
        let error = estimate.abs_diff(remaining);
        self.sum_abs = self.sum_abs.saturating_add(u128::from(error));
        if estimate > remaining {
            self.over = self.over.saturating_add(1);
            self.max_over = self.max_over.max(error);
        } else {
            self.max_under = self.max_under.max(error);
        }
    }

    /// The mean absolute error, rounded to a tenth (0 with no comparison).
    #[expect(clippy::float_arithmetic, reason = "report output only")]
    pub fn mean_abs(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let mean = self.sum_abs as f64 / self.count as f64;
        (mean * 10.0).round() / 10.0
    }
}

/// One limit's statistics as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorJson {
    /// Responses compared.
    pub count: u64,
    /// Mean |estimate − remaining|.
    pub mean_abs: f64,
    /// Largest over-estimate.
    pub max_over: u64,
    /// Largest under-estimate.
    pub max_under: u64,
    /// Responses with an over-estimate.
    pub over: u64,
}

impl From<&ErrorStats> for ErrorJson {
    fn from(stats: &ErrorStats) -> Self {
        Self {
            count: stats.count,
            mean_abs: stats.mean_abs(),
            max_over: stats.max_over,
            max_under: stats.max_under,
            over: stats.over,
        }
    }
}

/// Error statistics by limit; a limit never compared is absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct EstimateErrorJson {
    /// Requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<ErrorJson>,
    /// Input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<ErrorJson>,
    /// Output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<ErrorJson>,
    /// Combined tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<ErrorJson>,
}

/// A recorded 429 that the engine would have held back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldBack {
    /// The request's id.
    pub id: String,
    /// When it was sent, seconds since the start of the trace.
    pub t: f64,
    /// How much later the engine would have sent it, ms (rounded up); absent when rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
    /// The limit that held it back.
    pub limit: &'static str,
    /// Present (and true) when the engine would never have sent it as asked: the cost is above
    /// that limit's burst.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rejected: bool,
}

/// A recorded 429 that the engine would have sent at the same time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Missed {
    /// The request's id.
    pub id: String,
    /// When it was sent, seconds since the start of the trace.
    pub t: f64,
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Audit {
    /// The trace as named on the command line.
    pub trace: String,
    /// Lanes in the trace.
    pub lanes: usize,
    /// Request lines.
    pub requests: u64,
    /// Response lines.
    pub responses: u64,
    /// Requests with no response.
    pub in_flight_at_end: u64,
    /// Requests the engine would have sent at their recorded time.
    pub would_admit: u64,
    /// Requests it would have sent later.
    pub would_wait: u64,
    /// Requests it would never have sent as asked.
    pub would_reject: u64,
    /// Requests the shadow could not track (more than its permit table holds in flight).
    #[serde(skip_serializing_if = "is_zero")]
    pub untracked: u64,
    /// Responses with status 429.
    pub recorded_429: u64,
    /// Of those, the ones whose request the engine would have held back or rejected.
    pub prevented_429: u64,
    /// Engine estimate − header `remaining`, by limit.
    pub estimate_error: EstimateErrorJson,
    /// The prevented 429s.
    pub held_back: Vec<HeldBack>,
    /// The recorded 429s the engine would not have prevented.
    pub missed: Vec<Missed>,
    /// Statistics by [`LimitKind::index`] (the JSON's `estimate_error` is built from these).
    #[serde(skip)]
    pub errors: [ErrorStats; 4],
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[expect(clippy::float_arithmetic, reason = "report output only")]
pub(super) fn seconds(us: u64) -> f64 {
    us as f64 / 1_000_000.0
}

impl Audit {
    /// An empty audit of `trace`.
    pub fn new(trace: &str) -> Self {
        Self {
            trace: trace.to_owned(),
            lanes: 0,
            requests: 0,
            responses: 0,
            in_flight_at_end: 0,
            would_admit: 0,
            would_wait: 0,
            would_reject: 0,
            untracked: 0,
            recorded_429: 0,
            prevented_429: 0,
            estimate_error: EstimateErrorJson::default(),
            held_back: Vec::new(),
            missed: Vec::new(),
            errors: [ErrorStats::default(); 4],
        }
    }

    /// Whether the run found what `audit` flags (exit code 1): a recorded 429 that the engine
    /// would have sent all the same.
    pub fn flagged(&self) -> bool {
        !self.missed.is_empty()
    }

    /// Fills `estimate_error` from the statistics.
    pub(super) fn finish(&mut self) {
        let json = |kind: LimitKind| {
            self.errors
                .get(kind.index())
                .filter(|stats| stats.count > 0)
                .map(ErrorJson::from)
        };
        self.estimate_error = EstimateErrorJson {
            requests: json(LimitKind::Requests),
            input_tokens: json(LimitKind::InputTokens),
            output_tokens: json(LimitKind::OutputTokens),
            tokens: json(LimitKind::Tokens),
        };
    }

    /// The JSON form, one object (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The table for people.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "audit of {} (engine in shadow mode)", self.trace);
        let _ = writeln!(
            out,
            "requests {}, responses {}, in flight at the end {}, lanes {}",
            self.requests, self.responses, self.in_flight_at_end, self.lanes
        );
        let _ = writeln!(
            out,
            "engine at the recorded times: {} sent, {} held back, {} rejected{}",
            self.would_admit,
            self.would_wait,
            self.would_reject,
            if self.untracked > 0 {
                format!(", {} untracked", self.untracked)
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "recorded 429s: {}, prevented: {}, missed: {}",
            self.recorded_429,
            self.prevented_429,
            self.missed.len()
        );
        out.push('\n');
        let _ = writeln!(out, "estimate − header remaining, per response");
        let _ = writeln!(
            out,
            "{:<14} {:>7} {:>10} {:>9} {:>10} {:>6}",
            "limit", "count", "mean |err|", "max over", "max under", "over"
        );
        for kind in LimitKind::ALL {
            let Some(stats) = self.errors.get(kind.index()).filter(|s| s.count > 0) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{:<14} {:>7} {:>10.1} {:>9} {:>10} {:>6}",
                kind.name(),
                stats.count,
                stats.mean_abs(),
                stats.max_over,
                stats.max_under,
                stats.over
            );
        }
        if self.errors.iter().all(|stats| stats.count == 0) {
            let _ = writeln!(
                out,
                "(no response carried a remaining the engine could compare)"
            );
        }
        if !self.held_back.is_empty() {
            out.push('\n');
            let _ = writeln!(out, "recorded 429s the engine would have held back");
            let _ = writeln!(
                out,
                "{:<16} {:>10} {:>10}  limit",
                "id", "t (s)", "wait (ms)"
            );
            for held in &self.held_back {
                let wait = match held.wait_ms {
                    Some(ms) => ms.to_string(),
                    None => "rejected".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "{:<16} {:>10.3} {:>10}  {}",
                    held.id, held.t, wait, held.limit
                );
            }
        }
        if !self.missed.is_empty() {
            out.push('\n');
            let _ = writeln!(out, "recorded 429s the engine would have sent too");
            let _ = writeln!(out, "{:<16} {:>10}", "id", "t (s)");
            for missed in &self.missed {
                let _ = writeln!(out, "{:<16} {:>10.3}", missed.id, missed.t);
            }
        }
        out
    }
}
