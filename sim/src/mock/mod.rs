//! `headroom mock`: the simulator's provider as a real HTTP server on localhost, in real time.
//!
//! Any client, in any language, can be pointed at it to try its pacing against realistic
//! limits without spending quota. It serves one API shape, chosen with `--dialect`:
//!
//! * `anthropic`: `POST /v1/messages`, with `anthropic-ratelimit-*`, `retry-after`,
//!   `request-id` and `Date` headers, `usage` in the body, and the API's 429 / 529 error bodies;
//! * `openai`: `POST /v1/chat/completions`, with `x-ratelimit-*` (Go durations).
//!
//! The buckets, the 429 decision and the headers are the simulator's own
//! ([`crate::upstream::Upstream`], written with the core's `headers::emit`), driven by the
//! wall clock instead of simulated time. Input tokens are taken from the `x-mock-input-tokens`
//! request header when present (for exact tests), otherwise estimated as the body's length in
//! bytes divided by 4; output tokens from `x-mock-output-tokens`, otherwise `max_tokens`.
//! Malformed requests get a 400 in the API's error shape.
//!
//! Output tokens count the way `simulate` counts them (`--output-accounting`, the same flag and
//! default), so that a client tried here meets the provider it was simulated against: by
//! default actual output for Anthropic (no request is admitted while the output bucket is in
//! debt, `max_tokens` is not counted) and `max_tokens` reserved for OpenAI. The mock charges
//! the actual output when the response is sent, where the simulator spreads it over the
//! generation; with a fixed `--latency-ms` the two differ by that latency at most.
//!
//! On SIGINT or SIGTERM the mock stops accepting connections, answers the requests in flight
//! and exits 0 ([`crate::cli`]), as the proxy in front of it does.
//!
//! Two flags bring in the weather a client meets in production, again as the simulator models
//! it (the same [`crate::upstream::Upstream`], so a strategy tried in `simulate` meets the
//! same provider here):
//!
//! * `--overloaded START:END[,START:END…]`: windows of provider overload, in seconds since the
//!   mock started. Every request arriving in one is refused with 529 and the API's overloaded
//!   body (`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},
//!   "request_id":"req_mock_…"}`: Anthropic's error bodies repeat the `request-id` header),
//!   `x-should-retry: true`, and charges nothing; after the window the buckets answer again.
//! * `--foreign-load F[@T]`: another consumer of the same key using fraction `F` of every
//!   limit (from `T` seconds on), as `simulate --foreign-load` models it: its arrivals drain
//!   the buckets, so the `remaining` a client reads falls below what its own requests explain,
//!   and its share of 429s rises.

pub(crate) mod body;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use headroom::LimitKind;
use serde_json::Value;

use crate::cli::CliError;
use crate::upstream::{ForeignLoad, HeaderBuf, Overload, Upstream, UpstreamConfig, render};
use crate::workload::{Dialect, Lane, Limits, Request, parse_limit};
use crate::world::{Accounting, parse_foreign, parse_seconds};
use body::ErrorKind;

/// `headroom mock`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MockArgs {
    /// Address to listen on; port 0 picks a free one (the bound address is printed first).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The API shape served: `anthropic` (/v1/messages) or `openai` (/v1/chat/completions).
    #[arg(long, default_value = "anthropic", value_parser = parse_dialect)]
    pub dialect: Dialect,
    /// Requests per minute, 1 to 4294967295 (absent: not limited).
    #[arg(long, value_parser = parse_limit)]
    pub rpm: Option<u64>,
    /// Input tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub itpm: Option<u64>,
    /// Output tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub otpm: Option<u64>,
    /// Tokens per minute (input and output together), 1 to 4294967295.
    #[arg(long, value_parser = parse_limit)]
    pub tpm: Option<u64>,
    /// Latency of a successful response, in ms.
    #[arg(long, default_value_t = 50)]
    pub latency_ms: u64,
    /// Overload windows, seconds since start: every request arriving in one gets a 529 with
    /// the API's overloaded body (comma-separated or repeated).
    #[arg(long, value_name = "START:END[,START:END…]", value_delimiter = ',', value_parser = parse_window)]
    pub overloaded: Vec<Overload>,
    /// An outside consumer of the key using fraction F of every limit, from T seconds on (as
    /// `simulate --foreign-load`: F from 0 to below 1, at most three decimals).
    #[arg(long = "foreign-load", value_name = "F[@T]", value_parser = parse_foreign)]
    pub foreign_load: Option<ForeignLoad>,
    /// How output tokens count against the output and combined limits, as `simulate
    /// --output-accounting`: `auto` is `actual` for anthropic, `reserve` for openai.
    #[arg(long = "output-accounting", value_enum, default_value_t = Accounting::Auto)]
    pub output_accounting: Accounting,
}

