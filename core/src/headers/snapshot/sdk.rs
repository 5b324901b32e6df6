//! The server's delay as each official SDK reads it.
//!
//! headroom's own parser is strict: `retry-after: -10`, `inf` or `20abc` are malformed and
//! ignored. The SDKs are not: Python's `float()` takes `-10`, `inf`, `nan` and `1e3`, JavaScript's
//! `parseFloat` takes the numeric prefix of `20abc`, and each SDK then decides, by its own order of
//! fields, which value it obeys. A `retry-after-ms: -5` is a number to Python, so Python never
//! looks at `retry-after` and backs off on its own schedule; a strict reader would fall through to
//! `retry-after` and wait what it says. To reproduce an SDK exactly, a preset must read the fields
//! the way its SDK does, so the parser records both lenient readings of each field
//! ([`SdkReadings`]), a few bytes each, and [`Snapshot::server_value`] applies an SDK's order.
//!
//! There are no floats here: a reading is [`SdkNumber`], the sign and the magnitude in µs
//! (rounded up, so a positive value is never read as zero), or an infinity, or NaN — exactly the
//! cases the SDKs' range checks tell apart. Values beyond what a binary64 float holds become
//! infinite, and values below its smallest subnormal become zero, as in the SDKs.

use super::{RetryAfter, Snapshot};
use crate::time::Duration;

/// A number as a float parser reads it, converted to µs (µs of the field's unit: `retry-after`
/// is in seconds, `retry-after-ms` in milliseconds).
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, SdkNumber};
///
/// let s = headers::parse(Some(429), [("retry-after", "-10")]);
/// assert_eq!(s.sdk_retry_after.python, Some(SdkNumber::Finite { negative: true, micros: 10_000_000 }));
/// assert!(!SdkNumber::NaN.is_positive());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SdkNumber {
    /// A finite value: its sign and its magnitude in µs, rounded up and saturating at `u64::MAX`.
    Finite {
        /// Whether it is below zero (`-0` is zero: `negative` with `micros: 0`).
        negative: bool,
        /// The magnitude in µs.
        micros: u64,
    },
    /// `±inf` (`inf` to Python, `Infinity` to JavaScript, or a value beyond `f64::MAX`).
    Infinite {
        /// Whether it is `-inf`.
        negative: bool,
    },
    /// Not a number (`nan` to Python; for JavaScript, a value with no numeric prefix).
    NaN,
}

impl SdkNumber {
    /// A non-negative finite value of `micros` µs.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::SdkNumber;
    ///
    /// assert_eq!(SdkNumber::from_micros(5).positive_micros(), Some(5));
    /// ```
    pub const fn from_micros(micros: u64) -> Self {
        Self::Finite {
            negative: false,
            micros,
        }
    }

    /// Whether the value is zero (either sign), JavaScript's falsy number besides NaN.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::SdkNumber;
    ///
    /// assert!(SdkNumber::Finite { negative: true, micros: 0 }.is_zero());
    /// assert!(!SdkNumber::NaN.is_zero());
    /// ```
    pub const fn is_zero(self) -> bool {
        matches!(self, Self::Finite { micros: 0, .. })
    }

    /// Whether the value is finite and above zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::SdkNumber;
    ///
    /// assert!(SdkNumber::from_micros(1).is_positive());
    /// assert!(!SdkNumber::Infinite { negative: false }.is_positive());
    /// ```
    pub const fn is_positive(self) -> bool {
        self.positive_micros().is_some()
    }

    /// The magnitude in µs of a finite value above zero; `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::SdkNumber;
    ///
    /// assert_eq!(SdkNumber::Finite { negative: true, micros: 5 }.positive_micros(), None);
    /// ```
    pub const fn positive_micros(self) -> Option<u64> {
        match self {
            Self::Finite {
                negative: false,
                micros,
            } if micros > 0 => Some(micros),
            _ => None,
        }
    }
}

/// One field (`retry-after-ms` or `retry-after`) as the SDKs' float parsers read it.
///
/// A repeated field keeps the first value's readings (the SDKs' HTTP libraries join repeats
/// with `", "`, where `parseFloat` stops; Python's `float()` refusing the joined text is not
/// modelled). A snapshot built by hand, with readings left at their default, reads as its
/// strict fields ([`Snapshot::server_value`]).
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, SdkNumber};
///
/// let s = headers::parse(Some(429), [("retry-after", "20abc")]);
/// assert_eq!(s.sdk_retry_after.python, None); // float("20abc") raises
/// assert_eq!(s.sdk_retry_after.javascript, Some(SdkNumber::from_micros(20_000_000)));
/// assert_eq!(s.server_delay(), None); // headroom's own parser refuses it
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SdkReadings {
    /// Python's `float(value)`: `None` when the field is absent or not a whole float literal.
    pub python: Option<SdkNumber>,
    /// JavaScript's `parseFloat(value)`: `None` when the field is absent or empty (a falsy
    /// string, which the SDK skips); [`SdkNumber::NaN`] when the value has no numeric prefix.
    pub javascript: Option<SdkNumber>,
}

