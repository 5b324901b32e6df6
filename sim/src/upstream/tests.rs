//! Unit tests of the simulated provider.

use super::*;
use crate::workload::Limits;

fn tier1() -> Lane {
    Lane {
        name: "sonnet".into(),
        limits: Limits::default()
            .with(LimitKind::Requests, 50)
            .with(LimitKind::InputTokens, 30_000)
            .with(LimitKind::OutputTokens, 8_000),
    }
}

fn request(input: u64, output: u64, max_tokens: u64) -> Request {
    Request::exact(input, output, max_tokens)
}

#[test]
fn reserve_mode_refunds_unused_output() {
    let mut upstream = Upstream::new(UpstreamConfig::default(), &[tier1()]);
    let r = request(1_000, 300, 1_024);
    let admitted = upstream.admit(0, &r, 1);
    assert_eq!(admitted.status, 200);
    assert_eq!(admitted.latency_us, 500_000 + 5_000_000);
    assert_eq!(upstream.consumed()[0], [1, 1_000, 1_024, 2_024]);
    let state = upstream.header_state(0, 0, 200, None);
    assert_eq!(state.quotas[2].unwrap().remaining, 8_000 - 1_024);
    upstream.complete(5_500_000, &r, 0);
    assert_eq!(upstream.consumed()[0], [1, 1_000, 300, 1_300]);
    let state = upstream.header_state(5_500_000, 0, 200, None);
    assert_eq!(state.quotas[2].unwrap().remaining, 8_000);
    assert_eq!(state.quotas[1].unwrap().remaining, 30_000);
}

#[test]
fn retry_after_is_when_this_request_fits() {
    let mut upstream = Upstream::new(UpstreamConfig::default(), &[tier1()]);
    assert_eq!(upstream.admit(0, &request(29_000, 1, 10), 1).status, 200);
    // 1 200 more input tokens than the 1 000 left: 200 tokens refill in 0.4 s, but the
    // requests bucket needs 1.2 s: retry-after 2 (1.15 s after the answer, rounded up).
    let refused = upstream.admit(0, &request(1_200, 1, 10), 1);
    assert_eq!((refused.status, refused.retry_after_s), (429, Some(2)));
    let later = upstream.admit(1_200_000, &request(1_200, 1, 10), 2);
    assert_eq!(later.status, 200);
}

#[test]
fn actual_mode_needs_a_non_empty_output_bucket() {
    let config = UpstreamConfig {
        output: OutputAccounting::Actual,
        request_slice_us: MINUTE_US,
        ..UpstreamConfig::default()
    };
    let mut upstream = Upstream::new(config, &[tier1()]);
    let big = request(10, 9_000, 10_000);
    assert_eq!(upstream.admit(0, &big, 1).status, 200);
    upstream.complete(1, &big, 0);
    let refused = upstream.admit(1, &big, 1);
    assert_eq!(refused.status, 429);
    // 1 000 tokens of debt refill in 7.5 s.
    assert_eq!(refused.retry_after_s, Some(8));
}

#[test]
fn overload_windows_refuse_with_529_deterministically() {
    let config = UpstreamConfig {
        overload: vec![Overload {
            start_us: 0,
            end_us: 10,
            permille: 1000,
        }],
        ..UpstreamConfig::default()
    };
    let mut upstream = Upstream::new(config, &[tier1()]);
    assert_eq!(upstream.admit(5, &request(1, 1, 1), 1).status, 529);
    assert_eq!(upstream.admit(10, &request(1, 1, 1), 1).status, 200);
}

#[test]
fn actual_output_is_charged_while_generated() {
    let config = UpstreamConfig {
        output: OutputAccounting::Actual,
        ..UpstreamConfig::default()
    };
    let mut upstream = Upstream::new(config.clone(), &[tier1()]);
    let r = request(10, 8_000, 8_000);
    assert_eq!(upstream.admit(0, &r, 1).status, 200);
    // Nothing is charged for output at admission.
    assert_eq!(upstream.consumed()[0], [1, 10, 0, 10]);
    let (start, span) = config.generation(&r);
    assert_eq!(start + span, config.latency_us(&r));
    upstream.generate(start, 0, 4_000);
    assert_eq!(upstream.consumed()[0][2], 4_000);
    // Emptied by what is generated: the next request is refused until it refills.
    upstream.generate(start, 0, 4_000);
    let refused = upstream.admit(start, &request(10, 1, 1), 2);
    assert_eq!(refused.status, 429);
    upstream.complete(start + span, &r, 8_000);
    assert_eq!(upstream.consumed()[0], [1, 10, 8_000, 8_010]);
}

#[test]
fn foreign_load_and_limit_changes_move_the_buckets() {
    let config = UpstreamConfig {
        foreign: Some(ForeignLoad {
            permille: 500,
            start_us: 0,
        }),
        limit_changes: vec![LimitChange {
            at_us: 120_000_000,
            limits: Limits::default().with(LimitKind::Requests, 100),
        }],
        seed: 7,
        ..UpstreamConfig::default()
    };
    let mut upstream = Upstream::new(config, &[tier1()]);
    let state = upstream.header_state(600_000_000, 0, 200, None);
    // Half of every limit: 25 requests a minute for two minutes, then 50 for eight: ~450.
    let [requests, input, ..] = upstream.foreign_consumed()[0];
    assert!((400..500).contains(&requests), "{requests}");
    // 600 input tokens each before the change, 300 after (the same share of a larger RPM).
    assert!(input > requests * 300 && input < requests * 600, "{input}");
    assert_eq!(state.quotas[0].unwrap().limit, 100);
}

#[test]
fn skewed_date_and_bare_429s() {
    let config = UpstreamConfig {
        header_skew_us: -2_000_000,
        bare_429_permille: 1000,
        ..UpstreamConfig::default()
    };
    let mut upstream = Upstream::new(config, &[tier1()]);
    assert_eq!(upstream.admit(0, &request(1, 1, 1), 1).status, 200);
    let refused = upstream.admit(0, &request(1, 1, 1), 1);
    assert_eq!(
        (refused.status, refused.retry_after_s, refused.bare),
        (429, None, true)
    );
    let state = upstream.header_state(10_000_000, 0, 200, None);
    let mut buf = HeaderBuf::new();
    render(&state, crate::workload::Dialect::Anthropic, &mut buf);
    assert_eq!(buf.get("date"), Some("Sun, 01 Jun 2025 10:00:08 GMT"));
    assert_eq!(
        buf.get("anthropic-ratelimit-requests-reset"),
        Some("2025-06-01T10:00:10Z")
    );
}