/// `START:END` (seconds since the mock started, decimals allowed) as an overload window in
/// which every request is refused with 529.
///
/// # Errors
///
/// A message naming the text when a part is missing or not a number, or the window is empty.
///
/// # Examples
///
/// ```
/// use headroom_sim::mock::parse_window;
///
/// let window = parse_window("30:45.5").unwrap();
/// assert_eq!((window.start_us, window.end_us, window.permille), (30_000_000, 45_500_000, 1000));
/// assert!(parse_window("45:30").is_err());
/// assert!(parse_window("30").is_err());
/// ```
pub fn parse_window(text: &str) -> Result<Overload, String> {
    let Some((start, end)) = text.split_once(':') else {
        return Err(format!("expected START:END in seconds: {text}"));
    };
    let (start_us, end_us) = (parse_seconds(start)?, parse_seconds(end)?);
    if end_us <= start_us {
        return Err(format!("END must be after START: {text}"));
    }
    Ok(Overload {
        start_us,
        end_us,
        permille: 1000,
    })
}

fn parse_dialect(text: &str) -> Result<Dialect, String> {
    match text {
        "anthropic" => Ok(Dialect::Anthropic),
        "openai" => Ok(Dialect::OpenAi),
        other => Err(format!("unknown dialect {other:?}: anthropic or openai")),
    }
}

/// The provider and its clock, shared by the handlers.
#[derive(Debug)]
struct Mock {
    upstream: Mutex<Upstream>,
    start: Instant,
    dialect: Dialect,
    latency: Duration,
    next_id: Mutex<u32>,
}

impl Mock {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn upstream(&self) -> std::sync::MutexGuard<'_, Upstream> {
        self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The mock's router for `args` (the server without its listener), for embedding in tests.
pub fn router(args: &MockArgs) -> Router {
    let limits = Limits([args.rpm, args.itpm, args.otpm, args.tpm]);
    let epoch_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let config = UpstreamConfig {
        epoch_unix_s,
        base_latency_us: 0,
        overload: args.overloaded.clone(),
        foreign: args.foreign_load,
        output: args.output_accounting.resolve(args.dialect),
        ..UpstreamConfig::default()
    };
    let lane = Lane {
        name: String::new(),
        limits,
    };
    let mock = Mock {
        upstream: Mutex::new(Upstream::new(config, &[lane])),
        // The Date header counts whole seconds from `epoch_unix_s`: start on that second.
        start: Instant::now(),
        dialect: args.dialect,
        latency: Duration::from_millis(args.latency_ms),
        next_id: Mutex::new(0),
    };
    let path = match args.dialect {
        Dialect::Anthropic => "/v1/messages",
        Dialect::OpenAi => "/v1/chat/completions",
    };
    let dialect = args.dialect;
    Router::new()
        .route(path, post(handle))
        .fallback(move || async move {
            answer(
                dialect,
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                "no such endpoint",
            )
        })
        .with_state(Arc::new(mock))
}

/// Serves until SIGINT or SIGTERM, printing the bound address first; on the signal, says so
/// on standard error (standard output carries only the address), stops accepting
/// connections and returns once the requests in flight are answered ([`crate::cli`]'s
/// shutdown).
///
/// # Errors
///
/// [`CliError::Input`] when the address cannot be bound.
pub fn run_cli(args: &MockArgs) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::Io)?;
    runtime.block_on(async {
        // Before the address is printed: whoever reads it may signal at once.
        let shutdown = crate::cli::shutdown_signal(|message| {
            use std::io::Write as _;
            // Nowhere to report a closed standard error.
            let _ = writeln!(std::io::stderr(), "headroom mock: {message}");
        })?;
        let listener = crate::cli::listen(&args.listen).await?;
        axum::serve(listener, router(args))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(CliError::Io)
    })
}

/// An error response in the dialect's shape.
fn answer(dialect: Dialect, status: StatusCode, kind: ErrorKind, message: &str) -> Response {
    (status, axum::Json(body::error(dialect, kind, message))).into_response()
}

/// A number from a request header, if present and well-formed.
fn header_number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, String> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| format!("{name}: not a whole number"))
}

