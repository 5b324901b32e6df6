//! The world a simulation runs in: who shares the key, how wrong the client's estimates are,
//! how the provider's buckets and headers differ from the ideal.
//!
//! A client alone on its key, with estimates never too low and headers always fresh, is the
//! world in which any careful limiter ties headroom. Real keys are shared (other services, a
//! fleet of gateways each seeing only its own responses), estimates are off both ways, the
//! provider's burst is not what the client assumes, tiers change, and headers come skewed,
//! stale or not at all. Each imperfection is a flag of `simulate` and a field of a scenario's
//! `world` object (`docs/trace-format.md`, v1.1): [`World`] parses both the same way, so a
//! scenario file is exactly a command line written down.
//!
//! Everything here is deterministic from the run's seed: estimate noise and gateway assignment
//! are hashes of (seed, request), the foreign stream is a seeded generator in the provider.

mod fleet;
mod place;

pub use fleet::Fleet;
pub use place::WorldPlace;

use place::Spot;

use headroom::LimitKind;

use crate::cli::CliError;
use crate::engine::Strategy;
use crate::strategy::{Options, StrategyName, build};
use crate::upstream::{ForeignLoad, LimitChange, OutputAccounting, UpstreamConfig};
use crate::workload::{Dialect, Limits, Workload, parse_limit};

/// How the provider counts output tokens (`--output-accounting`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Accounting {
    /// What the provider's current documentation describes: actual output for Anthropic
    /// (counted as generated, `max_tokens` not counted), reserve for OpenAI.
    #[default]
    Auto,
    /// Reserve `max_tokens` at admission, refund at completion (legacy Anthropic, OpenAI).
    Reserve,
    /// Count the actual output as it is generated (current Anthropic docs).
    Actual,
}

impl Accounting {
    /// The provider's mode for a workload of `dialect`.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::upstream::OutputAccounting;
    /// use headroom_sim::workload::Dialect;
    /// use headroom_sim::world::Accounting;
    ///
    /// assert_eq!(Accounting::Auto.resolve(Dialect::Anthropic), OutputAccounting::Actual);
    /// assert_eq!(Accounting::Auto.resolve(Dialect::OpenAi), OutputAccounting::Reserve);
    /// ```
    pub fn resolve(self, dialect: Dialect) -> OutputAccounting {
        match (self, dialect) {
            (Self::Auto, Dialect::Anthropic) | (Self::Actual, _) => OutputAccounting::Actual,
            (Self::Auto, Dialect::OpenAi) | (Self::Reserve, _) => OutputAccounting::Reserve,
        }
    }
}

/// How requests are spread over the gateways of a fleet (`--assign`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Assign {
    /// Request i goes to gateway i mod N.
    #[default]
    RoundRobin,
    /// A hash of the request picks the gateway uniformly.
    Hash,
    /// Gateway 0 gets 70 % of the requests, the others share the rest.
    Skewed,
}

