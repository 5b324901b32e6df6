//! A [`Workload`] built from a trace's events as they are read, so a load never holds the
//! whole trace: [`WorkloadBuilder`] takes one event at a time and keeps only what the workload
//! needs plus, per request, when it was last sent and whether its last attempt was refused.
//!
//! Ids are looked up through a table of request indices hashed by the trace reader's id hash
//! (consecutive ids side by side, so a million inserts stay cache-friendly), whose text lives
//! once, in the workload's [`Ids`]: no `String` per id, no SipHash. Each entry keeps the bits of
//! its id's hash the table uses ([`pack`]), so a growing table moves its entries without
//! reading and hashing every id again (4 more bytes a slot: ≈ 8 bytes a request).

use hashbrown::{HashTable, hash_table};
use headroom::headers::{self, Dialect as HeaderDialect};
use headroom::{LimitKind, Usage};

use super::{Dialect, Lane, Limits, MAX_LANES, Request, Workload};
use crate::trace::{self, Event, EventRef, IdHasher, Trace};

impl Workload {
    /// Builds the workload a trace describes.
    ///
    /// # Errors
    ///
    /// A message when the trace has more than [`MAX_LANES`] lanes or more than `u32::MAX`
    /// requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::{trace, workload::Workload};
    ///
    /// let text = r#"{"t": 0, "type": "request", "id": "r1", "input_tokens": 1200, "max_tokens": 1024}
    /// {"t": 2.5, "type": "response", "id": "r1", "status": 200, "headers": {"anthropic-ratelimit-requests-limit": "50"}, "usage": {"input_tokens": 1100, "output_tokens": 300}}"#;
    /// let workload = Workload::from_trace(&trace::read_str(text, "t.jsonl").unwrap()).unwrap();
    /// assert_eq!(workload.requests[0].usage.output_tokens, 300);
    /// assert_eq!(workload.requests[0].latency_us, Some(2_500_000));
    /// assert_eq!(workload.lanes[0].limits.get(LimitKind::Requests), Some(50));
    /// ```
    pub fn from_trace(trace: &Trace) -> Result<Self, String> {
        let mut builder = WorkloadBuilder::default();
        for event in &trace.events {
            builder.event(event);
        }
        builder.finish(trace.header.provider.as_deref())
    }
}

/// A workload under construction from a trace's events in file order (see the
/// [`workload`](crate::workload) module for what each event means): it keeps what the
/// workload needs plus, per request, when it was last sent and whether its last attempt was
/// refused, so a load streamed through it never holds the trace.
///
/// # Examples
///
/// ```
/// use headroom_sim::trace::Records;
/// use headroom_sim::workload::WorkloadBuilder;
///
/// let text = "{\"t\": 0, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
/// let mut builder = WorkloadBuilder::default();
/// for event in Records::new(text.as_bytes(), "t.jsonl") {
///     builder.event(&event.unwrap());
/// }
/// let workload = builder.finish(None).unwrap();
/// assert_eq!(workload.ids.get(0), Some("r1"));
/// ```
#[derive(Debug, Default)]
pub struct WorkloadBuilder {
    /// What is built so far.
    workload: Workload,
    /// Per id, the index of the latest work sent with it and the id's hash as the table keeps
    /// it ([`pack`]).
    by_id: HashTable<(u32, u32)>,
    /// The hasher of ids.
    hasher: IdHasher,
    /// Per request: its last attempt was answered with a non-2xx (a request of the same id is
    /// a retry of it).
    refused: Vec<bool>,
    /// Per request: when its latest attempt was sent.
    sent_at: Vec<u64>,
    /// The dialect of the first response that had one.
    dialect: Option<Dialect>,
    /// The first error; later events are ignored.
    error: Option<String>,
    /// The id and lane of the request that opened one lane too many, when that was the error.
    lane_overflow: Option<(String, String)>,
}

