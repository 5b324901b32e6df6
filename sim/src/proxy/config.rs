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
//! name the file, line and column, and the field. A lane named twice is an error (a JSON
//! reader keeps the last of a repeated key: the first lane would be dropped without a word).

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use headroom::{LaneConfig, Limit, LimitKind};
use serde::Deserialize;

use super::lanes::MAX_LANES;
use crate::cli::CliError;
use crate::trace::strip_position;

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
    /// burst (at most the paced amount a minute, so a token bucket's burst is the paced
    /// amount), and all of it scaled to a `share` ‰ of the key (1000: all of it; less for a
    /// proxy that falls back to its own engine while the shared store is away). The rate is
    /// exact to the window's millisecond: a paced amount that is not a whole number a minute
    /// is a whole number in a longer window (`--rpm 2` at 980 ‰: 2 in 61.225 s, not 1 a
    /// minute). Every burst is at least 1.
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
    /// assert_eq!(limit.window_ms(), 60_000);
    /// // 1.96 requests a minute: 2 in 61.225 s.
    /// let rpm = Limits { rpm: std::num::NonZeroU32::new(2), ..Limits::default() };
    /// let limit = rpm.lane(980, 1_000).limit(LimitKind::Requests).unwrap();
    /// assert_eq!((limit.amount(), limit.window_ms()), (2, 61_225));
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

/// A minute in ms, times 10⁶ for the two ‰ factors of [`paced`].
const MINUTE_MS_PPM: u128 = 60_000 * 1_000_000;

/// `amount × pace × share / 10⁶` per minute, exactly but for the window's millisecond: the
/// paced amount per minute rounded up to a whole number, over the window that makes that whole
/// number the paced rate, rounded up to the millisecond (at most 1 ms slow in at least a
/// minute). Rounding the amount down in a minute instead paced `--rpm 2` at one request a
/// minute, half the limit. A rate below one unit in `u32::MAX` ms (about 49.7 days) is one
/// unit in that window, the longest a limit takes.
///
/// The burst is the provider's (a request bucket's second's worth, a token bucket's amount) at
/// `share` ‰, at most the paced amount per minute rounded down: what it was when the rate was a
/// whole number a minute (a token bucket's burst is then the paced amount).
fn paced(kind: LimitKind, amount: NonZeroU32, pace: u32, share: u32) -> Limit {
    let at_least_one = |value: u128| {
        u32::try_from(value)
            .unwrap_or(u32::MAX)
            .try_into()
            .unwrap_or(NonZeroU32::MIN)
    };
    // Units per `MINUTE_MS_PPM` ms: the paced rate with nothing rounded.
    let scaled = (u128::from(amount.get()) * u128::from(pace) * u128::from(share)).max(1);
    let whole = at_least_one(scaled.div_ceil(1_000_000));
    let window_ms = at_least_one((u128::from(whole.get()) * MINUTE_MS_PPM).div_ceil(scaled));
    let provider_burst = u128::from(Limit::per_minute(amount).burst_for(kind));
    let burst = (provider_burst * u128::from(share) / 1_000).min(scaled / 1_000_000);
    Limit::per_window_ms(whole, window_ms).with_burst(at_least_one(burst))
}

/// The field an error is in (`lanes.sonnet.rpm`) as far as it is known: empty at the top, and
/// without `serde_path_to_error`'s `?` for a key not read yet (where a truncated file ends).
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    for segment in path
        .iter()
        .take_while(|segment| !matches!(segment, Segment::Unknown))
    {
        if !field.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            field.push('.');
        }
        field.push_str(&segment.to_string());
    }
    field
}

/// One lane of the file: the models it serves and its limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "LaneFields")]
pub struct LaneEntry {
    /// The `model` values of the requests this lane serves.
    pub models: Vec<String>,
    /// Its limits.
    pub limits: Limits,
}

/// A lane as the file writes it: its fields read one by one, so that an error names the field
/// (`lanes.sonnet.rpm`) at its own line and column (serde's `flatten` reads the lane whole
/// first and loses both).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LaneFields {
    models: Vec<String>,
    rpm: Option<NonZeroU32>,
    itpm: Option<NonZeroU32>,
    otpm: Option<NonZeroU32>,
    tpm: Option<NonZeroU32>,
}