/// The world flags of `simulate`, also the `world` object of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct World {
    /// Independent clients (gateways) sharing the key, each with its own strategy state,
    /// each seeing only its own responses.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub gateways: u32,
    /// How requests are assigned to the gateways.
    #[arg(long, value_enum, default_value_t = Assign::RoundRobin)]
    pub assign: Assign,
    /// An outside consumer of the key using fraction F of every limit, from T seconds on (F from
    /// 0 to below 1, at most three decimals; T in seconds, at most six decimals).
    #[arg(long = "foreign-load", value_name = "F[@T]", value_parser = parse_foreign)]
    pub foreign_load: Option<ForeignLoad>,
    /// The client's input estimates are off by a uniform ±P %.
    #[arg(long = "estimate-noise", value_name = "P", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub estimate_noise: Option<u32>,
    /// The client's input estimates are off by P % (negative: too low).
    #[arg(long = "estimate-bias", value_name = "P", allow_negative_numbers = true, value_parser = clap::value_parser!(i32).range(-90..=1000))]
    pub estimate_bias: Option<i32>,
    /// The provider's token buckets hold S seconds of quota (default 60).
    #[arg(long = "token-burst-s", value_name = "S", value_parser = parse_burst)]
    pub token_burst_s: Option<u64>,
    /// The provider's requests bucket holds S seconds of quota (default 1).
    #[arg(long = "request-burst-s", value_name = "S", value_parser = parse_burst)]
    pub request_burst_s: Option<u64>,
    /// A tier change at T seconds (at most six decimals): every lane's named limits become
    /// these, each 1 to 4294967295 (repeatable).
    #[arg(long = "limits-change-at", value_name = "T:rpm=…,itpm=…,otpm=…,tpm=…", value_parser = parse_limit_change)]
    pub limits_change_at: Vec<LimitChange>,
    /// The `Date` header is off the provider's clock by MS milliseconds (at most a day either
    /// way). No strategy here paces by `Date` (headroom reads `remaining` and waits by
    /// `retry-after` seconds), so a table the same as without the skew is the expected result:
    /// the skew checks that none starts to.
    #[arg(
        long = "header-skew-ms",
        value_name = "MS",
        default_value_t = 0,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-86_400_000..=86_400_000)
    )]
    pub header_skew_ms: i64,
    /// Headers describe the buckets at admission instead of at the response.
    #[arg(long = "stale-headers")]
    pub stale_headers: bool,
    /// A fraction F of 429s carry no rate-limit headers and no `retry-after` (F from 0 to 1,
    /// at most three decimals).
    #[arg(long = "bare-429", value_name = "F", value_parser = parse_fraction)]
    pub bare_429: Option<u16>,
    /// How the provider counts output tokens.
    #[arg(long = "output-accounting", value_enum, default_value_t = Accounting::Auto)]
    pub output_accounting: Accounting,
    /// Requests in flight at once per client for `sdk-semaphore`.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
}

impl Default for World {
    /// The ideal world: one client alone on its key, the provider as documented.
    fn default() -> Self {
        Self {
            gateways: 1,
            assign: Assign::RoundRobin,
            foreign_load: None,
            estimate_noise: None,
            estimate_bias: None,
            token_burst_s: None,
            request_burst_s: None,
            limits_change_at: Vec::new(),
            header_skew_ms: 0,
            stale_headers: false,
            bare_429: None,
            output_accounting: Accounting::Auto,
            concurrency: 4,
        }
    }
}

/// `F` as thousandths, 0 ≤ F ≤ 1, at most three decimals.
///
/// # Errors
///
/// A message when the text is not such a number.
///
/// # Examples
///
/// ```
/// use headroom_sim::world::parse_fraction;
/// assert_eq!(parse_fraction("0.4"), Ok(400));
/// assert_eq!(parse_fraction("1"), Ok(1000));
/// assert!(parse_fraction("1.5").is_err());
/// assert!(parse_fraction("0.0001").unwrap_err().contains("at most three decimals"));
/// ```
pub fn parse_fraction(text: &str) -> Result<u16, String> {
    let wrong = || format!("a fraction is from 0 to 1 with at most three decimals (0.125): {text}");
    let value = parse_decimal(text, 3).ok_or_else(wrong)?;
    u16::try_from(value)
        .ok()
        .filter(|v| *v <= 1000)
        .ok_or_else(wrong)
}

/// A non-negative decimal number scaled by `10^digits`, with at most `digits` decimals.
///
/// # Examples
///
/// ```
/// use headroom_sim::world::parse_decimal;
/// assert_eq!(parse_decimal("60.5", 6), Some(60_500_000));
/// assert_eq!(parse_decimal("1.", 3), None);
/// assert_eq!(parse_decimal("-1", 3), None);
/// ```
pub fn parse_decimal(text: &str, digits: usize) -> Option<u64> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (text, ""),
    };
    let digit_string = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digit_string(whole)
        || fraction.len() > digits
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = 10u64.checked_pow(u32::try_from(digits).ok()?)?;
    let padded = format!("{fraction:0<digits$}");
    let fraction: u64 = if digits == 0 { 0 } else { padded.parse().ok()? };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(fraction)
}