impl WorkloadBuilder {
    /// Takes the next event of the trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::{Event, Request};
    /// use headroom_sim::workload::WorkloadBuilder;
    ///
    /// let mut builder = WorkloadBuilder::default();
    /// builder.event(&Event::Request(Request { t_us: 5, id: "a".into(), lane: None, input_tokens: 1, max_tokens: 2 }));
    /// assert_eq!(builder.finish(None).unwrap().requests[0].arrival_us, 5);
    /// ```
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Request(sent) => self.request(
                sent.t_us,
                &sent.id,
                sent.lane.as_deref(),
                sent.input_tokens,
                sent.max_tokens,
            ),
            Event::Response(answer) => self.response(answer),
        }
    }

    /// Takes the next event as [`Records::for_each_event`](crate::trace::Records::for_each_event)
    /// hands it out (the same as [`WorkloadBuilder::event`], without owning the request's strings).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::Records;
    /// use headroom_sim::workload::WorkloadBuilder;
    ///
    /// let text = "{\"t\": 1, \"type\": \"request\", \"id\": \"r1\", \"input_tokens\": 5, \"max_tokens\": 9}\n";
    /// let mut builder = WorkloadBuilder::default();
    /// Records::new(text.as_bytes(), "t.jsonl").for_each_event(|event| builder.event_ref(&event)).unwrap();
    /// assert_eq!(builder.finish(None).unwrap().requests[0].arrival_us, 1_000_000);
    /// ```
    pub fn event_ref(&mut self, event: &EventRef<'_>) {
        match event {
            EventRef::Request(sent) => self.request(
                sent.t_us,
                &sent.id,
                sent.lane.as_deref(),
                sent.input_tokens,
                sent.max_tokens,
            ),
            EventRef::Response(answer) => self.response(answer),
        }
    }

    /// Room for `requests` requests in all (those taken so far included), reserved at once:
    /// a builder told how large the trace is moves its tables once, not at every doubling.
    /// Only memory depends on it, never the workload; room that cannot be allocated is not
    /// reserved (the tables grow as they would).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut builder = headroom_sim::workload::WorkloadBuilder::default();
    /// builder.reserve(1_000);
    /// builder.request(0, "a", None, 100, 50);
    /// assert_eq!(builder.finish(None).unwrap().requests.len(), 1);
    /// ```
    pub fn reserve(&mut self, requests: usize) {
        let taken = self.workload.requests.len();
        let more = requests.saturating_sub(taken);
        if more == 0 {
            return;
        }
        let reserved = self
            .by_id
            .try_reserve(more, |&(_, key)| unpack(key))
            .is_ok()
            && self.workload.requests.try_reserve(more).is_ok()
            && self.refused.try_reserve(more).is_ok()
            && self.sent_at.try_reserve(more).is_ok();
        if reserved {
            self.workload.ids.reserve(more);
        }
    }

    /// Takes a request event: sent at `t_us` with `id` on `lane` (`None`: the default lane).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut builder = headroom_sim::workload::WorkloadBuilder::default();
    /// builder.request(0, "a", Some("m"), 100, 50);
    /// let workload = builder.finish(None).unwrap();
    /// assert_eq!((workload.lanes[0].name.as_str(), workload.requests[0].usage.output_tokens), ("m", 50));
    /// ```
    pub fn request(
        &mut self,
        t_us: u64,
        id: &str,
        lane: Option<&str>,
        input_tokens: u64,
        max_tokens: u64,
    ) {
        if self.error.is_some() {
            return;
        }
        let key = pack(self.hasher.hash(id.as_bytes()));
        let ids = &self.workload.ids;
        // One probe finds the id's latest work or the free slot for it.
        let latest = self.by_id.entry(
            unpack(key),
            |&(index, _)| ids.get(index as usize) == Some(id),
            |&(_, key)| unpack(key),
        );
        if let hash_table::Entry::Occupied(found) = &latest {
            let slot = found.get().0 as usize;
            if let Some(sent) = self.sent_at.get_mut(slot) {
                *sent = t_us;
            }
            if let Some(refused) = self.refused.get_mut(slot)
                && *refused
            {
                // A retry of earlier work: keep the first arrival.
                *refused = false;
                return;
            }
        }
        let lane_name = lane.unwrap_or_default();
        let Some(lane) = lane_index(&mut self.workload.lanes, lane_name) else {
            self.error = Some(format!(
                "more than {MAX_LANES} lanes: request {id:?} opens another, lane {lane_name:?} \
                 (simulate and matrix hold {MAX_LANES} lanes, audit {})",
                crate::audit::MAX_LANES
            ));
            self.lane_overflow = Some((id.to_owned(), lane_name.to_owned()));
            return;
        };
        let Some(index) = self.workload.ids.push(id) else {
            self.error = Some("too many requests".to_owned());
            return;
        };
        match latest {
            hash_table::Entry::Occupied(mut found) => found.get_mut().0 = index,
            hash_table::Entry::Vacant(free) => {
                free.insert((index, key));
            }
        }
        self.workload.requests.push(Request {
            arrival_us: t_us,
            id: index,
            lane,
            input_tokens,
            max_tokens,
            usage: Usage {
                input_tokens,
                output_tokens: max_tokens,
                ..Usage::default()
            },
            latency_us: None,
        });
        self.refused.push(false);
        self.sent_at.push(t_us);
    }

    /// Takes a response event.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::Response;
    ///
    /// let mut builder = headroom_sim::workload::WorkloadBuilder::default();
    /// builder.request(0, "a", None, 100, 50);
    /// builder.response(&Response { t_us: 900, id: "a".into(), status: 200, headers: Vec::new(), usage: None });
    /// assert_eq!(builder.finish(None).unwrap().requests[0].latency_us, Some(900));
    /// ```
    pub fn response(&mut self, answer: &trace::Response) {
        if self.error.is_some() {
            return;
        }
        let hash = unpack(pack(self.hasher.hash(answer.id.as_bytes())));
        let ids = &self.workload.ids;
        let Some(&(index, _)) = self.by_id.find(hash, |&(index, _)| {
            ids.get(index as usize) == Some(&*answer.id)
        }) else {
            return;
        };
        let slot = index as usize;
        let success = (200..300).contains(&answer.status);
        if let Some(refused) = self.refused.get_mut(slot) {
            *refused = !success;
        }
        let snapshot = answer.snapshot();
        let sent_at = self.sent_at.get(slot).copied();
        let Some(request) = self.workload.requests.get_mut(slot) else {
            return;
        };
        if success {
            if let Some(usage) = answer.usage {
                request.usage = Usage {
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                    cache_read_input_tokens: usage.cache_read_input_tokens,
                    cache_creation_input_tokens: usage.cache_creation_input_tokens,
                };
            }
            let start = sent_at.unwrap_or(answer.t_us);
            request.latency_us = Some(answer.t_us.saturating_sub(start));
        }
        if self.dialect.is_none() {
            self.dialect = match snapshot.dialect {
                HeaderDialect::Anthropic => Some(Dialect::Anthropic),
                HeaderDialect::OpenAi => Some(Dialect::OpenAi),
                _ => None,
            };
        }
        let lane = usize::from(request.lane);
        if let Some(lane) = self.workload.lanes.get_mut(lane) {
            learn_limits(&mut lane.limits, &snapshot);
        }
    }

    /// The id and lane of the request that opened one lane more than [`MAX_LANES`], when that
    /// ended the build (for the caller to find its line: the builder never sees lines).
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::trace::{Event, Request};
    /// use headroom_sim::workload::WorkloadBuilder;
    ///
    /// let mut builder = WorkloadBuilder::default();
    /// for n in 0..9 {
    ///     let lane = Some(format!("m{n}"));
    ///     builder.event(&Event::Request(Request { t_us: 0, id: format!("r{n}"), lane, input_tokens: 1, max_tokens: 1 }));
    /// }
    /// assert_eq!(builder.lane_overflow(), Some(("r8", "m8")));
    /// assert!(builder.finish(None).unwrap_err().starts_with("more than 8 lanes: request \"r8\""));
    /// ```
    pub fn lane_overflow(&self) -> Option<(&str, &str)> {
        self.lane_overflow
            .as_ref()
            .map(|(id, lane)| (id.as_str(), lane.as_str()))
    }

    /// The workload; `provider` is the trace header's, which names the dialect when no
    /// response's headers did.
    ///
    /// # Errors
    ///
    /// The first error met: more than [`MAX_LANES`] lanes, or more than `u32::MAX` requests.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::workload::{Dialect, WorkloadBuilder};
    ///
    /// let workload = WorkloadBuilder::default().finish(Some("openai")).unwrap();
    /// assert_eq!(workload.dialect, Dialect::OpenAi);
    /// ```
    pub fn finish(self, provider: Option<&str>) -> Result<Workload, String> {
        if let Some(why) = self.error {
            return Err(why);
        }
        let mut workload = self.workload;
        workload.dialect = self.dialect.unwrap_or(match provider {
            Some("openai") => Dialect::OpenAi,
            _ => Dialect::Anthropic,
        });
        if workload.dialect == Dialect::Anthropic {
            for lane in &mut workload.lanes {
                let split = lane.limits.get(LimitKind::InputTokens).is_some()
                    || lane.limits.get(LimitKind::OutputTokens).is_some();
                if split {
                    lane.limits = lane.limits.with(LimitKind::Tokens, 0);
                }
            }
        }
        workload.requests.shrink_to_fit();
        Ok(workload)
    }
}