/// What the request asks for: (input tokens, max_tokens, output tokens, model).
fn read_request(
    dialect: Dialect,
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Result<(u64, u64, u64, String), String> {
    let json: Value =
        serde_json::from_slice(bytes).map_err(|error| format!("invalid JSON body: {error}"))?;
    let object = json.as_object().ok_or("the body must be a JSON object")?;
    let max_tokens = match dialect {
        Dialect::Anthropic => object.get("max_tokens"),
        Dialect::OpenAi => object
            .get("max_completion_tokens")
            .or_else(|| object.get("max_tokens")),
    };
    let max_tokens = match (max_tokens, dialect) {
        (Some(value), _) => value.as_u64().ok_or("max_tokens: not a whole number")?,
        (None, Dialect::Anthropic) => return Err("max_tokens: Field required".into()),
        (None, Dialect::OpenAi) => 0,
    };
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?
        .to_owned();
    let input = header_number(headers, "x-mock-input-tokens")?
        .unwrap_or(u64::try_from(bytes.len()).unwrap_or(u64::MAX) / 4);
    let output = header_number(headers, "x-mock-output-tokens")?
        .unwrap_or(max_tokens)
        .min(max_tokens.max(1));
    Ok((input, max_tokens, output, model))
}

async fn handle(State(mock): State<Arc<Mock>>, headers: HeaderMap, bytes: Bytes) -> Response {
    let dialect = mock.dialect;
    let (input, max_tokens, output, model) = match read_request(dialect, &headers, &bytes) {
        Ok(parts) => parts,
        Err(message) => {
            return answer(
                dialect,
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                &message,
            );
        }
    };
    let id = {
        let mut next = mock.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        *next = next.wrapping_add(1);
        *next
    };
    let request = Request {
        arrival_us: mock.now_us(),
        id,
        ..Request::exact(input, output, max_tokens)
    };
    let admission = mock.upstream().admit(mock.now_us(), &request, 1);
    if admission.status == 200 {
        tokio::time::sleep(mock.latency).await;
        mock.upstream().complete(mock.now_us(), &request, 0);
    }
    let state =
        mock.upstream()
            .header_state(mock.now_us(), 0, admission.status, admission.retry_after_s);
    let mut buf = HeaderBuf::new();
    render(&state, dialect, &mut buf);
    let request_id = format!("req_mock_{id:08}");
    let status =
        StatusCode::from_u16(admission.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut json = match admission.status {
        200 => body::success(dialect, &format!("msg_mock_{id:08}"), &model, input, output),
        429 => body::error(
            dialect,
            ErrorKind::RateLimit,
            &rate_limit_message(&state_kind(&request, &mock)),
        ),
        529 => body::error(dialect, ErrorKind::Overloaded, "Overloaded"),
        _ => body::error(dialect, ErrorKind::InvalidRequest, "invalid request"),
    };
    if admission.status != 200
        && dialect == Dialect::Anthropic
        && let Some(object) = json.as_object_mut()
    {
        // Anthropic's error bodies repeat the `request-id` header, for support requests.
        object.insert("request_id".to_owned(), request_id.clone().into());
    }
    let mut response = (status, axum::Json(json)).into_response();
    let out = response.headers_mut();
    for (name, value) in buf.pairs() {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(HeaderName::from_static(name), value);
        }
    }
    let id_header = match dialect {
        Dialect::Anthropic => "request-id",
        Dialect::OpenAi => "x-request-id",
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        out.insert(HeaderName::from_static(id_header), value);
    }
    response
}

/// The limit a refused request hit first, for the 429's message: what the buckets must hold
/// to admit it (under actual output accounting, an output bucket in debt refuses everything).
fn state_kind(request: &Request, mock: &Mock) -> LimitKind {
    let needs = mock.upstream().config().admission_needs(request);
    let now = mock.now_us();
    let state = mock.upstream().header_state(now, 0, 429, None);
    LimitKind::ALL
        .into_iter()
        .find(|kind| {
            state.quotas[kind.index()].is_some_and(|quota| quota.remaining < needs[kind.index()])
        })
        .unwrap_or(LimitKind::Requests)
}

/// A 429's message, worded as the APIs word it.
fn rate_limit_message(kind: &LimitKind) -> String {
    let what = match kind {
        LimitKind::Requests => "requests",
        LimitKind::InputTokens => "input tokens",
        LimitKind::OutputTokens => "output tokens",
        LimitKind::Tokens => "tokens",
    };
    format!(
        "This request would exceed your organization's rate limit of {what} per minute. \
         Please reduce the prompt length or the maximum tokens requested, or try again later."
    )
}