impl From<LaneFields> for LaneEntry {
    fn from(fields: LaneFields) -> Self {
        let LaneFields {
            models,
            rpm,
            itpm,
            otpm,
            tpm,
        } = fields;
        Self {
            models,
            limits: Limits {
                rpm,
                itpm,
                otpm,
                tpm,
            },
        }
    }
}

/// The `lanes` object, each name at most once. serde_json keeps the last of a repeated key,
/// which would drop the first lane without a word; as a `world` object does, a name given twice
/// is refused where it is read, so the message has its line and column.
fn unique_lanes<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, LaneEntry>, D::Error> {
    let lanes = crate::unique_keys::members(
        deserializer,
        "an object of lanes by name",
        "lanes: a lane is named once",
    )?;
    Ok(lanes.into_iter().collect())
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
    #[serde(deserialize_with = "unique_lanes")]
    pub lanes: BTreeMap<String, LaneEntry>,
}

impl Config {
    /// Reads the file at `path`.
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] naming the file (and line and column) when it cannot be read or
    /// parsed, names a lane or a model twice, or has more lanes than the proxy keeps
    /// ([`MAX_LANES`], `other` and `default` among them).
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
            // The position once, 1-based (serde_json says column 0 at the start of a line, where
            // a truncated file ends), and the field's path when there is one.
            let at = format!("{path}:{}:{}", inner.line(), inner.column().max(1));
            let what = strip_position(inner);
            CliError::Input(match field_path(error.path()).as_str() {
                "" => format!("{at}: {what}"),
                field => format!("{at}: {field}: {what}"),
            })
        })?;
        let names = config
            .lanes
            .keys()
            .map(String::as_str)
            .chain(["other", "default"])
            .collect::<std::collections::BTreeSet<_>>();
        if names.len() > MAX_LANES {
            return Err(CliError::Input(format!(
                "{path}: {} lanes; the proxy keeps at most {} besides `other` and `default`",
                config.lanes.len(),
                MAX_LANES.saturating_sub(2)
            )));
        }
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

#[cfg(test)]
mod tests {
    use headroom::time::Instant;
    use headroom::{Acquire, Cost, Policy, Priority};

    use super::*;

    fn limits(rpm: u32) -> Limits {
        Limits {
            rpm: NonZeroU32::new(rpm),
            ..Limits::default()
        }
    }

    fn requests(limits: Limits, pace: u32, share: u32) -> Limit {
        limits
            .lane(pace, share)
            .limit(LimitKind::Requests)
            .expect("a configured limit")
    }

    /// µs between two admissions of a lane whose bucket the first one drained.
    fn gap_us(limit: Limit) -> u64 {
        let mut policy = Policy::<1, 4>::new();
        let lane = policy
            .add_lane(headroom::LaneConfig::new().requests(limit))
            .expect("one lane fits");
        let start = Instant::from_ticks(0);
        let one = Cost::request(0, 0);
        let Acquire::Admit(_first) = policy.acquire(start, lane, one, Priority::Interactive) else {
            panic!("a full bucket admits");
        };
        match policy.acquire(start, lane, one, Priority::Interactive) {
            Acquire::Wait { until, .. } => until.as_ticks(),
            other => panic!("a drained bucket waits: {other:?}"),
        }
    }

    #[test]
    fn two_requests_a_minute_pace_at_one_point_nine_six_not_one() {
        let limit = requests(limits(2), 980, 1_000);
        assert_eq!((limit.amount(), limit.window_ms()), (2, 61_225));
        // 60 s ÷ 1.96 = 30.61 s between admissions (the truncated pace waited 60 s).
        let gap = gap_us(limit);
        assert!((30_610_000..=30_615_000).contains(&gap), "{gap} µs");
    }

    #[test]
    fn eleven_requests_a_minute_pace_at_ten_point_seven_eight_not_ten() {
        let limit = requests(limits(11), 980, 1_000);
        assert_eq!((limit.amount(), limit.window_ms()), (11, 61_225));
        // 60 s ÷ 10.78 = 5.566 s between admissions (10 a minute: 6 s).
        let gap = gap_us(limit);
        assert!((5_565_000..=5_567_000).contains(&gap), "{gap} µs");
        // At a quarter share: 2.695 a minute, 3 in 66.791 s.
        let quarter = requests(limits(11), 980, 250);
        assert_eq!((quarter.amount(), quarter.window_ms()), (3, 66_791));
        assert_eq!(quarter.burst_for(LimitKind::Requests), 1);
    }