/// A builder fed from the trace reader's thread reserves its room from the reader's
/// extrapolation ([`WorkloadBuilder::reserve`]).
impl trace::Consumer for WorkloadBuilder {
    fn event(&mut self, event: EventRef<'_>) {
        self.event_ref(&event);
    }

    fn expect_requests(&mut self, requests: u64) {
        self.reserve(usize::try_from(requests).unwrap_or(usize::MAX));
    }
}

/// An id's hash in the 32 bits the table keeps: the low 25 (which place a slot in tables of up
/// to 2^25 slots) and the top seven (the tag the table compares before the ids).
fn pack(hash: u64) -> u32 {
    (hash & 0x1ff_ffff) as u32 | ((hash >> 57) as u32) << 25
}

/// The hash the table places an entry by, from its packed hash: the id's own hash in the bits
/// [`pack`] keeps (so ids sit where the id hash puts them), the tag repeated in bits 25 to 31
/// (which larger tables use), zeros between.
fn unpack(packed: u32) -> u64 {
    u64::from(packed) | u64::from(packed >> 25) << 57
}

/// The index of the lane named `name` in `lanes`, added if new; `None` when it would be one
/// more than [`MAX_LANES`].
fn lane_index(lanes: &mut Vec<Lane>, name: &str) -> Option<u8> {
    if let Some(found) = lanes.iter().position(|lane| lane.name == name) {
        return Some(u8::try_from(found).unwrap_or(u8::MAX));
    }
    let next = lanes.len();
    if next >= MAX_LANES {
        return None;
    }
    lanes.push(Lane {
        name: name.to_owned(),
        limits: Limits::default(),
    });
    Some(u8::try_from(next).unwrap_or(u8::MAX))
}

