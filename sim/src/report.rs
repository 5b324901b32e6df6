//! The comparison, for people (an aligned table) and for machines (`--format json`, the
//! contract of `docs/trace-format.md` §2).

use std::fmt::Write as _;

use headroom::LimitKind;
use serde::Serialize;

use crate::engine::RunOutcome;
use crate::metrics::{NeverFits, utilization_permille};
use crate::strategy::StrategyName;
use crate::upstream::UpstreamConfig;
use crate::workload::{Limits, Workload};

/// The line under the table: what its less obvious words mean.
pub const LEGEND: &str = "guide-*: rate-limit guides' retry loop / queue · cookbook: OpenAI cookbook processor · \
× bound: makespan ÷ fastest possible (— if any gave up) · util: binding limit's used ÷ granted quota";

/// Where the baselines come from, for `headroom simulate --help`.
pub const STRATEGY_SOURCES: &str = "Strategies (--strategy):
  headroom       this engine: limits learned from the response headers, reserve then settle
  sdk            the official SDK defaults (anthropic-sdk-python, openai-python): send at once,
                 2 retries after min(0.5 s × 2ⁿ, 8 s) with jitter, or the server's retry-after
  guide-backoff  the retry loop of rate-limit guides: 2ⁿ s + U(0, 0.5 × 2ⁿ s), 6 attempts
  guide-queue    the queue of rate-limit guides: a semaphore of 8 and sleep(60 / RPM) between sends
  cookbook       openai-cookbook examples/api_request_parallel_processor.py: client-side
                 buckets at 75 % of the limits, a 15 s pause after a 429, 5 attempts
  rpm-only       one limiter on requests per minute (what a governor user builds), SDK retries

The table's last line explains its columns; --format json gives the same numbers for scripts.";

/// Limits as JSON: absent kinds are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct LimitsJson {
    /// RPM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// ITPM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// OTPM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Combined TPM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
}

impl From<Limits> for LimitsJson {
    fn from(limits: Limits) -> Self {
        Self {
            requests: limits.get(LimitKind::Requests),
            input_tokens: limits.get(LimitKind::InputTokens),
            output_tokens: limits.get(LimitKind::OutputTokens),
            tokens: limits.get(LimitKind::Tokens),
        }
    }
}

/// One lane's limits (listed when a workload has more than one lane).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneJson {
    /// The lane's name.
    pub lane: String,
    /// Its limits.
    pub limits: LimitsJson,
}

/// Latency percentiles, arrival → final completion, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct LatencyJson {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// One strategy's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyRow {
    /// Its name.
    pub strategy: &'static str,
    /// Requests in the workload.
    pub requests: u64,
    /// Requests that succeeded.
    pub completed: u64,
    /// Requests abandoned.
    pub gave_up: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// 529s received.
    pub overloaded: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// First arrival → last completion, s.
    pub makespan_s: f64,
    /// The physical limit (same for every strategy), s; `None` (`null`) when a request can
    /// never be admitted ([`Report::never_fits`]).
    pub makespan_lower_bound_s: Option<f64>,
    /// The binding limit's consumed ÷ granted quota.
    pub utilization: f64,
    /// The limit with the highest utilization.
    pub binding_limit: &'static str,
    /// Latency percentiles.
    pub latency_ms: LatencyJson,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The trace as named on the command line.
    pub trace: String,
    /// The seed.
    pub seed: u64,
    /// The limits of the (first) lane.
    pub limits: LimitsJson,
    /// Every lane's limits, when there is more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<LaneJson>,
    /// The world the clients ran in, as the `simulate` flags that give it (absent for the ideal
    /// world): the command line's, or the trace header's when the command line gave none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub world: String,
    /// One row per strategy, in the order run.
    pub strategies: Vec<StrategyRow>,
    /// When there is no makespan bound: the request that can never be admitted
    /// ([`Report::never_fits`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub never_fits: Option<NeverFitsJson>,
}

/// A request no strategy can have admitted: it needs more of a limit at once than the
/// provider's bucket ever holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeverFitsJson {
    /// The request's id in the trace.
    pub request: String,
    /// The limit.
    pub limit: &'static str,
    /// What it needs of the limit at admission.
    pub needs: u64,
    /// The most the provider's bucket of that limit holds.
    pub burst: u64,
}