/// The most seconds [`parse_seconds`] takes: what µs in a `u64` hold, in whole seconds.
pub const MAX_SECONDS: u64 = u64::MAX / 1_000_000;

/// Seconds (decimals allowed, to the µs) as µs: digits, optionally a point and one to six
/// decimals, from 0 to [`MAX_SECONDS`]; no sign, no exponent.
///
/// # Errors
///
/// A message naming the text and saying what is accepted.
///
/// # Examples
///
/// ```
/// use headroom_sim::world::parse_seconds;
/// assert_eq!(parse_seconds("120"), Ok(120_000_000));
/// assert_eq!(parse_seconds("0.000001"), Ok(1));
/// assert!(parse_seconds("0.0000001").unwrap_err().contains("at most six decimals"));
/// assert!(parse_seconds("1e10").unwrap_err().contains("no exponent"));
/// ```
pub fn parse_seconds(text: &str) -> Result<u64, String> {
    parse_decimal(text, 6).ok_or_else(|| {
        format!(
            "seconds are a decimal number from 0 to {MAX_SECONDS} with at most six decimals \
             (to the µs; no sign, no exponent), like 90 or 0.25: {text}"
        )
    })
}

fn parse_burst(text: &str) -> Result<u64, String> {
    let us = parse_seconds(text)?;
    if us == 0 || us > 60_000_000 {
        return Err(format!(
            "a burst is more than 0 and at most 60 seconds: {text}"
        ));
    }
    Ok(us)
}

/// `F[@T]`: the fraction of every limit an outside consumer uses, from `T` seconds on.
///
/// # Errors
///
/// A message when either part is malformed or F is not below 1.
///
/// # Examples
///
/// ```
/// use headroom_sim::world::parse_foreign;
/// let load = parse_foreign("0.4@30").unwrap();
/// assert_eq!((load.permille, load.start_us), (400, 30_000_000));
/// assert!(parse_foreign("1").is_err());
/// ```
pub fn parse_foreign(text: &str) -> Result<ForeignLoad, String> {
    let (fraction, start) = text.split_once('@').unwrap_or((text, "0"));
    let permille = parse_fraction(fraction)?;
    if permille >= 1000 {
        return Err(format!("the foreign load must leave something: {text}"));
    }
    Ok(ForeignLoad {
        permille,
        start_us: parse_seconds(start)?,
    })
}

/// `T:rpm=…,itpm=…,otpm=…,tpm=…` (any non-empty subset of the limits).
///
/// # Errors
///
/// A message naming the part that is wrong.
///
/// # Examples
///
/// ```
/// use headroom::LimitKind;
/// use headroom_sim::world::parse_limit_change;
/// let change = parse_limit_change("60:rpm=1000,itpm=80000").unwrap();
/// assert_eq!(change.at_us, 60_000_000);
/// assert_eq!(change.limits.get(LimitKind::InputTokens), Some(80_000));
/// assert!(parse_limit_change("60:rpm=0").is_err());
/// assert!(parse_limit_change("60:burst=3").is_err());
/// assert!(parse_limit_change("60:rpm=5,rpm=6").unwrap_err().contains("rpm is given twice"));
/// ```
pub fn parse_limit_change(text: &str) -> Result<LimitChange, String> {
    let (at, list) = text
        .split_once(':')
        .ok_or_else(|| format!("expected T:rpm=…,itpm=…: {text}"))?;
    let mut limits = Limits::default();
    for part in list.split(',') {
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=VALUE: {part}"))?;
        let kind = match name {
            "rpm" => LimitKind::Requests,
            "itpm" => LimitKind::InputTokens,
            "otpm" => LimitKind::OutputTokens,
            "tpm" => LimitKind::Tokens,
            _ => return Err(format!("unknown limit {name} (rpm, itpm, otpm, tpm)")),
        };
        let value = parse_limit(value).map_err(|why| format!("{name}: {why}"))?;
        if limits.get(kind).is_some() {
            return Err(format!("{name} is given twice: {text}"));
        }
        limits = limits.with(kind, value);
    }
    Ok(LimitChange {
        at_us: parse_seconds(at)?,
        limits,
    })
}