/// Folds the limits a response reported into `limits` (the latest report wins).
fn learn_limits(limits: &mut Limits, snapshot: &headers::Snapshot) {
    for kind in LimitKind::ALL {
        let Some(limit) = snapshot.quota_of(kind).and_then(|quota| {
            let amount = quota.limit?;
            let window_us = quota.window.map_or(60_000_000, |w| w.as_ticks()).max(1);
            let per_minute = u128::from(amount) * 60_000_000 / u128::from(window_us);
            u64::try_from(per_minute).ok()
        }) else {
            continue;
        };
        *limits = limits.with(kind, limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packed_hash_places_and_tags_an_entry_as_the_id_hash_does() {
        let hasher = IdHasher::default();
        for id in ["r1", "r2", "req-000123", "a", ""] {
            let hash = hasher.hash(id.as_bytes());
            let kept = unpack(pack(hash));
            assert_eq!(kept & 0x1ff_ffff, hash & 0x1ff_ffff, "{id}");
            assert_eq!(kept >> 57, hash >> 57, "{id}");
        }
    }

    #[test]
    fn retries_in_a_trace_are_the_same_work() {
        let text = r#"{"t": 0, "type": "request", "id": "a", "input_tokens": 10, "max_tokens": 20}
{"t": 0.1, "type": "response", "id": "a", "status": 429, "headers": {"x-ratelimit-limit-tokens": "1000", "x-ratelimit-limit-requests": "60"}}
{"t": 1, "type": "request", "id": "a", "input_tokens": 10, "max_tokens": 20}
{"t": 2, "type": "response", "id": "a", "status": 200, "usage": {"input_tokens": 9, "output_tokens": 5}}
{"t": 3, "type": "request", "id": "b", "lane": "other", "input_tokens": 10, "max_tokens": 20}"#;
        let workload = Workload::from_trace(&trace::read_str(text, "t").unwrap()).unwrap();
        assert_eq!(workload.requests.len(), 2);
        assert_eq!(workload.dialect, Dialect::OpenAi);
        assert_eq!(workload.requests[0].usage.output_tokens, 5);
        assert_eq!(workload.requests[0].latency_us, Some(1_000_000));
        assert_eq!(workload.requests[1].usage.output_tokens, 20);
        assert_eq!(workload.lanes.len(), 2);
        assert_eq!(workload.lanes[0].limits.get(LimitKind::Tokens), Some(1000));
    }

    #[test]
    fn an_id_answered_with_a_success_starts_new_work() {
        let text = r#"{"t": 0, "type": "request", "id": "a", "input_tokens": 10, "max_tokens": 20}
{"t": 1, "type": "response", "id": "a", "status": 200}
{"t": 2, "type": "request", "id": "a", "input_tokens": 30, "max_tokens": 20}
{"t": 2.5, "type": "response", "id": "a", "status": 200}"#;
        let workload = Workload::from_trace(&trace::read_str(text, "t").unwrap()).unwrap();
        assert_eq!(workload.ids.iter().collect::<Vec<_>>(), ["a", "a"]);
        assert_eq!(workload.requests[1].input_tokens, 30);
        assert_eq!(workload.requests[1].latency_us, Some(500_000));
        assert_eq!(workload.requests[0].latency_us, Some(1_000_000));
    }

    #[test]
    fn anthropic_combined_tokens_is_not_a_limit() {
        let text = r#"{"t": 0, "type": "request", "id": "a", "input_tokens": 10, "max_tokens": 20}
{"t": 1, "type": "response", "id": "a", "status": 200, "headers": {"anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-tokens-limit": "38000"}}"#;
        let workload = Workload::from_trace(&trace::read_str(text, "t").unwrap()).unwrap();
        let limits = workload.lanes[0].limits;
        assert_eq!(limits.get(LimitKind::InputTokens), Some(30_000));
        assert_eq!(limits.get(LimitKind::Tokens), None);
    }

    #[test]
    fn responses_find_their_requests_after_the_table_grows() {
        let mut builder = WorkloadBuilder::default();
        for index in 0..1_000u64 {
            builder.request(index, &format!("id-{index}"), None, 10, 20);
        }
        for index in 0..1_000u64 {
            builder.response(&trace::Response {
                t_us: 5_000 + index,
                id: format!("id-{index}"),
                status: 200,
                headers: Vec::new(),
                usage: Some(trace::Usage {
                    output_tokens: index,
                    ..trace::Usage::default()
                }),
            });
        }
        let workload = builder.finish(None).unwrap();
        for (index, request) in (0..).zip(&workload.requests) {
            assert_eq!(request.usage.output_tokens, index);
            assert_eq!(request.latency_us, Some(5_000));
        }
    }

    /// Room reserved ahead, too little, too much or none, builds the same workload.
    #[test]
    fn reserving_changes_nothing_built() {
        let build = |reserve: &dyn Fn(usize) -> Option<usize>| {
            let mut builder = WorkloadBuilder::default();
            for index in 0..3_000u64 {
                if let Some(requests) = reserve(index as usize) {
                    builder.reserve(requests);
                }
                let id = format!("id-{}", index % 2_500);
                builder.request(index, &id, Some(["a", "b"][index as usize % 2]), index, 20);
                if index % 3 == 0 {
                    builder.response(&trace::Response {
                        t_us: index,
                        id,
                        status: if index % 2 == 0 { 429 } else { 200 },
                        headers: Vec::new(),
                        usage: None,
                    });
                }
            }
            builder.finish(None).unwrap()
        };
        let plain = build(&|_| None);
        assert!(plain.requests.len() > 2_000);
        let reserves: [&dyn Fn(usize) -> Option<usize>; 4] = [
            &|at| (at == 0).then_some(3_000),
            &|at| (at % 500 == 7).then_some(at + 10),
            &|at| (at == 100).then_some(10),
            &|at| (at == 1).then_some(1 << 20),
        ];
        for reserve in reserves {
            assert_eq!(build(reserve), plain);
        }
    }

    #[test]
    fn a_ninth_lane_is_an_error() {
        let mut builder = WorkloadBuilder::default();
        for lane in 0..=MAX_LANES {
            builder.request(0, &format!("r{lane}"), Some(&format!("m{lane}")), 1, 1);
        }
        assert_eq!(builder.lane_overflow(), Some(("r8", "m8")));
        assert_eq!(
            builder.finish(None).unwrap_err(),
            "more than 8 lanes: request \"r8\" opens another, lane \"m8\" (simulate and matrix hold 8 lanes, audit 16)"
        );
    }
}
