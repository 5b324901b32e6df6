//! A workload written down as a trace: what the provider would have answered had every request
//! been sent the moment it arrived and admitted regardless (buckets go into debt). This is how
//! the bundled traces are made (`sim/examples/gen_traces.rs`): request lines carry the
//! arrivals, response lines carry `usage`, the latency and the provider's real headers, so the
//! limits are learned from them exactly as from a captured trace.

use crate::trace::{Event, Header, Request as TraceRequest, Response, TimeForm, Trace, Usage};
use crate::workload::{Dialect, Workload};

use super::{HeaderBuf, Upstream, UpstreamConfig, render};

/// The trace of `workload` against a provider configured by `config`, with `note` in its header.
///
/// # Examples
///
/// ```
/// use headroom::LimitKind;
/// use headroom_sim::upstream::{UpstreamConfig, to_trace};
/// use headroom_sim::workload::{Arrivals, GenSpec, Lane, Limits, Workload, generate};
///
/// let lane = Lane { name: "m".into(), limits: Limits::default().with(LimitKind::Requests, 50) };
/// let spec = GenSpec {
///     lanes: vec![lane], arrivals: Arrivals::Burst { spacing_us: 0 }, input_tokens: (10, 10),
///     output_tokens: (6, 6), max_tokens: 16, estimate_permille: 1000, ..GenSpec::tier1_batch(3)
/// };
/// let workload = generate(&spec, 1);
/// let trace = to_trace(&workload, &UpstreamConfig::default(), "example");
/// assert_eq!(trace.events.len(), 6);
/// let again = Workload::from_trace(&trace).unwrap();
/// assert_eq!(again.lanes[0].limits.get(LimitKind::Requests), Some(50));
/// assert_eq!(again.requests, workload.requests.iter().map(|r| headroom_sim::workload::Request {
///     latency_us: Some(600_000), ..*r
/// }).collect::<Vec<_>>());
/// ```
pub fn to_trace(workload: &Workload, config: &UpstreamConfig, note: &str) -> Trace {
    // (time, 0 = arrival / 1 = completion, request index)
    let mut moments: Vec<(u64, u8, usize)> = Vec::with_capacity(workload.requests.len() * 2);
    for (index, request) in workload.requests.iter().enumerate() {
        moments.push((request.arrival_us, 0, index));
        let done = request
            .arrival_us
            .saturating_add(config.latency_us(request));
        moments.push((done, 1, index));
    }
    moments.sort_unstable();
    let mut upstream = Upstream::new(config.clone(), &workload.lanes);
    let mut buf = HeaderBuf::new();
    let mut events = Vec::with_capacity(moments.len());
    for (t, what, index) in moments {
        let (Some(request), Some(id)) = (workload.requests.get(index), workload.ids.get(index))
        else {
            continue;
        };
        if what == 0 {
            upstream.force_admit(t, request);
            let lane = workload
                .lanes
                .get(usize::from(request.lane))
                .map(|lane| lane.name.clone())
                .filter(|name| !name.is_empty());
            events.push(Event::Request(TraceRequest {
                t_us: t,
                id: id.to_owned(),
                lane,
                input_tokens: request.input_tokens,
                max_tokens: request.max_tokens,
            }));
        } else {
            upstream.complete(t, request, 0);
            let state = upstream.header_state(t, request.lane, 200, None);
            render(&state, workload.dialect, &mut buf);
            let usage = request.usage;
            events.push(Event::Response(Response {
                t_us: t,
                id: id.to_owned(),
                status: 200,
                headers: buf
                    .pairs()
                    .map(|(name, value)| (name.to_owned(), value.to_owned()))
                    .collect(),
                usage: Some(Usage {
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    cache_read_input_tokens: usage.cache_read_input_tokens,
                    cache_creation_input_tokens: usage.cache_creation_input_tokens,
                }),
            }));
        }
    }
    Trace {
        header: Header {
            provider: Some(
                match workload.dialect {
                    Dialect::Anthropic => "anthropic",
                    Dialect::OpenAi => "openai",
                }
                .to_owned(),
            ),
            model: (workload.lanes.len() == 1)
                .then(|| workload.lanes.first().map(|lane| lane.name.clone()))
                .flatten(),
            note: Some(note.to_owned()),
            world: None,
        },
        time_form: TimeForm::Seconds,
        events,
    }
}
