//! One request's life in the proxy: read its shape, wait for a permit in its lane's line,
//! send it upstream, and either stream the response back (completing the permit with the
//! body's usage when the stream ends) or, for an answer the engine retries, try again — only
//! ever before a byte has gone back to the client.
//!
//! Every way out is an HTTP answer: a malformed body is a 400, an oversized one a 413, a
//! queue deadline a 429 with the time at which the lane's buckets will hold the request as
//! its `retry-after`, an unreachable upstream a 502, each in the provider's error shape. A
//! client that disconnects drops this future: a place in line is left, an admitted permit is
//! handed back (see [`headroom::limiter::Guard`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use headroom::headers::{self, Snapshot};
use headroom::limiter::AcquireError;
use headroom::{Attempt, Cost, LimitKind, Outcome, Priority, Rejection, Usage};
use rand::SeedableRng as _;
use rand::rngs::Xoshiro256PlusPlus;

use super::Proxy;
use super::lanes::{Lane, Ticket, WAITERS};
use super::metrics::{Histogram, LaneStats};
use super::request::{Shape, dialect_of};
use super::usage::Scanner;
use crate::mock::body::{self, ErrorKind};
use crate::store::{self, Decision};
use crate::upstream::OutputAccounting;
use crate::workload::Dialect;

/// Time from a request's arrival to its upstream send, for requests that found room (an
/// empty line and buckets that held them when they arrived): what the proxy itself adds.
pub static OVERHEAD: Histogram = Histogram::new(
    "headroom_proxy_overhead_seconds",
    "Time from a request's arrival to its upstream send, for requests admitted without waiting.",
);

/// Forwards `request` upstream through its lane (see the module docs).
pub async fn forward(proxy: Arc<Proxy>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let dialect = dialect_of(parts.uri.path());
    let Ok(bytes) = axum::body::to_bytes(body, proxy.max_body).await else {
        let message = format!("request body larger than {} bytes", proxy.max_body);
        return error(
            dialect,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::TooLarge,
            &message,
        );
    };
    let shape = match Shape::read(dialect, &bytes) {
        Ok(shape) => shape,
        Err(message) => {
            return error(
                dialect,
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                &message,
            );
        }
    };
    let lane = proxy.lanes.lane_for(shape.model.as_deref());
    lane.account_output(
        proxy.lanes.engine(),
        proxy.lanes.rules().output,
        dialect,
        shape.cost,
    );
    let had_room = lane.stats.queue_length() == 0 && room_in_us(&proxy, &lane, shape.cost) == 0;
    let queued = Instant::now();
    let (guard, local_waited) = match admit(&proxy, &lane, shape.cost, had_room).await {
        Ok(admitted) => admitted,
        Err((why, waited)) => {
            let wait = Wait::of(waited, queued);
            return refused(&proxy, &lane, dialect, shape.cost, why, wait);
        }
    };
    let charged = charges(&proxy, &lane, shape.cost);
    let (guard, gate) = match through_store(&proxy, &lane, charged, guard).await {
        Ok(admitted) => admitted,
        Err(StoreRefusal::Deadline { after_s, waited }) => {
            let wait = Wait::of(local_waited || waited, queued);
            return shed(&proxy, &lane, dialect, after_s, wait);
        }
        Err(StoreRefusal::Never(kind)) => {
            let why = AcquireError::Rejected(Rejection::CostTooLarge { kind });
            let wait = Wait::of(local_waited, queued);
            return refused(&proxy, &lane, dialect, shape.cost, why, wait);
        }
    };
    let (account, store_waited) = match gate {
        Gate::Local => (Account::Local, false),
        Gate::Fallback { at_us } => (Account::Owed { at_us }, false),
        Gate::Store { waited, at_us } => (Account::Store { at_us }, waited),
    };
    if had_room && !store_waited {
        OVERHEAD.record_us(elapsed_us(arrived));
    }
    let rng = Xoshiro256PlusPlus::seed_from_u64(proxy.seed());
    Exchange {
        proxy,
        lane,
        parts: &parts,
        bytes: &bytes,
        cost: shape.cost,
        charged,
        dialect,
        rng,
    }
    .run(guard, account)
    .await
}

