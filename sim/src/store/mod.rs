//! The proxies' shared state in Redis: each lane's buckets, updated atomically by Lua scripts,
//! so that several `headroom proxy` processes in front of one API key share one budget (as
//! LiteLLM's router keeps its counters in Redis, and Envoy's global rate limit service).
//!
//! Three scripts, each one atomic step, with the time passed in by the caller (the same
//! injected clock as the core: the proxies pass their wall clock in µs; a simulator could
//! pass its own):
//!
//! * `acquire.lua`: the core's GCRA over every bucket of the lane, all or nothing, and a log
//!   of what was admitted when;
//! * `settle.lua`: what a request really cost, against what it was charged (a refund only
//!   gives back what is still ahead of now; an extra charge is logged as admitted with the
//!   request), and what a proxy admitted on its own while Redis was away;
//! * `sync.lua`: a response's `remaining` sets each bucket, less the charges every proxy
//!   logged since the headers' arrival minus the transit allowance (what the provider cannot
//!   have counted yet).
//!
//! A lane is stored under `headroom:{lane}` (a hash of theoretical arrival times) and
//! `headroom:{lane}:log` (a sorted set of admissions, kept for a few seconds). When Redis does
//! not answer, the store says so ([`StoreError::Unreachable`]), and stays down for a second
//! before it tries again; the proxy then decides with its local engine.

use std::sync::Mutex as SyncMutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headroom::{LaneConfig, LimitKind};
use redis::aio::MultiplexedConnection;

use crate::cli::CliError;

/// How long an unreachable store is left alone before it is tried again.
const RETRY_DOWN: Duration = Duration::from_secs(1);
/// The longest a store command may take before the store counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long admissions stay in a lane's log (longer than any transit allowance).
const LOG_KEEP_US: u64 = 10_000_000;

/// Why the store did not answer.
///
/// # Examples
///
/// ```
/// use headroom_sim::store::StoreError;
///
/// assert_eq!(StoreError::Unreachable.to_string(), "store unreachable");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis did not answer (refused, timed out, or known down a moment ago).
    Unreachable,
    /// A script answered something it never answers.
    BadReply,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable => f.write_str("store unreachable"),
            Self::BadReply => f.write_str("unexpected reply from a store script"),
        }
    }
}

impl std::error::Error for StoreError {}

/// One bucket's rate, as the scripts take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate {
    /// The window, in µs.
    pub window_us: u64,
    /// Units per window (0: no such limit).
    pub amount: u64,
    /// The burst, in units: the limit's, less the reserve.
    pub burst: u64,
    /// Units the store leaves unspent for arrivals bunched by transit jitter: taken off the
    /// burst, and off every level a header sync sets ([`rates`]).
    pub reserve: u64,
}

/// A lane's rates by [`LimitKind::index`], each keeping in reserve what its rate refills in
/// `jitter_us` (leaving a burst of at least 1).
///
/// The store schedules admissions on the callers' clocks, sampled before the round trip to
/// Redis; the provider counts arrivals. A request admitted at the start of a span of
/// `jitter_us` can reach the provider at its end, together with those admitted during it: the
/// provider's bucket must still hold them all then, so the store leaves that span's refill
/// unspent — off the burst when the bucket is full, and off the level a sync reads in the
/// headers, which is the provider's own with nothing to spare. The proxies pass their transit
/// allowance (`--transit-ms`).
///
/// # Examples
///
/// ```
/// use headroom::{LaneConfig, Limit, nz};
/// use headroom_sim::store::rates;
///
/// let lane = LaneConfig::new().requests(Limit::per_minute(nz!(120)));
/// let paced = rates(&lane, 0);
/// assert_eq!((paced[0].window_us, paced[0].amount, paced[0].burst), (60_000_000, 120, 2));
/// assert_eq!(paced[1].amount, 0);
/// // 6 000 a minute, burst 100: a quarter of a second refills 25.
/// let lane = LaneConfig::new().requests(Limit::per_minute(nz!(6_000)));
/// assert_eq!((rates(&lane, 250_000)[0].burst, rates(&lane, 250_000)[0].reserve), (75, 25));
/// assert_eq!((rates(&lane, 60_000_000)[0].burst, rates(&lane, 60_000_000)[0].reserve), (1, 99));
/// ```
pub fn rates(lane: &LaneConfig, jitter_us: u64) -> [Rate; 4] {
    LimitKind::ALL.map(|kind| {
        lane.limit(kind).map_or(Rate::default(), |limit| {
            let window_us = u64::from(limit.window_ms()) * 1_000;
            let amount = u64::from(limit.amount());
            let refilled = u64::try_from(
                u128::from(amount) * u128::from(jitter_us) / u128::from(window_us.max(1)),
            )
            .unwrap_or(u64::MAX);
            let burst = u64::from(limit.burst_for(kind));
            let reserve = refilled.min(burst.saturating_sub(1));
            Rate {
                window_us,
                amount,
                burst: burst - reserve,
                reserve,
            }
        })
    })
}