    #[test]
    fn the_paced_rate_is_exact_to_the_millisecond_and_never_faster() {
        for amount in (1..=300).chain([5_000, 30_000, 2_000_000, u32::MAX]) {
            for (pace, share) in [
                (980, 1_000),
                (980, 250),
                (1_000, 1_000),
                (999, 7),
                (1, 1_000),
            ] {
                let amount = NonZeroU32::new(amount).expect("from 1");
                for kind in LimitKind::ALL {
                    let limit = paced(kind, amount, pace, share);
                    // Rates cross-multiplied: units per ms, with a minute's 60 000 ms × 10⁶.
                    let asked = u128::from(amount.get()) * u128::from(pace) * u128::from(share);
                    let given = u128::from(limit.amount()) * MINUTE_MS_PPM;
                    let window = u128::from(limit.window_ms());
                    assert!(
                        given <= asked * window,
                        "{amount} {pace} {share}: {limit:?}"
                    );
                    assert!(
                        given > asked * (window - 1),
                        "{amount} {pace} {share}: {limit:?} is more than 1 ms slow"
                    );
                    let floor = u32::try_from(asked / 1_000_000).unwrap_or(u32::MAX).max(1);
                    assert!(limit.burst_for(kind) <= floor, "{kind:?} {limit:?}");
                }
            }
        }
    }

    #[test]
    fn a_rate_below_one_in_the_longest_window_is_one_in_it() {
        let limit = paced(LimitKind::Requests, NonZeroU32::MIN, 1, 1);
        assert_eq!((limit.amount(), limit.window_ms()), (1, u32::MAX));
    }

    fn error(text: &str) -> String {
        Config::parse("lanes.json", text)
            .expect_err("an error")
            .to_string()
    }

    #[test]
    fn a_lane_named_twice_is_refused_where_the_second_is() {
        let text = r#"{"lanes": {"a": {"models":["x"],"rpm":11}, "a": {"models":["y"],"rpm":13}}}"#;
        assert_eq!(
            error(text),
            "lanes.json:1:46: lanes: duplicate key `a` in lanes: a lane is named once"
        );
        let text =
            "{\"lanes\": {\n  \"a\": {\"models\": [\"x\"]},\n  \"a\": {\"models\": [\"y\"]}\n}}";
        assert!(
            error(text).starts_with("lanes.json:3:5: "),
            "{}",
            error(text)
        );
    }

    #[test]
    fn an_error_names_its_position_once_and_the_field() {
        assert_eq!(
            error(r#"{"lanes": {"a": {"models": ["x"], "rpm": 0}}}"#),
            "lanes.json:1:42: lanes.a.rpm: invalid value: integer `0`, expected a nonzero u32"
        );
        assert_eq!(
            error(r#"{"lanes": {"a": {"models": ["x"], "rpn": 5}}}"#),
            "lanes.json:1:39: lanes.a.rpn: unknown field `rpn`, expected one of `models`, \
             `rpm`, `itpm`, `otpm`, `tpm`"
        );
        assert_eq!(
            error(r#"{"lanes": {"a": {"rpm": 5}}}"#),
            "lanes.json:1:26: lanes.a: missing field `models`"
        );
        assert_eq!(
            error("5"),
            "lanes.json:1:1: invalid type: integer `5`, expected struct Config"
        );
    }

    #[test]
    fn a_truncated_file_is_at_a_column_from_one() {
        assert_eq!(
            error("{\"lanes\": {\n"),
            "lanes.json:2:1: lanes: EOF while parsing an object"
        );
    }

    #[test]
    fn too_many_lanes_name_the_file() {
        let lanes = |count: usize| {
            let entries = (0..count)
                .map(|n| format!("\"l{n}\": {{\"models\": [\"m{n}\"]}}"))
                .collect::<Vec<_>>();
            format!("{{\"lanes\": {{{}}}}}", entries.join(", "))
        };
        assert!(Config::parse("many.json", &lanes(MAX_LANES - 2)).is_ok());
        assert_eq!(
            error(&lanes(MAX_LANES - 1)),
            "lanes.json: 15 lanes; the proxy keeps at most 14 besides `other` and `default`"
        );
    }
}
