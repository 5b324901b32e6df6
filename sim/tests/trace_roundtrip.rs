//! read(write(trace)) == trace: for the fixture, for a pinned example, and for generated traces.

use headroom::time::UnixTime;
use headroom_sim::trace::{
    self, Event, Header, HeaderWorld, Request, Response, TimeForm, Trace, Usage, read_str, to_jsonl,
};
use proptest::prelude::*;

#[test]
fn the_small_fixture_round_trips() {
    let text = include_str!("fixtures/small.jsonl");
    let first = read_str(text, "small.jsonl").unwrap();
    let written = to_jsonl(&first);
    assert_eq!(read_str(&written, "written.jsonl").unwrap(), first);
    assert_eq!(
        to_jsonl(&read_str(&written, "w").unwrap()),
        written,
        "writing is stable"
    );
}

#[test]
fn the_writer_prints_the_contract_shape() {
    let trace = Trace {
        header: Header {
            provider: Some("anthropic".into()),
            model: None,
            note: Some("n".into()),
            world: None,
        },
        time_form: TimeForm::Seconds,
        events: vec![
            Event::Request(Request {
                t_us: 0,
                id: "r1".into(),
                lane: Some("claude-sonnet-4-5".into()),
                input_tokens: 1200,
                max_tokens: 1024,
            }),
            Event::Response(Response {
                t_us: 812_000,
                id: "r1".into(),
                status: 200,
                headers: vec![
                    ("a".into(), "1".into()),
                    ("b".into(), "2".into()),
                    ("a".into(), "3".into()),
                ],
                usage: Some(Usage {
                    input_tokens: 1200,
                    output_tokens: 311,
                    cache_read_input_tokens: 5,
                    cache_creation_input_tokens: 0,
                }),
            }),
        ],
    };
    let text = to_jsonl(&trace);
    assert_eq!(
        text,
        concat!(
            r#"{"trace":1,"provider":"anthropic","note":"n"}"#,
            "\n",
            r#"{"t":0.0,"type":"request","id":"r1","lane":"claude-sonnet-4-5","input_tokens":1200,"max_tokens":1024}"#,
            "\n",
            r#"{"t":0.812,"type":"response","id":"r1","status":200,"headers":{"a":["1","3"],"b":"2"},"usage":{"input_tokens":1200,"output_tokens":311,"cache_read_input_tokens":5,"cache_creation_input_tokens":0}}"#,
            "\n"
        )
    );
    let Event::Response(read_back) = &read_str(&text, "t").unwrap().events[1] else {
        panic!("not a response")
    };
    let names: Vec<&str> = read_back.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["a", "a", "b"],
        "equal names are grouped at the first one's place"
    );
}

#[test]
fn rfc3339_traces_are_written_as_rfc3339() {
    let text = "{\"t\": \"2025-06-01T12:00:00+02:00\", \"type\": \"request\", \"id\": \"a\", \"input_tokens\": 1, \"max_tokens\": 2}\n\
                {\"t\": \"2025-06-01T10:00:00.25Z\", \"type\": \"response\", \"id\": \"a\", \"status\": 200}\n";
    let trace = read_str(text, "t").unwrap();
    let written = to_jsonl(&trace);
    assert!(
        written.contains(r#""t":"2025-06-01T10:00:00.25Z""#),
        "{written}"
    );
    assert_eq!(read_str(&written, "t").unwrap(), trace);
}

/// A valid header list: unique exact names (case may differ), each with 1–3 values, flattened.
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map(
        "[a-zA-Z-]{1,12}",
        prop::collection::vec("\\PC{0,16}", 1..3),
        0..6,
    )
    .prop_map(|map| {
        map.into_iter()
            .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
            .collect()
    })
}

fn usage() -> impl Strategy<Value = Option<Usage>> {
    prop::option::of(
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(i, o, r, c)| Usage {
            input_tokens: i,
            output_tokens: o,
            cache_read_input_tokens: r,
            cache_creation_input_tokens: c,
        }),
    )
}

/// One step: wait `dt` µs, then send a new request (`None`) or answer in-flight request `n`.
type Step = (
    u64,
    Option<usize>,
    Vec<(String, String)>,
    Option<Usage>,
    u16,
);

fn valid_trace() -> impl Strategy<Value = Trace> {
    let world = prop::option::of((1_u64..=16, any::<bool>()).prop_map(|(gateways, stale)| {
        let mut map = serde_json::Map::new();
        map.insert("gateways".into(), gateways.into());
        map.insert("stale_headers".into(), stale.into());
        map
    }));
    let header = (
        prop::option::of("\\PC{0,20}"),
        prop::option::of("\\PC{0,20}"),
        prop::option::of("\\PC{0,40}"),
        world,
    )
        .prop_map(|(provider, model, note, world)| Header {
            provider,
            model,
            note,
            world: world.map(HeaderWorld::from),
        });
    let form = prop_oneof![
        Just(TimeForm::Seconds),
        (0_u64..4_000_000_000_000_000).prop_map(|micros| TimeForm::Rfc3339 {
            origin: UnixTime::from_micros(micros)
        }),
    ];
    let steps = prop::collection::vec(
        (
            0_u64..5_000_000_000,
            prop::option::of(0_usize..8),
            headers(),
            usage(),
            // An HTTP status: the reader refuses any other.
            100_u16..600,
        ),
        0..24,
    );
    (header, form, steps, prop::option::of("[a-z0-9-]{1,10}")).prop_map(
        |(header, time_form, steps, lane): (Header, TimeForm, Vec<Step>, Option<String>)| {
            let mut t_us = 0_u64;
            let mut open: Vec<String> = Vec::new();
            let mut events = Vec::new();
            for (n, (dt, answer, headers, usage, status)) in steps.into_iter().enumerate() {
                if !events.is_empty() || time_form == TimeForm::Seconds {
                    t_us += dt;
                }
                match answer.filter(|i| *i < open.len()) {
                    Some(index) => events.push(Event::Response(Response {
                        t_us,
                        id: open.remove(index),
                        status,
                        headers,
                        usage,
                    })),
                    None => {
                        // Reuse an id now and then, after its response: allowed.
                        let id = if n % 5 == 4 {
                            "again".to_owned()
                        } else {
                            format!("r{n}")
                        };
                        if open.contains(&id) {
                            continue;
                        }
                        open.push(id.clone());
                        events.push(Event::Request(Request {
                            t_us,
                            id,
                            lane: lane.clone(),
                            input_tokens: dt,
                            max_tokens: u64::from(status),
                        }));
                    }
                }
            }
            let time_form = if events.is_empty() {
                TimeForm::Seconds
            } else {
                time_form
            };
            Trace {
                header,
                time_form,
                events,
            }
        },
    )
}

proptest! {
    #[test]
    fn generated_traces_round_trip(trace in valid_trace()) {
        let text = trace::to_jsonl(&trace);
        let read_back = read_str(&text, "generated.jsonl");
        prop_assert_eq!(read_back.as_ref(), Ok(&trace), "{}", text);
    }
}