/// The store's answer to an acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted: send it.
    Admit,
    /// Not before this instant (µs on the callers' clock).
    WaitUntil(u64),
    /// Never: the charge is above this kind's burst (the limit's own, reserve included).
    Never(LimitKind),
}

/// The Redis store (see the module docs).
#[derive(Debug)]
pub struct Store {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    down_until: SyncMutex<Option<Instant>>,
    up: AtomicBool,
    acquire: redis::Script,
    settle: redis::Script,
    sync: redis::Script,
}

/// The callers' clock: µs since the Unix epoch.
///
/// # Examples
///
/// ```
/// assert!(headroom_sim::store::now_us() > 1_700_000_000_000_000);
/// ```
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        })
}

impl Store {
    /// A store at `url` (`redis://HOST:PORT`); it connects on first use.
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] when the URL is not a Redis URL: its scheme named (`redis://`,
    /// `redis+unix://` or `unix://`; TLS, `rediss://`, is not built in), or the Redis client's
    /// own complaint.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::store::Store;
    ///
    /// assert!(Store::open("redis://127.0.0.1:6379").is_ok());
    /// let error = Store::open("http://127.0.0.1:6379").unwrap_err().to_string();
    /// assert!(error.contains("the scheme is \"http\""), "{error}");
    /// ```
    pub fn open(url: &str) -> Result<Self, CliError> {
        let bad = |why: &str| CliError::Input(format!("--store {url}: {why}"));
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        match scheme {
            "redis" => {
                let parsed = reqwest::Url::parse(url).map_err(|error| bad(&error.to_string()))?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(bad("no host; the store is named as redis://HOST:PORT"));
                }
            }
            "redis+unix" | "unix" => {}
            "rediss" => {
                return Err(bad(
                    "TLS (rediss://) is not built into this binary; use redis://HOST:PORT \
                     (through a TLS tunnel such as stunnel if the store needs one)",
                ));
            }
            "" => {
                return Err(bad(
                    "not a URL; the store is named as redis://HOST:PORT (or unix:///path/to/socket)",
                ));
            }
            other => {
                return Err(bad(&format!(
                    "the scheme is {other:?}; the store is named as redis://HOST:PORT (or \
                     unix:///path/to/socket)"
                )));
            }
        }
        let client = redis::Client::open(url).map_err(|error| bad(&error.to_string()))?;
        Ok(Self {
            client,
            connection: tokio::sync::Mutex::new(None),
            down_until: SyncMutex::new(None),
            up: AtomicBool::new(true),
            acquire: redis::Script::new(include_str!("acquire.lua")),
            settle: redis::Script::new(include_str!("settle.lua")),
            sync: redis::Script::new(include_str!("sync.lua")),
        })
    }

    /// Whether the last command reached Redis.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Whether a command now would be sent (false while the store is known down, for a second
    /// after a failure).
    pub fn may_answer(&self) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|until| Instant::now() >= until)
    }

    /// Asks to admit `charges` (by [`LimitKind::index`]) on `lane` at `now_us`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when Redis does not answer as it should.
    pub async fn acquire(
        &self,
        lane: &str,
        rates: &[Rate; 4],
        charges: [u64; 4],
        now_us: u64,
    ) -> Result<Decision, StoreError> {
        let mut call = self.acquire.prepare_invoke();
        call.key(lane_key(lane))
            .key(log_key(lane))
            .arg(now_us)
            .arg(LOG_KEEP_US);
        for (rate, charge) in rates.iter().zip(charges) {
            call.arg(rate.window_us)
                .arg(rate.amount)
                .arg(rate.burst)
                .arg(rate.reserve)
                .arg(charge);
        }
        let reply: Vec<i64> = self.run(call).await?;
        let kind = |index: Option<&i64>| {
            index
                .and_then(|&index| usize::try_from(index).ok())
                .and_then(|index| LimitKind::ALL.get(index).copied())
                .ok_or(StoreError::BadReply)
        };
        match reply.as_slice() {
            [1, ..] => Ok(Decision::Admit),
            [0, at, ..] => Ok(Decision::WaitUntil(
                u64::try_from(*at).map_err(|_| StoreError::BadReply)?,
            )),
            [-1, rest @ ..] => Ok(Decision::Never(kind(rest.first())?)),
            _ => Err(StoreError::BadReply),
        }
    }

    /// Settles a request admitted at `admitted_us`: `delta` is what it really cost less what it
    /// was charged. Charges admitted without the store (while it was unreachable) are settled
    /// the same way, as a positive `delta` admitted at the last of them.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when Redis does not answer as it should.
    pub async fn settle(
        &self,
        lane: &str,
        rates: &[Rate; 4],
        delta: [i64; 4],
        now_us: u64,
        admitted_us: u64,
    ) -> Result<(), StoreError> {
        let mut call = self.settle.prepare_invoke();
        call.key(lane_key(lane))
            .key(log_key(lane))
            .arg(now_us)
            .arg(admitted_us);
        for (rate, delta) in rates.iter().zip(delta) {
            call.arg(rate.window_us)
                .arg(rate.amount)
                .arg(rate.burst)
                .arg(delta);
        }
        let _: i64 = self.run(call).await?;
        Ok(())
    }

    /// Sets `lane`'s buckets from a response's `remaining` values (by [`LimitKind::index`]),
    /// counting as unseen every admission logged since `since_us`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when Redis does not answer as it should.
    pub async fn sync(
        &self,
        lane: &str,
        rates: &[Rate; 4],
        remaining: [Option<u64>; 4],
        now_us: u64,
        since_us: u64,
    ) -> Result<(), StoreError> {
        let mut call = self.sync.prepare_invoke();
        call.key(lane_key(lane))
            .key(log_key(lane))
            .arg(now_us)
            .arg(since_us);
        for (rate, remaining) in rates.iter().zip(remaining) {
            let remaining = remaining.map_or(-1, |left| i64::try_from(left).unwrap_or(i64::MAX));
            call.arg(rate.window_us)
                .arg(rate.amount)
                .arg(rate.burst)
                .arg(rate.reserve)
                .arg(remaining);
        }
        let _: i64 = self.run(call).await?;
        Ok(())
    }

    /// Runs one script call; any failure marks the store down for [`RETRY_DOWN`].
    async fn run<T: redis::FromRedisValue>(
        &self,
        call: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        let answer =
            tokio::time::timeout(COMMAND_TIMEOUT, call.invoke_async(&mut connection)).await;
        match answer {
            Ok(Ok(value)) => {
                self.up.store(true, Ordering::Relaxed);
                Ok(value)
            }
            Ok(Err(error)) if error.kind() == redis::ErrorKind::TypeError => {
                Err(StoreError::BadReply)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "store command failed");
                Err(self.mark_down().await)
            }
            Err(_) => {
                tracing::warn!("store command timed out");
                Err(self.mark_down().await)
            }
        }
    }

    /// The connection, opened if needed (not while the store is known down).
    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let down = *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if down.is_some_and(|until| Instant::now() < until) {
            return Err(StoreError::Unreachable);
        }
        let opened = tokio::time::timeout(
            COMMAND_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await;
        match opened {
            Ok(Ok(connection)) => {
                *slot = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "store unreachable: deciding locally");
                drop(slot);
                Err(self.mark_down().await)
            }
            Err(_) => {
                tracing::warn!("store connection timed out: deciding locally");
                drop(slot);
                Err(self.mark_down().await)
            }
        }
    }

    /// Forgets the connection and stays down for [`RETRY_DOWN`].
    async fn mark_down(&self) -> StoreError {
        *self.connection.lock().await = None;
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + RETRY_DOWN);
        self.up.store(false, Ordering::Relaxed);
        StoreError::Unreachable
    }
}

fn lane_key(lane: &str) -> String {
    format!("headroom:{{{lane}}}")
}

fn log_key(lane: &str) -> String {
    format!("headroom:{{{lane}}}:log")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str) -> String {
        match Store::open(url) {
            Ok(_) => panic!("{url} was taken as a store"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_url_that_names_no_redis_store_says_what_would() {
        assert_eq!(
            refusal("http://x"),
            "--store http://x: the scheme is \"http\"; the store is named as redis://HOST:PORT \
             (or unix:///path/to/socket)"
        );
        assert!(refusal("localhost:6379").contains(": not a URL;"));
        assert!(refusal("rediss://h:6380").contains("TLS (rediss://) is not built into"));
        assert!(refusal("redis://").contains(": no host;"));
        assert!(refusal("redis://h:99999").contains(": invalid port number"));
        for good in [
            "redis://h:6379",
            "redis://:secret@h:6379/2",
            "unix:///tmp/redis.sock",
        ] {
            assert!(Store::open(good).is_ok(), "{good}");
        }
    }
}