/// What a request is charged in the store, by [`headroom::LimitKind::index`]: one request,
/// its input estimate, its output as the lane's engine charges it now (`max_tokens` reserved,
/// or the lane's running estimate of a request's output: `--output-accounting`,
/// [`headroom::Policy::output_charge`]), and both as tokens.
fn charges(proxy: &Proxy, lane: &Lane, cost: Cost) -> [u64; 4] {
    let input = cost.input_tokens();
    let output = proxy
        .lanes
        .engine()
        .with_policy(|policy| policy.output_charge(lane.id, &cost))
        .unwrap_or(cost.max_tokens());
    [
        u64::from(cost.requests().get()),
        input,
        output,
        input.saturating_add(output),
    ]
}

/// Who admitted an attempt.
enum Gate {
    /// The local engine alone: no store, or a lane without configured limits.
    Local,
    /// The local engine and the lane's [`super::fallback::Fallback`] gate, the store being
    /// unreachable: what the attempt was charged is owed to the store as of `at_us`.
    Fallback { at_us: u64 },
    /// The shared store too, at `at_us` on the store's clock; `waited`: it made the request
    /// wait.
    Store { waited: bool, at_us: u64 },
}

/// Where an attempt's real cost goes once its response is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    /// Nowhere beyond the local engine.
    Local,
    /// The shared store admitted it at `at_us`: it is settled there ([`settle_in_store`]).
    Store { at_us: u64 },
    /// The fallback gate let it through while the store was unreachable, owed as charged as of
    /// `at_us`: what it used beyond that charge is owed too (under `--output-accounting
    /// actual` the output charged is an estimate, 0 before a lane's first answer).
    Owed { at_us: u64 },
}

/// Why the shared store did not admit.
enum StoreRefusal {
    /// Room comes only after the queue deadline, in `after_s` seconds; `waited`: the request
    /// waited (for the store, or behind the lane's other requests asking it) before it was told.
    Deadline { after_s: u64, waited: bool },
    /// The charge is above this kind's burst.
    Never(LimitKind),
}

/// A permit whose request has not gone out yet: dropped (the client left, or the store
/// refused), it is cancelled — everything it charged comes back — rather than settled.
struct Unsent(Option<Ticket>);

impl Drop for Unsent {
    fn drop(&mut self) {
        if let Some(guard) = self.0.take() {
            let _ = guard.cancel();
        }
    }
}

/// Asks the shared store for room for the request `guard` admitted locally, for a lane the
/// store paces (one request of this proxy's lane at a time, in order), sleeping until the
/// instant it names, within the permit's deadline; the permit back, and who admitted it.
///
/// While the store is unreachable the lane's fallback gate stands in for it (the local permit
/// may be from before the outage, at the full limits), and what it lets through is owed to
/// the store: charged there before the lane's next admission by it (or sooner, by
/// [`pay_debts`]), so that the shared buckets do not offer again what this proxy used while
/// they could not hear of it.
async fn through_store(
    proxy: &Proxy,
    lane: &Lane,
    charged: [u64; 4],
    guard: Ticket,
) -> Result<(Ticket, Gate), StoreRefusal> {
    let Some(store) = proxy.store.as_ref().filter(|_| lane.limits.is_set()) else {
        return Ok((guard, Gate::Local));
    };
    let deadline = guard.attempt().deadline();
    let mut unsent = Unsent(Some(guard));
    // Behind another request of this lane asking the store: that is a wait in the queue too.
    let (_turn, line_waited) = match lane.store_line.try_lock() {
        Ok(turn) => (turn, false),
        Err(_) => (lane.store_line.lock().await, true),
    };
    let waiting = lane.stats.waiting();
    let asked = Instant::now();
    let mut waited = false;
    let gate = loop {
        let paid = pay_owed(store, lane).await;
        let now = store::now_us();
        let decision = match paid {
            Ok(()) => {
                store
                    .acquire(&lane.stats.name, &lane.rates, charged, now)
                    .await
            }
            Err(error) => Err(error),
        };
        proxy.store_answered(decision.is_ok());
        let engine_now = proxy.lanes.engine().now();
        let wait_us = match decision {
            Ok(Decision::Admit) => break Gate::Store { waited, at_us: now },
            Ok(Decision::WaitUntil(until)) => until.saturating_sub(now),
            Ok(Decision::Never(kind)) => return Err(StoreRefusal::Never(kind)),
            Err(_) => match lane.take_fallback(engine_now, charged) {
                Ok(()) => {
                    // Owed as sent now: `now` is from before the store failed to answer.
                    let at_us = store::now_us();
                    lane.owe(charged, at_us);
                    break Gate::Fallback { at_us };
                }
                Err(until) => until.as_ticks().saturating_sub(engine_now.as_ticks()),
            },
        };
        let engine_now = engine_now.as_ticks();
        if deadline
            .is_some_and(|deadline| engine_now.saturating_add(wait_us) >= deadline.as_ticks())
        {
            let after_s = wait_us.div_ceil(1_000_000).max(1);
            let waited = waited || line_waited;
            return Err(StoreRefusal::Deadline { after_s, waited });
        }
        waited = true;
        tokio::time::sleep(std::time::Duration::from_micros(wait_us)).await;
    };
    drop(waiting);
    if waited {
        lane.stats.record_wait(elapsed_us(asked));
    }
    // Taken once, here: the `None` is never seen.
    unsent
        .0
        .take()
        .map(|guard| (guard, gate))
        .ok_or(StoreRefusal::Deadline {
            after_s: 1,
            waited: waited || line_waited,
        })
}

