//! The hot paths allocate nothing: acquire, parse + `settle_with`, `complete`, the backoff
//! schedule and `Retry-After` parsing, each called many times under a counting global allocator.
//!
//! The core is `no_std` without `alloc`, so it cannot allocate; this test guards the benches'
//! own fixtures (the same ones the criterion rows use) against measuring an allocation, and
//! would catch a future `alloc` feature leaking into a hot path.
//!
//! `allocation-counter` installs a `#[global_allocator]` in this test binary only (the bench
//! binaries do not link it) and counts per thread, so the test harness's own threads cannot
//! disturb the count.

use std::hint::black_box;

use headroom::backoff::{Attempt, Backoff, Jitter};
use headroom::datetime::{parse_delay_seconds, parse_http_date};
use headroom::headers;
use headroom::time;
use headroom::{Acquire, Cost, Outcome, Response};
use headroom_benches::{
    ADMIT_STEP_US, ANTHROPIC_200, COST, IETF_08, OPENAI_200, PRIORITY, RETRY_AFTER_DATE,
    SplitMix64, USAGE, at, policy,
};

const CALLS: u64 = 1_000;

/// Runs `f` and asserts it allocated nothing.
fn assert_no_alloc(what: &str, f: impl FnOnce()) {
    let info = allocation_counter::measure(f);
    assert_eq!(
        (info.count_total, info.bytes_total),
        (0, 0),
        "{what} allocated: {info:?}"
    );
}

#[test]
fn counting_allocator_is_installed() {
    let info = allocation_counter::measure(|| drop(black_box(vec![0u8; 64])));
    assert_eq!(info.count_total, 1, "the counter must see a Vec allocation");
}

#[test]
fn hot_paths_allocate_nothing() {
    let (mut policy, lane) = policy::<32>();
    let mut rng = SplitMix64(1);
    let mut t = 0u64;

    assert_no_alloc("acquire (admit) + cancel", || {
        for _ in 0..CALLS {
            t += ADMIT_STEP_US;
            match policy.acquire(at(t), lane, COST, PRIORITY) {
                Acquire::Admit(permit) => assert!(policy.cancel(at(t), permit).is_ok()),
                other => panic!("expected an admit, got {other:?}"),
            }
        }
    });

    assert_no_alloc("acquire (wait)", || {
        // One request that takes the whole OTPM burst: the next ones wait.
        let drain = Cost::request(0, 400_000);
        let Acquire::Admit(_held) = policy.acquire(at(t), lane, drain, PRIORITY) else {
            panic!("expected an admit")
        };
        for _ in 0..CALLS {
            let answer = policy.acquire(at(t), lane, COST, PRIORITY);
            assert!(matches!(answer, Acquire::Wait { .. }), "{answer:?}");
        }
    });

    let (mut policy, lane) = headroom_benches::policy::<32>();
    assert_no_alloc("parse + settle_with (Anthropic 200)", || {
        for _ in 0..CALLS {
            t += ADMIT_STEP_US;
            let Acquire::Admit(permit) = policy.acquire(at(t), lane, COST, PRIORITY) else {
                panic!("expected an admit")
            };
            let snapshot = headers::parse(Some(200), ANTHROPIC_200.iter().copied());
            assert!(
                policy
                    .settle_with(at(t + 1), permit, Some(USAGE), &snapshot)
                    .is_ok()
            );
        }
    });

    assert_no_alloc("parse + complete (Anthropic 200)", || {
        for _ in 0..CALLS {
            t += ADMIT_STEP_US;
            let Acquire::Admit(permit) = policy.acquire(at(t), lane, COST, PRIORITY) else {
                panic!("expected an admit")
            };
            let snapshot = headers::parse(Some(200), ANTHROPIC_200.iter().copied());
            let response = Response::new(&snapshot).with_usage(USAGE);
            let done = policy.complete(at(t + 1), permit, &response, &mut rng);
            assert_eq!(done, Ok(Outcome::Done));
        }
    });

    assert_no_alloc("parse (OpenAI, IETF -08, Retry-After date)", || {
        for _ in 0..CALLS {
            black_box(headers::parse(Some(200), OPENAI_200.iter().copied()));
            black_box(headers::parse(Some(200), IETF_08.iter().copied()));
            let retry = headers::parse(Some(429), RETRY_AFTER_DATE.iter().copied());
            assert!(retry.server_delay().is_some());
        }
    });

    let jitters = [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::SDK,
        Jitter::Additive { per_mille: 250 },
    ];
    assert_no_alloc("backoff next_delay and Retry-After parsing", || {
        for jitter in jitters {
            let schedule = Backoff::new(time::secs(1), time::secs(60)).with_jitter(jitter);
            for _ in 0..CALLS {
                let mut state = Attempt::with_retries(3);
                assert!(schedule.next_delay(&mut state, None, &mut rng).is_ok());
            }
        }
        for _ in 0..CALLS {
            assert!(parse_delay_seconds(black_box(b"20")).is_ok());
            assert!(parse_http_date(black_box(b"Sat, 28 Nov 2026 04:00:20 GMT")).is_ok());
        }
    });
}
