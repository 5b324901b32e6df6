//! The 64-bit duration readers against the 128-bit ones they replaced, on generated inputs:
//! every result and every error must be the same. The references share the grammar
//! (`go_terms`, `go_term`, `decimal_parts`) and differ only in how they add up.

#![allow(
    clippy::arithmetic_side_effects,
    reason = "the references compute in u128 on values far below its range"
)]

use proptest::strategy::Strategy;

use super::*;

/// Go durations as first written: the sum in nanoseconds in a `u128`.
fn go_reference(input: &[u8]) -> Result<Duration, DateError> {
    let Some(mut c) = go_terms(input)? else {
        return Ok(Duration::ZERO);
    };
    let mut total: u128 = 0;
    while !c.is_empty() {
        let Term { whole, frac, unit } = go_term(&mut c)?;
        // The unit in nanoseconds: `ns` is the one below a microsecond.
        let unit = match Unit::of(unit)?.micros {
            0 => 1,
            micros => u128::from(micros) * 1_000,
        };
        let whole = if whole.is_empty() { 0 } else { integer(whole)? };
        let part = u128::from(fraction(frac, 18)) * unit / 1_000_000_000_000_000_000;
        total += u128::from(whole) * unit + part;
    }
    u64::try_from(total / 1_000)
        .map(Duration::from_ticks)
        .map_err(|_| DateError::TooLarge)
}

/// Delay-seconds and milliseconds as first written: the fraction scaled in a `u128`.
fn decimal_reference(input: &[u8], unit_micros: u64) -> Result<Duration, DateError> {
    let (whole, frac) = decimal_parts(input)?;
    let whole = whole.checked_mul(unit_micros).ok_or(DateError::TooLarge)?;
    let part = u128::from(fraction(frac, 18)) * u128::from(unit_micros) / 1_000_000_000_000_000_000;
    whole
        .checked_add(u64::try_from(part).unwrap())
        .map(Duration::from_ticks)
        .ok_or(DateError::TooLarge)
}

#[test]
fn go_durations_at_the_edges() {
    for input in [
        "5124095576h30m", // Duration::MAX µs is about 5 124 095 576 h
        "5124095577h",
        "307445734561825m",
        "18446744073709551615us",
        "18446744073709551615999ns",
        "18446744073709551615ns",
        "18446744073709551615.999999999999999999us",
        "0.999999999999999999h",
        "0.99999999999999999999m",
        "1.5ns1.5ns999ns",
        "999ns1ns",
        "5124095576h1x",
        ".000000000000000001h",
        "1h1h1h1h.5m.5m.5s",
        // The digits past the unit's exponent carry into the next microsecond: 972 + 28 ns
        // for the hour, 996 + 4 ns for the minute.
        "0.000000000277777778h",
        "0.000000016666666667m",
    ] {
        assert_eq!(
            parse_go_duration(input.as_bytes()),
            go_reference(input.as_bytes()),
            "{input}"
        );
    }
}

/// `[0-9]{0,max}(\.[0-9]{0,22})?`: a decimal of up to `max` whole digits.
fn decimals(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let digits = |max| proptest::collection::vec(b'0'..=b'9', 0..=max);
    (digits(max), proptest::option::of(digits(22))).prop_map(|(mut whole, fraction)| {
        if let Some(fraction) = fraction {
            whole.push(b'.');
            whole.extend(fraction);
        }
        whole
    })
}

/// `[+-]?(([0-9]{0,22}(\.[0-9]{0,22})?)(h|m|s|ms|us|µs|ns|x|)){1,5}`.
fn go_durations() -> impl Strategy<Value = Vec<u8>> {
    let units = &["h", "m", "s", "ms", "us", "µs", "ns", "x", ""][..];
    let part = (decimals(22), proptest::sample::select(units)).prop_map(|(mut part, unit)| {
        part.extend_from_slice(unit.as_bytes());
        part
    });
    let sign = proptest::sample::select(&["", "+", "-"][..]);
    (sign, proptest::collection::vec(part, 1..=5))
        .prop_map(|(sign, parts)| [sign.as_bytes().to_vec(), parts.concat()].concat())
}

/// `-?[0-9]{0,21}(\.[0-9]{0,22})?x?`.
fn delays() -> impl Strategy<Value = Vec<u8>> {
    let sign = proptest::sample::select(&["", "-"][..]);
    let suffix = proptest::sample::select(&["", "x"][..]);
    (sign, decimals(21), suffix)
        .prop_map(|(sign, number, suffix)| [sign.as_bytes(), &number, suffix.as_bytes()].concat())
}

// The inputs are composed strategies, not regular expressions: proptest compiles a regex
// strategy on every run, which takes most of a minute under miri (`fuzz/miri.sh`).
proptest::proptest! {
    #[test]
    fn go_durations_agree_with_the_u128_sum(input in go_durations()) {
        proptest::prop_assert_eq!(
            parse_go_duration(&input),
            go_reference(&input),
            "{}",
            String::from_utf8_lossy(&input)
        );
    }

    #[test]
    fn delay_seconds_and_millis_agree_with_the_u128_scaling(input in delays()) {
        proptest::prop_assert_eq!(
            parse_delay_seconds(&input),
            decimal_reference(&input, 1_000_000)
        );
        proptest::prop_assert_eq!(
            parse_delay_millis(&input),
            decimal_reference(&input, 1_000)
        );
    }
}