/// Charges the store with what `lane` sent while the store was unreachable, if anything; it
/// stays owed until the store has it (also when this future is dropped midway). Called with
/// the lane's `store_line` held, so that one debt is not paid twice.
async fn pay_owed(store: &store::Store, lane: &Lane) -> Result<(), store::StoreError> {
    let Some(owed) = lane.owed() else {
        return Ok(());
    };
    let delta = owed
        .charges
        .map(|units| i64::try_from(units).unwrap_or(i64::MAX));
    let paid = store
        .settle(
            &lane.stats.name,
            &lane.rates,
            delta,
            store::now_us(),
            owed.last_us,
        )
        .await;
    if paid.is_ok() {
        lane.paid(&owed);
    }
    paid
}

/// How often [`pay_debts`] looks for debts.
const DEBT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Pays every lane's debt to the store as soon as the store answers again, whether or not the
/// lane has traffic: the other proxies must not find the shared buckets fuller than what was
/// sent. Runs as long as the proxy (a no-op without a store).
pub async fn pay_debts(proxy: Arc<Proxy>) {
    let Some(store) = proxy.store.as_ref() else {
        return;
    };
    let mut poll = tokio::time::interval(DEBT_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        for lane in proxy.lanes.all() {
            if lane.owed().is_some() && store.may_answer() {
                let _turn = lane.store_line.lock().await;
                let paid = pay_owed(store, &lane).await;
                proxy.store_answered(paid.is_ok());
            }
        }
    }
}

/// Waits in the lane's line for a permit, until the queue deadline (`had_room`: the request
/// found room on arrival, so its time in the engine is not a wait). With the permit or the
/// refusal comes whether the request waited for it: a request the engine can already tell
/// will not get room before its deadline is refused at once.
async fn admit(
    proxy: &Proxy,
    lane: &Lane,
    cost: Cost,
    had_room: bool,
) -> Result<(Ticket, bool), (AcquireError, bool)> {
    let engine = proxy.lanes.engine();
    let asked = Instant::now();
    let timeout = headroom::time::Duration::from_ticks(
        u64::try_from(proxy.queue_timeout.as_micros()).unwrap_or(u64::MAX),
    );
    let attempt = match engine.now().checked_add_duration(timeout) {
        Some(deadline) => Attempt::first().with_deadline(deadline),
        None => Attempt::first(),
    };
    let waiting = lane.stats.waiting();
    let mut acquire =
        std::pin::pin!(engine.acquire_attempt(lane.id, cost, Priority::Interactive, attempt));
    let mut waited = false;
    let acquired = std::future::poll_fn(|context| {
        let poll = acquire.as_mut().poll(context);
        waited |= poll.is_pending();
        poll
    })
    .await;
    drop(waiting);
    let guard = acquired.map_err(|why| (why, waited))?;
    if !had_room {
        lane.stats.record_wait(elapsed_us(asked));
    }
    Ok((guard, waited))
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// One admitted request and what it needs to be sent, and sent again.
struct Exchange<'a> {
    proxy: Arc<Proxy>,
    lane: Arc<Lane>,
    parts: &'a request::Parts,
    bytes: &'a Bytes,
    cost: Cost,
    /// What the store is charged for the attempt in flight ([`charges`]).
    charged: [u64; 4],
    dialect: Dialect,
    rng: Xoshiro256PlusPlus,
}