/// SplitMix64's finalizer: a well-mixed hash of a key.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A `world` object as written, each key at most once. serde_json keeps the last of a repeated
/// key, and a flag given twice on a command line is refused, so a key given twice is refused
/// here, where it is read (with its line and column), as serde refuses a trace event's field
/// given twice.
///
/// # Examples
///
/// ```
/// use headroom_sim::world::WorldObject;
///
/// let object: WorldObject = serde_json::from_str(r#"{"gateways": 4}"#).unwrap();
/// assert_eq!(object.0["gateways"], 4);
/// let error = serde_json::from_str::<WorldObject>(r#"{"gateways": 4, "gateways": 8}"#);
/// assert!(error.unwrap_err().to_string().starts_with("duplicate key `gateways` in a world object"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorldObject(pub serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for WorldObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = crate::unique_keys::members(
            deserializer,
            "a world object of flags and their values",
            "a world object",
        )?;
        Ok(WorldObject(members.into_iter().collect()))
    }
}

/// The world flags alone, for parsing a `world` object.
#[derive(clap::Parser)]
#[command(name = "world", no_binary_name = true)]
struct WorldFlags {
    #[command(flatten)]
    world: World,
}

/// What is wrong with a world flag, in a sentence without clap's framing (`error: invalid value
/// '-5' for '--estimate-noise <P>': …`, usage, `--help` advice), which names a command line
/// that a `world` object does not have: the value and why, or the list of accepted values.
/// `written` gives a value (a word clap was given) as the object writes it, in JSON.
fn flag_error(error: &clap::Error, written: &dyn Fn(&str) -> String) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => Some(value.as_str()),
        _ => None,
    };
    match (error.kind(), value) {
        (ErrorKind::ValueValidation, Some(value)) => {
            let source = std::error::Error::source(error);
            let written = written(value);
            if let Some(words) = source.and_then(|why| whole_number_error(value, &written, why)) {
                return words;
            }
            let why = source.map_or_else(String::new, ToString::to_string);
            if why.contains(value) {
                // The parser quotes the word it was given: for a number, serde_json's
                // rendering (`1000.0` for `1e3`), shown as the file writes it.
                if written.starts_with('"') {
                    why
                } else {
                    replace_number(&why, value, &written)
                }
            } else {
                format!("{written}: {why}")
            }
        }
        (ErrorKind::InvalidValue, Some(value)) => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => {
                format!("{} is not one of {}", written(value), valid.join(", "))
            }
            _ => format!("{} is not a valid value", written(value)),
        },
        (ErrorKind::ArgumentConflict, _) => {
            "takes one value (only a repeatable flag takes an array)".to_owned()
        }
        _ => {
            let message = error.to_string();
            message
                .lines()
                .next()
                .unwrap_or("bad world")
                .trim_start_matches("error: ")
                .to_owned()
        }
    }
}

/// `text` with each occurrence of the number `number` standing alone (not part of a longer
/// number or word) replaced by `with`.
fn replace_number(text: &str, number: &str, with: &str) -> String {
    let part = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'+' | b'-');
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in text.match_indices(number) {
        let end = at.saturating_add(number.len());
        let before = at.checked_sub(1).and_then(|before| bytes.get(before));
        if at < rest || before.is_some_and(|&byte| part(byte)) {
            continue;
        }
        if bytes.get(end).is_some_and(|&byte| part(byte)) {
            continue;
        }
        out.push_str(text.get(rest..at).unwrap_or_default());
        out.push_str(with);
        rest = end;
    }
    out.push_str(text.get(rest..).unwrap_or_default());
    out
}

