//! Unit tests of the event queue's order.

use headroom::{LimitKind, Usage};

use super::*;
use crate::workload::{Lane, Limits};

/// Generation chunk `index` of the probe's request: 60 tokens over the last second of a
/// 2-second latency, so chunks 1 to 7 come every 125 ms from 1.125 s.
fn chunk_at(index: u64) -> u64 {
    1_000_000 + 125_000 * index
}

/// When the response comes: the request's latency.
const RESPONSE_AT: u64 = 2_000_000;

/// Output charged once chunks 1 to `index` are generated.
fn due(index: u64) -> u64 {
    60 * index / GENERATION_CHUNKS
}

/// Wakes up at every chunk's instant, some scheduled before the chunk and some after, and
/// records what the provider has charged for output when each wake-up runs.
#[derive(Default)]
struct Probe {
    seen: Vec<(u64, u64, u64)>,
}

impl Strategy for Probe {
    fn on_arrival(&mut self, sim: &mut Sim<'_>, request: u32) {
        for index in 1..GENERATION_CHUNKS {
            sim.wake_at(chunk_at(index), index);
        }
        sim.wake_at(chunk_at(1) + 1, 100);
        sim.wake_at(RESPONSE_AT, 8);
        sim.send(request);
    }

    fn on_wake(&mut self, sim: &mut Sim<'_>, token: u64) {
        let output = sim.upstream.consumed()[0][LimitKind::OutputTokens.index()];
        self.seen.push((token, sim.now(), output));
        if token == 100 {
            // Chunk 2 is queued by now (chunk 1 ran), chunks 3 to 7 are not.
            for index in 2..GENERATION_CHUNKS {
                sim.wake_at(chunk_at(index), 200 + index);
            }
            sim.wake_at(RESPONSE_AT, 300);
        }
    }

    fn on_response(&mut self, sim: &mut Sim<'_>, response: &Reply) {
        let output = sim.upstream.consumed()[0][LimitKind::OutputTokens.index()];
        self.seen.push((999, sim.now(), output));
        sim.complete(response.request);
    }
}

#[test]
fn events_of_one_instant_run_in_the_order_they_were_scheduled() {
    let lane = Lane {
        name: "m".into(),
        limits: Limits::default().with(LimitKind::OutputTokens, 600_000),
    };
    let request = Request {
        usage: Usage {
            output_tokens: 60,
            ..Usage::default()
        },
        latency_us: Some(RESPONSE_AT),
        ..Request::default()
    };
    let workload = Workload {
        requests: vec![request],
        lanes: vec![lane],
        ..Workload::default()
    };
    let config = UpstreamConfig {
        output: OutputAccounting::Actual,
        ..UpstreamConfig::default()
    };
    let mut probe = Probe::default();
    let outcome = run(
        &workload,
        config,
        &mut probe,
        1,
        Recording::default(),
        &mut |_| {},
    );
    assert_eq!(outcome.completed, 1);
    // A wake-up scheduled before a chunk of the same instant runs before it, one scheduled
    // after it runs after it: chunk 2 was queued when chunk 1 ran, before the wake-ups
    // 202 to 207 were; each later chunk is queued when its predecessor runs, after them. The
    // response was scheduled when sent, after wake-up 8 and before wake-up 300.
    let mut expected = vec![(1, chunk_at(1), due(0)), (100, chunk_at(1) + 1, due(1))];
    expected.push((2, chunk_at(2), due(1)));
    expected.push((202, chunk_at(2), due(2)));
    for index in 3..GENERATION_CHUNKS {
        expected.push((index, chunk_at(index), due(index - 1)));
        expected.push((200 + index, chunk_at(index), due(index - 1)));
    }
    // The response, queued when its last chunk ran, keeps the place it was given when sent.
    expected.extend([
        (8, RESPONSE_AT, due(7)),
        (999, RESPONSE_AT, 60),
        (300, RESPONSE_AT, 60),
    ]);
    assert_eq!(probe.seen, expected);
}
