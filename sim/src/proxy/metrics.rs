//! The proxy's counters, per lane, and their Prometheus text rendering (`GET /metrics`).
//!
//! Counters are atomics bumped on the request path (no lock); the buckets' levels are read
//! from the engine when the page is asked for.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use headroom::BucketStatus;

/// One lane's counters.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::metrics::LaneStats;
///
/// let stats = LaneStats::new("sonnet");
/// let waiting = stats.waiting();
/// assert_eq!(stats.queue_length(), 1);
/// drop(waiting);
/// assert_eq!(stats.queue_length(), 0);
/// ```
#[derive(Debug)]
pub struct LaneStats {
    /// The lane's name.
    pub name: String,
    queued: AtomicU64,
    /// Requests admitted and sent upstream (retries included).
    pub sent: AtomicU64,
    /// Requests that waited for their permit.
    pub waits: AtomicU64,
    /// Their waits, summed, in µs.
    pub wait_us: AtomicU64,
    /// 429 responses from upstream.
    pub upstream_429: AtomicU64,
    /// Retries sent.
    pub retries: AtomicU64,
    /// 429s the proxy answered itself (the queue deadline came first).
    pub shed_429: AtomicU64,
}

/// A place counted in a lane's queue length, given up when dropped.
#[derive(Debug)]
pub struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LaneStats {
    /// Zeroed counters for lane `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            queued: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            waits: AtomicU64::new(0),
            wait_us: AtomicU64::new(0),
            upstream_429: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            shed_429: AtomicU64::new(0),
        }
    }

    /// Counts one more request waiting in line until the returned value is dropped.
    pub fn waiting(&self) -> Waiting<'_> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.queued)
    }

    /// Requests waiting for a permit now.
    pub fn queue_length(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Counts a wait of `us` microseconds (a zero wait counts as none).
    pub fn record_wait(&self, us: u64) {
        if us > 0 {
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.wait_us.fetch_add(us, Ordering::Relaxed);
        }
    }
}

/// Adds one counter or gauge family to `out`.
fn family(out: &mut String, name: &str, kind: &str, help: &str, rows: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in rows {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// The Prometheus text page: every lane's counters, its buckets' levels (`buckets` pairs a
/// bucket with its lane's name) and whether the shared store is in use.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::metrics::{LaneStats, render};
///
/// let page = render(&[&LaneStats::new("sonnet")], &[], None);
/// assert!(page.contains("headroom_proxy_queue_length{lane=\"sonnet\"} 0"));
/// ```
pub fn render(
    lanes: &[&LaneStats],
    buckets: &[(String, BucketStatus)],
    store_up: Option<bool>,
) -> String {
    let mut out = String::new();
    let rows = |read: &dyn Fn(&LaneStats) -> u64| -> Vec<(String, u64)> {
        lanes
            .iter()
            .map(|lane| (format!("lane=\"{}\"", escape(&lane.name)), read(lane)))
            .collect()
    };
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    family(
        &mut out,
        "headroom_proxy_queue_length",
        "gauge",
        "Requests waiting for a permit.",
        &rows(&|lane| lane.queue_length()),
    );
    family(
        &mut out,
        "headroom_proxy_sent_total",
        "counter",
        "Attempts sent upstream, retries included.",
        &rows(&|lane| load(&lane.sent)),
    );
    family(
        &mut out,
        "headroom_proxy_waits_total",
        "counter",
        "Requests that waited for their permit.",
        &rows(&|lane| load(&lane.waits)),
    );
    family(
        &mut out,
        "headroom_proxy_wait_microseconds_total",
        "counter",
        "Time spent waiting for permits.",
        &rows(&|lane| load(&lane.wait_us)),
    );
    family(
        &mut out,
        "headroom_proxy_upstream_429_total",
        "counter",
        "429 responses from upstream.",
        &rows(&|lane| load(&lane.upstream_429)),
    );
    family(
        &mut out,
        "headroom_proxy_retries_total",
        "counter",
        "Retries sent upstream.",
        &rows(&|lane| load(&lane.retries)),
    );
    family(
        &mut out,
        "headroom_proxy_shed_429_total",
        "counter",
        "429s answered by the proxy (queue deadline).",
        &rows(&|lane| load(&lane.shed_429)),
    );
    let level: Vec<(String, u64)> = buckets
        .iter()
        .map(|(lane, status)| {
            (
                format!("lane=\"{}\",kind=\"{}\"", escape(lane), status.kind.name()),
                status.available,
            )
        })
        .collect();
    family(
        &mut out,
        "headroom_proxy_bucket_available",
        "gauge",
        "Units the local bucket could admit now.",
        &level,
    );
    let limit: Vec<(String, u64)> = buckets
        .iter()
        .map(|(lane, status)| {
            (
                format!("lane=\"{}\",kind=\"{}\"", escape(lane), status.kind.name()),
                u64::from(status.limit.amount()),
            )
        })
        .collect();
    family(
        &mut out,
        "headroom_proxy_bucket_limit",
        "gauge",
        "The bucket's limit per window.",
        &limit,
    );
    if let Some(up) = store_up {
        family(
            &mut out,
            "headroom_proxy_store_up",
            "gauge",
            "1 while the shared store answers, 0 while the local fallback decides.",
            &[(String::new(), u64::from(up))],
        );
    }
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Upper bounds of the [`Histogram`]'s buckets, in µs.
const BOUNDS_US: [u64; 10] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

/// A Prometheus histogram of durations, with fixed buckets from 50 µs to 250 ms.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::metrics::Histogram;
///
/// let histogram = Histogram::new("demo_seconds", "A demo.");
/// histogram.record_us(80);
/// assert!(histogram.render().contains("demo_seconds_bucket{le=\"0.0001\"} 1"));
/// ```
#[derive(Debug)]
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    counts: [AtomicU64; BOUNDS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    /// An empty histogram.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            counts: [const { AtomicU64::new(0) }; BOUNDS_US.len()],
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Counts one duration of `us` microseconds.
    pub fn record_us(&self, us: u64) {
        if let Some(index) = BOUNDS_US.iter().position(|&bound| us <= bound)
            && let Some(count) = self.counts.get(index)
        {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Its Prometheus text (cumulative buckets, in seconds).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let name = self.name;
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", self.help);
        let mut below = 0_u64;
        for (bound, count) in BOUNDS_US.iter().zip(&self.counts) {
            below = below.saturating_add(count.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {below}", seconds(*bound));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = seconds(self.sum_us.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
        out
    }
}

/// µs as a decimal number of seconds, without floats.
fn seconds(us: u64) -> String {
    let fraction = format!("{:06}", us % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{}", us / 1_000_000)
    } else {
        format!("{}.{fraction}", us / 1_000_000)
    }
}