/// Why `word` (what clap was given; `written` in the world object, in JSON) is not what a
/// whole-number world flag takes, in words rather than clap's integer parsers' (`invalid digit
/// found in string`, `number too large to fit in target type`, `-5 is not in 0..=100`):
/// `"many" is not a whole number`, `1e3 is not written as a whole number`,
/// `-5 is too small (a whole number from 0 to 100)`, `99999999999999999999 is too large`.
/// One rendering for every such flag, the range read from clap's reason so that it is stated
/// once, in the flag's parser. `None` for a reason not recognised exactly (another parser's, or
/// a range clap writes another way): the caller keeps clap's words.
fn whole_number_error(
    word: &str,
    written: &str,
    why: &(dyn std::error::Error + 'static),
) -> Option<String> {
    use std::cmp::Ordering;
    use std::num::{IntErrorKind, ParseIntError};
    if let Some(parse) = why.downcast_ref::<ParseIntError>() {
        // A JSON number as the user wrote it: clap got serde_json's rendering (`1e+20` for
        // 99999999999999999999, `1000.0` for 1e3), which says nothing the user wrote.
        let number = if written.starts_with('"') {
            word
        } else {
            written
        };
        return match parse.kind() {
            IntErrorKind::PosOverflow => Some(format!("{written} is too large")),
            IntErrorKind::NegOverflow => Some(format!("{written} is too small")),
            IntErrorKind::InvalidDigit | IntErrorKind::Empty => {
                match (whole_sign(word), whole_sign(number)) {
                    // Digits an integer parser refused: an unsigned one, refusing the sign.
                    (Some(Ordering::Less), _) => Some(format!(
                        "{written} is too small (a whole number at least 0)"
                    )),
                    (_, Some(Ordering::Less)) => Some(format!("{written} is too small")),
                    (_, Some(Ordering::Greater)) => Some(format!("{written} is too large")),
                    // The number `-0`: serde_json reads it as a fraction (clap was given
                    // `-0.0`), as it reads `-0.0`, not written as a whole number either.
                    (None, Some(Ordering::Equal)) if number.starts_with('-') => {
                        Some(format!("{written} is not written as a whole number"))
                    }
                    (_, Some(Ordering::Equal)) => None,
                    (_, None) => Some(match number.parse::<f64>() {
                        Ok(value) if value.is_finite() && value.fract() == 0.0 => {
                            format!("{written} is not written as a whole number")
                        }
                        _ => format!("{written} is not a whole number"),
                    }),
                }
            }
            _ => None,
        };
    }
    let why = why.to_string();
    let (shown, range) = why.split_once(" is not in ")?;
    let shown: i128 = shown.parse().ok()?;
    let (low, high) = range.split_once("..")?;
    let low: i128 = low.parse().ok()?;
    let unbounded = |bound: i128| {
        bound == i128::from(i64::MAX)
            || bound == i128::from(u64::MAX)
            || bound == i128::from(i64::MIN)
    };
    let high: i128 = match high.strip_prefix('=') {
        Some(inclusive) => inclusive.parse().ok()?,
        // clap writes an unbounded end as the type's largest value after a bare `..`; any
        // other `A..B` could be an excluded end, and keeps clap's words.
        None => match high.parse().ok()? {
            end if unbounded(end) && shown < low => end,
            _ => return None,
        },
    };
    let size = match (shown < low, shown > high) {
        (true, _) => "small",
        (_, true) => "large",
        _ => return None,
    };
    let bounds = match (unbounded(low), unbounded(high)) {
        (true, true) => return None,
        (true, false) => format!("at most {high}"),
        (false, true) => format!("at least {low}"),
        (false, false) => format!("from {low} to {high}"),
    };
    Some(format!("{written} is too {size} (a whole number {bounds})"))
}

/// Whether `text` is a whole number in digits (an optional `-`, then digits), and then how it
/// compares with zero.
fn whole_sign(text: &str) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(match (negative, digits.bytes().all(|byte| byte == b'0')) {
        (_, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, false) => Ordering::Greater,
    })
}

