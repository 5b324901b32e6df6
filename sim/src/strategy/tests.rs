use super::*;
use crate::engine::{Recording, run};
use crate::workload::{GenSpec, generate};

fn tier1_burst(requests: usize) -> Workload {
    generate(&GenSpec::tier1_batch(requests), 3)
}

fn outcome(name: StrategyName, workload: &Workload) -> crate::engine::RunOutcome {
    let config = UpstreamConfig::default();
    let mut strategy = build(name, workload, &config, Options::default());
    run(
        workload,
        config,
        strategy.as_mut(),
        1,
        Recording::default(),
        &mut |_| {},
    )
}

#[test]
fn every_strategy_finishes_every_request() {
    let workload = tier1_burst(60);
    for name in StrategyName::ALL {
        let result = outcome(name, &workload);
        assert_eq!(result.completed + result.gave_up, 60, "{}", name.name());
        assert!(result.makespan_us > 0, "{}", name.name());
    }
}

#[test]
fn headroom_avoids_429s_and_sdk_does_not() {
    let workload = tier1_burst(60);
    let headroom = outcome(StrategyName::Headroom, &workload);
    assert_eq!((headroom.rate_limited, headroom.gave_up), (0, 0));
    let sdk = outcome(StrategyName::Sdk, &workload);
    assert!(sdk.rate_limited > 0);
}

#[test]
fn runs_are_deterministic() {
    let workload = tier1_burst(40);
    for name in StrategyName::ALL {
        assert_eq!(
            outcome(name, &workload),
            outcome(name, &workload),
            "{}",
            name.name()
        );
    }
}

#[test]
fn overload_is_retried_by_backoff_and_counted() {
    let workload = tier1_burst(40);
    let config = UpstreamConfig {
        overload: vec![crate::upstream::Overload {
            start_us: 0,
            end_us: 20_000_000,
            permille: 500,
        }],
        ..UpstreamConfig::default()
    };
    for name in [StrategyName::Headroom, StrategyName::Sdk] {
        let mut strategy = build(name, &workload, &config, Options::default());
        let result = run(
            &workload,
            config.clone(),
            strategy.as_mut(),
            1,
            Recording::default(),
            &mut |_| {},
        );
        assert!(result.overloaded > 0, "{}", name.name());
        assert_eq!(result.completed + result.gave_up, 40, "{}", name.name());
        if name == StrategyName::Headroom {
            assert_eq!((result.rate_limited, result.gave_up), (0, 0));
        }
    }
}

#[test]
fn schedule_records_every_attempt() {
    let workload = tier1_burst(30);
    let config = UpstreamConfig::default();
    let mut strategy = build(StrategyName::Sdk, &workload, &config, Options::default());
    let recording = Recording {
        schedule: true,
        levels: true,
    };
    let result = run(
        &workload,
        config,
        strategy.as_mut(),
        1,
        recording,
        &mut |_| {},
    );
    assert_eq!(result.schedule.len() as u64, result.attempts);
    assert_eq!(result.rate_limited_at.len() as u64, result.rate_limited);
    assert!(!result.levels.is_empty());
    let refused = result.schedule.iter().filter(|a| a.status == 429).count() as u64;
    assert_eq!(refused, result.rate_limited);
}

#[test]
fn arrivals_behind_a_waiting_head_do_not_ask_the_policy_again() {
    // 120 requests arrive 10 ms apart at a 50 RPM lane: almost all of them queue behind a
    // head the policy has told to wait. A request is asked about when it is admitted, when it
    // becomes the head and must wait, and after responses of the lane (the policy changed):
    // 439 asks. Asking again at every arrival as well made it 562.
    let workload = tier1_burst(120);
    let config = UpstreamConfig::default();
    let mut strategy = headroom::HeadroomStrategy::new(&workload, &config, None);
    let result = run(
        &workload,
        config,
        &mut strategy,
        1,
        Recording::default(),
        &mut |_| {},
    );
    assert_eq!(result.completed, 120);
    let asks = strategy.paced().asks();
    assert!(asks <= 4 * 120, "{asks} asks for 120 requests");
}
