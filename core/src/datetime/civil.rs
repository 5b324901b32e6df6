//! Proleptic Gregorian calendar arithmetic, exact and branch-light.
//!
//! The conversions are Howard Hinnant's `days_from_civil`/`civil_from_days`, restated: shift the
//! year to start in March so the leap day is the last day of the year, then count 400-year eras.
//! Years are limited to `0..=9999` on the way in, so every intermediate fits comfortably in `i64`.

/// Seconds in a day.
pub(crate) const DAY_SECS: u64 = 86_400;

/// The month abbreviations of HTTP-dates, January first.
pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Day-name abbreviations, Sunday first (`weekday` order).
pub(crate) const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Full day names for RFC 850 dates, Sunday first.
pub(crate) const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Whether `year` has 29 February.
pub(crate) const fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Days in `month` (1–12) of `year`; 0 for a month out of range.
pub(crate) const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to `year-month-day` (negative before it). The caller has checked
/// `year ≤ 9999`, `1 ≤ month ≤ 12` and `1 ≤ day ≤ days_in_month`.
///
/// Computed on years shifted by one era (400 years, 146 097 days) so that every intermediate
/// is unsigned: division by a constant is then a multiplication and a shift, with no sign fix.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "year ≤ 9999, month ≤ 12, day ≤ 31: every intermediate is below 4·10⁶, and the \
              shifted year is at least 399"
)]
pub(crate) fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = year + 400 - u32::from(month <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i64::from(era * 146_097 + doe) - (719_468 + 146_097)
}

/// The date `days` after 1970-01-01, as `(year, month, day)`.
#[expect(
    clippy::arithmetic_side_effects,
    reason = "days ≤ u64::MAX / 86 400 000 000 (UnixTime's range) ≈ 2.2·10⁸: no step can overflow \
              and every subtraction is of a smaller quantity derived from the same value"
)]
pub(crate) fn civil_from_days(days: u64) -> (u64, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // day ≤ 31 and month ≤ 12 by construction.
    (
        year,
        u32::try_from(month).unwrap_or(12),
        u32::try_from(day).unwrap_or(31),
    )
}

/// Day of the week for `days` after 1970-01-01 (a Thursday), Sunday = 0.
pub(crate) const fn weekday(days: u64) -> usize {
    // days % 7 ≤ 6, so adding 4 cannot wrap; the cast keeps a value below 7.
    ((days % 7).wrapping_add(4) % 7) as usize
}