impl World {
    /// The world a `world` object describes (a scenario's, or a trace header's): each key is a
    /// world flag without its dashes (`_` for `-`), each value the flag's value (`true` for a
    /// switch; an array for a flag given several times). It goes through the flags' own parser,
    /// so an object means exactly what the command line would. Returns the world and the flags.
    ///
    /// # Errors
    ///
    /// [`CliError::Input`] naming the key and where `place` says it is written (`file:line:column`
    /// of the key, or of its value for a bad value; the file alone when the text is not at hand):
    /// an unknown key, two spellings of one key, a value of the wrong type, a bad value.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::world::{World, WorldPlace};
    ///
    /// let map = serde_json::json!({"gateways": 4, "stale_headers": true});
    /// let (world, flags) = World::from_map(map.as_object().unwrap(), &WorldPlace::file("x.json")).unwrap();
    /// assert_eq!((world.gateways, world.stale_headers), (4, true));
    /// assert_eq!(flags, ["--gateways", "4", "--stale-headers"]);
    /// let bad = serde_json::json!({"gateway": 4});
    /// assert!(World::from_map(bad.as_object().unwrap(), &WorldPlace::file("x.json")).is_err());
    /// ```
    pub fn from_map(
        map: &serde_json::Map<String, serde_json::Value>,
        place: &WorldPlace<'_>,
    ) -> Result<(Self, Vec<String>), CliError> {
        use clap::{Args as _, Parser as _};
        use serde_json::Value;
        let command = Self::augment_args(clap::Command::new("world"));
        let known: Vec<&str> = command
            .get_arguments()
            .filter_map(clap::Arg::get_long)
            .collect();
        let mut flags = Vec::new();
        let mut words = Vec::new();
        let mut seen: Vec<(String, &str)> = Vec::new();
        for (key, value) in map {
            let long = key.replace('_', "-");
            if let Some((_, first)) = seen.iter().find(|(seen, _)| *seen == long) {
                return Err(CliError::Input(format!(
                    "{}: world: {first:?} and {key:?} are the same key",
                    place.at(Spot::Later(first, key))
                )));
            }
            seen.push((long.clone(), key));
            if !known.contains(&long.as_str()) {
                let keys: Vec<String> = known.iter().map(|long| long.replace('-', "_")).collect();
                return Err(CliError::Input(format!(
                    "{}: world: unknown key {key:?} (known: {})",
                    place.at(Spot::Key(key)),
                    keys.join(", ")
                )));
            }
            let flag = format!("--{long}");
            // A switch takes `true` or `false`; any other flag, a value.
            let switch = command
                .get_arguments()
                .find(|arg| arg.get_long() == Some(long.as_str()))
                .is_some_and(|arg| !arg.get_action().takes_values());
            let values = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            // `--flag=value`, never `--flag value`: a value is then never read as a flag of its
            // own (`-5` is the value of `--estimate-noise`, not an unknown `-5`).
            let mut own = Vec::new();
            // Each word clap is given, with the value it comes from.
            let mut given: Vec<(String, Value)> = Vec::new();
            for value in values {
                let text = match &value {
                    Value::Bool(_) if !switch => {
                        // What the flag takes, in its own parser's words for `true` or `false`
                        // (`false` is not "unset": a key left out is).
                        let why = match WorldFlags::try_parse_from([format!("{flag}={value}")]) {
                            Err(error) => flag_error(&error, &|_| value.to_string()),
                            Ok(_) => format!("{value} is not a value (write it as a string)"),
                        };
                        return Err(CliError::Input(format!(
                            "{}: world.{key}: {why}",
                            place.at(Spot::Value(key))
                        )));
                    }
                    other if switch && !other.is_boolean() => {
                        let shown = match map[key] {
                            Value::Array(_) => None,
                            _ => place.written(key),
                        }
                        .map_or_else(|| other.to_string(), str::to_owned);
                        return Err(CliError::Input(format!(
                            "{}: world.{key}: {shown} is not true or false",
                            place.at(Spot::Value(key))
                        )));
                    }
                    Value::Bool(true) => {
                        flags.push(flag.clone());
                        own.push(flag.clone());
                        continue;
                    }
                    Value::Bool(false) => continue,
                    Value::Number(number) => number.to_string(),
                    Value::String(text) => text.clone(),
                    other => {
                        return Err(CliError::Input(format!(
                            "{}: world.{key}: expected a string, number or boolean, found {other}",
                            place.at(Spot::Value(key))
                        )));
                    }
                };
                own.push(format!("{flag}={text}"));
                flags.extend([flag.clone(), text.clone()]);
                given.push((text, value));
            }
            // A refused word as the object writes its value: the text itself when at hand (the
            // key's value, not an item of an array), else the value as JSON.
            let shown = |word: &str| match given.iter().find(|(text, _)| text == word) {
                Some((_, item)) => match value {
                    Value::Array(_) => None,
                    _ => place.written(key),
                }
                .map_or_else(|| item.to_string(), str::to_owned),
                None => format!("{word:?}"),
            };
            // Each key parsed alone first, so that a bad value is reported under its key.
            WorldFlags::try_parse_from(&own).map_err(|error| {
                let at = place.at(Spot::Value(key));
                CliError::Input(format!("{at}: world.{key}: {}", flag_error(&error, &shown)))
            })?;
            words.extend(own);
        }
        let shown = |word: &str| format!("{word:?}");
        let parsed = WorldFlags::try_parse_from(&words).map_err(|error| {
            let at = place.at(Spot::Object);
            CliError::Input(format!("{at}: world: {}", flag_error(&error, &shown)))
        })?;
        Ok((parsed.world, flags))
    }