impl Exchange<'_> {
    /// Sends, and sends again while the engine says to retry. `account`: where the attempt's
    /// real cost is told (the shared store, when it admitted the attempt: its headers too).
    async fn run(mut self, mut guard: Ticket, mut account: Account) -> Response {
        let engine = self.proxy.lanes.engine();
        loop {
            self.count(|stats| &stats.sent);
            let sent = self.send().await;
            let headers_at = store::now_us();
            let (last, snapshot, body) = match sent {
                Err(why) => {
                    tracing::warn!(lane = %self.lane.stats.name, error = %why, "upstream unreachable");
                    let message = format!("upstream unreachable: {why}");
                    let last = error(
                        self.dialect,
                        StatusCode::BAD_GATEWAY,
                        ErrorKind::Api,
                        &message,
                    );
                    (last, None, Bytes::new())
                }
                Ok(response) => {
                    let status = response.status();
                    let snapshot = headers::parse(
                        Some(status.as_u16()),
                        response
                            .headers()
                            .iter()
                            .map(|(name, value)| (name.as_str(), value.as_bytes())),
                    );
                    let gated = matches!(account, Account::Store { .. });
                    let snapshot = self.tell_store(gated, snapshot, headers_at);
                    if status.is_success() {
                        let settle = Settle {
                            proxy: self.proxy.clone(),
                            lane: self.lane.clone(),
                            charged: self.charged,
                            account,
                        };
                        return stream_back(guard, snapshot, response, self.rng, settle);
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        self.count(|stats| &stats.upstream_429);
                    }
                    if let Account::Store { at_us } = account
                        && matches!(status.as_u16(), 429 | 529)
                    {
                        // Refused, so not counted: everything it was charged comes back. (One
                        // the fallback let through stays owed as charged: too much, never too
                        // little.)
                        let refund = self
                            .charged
                            .map(|charge| 0_i64.saturating_sub_unsigned(charge));
                        settle_in_store(self.proxy.clone(), self.lane.clone(), refund, at_us);
                    }
                    let headers = passed_headers(response.headers());
                    let body = response.bytes().await.unwrap_or_default();
                    let mut last = Response::new(Body::from(body.clone()));
                    *last.status_mut() = status;
                    *last.headers_mut() = headers;
                    (last, Some(snapshot), body)
                }
            };
            let reply = match &snapshot {
                Some(snapshot) => headroom::Response::new(snapshot).with_body(&body),
                None => headroom::Response::transport_error(),
            };
            let retry = match guard.complete(&reply, &mut self.rng) {
                Ok(Outcome::Retry(retry)) => retry,
                _ => return last,
            };
            self.count(|stats| &stats.retries);
            tracing::info!(lane = %self.lane.stats.name, status = last.status().as_u16(), retries = retry.attempt().retries(), "retrying");
            guard = match engine.acquire_retry(&retry).await {
                Ok(guard) => guard,
                Err(_) => return last,
            };
            self.charged = charges(&self.proxy, &self.lane, self.cost);
            (guard, account) =
                match through_store(&self.proxy, &self.lane, self.charged, guard).await {
                    Ok((guard, Gate::Store { at_us, .. })) => (guard, Account::Store { at_us }),
                    Ok((guard, Gate::Fallback { at_us })) => (guard, Account::Owed { at_us }),
                    Ok((guard, Gate::Local)) => (guard, Account::Local),
                    Err(_) => return last,
                };
        }
    }

    fn count(&self, counter: impl Fn(&LaneStats) -> &AtomicU64) {
        counter(&self.lane.stats).fetch_add(1, Ordering::Relaxed);
    }

    /// Hands a response's rate-limit headers to the store (when it admitted the request), and
    /// answers with the snapshot the local engine should see: without the rate-limit fields
    /// when the store keeps the levels (the local engine keeps the line and the retries).
    fn tell_store(&self, gated: bool, snapshot: Snapshot, headers_at: u64) -> Snapshot {
        if !gated || self.proxy.store.is_none() {
            return snapshot;
        }
        let remaining =
            LimitKind::ALL.map(|kind| snapshot.quota_of(kind).and_then(|quota| quota.remaining));
        if remaining.iter().any(Option::is_some) {
            let (proxy, lane) = (self.proxy.clone(), self.lane.clone());
            let since = headers_at.saturating_sub(proxy.transit_us);
            tokio::spawn(async move {
                let Some(store) = proxy.store.as_ref() else {
                    return;
                };
                let now = store::now_us();
                let synced = store
                    .sync(&lane.stats.name, &lane.rates, remaining, now, since)
                    .await;
                proxy.store_answered(synced.is_ok());
            });
        }
        Snapshot {
            quotas: Default::default(),
            ..snapshot
        }
    }

    /// Sends the request upstream as it came (hop-by-hop headers aside).
    async fn send(&self) -> Result<reqwest::Response, reqwest::Error> {
        let path = self
            .parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let url = format!("{}{path}", self.proxy.upstream);
        let mut headers = passed_headers(&self.parts.headers);
        headers.remove(header::HOST);
        // The body comes back as sent, so that its usage can be read.
        headers.remove(header::ACCEPT_ENCODING);
        self.proxy
            .http
            .request(self.parts.method.clone(), url)
            .headers(headers)
            .body(self.bytes.clone())
            .send()
            .await
    }
}