impl SdkReadings {
    /// The readings of a plain delay (digits and at most a decimal point, as an emitter writes
    /// it), which every parser reads alike: what [`crate::headers::parse`] records for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{self, SdkReadings};
    /// use headroom::time;
    ///
    /// let parsed = headers::parse(None, [("retry-after", "3")]);
    /// assert_eq!(parsed.sdk_retry_after, SdkReadings::exact(time::secs(3)));
    /// ```
    pub const fn exact(delay: Duration) -> Self {
        let value = Some(SdkNumber::from_micros(delay.as_ticks()));
        Self {
            python: value,
            javascript: value,
        }
    }
}

/// Whose rules turn the retry fields into the server's delay.
///
/// # Examples
///
/// ```
/// use headroom::headers::{self, Reading, SdkNumber};
///
/// let s = headers::parse(Some(429), [("retry-after-ms", "-5"), ("retry-after", "2")]);
/// assert_eq!(s.server_value(Reading::Strict), Some(SdkNumber::from_micros(2_000_000)));
/// assert_eq!(s.server_value(Reading::Python), Some(SdkNumber::Finite { negative: true, micros: 5_000 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reading {
    /// headroom's parser: [`Snapshot::server_delay`], never negative, NaN or infinite.
    #[default]
    Strict,
    /// The Python SDKs (anthropic-sdk-python, openai-python): `float(retry-after-ms) / 1000` if
    /// it parses, whatever its value; else `float(retry-after)`; else the HTTP-date minus `Date`.
    Python,
    /// anthropic-sdk-typescript: `parseFloat(retry-after-ms)` unless NaN; then, if that gave
    /// nothing or zero, `parseFloat(retry-after) × 1000`, or if that is NaN the HTTP-date minus
    /// `Date` (NaN when it is not a date headroom reads).
    JavaScript,
}

impl Snapshot {
    /// The server's delay as `reading` reads the retry fields; `None` for no value.
    ///
    /// An HTTP-date is taken relative to the response's `Date` (signed: a past date is
    /// negative); without a `Date` it gives no value under any reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom::headers::{self, Reading, SdkNumber};
    ///
    /// // The TypeScript SDK treats `retry-after-ms: 0` as absent and reads `retry-after`.
    /// let s = headers::parse(Some(429), [("retry-after-ms", "0"), ("retry-after", "3")]);
    /// assert_eq!(s.server_value(Reading::JavaScript), Some(SdkNumber::from_micros(3_000_000)));
    /// assert_eq!(s.server_value(Reading::Python), Some(SdkNumber::from_micros(0)));
    /// ```
    pub fn server_value(&self, reading: Reading) -> Option<SdkNumber> {
        // A snapshot built by hand has no readings: its strict values read as themselves.
        let strict_ms = self
            .retry_after_ms
            .map(|ms| SdkNumber::from_micros(ms.as_ticks()));
        let strict_seconds = match self.retry_after {
            Some(RetryAfter::Delay(delay)) => Some(SdkNumber::from_micros(delay.as_ticks())),
            _ => None,
        };
        match reading {
            Reading::Strict => self
                .server_delay()
                .map(|delay| SdkNumber::from_micros(delay.as_ticks())),
            Reading::Python => self
                .sdk_retry_after_ms
                .python
                .or(strict_ms)
                .or(self.sdk_retry_after.python)
                .or(strict_seconds)
                .or_else(|| self.date_delta()?),
            Reading::JavaScript => {
                let ms = self
                    .sdk_retry_after_ms
                    .javascript
                    .or(strict_ms)
                    .filter(|ms| *ms != SdkNumber::NaN);
                let seconds = self.sdk_retry_after.javascript.or(match self.retry_after {
                    Some(RetryAfter::At(_)) => Some(SdkNumber::NaN),
                    _ => strict_seconds,
                });
                match (ms, seconds) {
                    (Some(ms), _) if !ms.is_zero() => Some(ms),
                    (ms, None) => ms,
                    (_, Some(SdkNumber::NaN)) => self.date_delta().unwrap_or(Some(SdkNumber::NaN)),
                    (_, Some(seconds)) => Some(seconds),
                }
            }
        }
    }

    /// `Retry-After` as an HTTP-date minus `Date`: `None` if it is not a date headroom reads,
    /// `Some(None)` if it is but the response has no `Date`.
    fn date_delta(&self) -> Option<Option<SdkNumber>> {
        let Some(RetryAfter::At(at)) = self.retry_after else {
            return None;
        };
        Some(self.date.map(|date| match at.checked_duration_since(date) {
            Some(ahead) => SdkNumber::from_micros(ahead.as_ticks()),
            None => SdkNumber::Finite {
                negative: true,
                micros: date.saturating_duration_since(at).as_ticks(),
            },
        }))
    }
}