    /// The provider these settings describe for `workload`, seeded by `seed`.
    pub fn upstream_config(&self, workload: &Workload, seed: u64) -> UpstreamConfig {
        let defaults = UpstreamConfig::default();
        let mut changes = self.limits_change_at.clone();
        changes.sort_by_key(|change| change.at_us);
        UpstreamConfig {
            output: self.output_accounting.resolve(workload.dialect),
            request_slice_us: self.request_burst_s.unwrap_or(defaults.request_slice_us),
            token_slice_us: self.token_burst_s.unwrap_or(defaults.token_slice_us),
            seed,
            foreign: self.foreign_load,
            limit_changes: changes,
            header_skew_us: self.header_skew_ms.saturating_mul(1_000),
            stale_headers: self.stale_headers,
            bare_429_permille: self.bare_429.unwrap_or(0),
            ..defaults
        }
    }

    /// The options strategies are built with.
    pub fn options(&self) -> Options {
        Options {
            concurrency: usize::try_from(self.concurrency).unwrap_or(usize::MAX),
            gateways: self.gateways,
            member: 0,
        }
    }

    /// Replaces the client's input estimates when noise or bias is asked for: the counted input
    /// (what the provider charges) times `1 + bias ± U(noise)`, rounded up, at least 1.
    pub fn apply_estimates(&self, workload: &mut Workload, config: &UpstreamConfig, seed: u64) {
        if self.estimate_noise.is_none() && self.estimate_bias.is_none() {
            return;
        }
        let noise = i64::from(self.estimate_noise.unwrap_or(0)) * 10;
        let bias = i64::from(self.estimate_bias.unwrap_or(0)) * 10;
        for request in &mut workload.requests {
            let draw = mix(seed ^ 0x6573_7469 ^ u64::from(request.id).rotate_left(17));
            let span = u64::try_from(2 * noise + 1).unwrap_or(1);
            let offset = i64::try_from(draw % span).unwrap_or(0) - noise;
            let permille = u64::try_from((1000 + bias + offset).max(0)).unwrap_or(0);
            let truth = config.counted_input(request);
            let estimate = (u128::from(truth) * u128::from(permille)).div_ceil(1000);
            request.input_tokens = u64::try_from(estimate).unwrap_or(u64::MAX).max(1);
        }
    }