/// The headers that pass through a proxy: all but the hop-by-hop ones (RFC 9110 §7.6.1) and
/// the length (the body is re-framed).
fn passed_headers(from: &HeaderMap) -> HeaderMap {
    const HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    ];
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        if !HOP.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Tells the store, off the request's path, what an attempt it admitted at `admitted_us` really
/// cost less what it was charged.
fn settle_in_store(proxy: Arc<Proxy>, lane: Arc<Lane>, delta: [i64; 4], admitted_us: u64) {
    if delta.iter().all(|&units| units == 0) {
        return;
    }
    tokio::spawn(async move {
        let Some(store) = proxy.store.as_ref() else {
            return;
        };
        let settled = store
            .settle(
                &lane.stats.name,
                &lane.rates,
                delta,
                store::now_us(),
                admitted_us,
            )
            .await;
        proxy.store_answered(settled.is_ok());
        if settled.is_err() {
            // What it cost above its charge is owed; a refund is simply not given back.
            if let Some(extra) = beyond(delta) {
                lane.owe(extra, admitted_us);
            }
        }
    });
}

/// The part of a settlement's `delta` (by [`headroom::LimitKind::index`]) that the request
/// used beyond its charge, if any: what is owed to a store that could not hear of it (a
/// refund is simply not given back).
fn beyond(delta: [i64; 4]) -> Option<[u64; 4]> {
    let extra = delta.map(|units| u64::try_from(units).unwrap_or(0));
    (extra != [0; 4]).then_some(extra)
}

/// What a request's usage counts, less what it was `charged` ([`charges`]), by
/// [`headroom::LimitKind::index`] (cache reads are free, as in the lanes' cost model).
fn usage_delta(charged: [u64; 4], usage: &Usage) -> [i64; 4] {
    let input = usage
        .input_tokens
        .saturating_add(usage.cache_creation_input_tokens);
    let used = [
        1,
        input,
        usage.output_tokens,
        input.saturating_add(usage.output_tokens),
    ];
    let signed = |units: u64| i64::try_from(units).unwrap_or(i64::MAX);
    [0, 1, 2, 3].map(|kind| {
        let (used, charged) = (
            used.get(kind).copied().unwrap_or(0),
            charged.get(kind).copied().unwrap_or(0),
        );
        signed(used).saturating_sub(signed(charged))
    })
}

/// Where a streamed body's usage goes when it ends.
struct Settle {
    proxy: Arc<Proxy>,
    lane: Arc<Lane>,
    /// What the attempt was charged ([`charges`]).
    charged: [u64; 4],
    account: Account,
}

impl Settle {
    /// Tells the store (or the lane's debt to it) what the attempt really used.
    fn usage(self, usage: &Usage) {
        let delta = usage_delta(self.charged, usage);
        match self.account {
            Account::Local => {}
            Account::Store { at_us } => settle_in_store(self.proxy, self.lane, delta, at_us),
            Account::Owed { at_us } => {
                if let Some(extra) = beyond(delta) {
                    self.lane.owe(extra, at_us);
                }
            }
        }
    }
}

/// The body's state while it streams back to the client.
struct Metered {
    chunks: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    guard: Option<Ticket>,
    scanner: Option<Scanner>,
    snapshot: Snapshot,
    rng: Xoshiro256PlusPlus,
    settle: Option<Settle>,
}

