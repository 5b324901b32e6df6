//! `headroom proxy`: a pacing gateway on localhost that any SDK can point its base URL at.
//!
//! Clients in any language (the Python and TypeScript SDKs, curl) change one setting,
//! `ANTHROPIC_BASE_URL` or `OPENAI_BASE_URL`, and their requests go through the engine: each
//! waits in its lane's line until the lane's buckets hold it, is forwarded unchanged, and
//! its response streams back as it arrives while the engine reads the rate-limit headers and
//! the body's `usage` to stay in step with the provider. A 429, 529 or 5xx from upstream is
//! retried when the engine says so, before any byte has gone back to the client; everything
//! else passes through.
//!
//! * [`config`]: the `--config` file (lanes and their limits), [`request`]: a request's
//!   model and cost, [`lanes`]: the local engine and its lanes, [`forward`]: one request's
//!   life, [`usage`]: reading `usage` off a streaming body, [`metrics`]: `GET /metrics`.
//! * With `--store redis://…`, the buckets of lanes with configured limits live in Redis,
//!   shared with every proxy in front of the same key ([`crate::store`]): the store admits,
//!   and the responses' headers set its levels; the local engine still keeps each lane's line,
//!   retries, and takes over at `--fallback-permille` of the limits while Redis is away
//!   ([`fallback`]: from an empty bucket, and what was sent meanwhile is charged to the store
//!   when it answers again).
//!
//! The proxy answers `GET /healthz` and `GET /metrics` itself; every other request goes
//! upstream. It never logs a header (API keys pass through untouched).

pub mod config;
pub mod fallback;
pub mod forward;
pub mod lanes;
pub mod metrics;
pub mod request;
pub mod usage;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use headroom::Policy;

use crate::cli::CliError;
use crate::store::Store;
use crate::world::Accounting;
use config::{Config, Limits};
use lanes::{LaneRules, Lanes};

/// `headroom proxy`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyArgs {
    /// Address to listen on; port 0 picks a free one (the bound address is printed first).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: String,
    /// The provider's base URL, e.g. `https://api.anthropic.com`.
    #[arg(long)]
    pub upstream: String,
    /// A JSON file mapping models to lanes and their limits (see docs/proxy.md).
    #[arg(long)]
    pub config: Option<String>,
    /// The limits of every model the config file does not name (default: learned from the
    /// first response, starting at one request at a time).
    #[command(
        flatten,
        next_help_heading = "Limits of models the config file does not name"
    )]
    pub limits: Limits,
    /// Pace each configured limit at this share of itself, in ‰ (requests sent at exactly the
    /// limit can arrive closer together than they left). Until the first response: a lane then
    /// takes the limits its headers report, unless a `--store` keeps the configured ones.
    #[arg(long, default_value_t = 980, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pace_permille: u32,
    /// This proxy is the only client of its API key: take everything the headers report
    /// (without it, the proxy learns its share of a shared key).
    #[arg(long)]
    pub alone: bool,
    /// The longest a request waits in line for a permit, in seconds (at least 1); after it the
    /// client gets a 429 with a `retry-after`.
    #[arg(long, default_value_t = 60, value_parser = parse_queue_timeout)]
    pub queue_timeout_s: u64,
    /// The longest a request takes to reach the provider, in ms (the engine's transit
    /// allowance: how long a response's headers may not yet count a request sent before them).
    #[arg(long, default_value_t = 500)]
    pub transit_ms: u64,
    /// The largest request body accepted, in bytes (at least 1; a larger one gets a 413).
    #[arg(long, default_value_t = 32 << 20, value_parser = parse_max_body)]
    pub max_body_bytes: usize,
    /// Share the lanes' buckets with other proxies in Redis (redis://HOST:PORT); lanes with
    /// configured limits are then paced by the store.
    #[arg(long)]
    pub store: Option<String>,
    /// While the store is unreachable, pace each lane at this share of its limits, in ‰.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub fallback_permille: u32,
    /// How the provider counts output tokens against the output and combined limits: `auto`
    /// (the default) decides per lane from the API of its first request with a `max_tokens`
    /// (OpenAI's four paths, or Anthropic's: every other path), `actual` for Anthropic's (a
    /// request is charged the lane's running estimate of its output, so a `max_tokens` above
    /// the output limit is still sent),
    /// `reserve` for OpenAI's (`max_tokens` charged, the rest refunded at the end).
    #[arg(long = "output-accounting", value_enum, default_value_t = Accounting::Auto)]
    pub output_accounting: Accounting,
}

/// `--max-body-bytes`: a whole number of bytes, at least 1 (0 would refuse every request).
fn parse_max_body(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|bytes| *bytes > 0)
        .ok_or_else(|| format!("a body size is a whole number of bytes, at least 1: {text}"))
}

/// `--queue-timeout-s`: whole seconds, at least 1 (0 would turn away every request that has to
/// wait at all, which no flag promises).
fn parse_queue_timeout(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|seconds| *seconds > 0)
        .ok_or_else(|| format!("a queue timeout is a whole number of seconds, at least 1: {text}"))
}

/// `--upstream`: an absolute `http` or `https` URL (the proxy speaks nothing else).
///
/// # Errors
///
/// [`CliError::Input`] naming the flag and the URL.
fn parse_upstream(text: &str) -> Result<reqwest::Url, CliError> {
    let url = reqwest::Url::parse(text)
        .map_err(|error| CliError::Input(format!("--upstream {text}: {error}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(CliError::Input(format!(
            "--upstream {text}: the scheme is {other:?}; the proxy forwards to http:// or https:// URLs"
        ))),
    }
}