#[expect(clippy::float_arithmetic, reason = "report output only")]
fn thousandths(value: u64) -> f64 {
    value as f64 / 1000.0
}

impl Report {
    /// An empty report for `workload`.
    pub fn new(trace: &str, seed: u64, workload: &Workload) -> Self {
        let lanes = if workload.lanes.len() > 1 {
            workload
                .lanes
                .iter()
                .map(|lane| LaneJson {
                    lane: lane.name.clone(),
                    limits: lane.limits.into(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Self {
            trace: trace.to_owned(),
            seed,
            limits: workload
                .lanes
                .first()
                .map(|lane| lane.limits.into())
                .unwrap_or_default(),
            lanes,
            world: String::new(),
            strategies: Vec::new(),
            never_fits: None,
        }
    }

    /// Records that the workload has no makespan bound because of `why` (the rows' bound is
    /// then `null` and the table says why under it).
    pub fn never_fits(&mut self, why: &NeverFits, workload: &Workload) {
        self.never_fits = Some(NeverFitsJson {
            request: workload
                .ids
                .get(why.request as usize)
                .unwrap_or_default()
                .to_owned(),
            limit: why.kind.name(),
            needs: why.needs,
            burst: why.burst,
        });
    }

    /// Adds one strategy's run; `bound_us` is the workload's makespan lower bound
    /// ([`crate::metrics::lower_bound_us`]; `None` when there is none), the same for every run
    /// of one workload and configuration, so it is computed once (and can be, beside the runs).
    pub fn push(
        &mut self,
        name: StrategyName,
        workload: &Workload,
        config: &UpstreamConfig,
        outcome: &RunOutcome,
        bound_us: Option<u64>,
    ) {
        let (binding, permille) = utilization_permille(workload, config, outcome)
            .map_or(("none", 0), |(kind, permille)| (kind.name(), permille));
        let ms = |us: u64| us.saturating_add(500) / 1000;
        let latency = &outcome.latency;
        self.strategies.push(StrategyRow {
            strategy: name.name(),
            requests: outcome.requests,
            completed: outcome.completed,
            gave_up: outcome.gave_up,
            rate_limited: outcome.rate_limited,
            overloaded: outcome.overloaded,
            retries: outcome.retries,
            makespan_s: thousandths(ms(outcome.makespan_us)),
            makespan_lower_bound_s: bound_us.map(|us| thousandths(ms(us))),
            utilization: thousandths(permille),
            binding_limit: binding,
            latency_ms: LatencyJson {
                p50: ms(latency.p50_us),
                p99: ms(latency.p99_us),
                max: ms(latency.max_us),
            },
        });
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The report as an aligned table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let limits = |limits: &LimitsJson| {
            let parts: Vec<String> = [
                ("RPM", limits.requests),
                ("ITPM", limits.input_tokens),
                ("OTPM", limits.output_tokens),
                ("TPM", limits.tokens),
            ]
            .iter()
            .filter_map(|(name, value)| value.map(|v| format!("{v} {name}")))
            .collect();
            parts.join(" / ")
        };
        let _ = writeln!(out, "trace: {}   seed: {}", self.trace, self.seed);
        if self.lanes.is_empty() {
            let _ = writeln!(out, "limits: {}", limits(&self.limits));
        } else {
            for lane in &self.lanes {
                let _ = writeln!(out, "limits ({}): {}", lane.lane, limits(&lane.limits));
            }
        }
        if !self.world.is_empty() {
            let _ = writeln!(out, "world: {}", self.world);
        }
        let header = [
            "strategy",
            "done",
            "gave up",
            "429s",
            "529s",
            "retries",
            "makespan s",
            "bound s",
            "× bound",
            "util",
            "binding",
            "p50 s",
            "p99 s",
            "max s",
        ];
        let rows: Vec<Vec<String>> = self
            .strategies
            .iter()
            .map(|row| {
                // A run that gave requests up finished less work: its makespan is no ratio.
                let ratio = match row.makespan_lower_bound_s {
                    Some(bound) if bound > 0.0 && row.gave_up == 0 => {
                        format!("{:.2}", ratio(row.makespan_s, bound))
                    }
                    _ => "—".to_owned(),
                };
                let seconds = |ms: u64| format!("{:.1}", thousandths(ms));
                vec![
                    row.strategy.to_owned(),
                    format!("{}/{}", row.completed, row.requests),
                    row.gave_up.to_string(),
                    row.rate_limited.to_string(),
                    row.overloaded.to_string(),
                    row.retries.to_string(),
                    format!("{:.1}", row.makespan_s),
                    row.makespan_lower_bound_s
                        .map_or_else(|| "—".to_owned(), |bound| format!("{bound:.1}")),
                    ratio,
                    format!("{:.3}", row.utilization),
                    row.binding_limit.to_owned(),
                    seconds(row.latency_ms.p50),
                    seconds(row.latency_ms.p99),
                    seconds(row.latency_ms.max),
                ]
            })
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (index, (cell, width)) in cells.zip(&widths).enumerate() {
                let pad = width.saturating_sub(cell.chars().count());
                if index == 0 {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad));
                } else {
                    text.push_str("  ");
                    text.push_str(&" ".repeat(pad));
                    text.push_str(cell);
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        };
        line(&mut header.iter().copied());
        for row in &rows {
            line(&mut row.iter().map(String::as_str));
        }
        let _ = writeln!(out, "{LEGEND}");
        if let Some(why) = &self.never_fits {
            let _ = writeln!(
                out,
                "no bound: request {} needs {} {} at once, above the provider's burst of {}: \
                 no strategy can finish the workload",
                why.request, why.needs, why.limit, why.burst
            );
        }
        out
    }
}

#[expect(clippy::float_arithmetic, reason = "report output only")]
fn ratio(a: f64, b: f64) -> f64 {
    a / b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let workload = Workload {
            lanes: vec![crate::workload::Lane {
                name: "m".into(),
                limits: Limits::default().with(LimitKind::Requests, 50),
            }],
            ..Workload::default()
        };
        let mut report = Report::new("t.jsonl", 1, &workload);
        let outcome = RunOutcome {
            requests: 2,
            completed: 2,
            makespan_us: 1_234_567,
            latency: crate::engine::Latencies::of(&mut [1_000, 2_000_000]),
            consumed: vec![[2, 0, 0, 0]],
            ..RunOutcome::default()
        };
        report.push(
            StrategyName::Headroom,
            &workload,
            &UpstreamConfig::default(),
            &outcome,
            crate::metrics::lower_bound_us(&workload, &UpstreamConfig::default())
                .ok()
                .map(|(us, _)| us),
        );
        report
    }

    #[test]
    fn json_has_the_contract_fields_in_order() {
        let json = report().to_json();
        assert!(json.starts_with(r#"{"trace":"t.jsonl","seed":1,"limits":{"requests":50},"strategies":[{"strategy":"headroom","requests":2,"completed":2,"gave_up":0,"rate_limited":0,"overloaded":0,"retries":0,"makespan_s":1.235,"#), "{json}");
        assert!(
            json.contains(
                r#""binding_limit":"requests","latency_ms":{"p50":1,"p99":2000,"max":2000}}"#
            ),
            "{json}"
        );
    }

    #[test]
    fn table_is_aligned_with_a_legend_under_it() {
        let table = report().to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[2].starts_with("strategy  done"));
        assert!(lines[2].ends_with("p50 s  p99 s  max s"), "{table}");
        assert!(lines[3].starts_with("headroom   2/2"));
        assert_eq!(lines[4], LEGEND);
    }

    #[test]
    fn latencies_are_in_seconds_and_a_run_that_gave_up_has_no_ratio() {
        let mut report = report();
        report.strategies[0].makespan_lower_bound_s = Some(1.0);
        let row = report.strategies[0].clone();
        report.strategies.push(StrategyRow {
            strategy: "sdk",
            completed: 1,
            gave_up: 1,
            ..row
        });
        let table = report.to_table();
        let lines: Vec<&str> = table.lines().collect();
        // p50 1 ms, p99 and max 2 s.
        assert!(lines[3].ends_with("0.0    2.0    2.0"), "{table}");
        let ratios: Vec<&str> = lines[3..5]
            .iter()
            .map(|line| line.split_whitespace().nth(8).unwrap())
            .collect();
        assert_eq!(ratios, ["1.24", "—"], "{table}");
    }
}