/// The response, its body passed on chunk by chunk as it arrives; the permit is completed
/// with the body's usage when it ends (and handed back keeping its estimate if the stream
/// fails or the client leaves).
fn stream_back(
    guard: Ticket,
    snapshot: Snapshot,
    response: reqwest::Response,
    rng: Xoshiro256PlusPlus,
    settle: Settle,
) -> Response {
    let status = response.status();
    let headers = passed_headers(response.headers());
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let state = Metered {
        scanner: Some(Scanner::new(content_type)),
        chunks: response.bytes_stream().boxed(),
        guard: Some(guard),
        snapshot,
        rng,
        settle: Some(settle),
    };
    let body = futures_util::stream::unfold(state, |mut state| async move {
        let guard = state.guard.take()?;
        match state.chunks.next().await {
            Some(Ok(chunk)) => {
                if let Some(scanner) = &mut state.scanner {
                    scanner.feed(&chunk);
                }
                state.guard = Some(guard);
                Some((Ok(chunk), state))
            }
            Some(Err(why)) => {
                tracing::warn!(error = %why, "upstream body failed mid-stream");
                drop(guard); // the estimate stands
                Some((Err(why), state))
            }
            None => {
                let usage = state.scanner.take().and_then(Scanner::finish);
                if let (Some(settle), Some(usage)) = (state.settle.take(), &usage) {
                    settle.usage(usage);
                }
                let reply = headroom::Response::new(&state.snapshot);
                let reply = match usage {
                    Some(usage) => reply.with_usage(usage),
                    None => reply,
                };
                let _ = guard.complete(&reply, &mut state.rng);
                None
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The proxy's own answer when no permit came, after `wait` in the queue.
fn refused(
    proxy: &Proxy,
    lane: &Lane,
    dialect: Dialect,
    cost: Cost,
    why: AcquireError,
    wait: Wait,
) -> Response {
    match why {
        AcquireError::Rejected(Rejection::DeadlineExceeded) | AcquireError::QueueFull => {
            let wait = match why {
                AcquireError::QueueFull => Wait::QueueFull,
                _ => wait,
            };
            shed(proxy, lane, dialect, retry_after_s(proxy, lane, cost), wait)
        }
        AcquireError::Rejected(Rejection::CostTooLarge { kind }) => {
            // Only a request that asks for output has `max_tokens` to reserve (one without
            // leaves the lane's accounting undecided, and its prompt alone is too large).
            let reserved =
                cost.max_tokens() > 0 && lane.output_accounting() != Some(OutputAccounting::Actual);
            let advice = match kind {
                LimitKind::OutputTokens | LimitKind::Tokens
                    if reserved && dialect == Dialect::OpenAi =>
                {
                    "Reduce the prompt length or max_tokens (OpenAI's API counts max_tokens \
                     against the limit)"
                }
                LimitKind::OutputTokens | LimitKind::Tokens if reserved => {
                    "Reduce the prompt length or max_tokens (max_tokens is reserved whole: if \
                     the provider counts only the output it generates, as Anthropic's API \
                     does, run the proxy with --output-accounting actual)"
                }
                LimitKind::OutputTokens => "Reduce max_tokens",
                _ => "Reduce the prompt length",
            };
            let message = format!(
                "This request's estimated cost is above lane {:?}'s {} limit per window: it can never be sent \
                 without exceeding it. {advice}.",
                lane.stats.name,
                kind.name()
            );
            error(
                dialect,
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                &message,
            )
        }
        other => error(
            dialect,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Api,
            &format!("proxy: {other}"),
        ),
    }
}

/// How long a refused request was in the proxy's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Refused when it asked: the engine (or the store) could already tell that room would not
    /// come before the queue deadline.
    AtOnce,
    /// Refused after waiting this long (from when it joined the queue).
    For(std::time::Duration),
    /// Refused because the queue held as many requests as it takes.
    QueueFull,
}

impl Wait {
    /// The wait of a request that joined the queue at `queued`: at once unless it `waited` in
    /// a line or a sleep, or its refusal took [`Wait::NOTICED`] or more (the shared store's
    /// round trips, up to their timeouts while it stops answering, are time in the queue too).
    fn of(waited: bool, queued: Instant) -> Self {
        let elapsed = queued.elapsed();
        if waited || elapsed >= Self::NOTICED {
            Self::For(elapsed)
        } else {
            Self::AtOnce
        }
    }

    /// The least time in the queue a refused request is told it waited.
    const NOTICED: std::time::Duration = std::time::Duration::from_millis(50);
}

/// A 429 for a request the queue deadline came for (or would have come for, `wait`): room
/// comes back in `after` seconds.
fn shed(proxy: &Proxy, lane: &Lane, dialect: Dialect, after: u64, wait: Wait) -> Response {
    lane.stats.shed_429.fetch_add(1, Ordering::Relaxed);
    tracing::info!(lane = %lane.stats.name, retry_after_s = after, ?wait, "queue deadline: 429");
    let message = shed_message(&lane.stats.name, proxy.queue_timeout.as_secs(), wait, after);
    let mut response = error(
        dialect,
        StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::RateLimit,
        &message,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(after));
    response
}

/// What a shed request is told: how long it was in the queue of `lane` (whose deadline is
/// `timeout_s` away), and when the lane holds it again.
fn shed_message(lane: &str, timeout_s: u64, wait: Wait, after_s: u64) -> String {
    let why = match wait {
        Wait::AtOnce => format!(
            "This request could not get room in lane {lane:?} within the proxy's queue timeout \
             of {timeout_s} s, so it was refused at once"
        ),
        Wait::For(waited) => format!(
            "This request waited {} in the proxy's queue for lane {lane:?} and could not get \
             room within the queue timeout of {timeout_s} s",
            duration_text(waited)
        ),
        Wait::QueueFull => format!(
            "The proxy's queue is full ({WAITERS} requests waiting), so this request for lane \
             {lane:?} was refused at once"
        ),
    };
    format!("{why}; the lane holds it again in {after_s} s.")
}

/// A wait as people read it: whole milliseconds below a second, else seconds to a tenth
/// (rounded down: never more than it was).
fn duration_text(wait: std::time::Duration) -> String {
    let ms = wait.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else {
        format!("{}.{} s", ms / 1_000, ms % 1_000 / 100)
    }
}

/// Whole seconds (at least 1) until the lane holds `cost`: what a client refused at the
/// queue deadline should wait.
fn retry_after_s(proxy: &Proxy, lane: &Lane, cost: Cost) -> u64 {
    room_in_us(proxy, lane, cost).div_ceil(1_000_000).max(1)
}

/// µs until every bucket of the lane holds `cost`, from the engine's levels now (0: room now).
fn room_in_us(proxy: &Proxy, lane: &Lane, cost: Cost) -> u64 {
    let engine = proxy.lanes.engine();
    let now = engine.now();
    let needs = charges(proxy, lane, cost);
    let wait_us = engine.with_policy(|policy| {
        policy
            .status(now)
            .filter(|status| status.lane == lane.id)
            .map(|status| {
                let need = needs.get(status.kind.index()).copied().unwrap_or(0);
                let short = u128::from(need.saturating_sub(status.available));
                let window_us = u128::from(status.limit.window_ms()) * 1_000;
                short * window_us / u128::from(status.limit.amount().max(1))
            })
            .max()
            .unwrap_or(0)
    });
    u64::try_from(wait_us).unwrap_or(u64::MAX)
}

/// An error answer in the dialect's shape.
fn error(dialect: Dialect, status: StatusCode, kind: ErrorKind, message: &str) -> Response {
    (status, axum::Json(body::error(dialect, kind, message))).into_response()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proxy::ProxyArgs;
    use crate::proxy::lanes::Owed;

    #[test]
    fn a_send_charged_an_estimate_owes_the_output_it_generated_beyond_it() {
        // Charged before the lane's first answer under `--output-accounting actual`: one
        // request, 1 000 input tokens, no output.
        let charged = [1, 1_000, 0, 1_000];
        let usage = Usage {
            input_tokens: 900,
            output_tokens: 700,
            ..Usage::default()
        };
        let delta = usage_delta(charged, &usage);
        assert_eq!(delta, [0, -100, 700, 600]);
        // The 100 input tokens charged too many are not given back; the output is owed.
        assert_eq!(beyond(delta), Some([0, 0, 700, 600]));
        assert_eq!(beyond([0, -100, -50, -150]), None);
    }

    /// A proxy of these flags (beside `--upstream`), never started.
    fn proxy(flags: &[&str]) -> Arc<Proxy> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ProxyArgs,
        }
        let argv = ["proxy", "--upstream", "http://127.0.0.1:9"];
        let cli = <Cli as clap::Parser>::try_parse_from(argv.iter().chain(flags)).unwrap();
        Arc::new(Proxy::new(&cli.args).unwrap())
    }

    /// The message of the 400 for a request of `cost` whose `kind` charge is above the burst.
    async fn too_large(proxy: &Proxy, lane: &Lane, kind: LimitKind, cost: Cost) -> String {
        let why = AcquireError::Rejected(Rejection::CostTooLarge { kind });
        let response = refused(proxy, lane, Dialect::Anthropic, cost, why, Wait::AtOnce);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_prompt_too_large_without_max_tokens_is_not_told_to_change_the_output_accounting() {
        let proxy = proxy(&["--tpm", "1000", "--output-accounting", "reserve"]);
        let lane = proxy.lanes.lane_for(Some("m"));
        let prompt = too_large(&proxy, &lane, LimitKind::Tokens, Cost::request(5_000, 0)).await;
        assert!(prompt.contains("Reduce the prompt length."), "{prompt}");
        assert!(!prompt.contains("--output-accounting"), "{prompt}");
        lane.account_output(
            proxy.lanes.engine(),
            proxy.lanes.rules().output,
            Dialect::Anthropic,
            Cost::request(500, 5_000),
        );
        let output = too_large(&proxy, &lane, LimitKind::Tokens, Cost::request(500, 5_000)).await;
        assert!(output.contains("--output-accounting actual"), "{output}");
    }

    #[test]
    fn a_fallback_send_owes_the_store_what_it_used_beyond_its_charge() {
        let proxy = proxy(&[]);
        let lane = proxy.lanes.lane_for(Some("m"));
        let usage = Usage {
            input_tokens: 900,
            output_tokens: 700,
            ..Usage::default()
        };
        let settle = |account| Settle {
            proxy: proxy.clone(),
            lane: lane.clone(),
            charged: [1, 1_000, 0, 1_000],
            account,
        };
        settle(Account::Local).usage(&usage);
        assert_eq!(
            lane.owed(),
            None,
            "a send only the local engine admitted owes nothing"
        );
        settle(Account::Owed { at_us: 7 }).usage(&usage);
        assert_eq!(
            lane.owed(),
            Some(Owed {
                charges: [0, 0, 700, 600],
                last_us: 7
            })
        );
        // A send that used less than its charge owes nothing more.
        let less = Usage {
            input_tokens: 10,
            ..Usage::default()
        };
        settle(Account::Owed { at_us: 9 }).usage(&less);
        assert_eq!(lane.owed().map(|owed| owed.charges), Some([0, 0, 700, 600]));
    }

    #[test]
    fn a_request_refused_at_once_is_not_told_it_waited() {
        let message = shed_message("m", 60, Wait::AtOnce, 42);
        assert_eq!(
            message,
            "This request could not get room in lane \"m\" within the proxy's queue timeout of \
             60 s, so it was refused at once; the lane holds it again in 42 s."
        );
        assert!(!message.contains("waited"), "{message}");
    }

    #[test]
    fn a_request_that_waited_is_told_how_long() {
        let waited = Wait::For(Duration::from_millis(59_960));
        assert_eq!(
            shed_message("sonnet", 60, waited, 3),
            "This request waited 59.9 s in the proxy's queue for lane \"sonnet\" and could not \
             get room within the queue timeout of 60 s; the lane holds it again in 3 s."
        );
        let brief = shed_message("m", 1, Wait::For(Duration::from_micros(250_700)), 1);
        assert!(
            brief.starts_with("This request waited 250 ms in"),
            "{brief}"
        );
    }

    #[test]
    fn a_full_queue_says_so() {
        let message = shed_message("m", 60, Wait::QueueFull, 5);
        assert!(
            message.starts_with("The proxy's queue is full (4096 requests waiting)"),
            "{message}"
        );
    }

    #[test]
    fn waits_read_in_milliseconds_then_tenths_of_seconds() {
        let text = |ms| duration_text(Duration::from_millis(ms));
        assert_eq!(
            [text(0), text(999), text(1_000), text(1_099), text(61_250)],
            ["0 ms", "999 ms", "1.0 s", "1.0 s", "61.2 s"]
        );
    }
}