    /// The gateway of each request.
    pub fn assignment(&self, workload: &Workload, seed: u64) -> Vec<u32> {
        let n = self.gateways.max(1);
        workload
            .requests
            .iter()
            .enumerate()
            .map(|(index, request)| {
                let hash = mix(seed ^ 0x6761_7465 ^ u64::from(request.id).rotate_left(29));
                match self.assign {
                    Assign::RoundRobin => u32::try_from(index % n as usize).unwrap_or(0),
                    Assign::Hash => u32::try_from(hash % u64::from(n)).unwrap_or(0),
                    Assign::Skewed if n > 1 => {
                        if hash % 1000 < 700 {
                            0
                        } else {
                            1 + u32::try_from((hash >> 20) % u64::from(n - 1)).unwrap_or(0)
                        }
                    }
                    Assign::Skewed => 0,
                }
            })
            .collect()
    }

    /// The client side of the world: one strategy, or a [`Fleet`] of one per gateway.
    pub fn clients(
        &self,
        name: StrategyName,
        workload: &Workload,
        config: &UpstreamConfig,
        seed: u64,
    ) -> Box<dyn Strategy> {
        let options = self.options();
        if self.gateways <= 1 {
            return build(name, workload, config, options);
        }
        let gateways = (0..self.gateways)
            .map(|member| build(name, workload, config, Options { member, ..options }))
            .collect();
        Box::new(Fleet::new(gateways, self.assignment(workload, seed)))
    }

    /// The world as the command-line flags that give it (the inverse of parsing), for reports.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.gateways > 1 {
            let assign = match self.assign {
                Assign::RoundRobin => "round-robin",
                Assign::Hash => "hash",
                Assign::Skewed => "skewed",
            };
            parts.push(format!("--gateways {} --assign {assign}", self.gateways));
        }
        if let Some(load) = self.foreign_load {
            let start = if load.start_us > 0 {
                format!("@{}", micros_text(load.start_us))
            } else {
                String::new()
            };
            parts.push(format!(
                "--foreign-load {}{start}",
                permille_text(u64::from(load.permille))
            ));
        }
        if let Some(p) = self.estimate_noise {
            parts.push(format!("--estimate-noise {p}"));
        }
        if let Some(p) = self.estimate_bias {
            parts.push(format!("--estimate-bias {p}"));
        }
        if let Some(us) = self.token_burst_s {
            parts.push(format!("--token-burst-s {}", micros_text(us)));
        }
        if let Some(us) = self.request_burst_s {
            parts.push(format!("--request-burst-s {}", micros_text(us)));
        }
        for change in &self.limits_change_at {
            let limits: Vec<String> = [
                ("rpm", LimitKind::Requests),
                ("itpm", LimitKind::InputTokens),
                ("otpm", LimitKind::OutputTokens),
                ("tpm", LimitKind::Tokens),
            ]
            .iter()
            .filter_map(|&(name, kind)| change.limits.get(kind).map(|v| format!("{name}={v}")))
            .collect();
            parts.push(format!(
                "--limits-change-at {}:{}",
                micros_text(change.at_us),
                limits.join(",")
            ));
        }
        if self.header_skew_ms != 0 {
            parts.push(format!("--header-skew-ms {}", self.header_skew_ms));
        }
        if self.stale_headers {
            parts.push("--stale-headers".to_owned());
        }
        if let Some(f) = self.bare_429 {
            parts.push(format!("--bare-429 {}", permille_text(u64::from(f))));
        }
        match self.output_accounting {
            Accounting::Auto => {}
            Accounting::Reserve => parts.push("--output-accounting reserve".to_owned()),
            Accounting::Actual => parts.push("--output-accounting actual".to_owned()),
        }
        parts.join(" ")
    }
}

/// µs as decimal seconds, without trailing zeros.
fn micros_text(us: u64) -> String {
    let text = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn permille_text(permille: u64) -> String {
    let text = format!("{}.{:03}", permille / 1000, permille % 1000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests;