/// The proxy's state, shared by its handlers.
#[derive(Debug)]
pub struct Proxy {
    lanes: Lanes,
    upstream: String,
    http: reqwest::Client,
    queue_timeout: Duration,
    max_body: usize,
    transit_us: u64,
    store: Option<Store>,
    /// Whether the lanes are at their fallback share (the store was unreachable last).
    falling_back: AtomicBool,
    next_seed: AtomicU64,
}

impl Proxy {
    /// A proxy for `args` (the config file read, the store connected lazily).
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] for a bad config file, upstream URL or store URL.
    pub fn new(args: &ProxyArgs) -> Result<Self, CliError> {
        let config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let upstream = parse_upstream(&args.upstream)?;
        let rules = LaneRules {
            config,
            fallback: args.limits,
            pace_permille: args.pace_permille,
            alone: args.alone,
            keep_limits: args.store.is_some(),
            fallback_permille: args.fallback_permille,
            transit_us: args.transit_ms.saturating_mul(1_000),
            output: args.output_accounting,
        };
        let policy = Policy::new().with_transit_allowance(headroom::time::millis(args.transit_ms));
        for (lane, interval) in rules.slow_lanes(
            Duration::from_secs(args.queue_timeout_s),
            args.store.is_some(),
        ) {
            tracing::warn!(
                %lane,
                interval_s = interval.as_secs_f64(),
                queue_timeout_s = args.queue_timeout_s,
                "paced requests come further apart than --queue-timeout-s: a request that \
                 finds this lane drained is refused at once (raise --queue-timeout-s)"
            );
        }
        let lanes = Lanes::new(policy, rules)?;
        let store = args.store.as_deref().map(Store::open).transpose()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| CliError::Input(format!("the HTTP client: {error}")))?;
        Ok(Self {
            lanes,
            upstream: upstream.as_str().trim_end_matches('/').to_owned(),
            http,
            queue_timeout: Duration::from_secs(args.queue_timeout_s),
            max_body: args.max_body_bytes,
            transit_us: args.transit_ms.saturating_mul(1_000),
            store,
            falling_back: AtomicBool::new(false),
            next_seed: AtomicU64::new(0),
        })
    }

    /// A seed for one request's retry jitter.
    fn seed(&self) -> u64 {
        self.next_seed.fetch_add(1, Ordering::Relaxed)
    }

    /// Records whether the store answered: the lanes go to their fallback share when it stops
    /// answering, and back to all of their limits when it answers again.
    fn store_answered(&self, up: bool) {
        if self.falling_back.swap(!up, Ordering::Relaxed) == up {
            let share = if up {
                1_000
            } else {
                self.lanes.rules().fallback_permille
            };
            if up {
                tracing::info!("store reachable again: lanes paced by the store");
            } else {
                tracing::warn!(
                    share_permille = share,
                    "store unreachable: lanes paced by the local engine at a share of their limits"
                );
            }
            self.lanes.share(share);
            if up {
                // The next outage starts from an empty fallback gate again.
                for lane in self.lanes.all() {
                    lane.end_fallback();
                }
            }
        }
    }

    /// The `GET /metrics` page.
    fn metrics(&self) -> String {
        let lanes = self.lanes.all();
        let engine = self.lanes.engine();
        let now = engine.now();
        let buckets = engine.with_policy(|policy| {
            lanes
                .iter()
                .flat_map(|lane| {
                    policy
                        .status(now)
                        .filter(|status| status.lane == lane.id)
                        .map(|status| (lane.stats.name.clone(), status))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        });
        let stats: Vec<&metrics::LaneStats> = lanes.iter().map(|lane| &lane.stats).collect();
        let store_up = self
            .store
            .as_ref()
            .map(|_| !self.falling_back.load(Ordering::Relaxed));
        let mut page = metrics::render(&stats, &buckets, store_up);
        page.push_str(&forward::OVERHEAD.render());
        page
    }
}

/// The proxy's router: `/healthz`, `/metrics`, and everything else forwarded.
pub fn router(proxy: Arc<Proxy>) -> Router {
    Router::new().fallback(handle).with_state(proxy)
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    if request.method() == Method::GET {
        match request.uri().path() {
            "/healthz" => return (StatusCode::OK, "ok\n").into_response(),
            "/metrics" => {
                return (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    proxy.metrics(),
                )
                    .into_response();
            }
            _ => {}
        }
    }
    forward::forward(proxy, request).await
}

/// Serves until SIGINT or SIGTERM, printing the bound address first; on the signal, stops
/// accepting connections and returns once the requests in flight are answered
/// ([`crate::cli`]'s shutdown).
///
/// # Errors
///
/// [`CliError::Input`] for bad arguments or an address that cannot be bound.
pub fn run_cli(args: &ProxyArgs) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Io)?;
    runtime.block_on(async {
        let proxy = Arc::new(Proxy::new(args)?);
        // Before the address is printed: whoever reads it may signal at once.
        let shutdown = crate::cli::shutdown_signal(|message| tracing::info!("{message}"))?;
        let listener = crate::cli::listen(&args.listen).await?;
        let address = listener.local_addr().map_err(CliError::Io)?;
        tracing::info!(%address, upstream = %proxy.upstream, store = proxy.store.is_some(), "headroom proxy listening");
        tokio::spawn(forward::pay_debts(Arc::clone(&proxy)));
        axum::serve(listener, router(proxy))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(CliError::Io)
    })
}
