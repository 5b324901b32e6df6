//! Which lane a model's requests take, and each lane's limits: the `--config` file.
//!
//! The file is JSON (the simulator's other inputs are JSON too), one object per lane:
//!
//! ```json
//! { "lanes": {
//!     "sonnet": { "models": ["claude-sonnet-4-5", "claude-sonnet-4"], "rpm": 50, "itpm": 30000, "otpm": 8000 },
//!     "haiku":  { "models": ["claude-haiku-4-5"], "rpm": 50, "itpm": 50000, "otpm": 10000 }
//! } }
//! ```
//!
//! A lane's limits are per minute (`rpm`, `itpm`, `otpm`, `tpm`, each optional). A lane given
//! none, and every model the file does not name, starts at the core's provisional pace (one
//! request at a time, 50 per minute) and adopts the limits the first response reports. Errors
//! name the file, line and column.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use headroom::{LaneConfig, Limit, LimitKind};
use serde::Deserialize;

use crate::cli::CliError;

/// Per-minute limits of one lane, by [`LimitKind::index`]; `None` is "learn it from headers".
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::config::Limits;
///
/// let limits = Limits { rpm: std::num::NonZeroU32::new(50), ..Limits::default() };
/// assert!(limits.is_set());
/// assert!(!Limits::default().is_set());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_flag)]
    pub rpm: Option<NonZeroU32>,
    /// Input tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_flag)]
    pub itpm: Option<NonZeroU32>,
    /// Output tokens per minute, 1 to 4294967295.
    #[arg(long, value_parser = parse_flag)]
    pub otpm: Option<NonZeroU32>,
    /// Tokens per minute, input and output together, 1 to 4294967295.
    #[arg(long, value_parser = parse_flag)]
    pub tpm: Option<NonZeroU32>,
}

/// A limit flag's value, with the simulator's message for one out of range (clap's own for a
/// `NonZeroU32` says "number too large to fit in target type", not what the range is).
fn parse_flag(text: &str) -> Result<NonZeroU32, String> {
    let value = crate::workload::parse_limit(text)?;
    // `parse_limit` holds it to 1..=u32::MAX and says so: this cannot fail.
    u32::try_from(value)
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("not a limit per minute: {text}"))
}

impl Limits {
    /// Whether any limit is given.
    pub fn is_set(&self) -> bool {
        self.by_kind().iter().any(Option::is_some)
    }

    /// The limits by [`LimitKind::index`].
    pub fn by_kind(&self) -> [Option<NonZeroU32>; 4] {
        [self.rpm, self.itpm, self.otpm, self.tpm]
    }

    /// The core's lane for these limits, each paced at `pace` ‰ of its rate (requests sent
    /// at exactly the limit can arrive closer together than they left) with the provider's
    /// burst (the core clamps a burst to one window's worth, so a token bucket's burst is the
    /// paced amount), and all of it scaled to a `share` ‰ of the key (1000: all of it; less for
    /// a proxy that falls back to its own engine while the shared store is away). Every rate
    /// and burst is at least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::LimitKind;
    /// use headroom_sim::proxy::config::Limits;
    ///
    /// let limits = Limits { itpm: std::num::NonZeroU32::new(1_000), ..Limits::default() };
    /// let limit = limits.lane(980, 1_000).limit(LimitKind::InputTokens).unwrap();
    /// assert_eq!((limit.amount(), limit.burst_for(LimitKind::InputTokens)), (980, 980));
    /// let quarter = limits.lane(980, 250).limit(LimitKind::InputTokens).unwrap();
    /// assert_eq!((quarter.amount(), quarter.burst_for(LimitKind::InputTokens)), (245, 245));
    /// // Requests: one second's worth of the provider's limit.
    /// let rpm = Limits { rpm: std::num::NonZeroU32::new(6_000), ..Limits::default() };
    /// let limit = rpm.lane(980, 1_000).limit(LimitKind::Requests).unwrap();
    /// assert_eq!((limit.amount(), limit.burst_for(LimitKind::Requests)), (5_880, 100));
    /// ```
    pub fn lane(&self, pace: u32, share: u32) -> LaneConfig {
        LimitKind::ALL.into_iter().zip(self.by_kind()).fold(
            LaneConfig::new(),
            |lane, (kind, amount)| {
                lane.with_limit(kind, amount.map(|amount| paced(kind, amount, pace, share)))
            },
        )
    }
}

/// `amount × pace × share / 10⁶` per minute, with the burst of `amount` × `share` / 1000
/// (clamped by the core to the amount).
fn paced(kind: LimitKind, amount: NonZeroU32, pace: u32, share: u32) -> Limit {
    let per_mille = |value: u64, permille: u32| {
        u32::try_from(value * u64::from(permille) / 1_000)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN)
    };
    let rate = per_mille(
        u64::from(per_mille(u64::from(amount.get()), share).get()),
        pace,
    );
    let burst = per_mille(u64::from(Limit::per_minute(amount).burst_for(kind)), share);
    Limit::per_minute(rate).with_burst(burst)
}

/// One lane of the file: the models it serves and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneEntry {
    /// The `model` values of the requests this lane serves.
    pub models: Vec<String>,
    /// Its limits.
    #[serde(flatten)]
    pub limits: Limits,
}

/// The `--config` file.
///
/// # Examples
///
/// ```
/// use headroom_sim::proxy::config::Config;
///
/// let config = Config::parse("lanes.json", r#"{"lanes":{"sonnet":{"models":["claude-sonnet-4-5"],"rpm":50}}}"#).unwrap();
/// assert_eq!(config.lane_of("claude-sonnet-4-5"), Some("sonnet"));
/// assert_eq!(config.lane_of("gpt-4o"), None);
/// let error = Config::parse("lanes.json", "{\"lanes\": {\"x\": {\"rpm\": 0}}}").unwrap_err();
/// assert!(error.to_string().starts_with("lanes.json:1:"), "{error}");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The lanes, by name.
    pub lanes: BTreeMap<String, LaneEntry>,
}

impl Config {
    /// Reads the file at `path`.
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] naming the file (and line and column) when it cannot be read or
    /// parsed, or names a model twice.
    pub fn load(path: &str) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| CliError::Input(format!("{path}: {error}")))?;
        Self::parse(path, &text)
    }

    /// Parses `text`, read from `path` (for the messages).
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn parse(path: &str, text: &str) -> Result<Self, CliError> {
        let mut json = serde_json::Deserializer::from_str(text);
        let config: Self = serde_path_to_error::deserialize(&mut json).map_err(|error| {
            let inner = error.inner();
            CliError::Input(format!(
                "{path}:{}:{}: {}: {inner}",
                inner.line(),
                inner.column(),
                error.path()
            ))
        })?;
        let mut seen = BTreeMap::new();
        for (lane, entry) in &config.lanes {
            for model in &entry.models {
                if let Some(other) = seen.insert(model.as_str(), lane.as_str()) {
                    return Err(CliError::Input(format!(
                        "{path}: model {model:?} is in lanes {other:?} and {lane:?}"
                    )));
                }
            }
        }
        Ok(config)
    }

    /// The lane serving `model`, if the file names it.
    pub fn lane_of(&self, model: &str) -> Option<&str> {
        self.lanes
            .iter()
            .find(|(_, entry)| entry.models.iter().any(|name| name == model))
            .map(|(lane, _)| lane.as_str())
    }
}
