//! Unit tests of the world settings.

use super::*;
use crate::workload::Request;

fn workload(n: u32) -> Workload {
    Workload {
        requests: (0..n)
            .map(|id| Request {
                id,
                usage: headroom::Usage {
                    input_tokens: 1_000,
                    ..headroom::Usage::default()
                },
                input_tokens: 1_050,
                ..Request::default()
            })
            .collect(),
        ..Workload::default()
    }
}

#[test]
fn skewed_gives_one_gateway_about_seventy_percent() {
    let world = World {
        gateways: 4,
        assign: Assign::Skewed,
        ..World::default()
    };
    let of = world.assignment(&workload(10_000), 1);
    let first = of.iter().filter(|&&g| g == 0).count();
    assert!((6_800..=7_200).contains(&first), "{first}");
    assert!(of.iter().all(|&g| g < 4));
    assert!((1..4).all(|g| of.contains(&g)));
}

#[test]
fn round_robin_cycles() {
    let world = World {
        gateways: 3,
        ..World::default()
    };
    assert_eq!(world.assignment(&workload(5), 9), [0, 1, 2, 0, 1]);
}

#[test]
fn estimates_follow_noise_and_bias() {
    let config = UpstreamConfig::default();
    let mut low = workload(1_000);
    World {
        estimate_bias: Some(-20),
        ..World::default()
    }
    .apply_estimates(&mut low, &config, 1);
    assert!(low.requests.iter().all(|r| r.input_tokens == 800));
    let mut noisy = workload(1_000);
    World {
        estimate_noise: Some(30),
        ..World::default()
    }
    .apply_estimates(&mut noisy, &config, 1);
    let (min, max) = noisy.requests.iter().fold((u64::MAX, 0), |(lo, hi), r| {
        (lo.min(r.input_tokens), hi.max(r.input_tokens))
    });
    assert!(
        (700..720).contains(&min) && (1_281..=1_300).contains(&max),
        "{min} {max}"
    );
    let mut untouched = workload(3);
    World::default().apply_estimates(&mut untouched, &config, 1);
    assert_eq!(untouched, workload(3));
}

#[test]
fn describe_writes_the_flags_back() {
    let world = World {
        gateways: 4,
        assign: Assign::Skewed,
        foreign_load: Some(parse_foreign("0.25@30.5").unwrap()),
        limits_change_at: vec![parse_limit_change("120:rpm=100,otpm=16000").unwrap()],
        token_burst_s: Some(10_000_000),
        bare_429: Some(100),
        ..World::default()
    };
    assert_eq!(
        world.describe(),
        "--gateways 4 --assign skewed --foreign-load 0.25@30.5 --token-burst-s 10 \
         --limits-change-at 120:rpm=100,otpm=16000 --bare-429 0.1"
    );
    assert_eq!(World::default().describe(), "");
}

#[test]
fn decimals_parse_exactly() {
    assert_eq!(parse_decimal("0.125", 3), Some(125));
    assert_eq!(parse_decimal("2", 0), Some(2));
    assert_eq!(parse_decimal(".5", 3), None);
    assert_eq!(parse_decimal("0.1234", 3), None);
    assert_eq!(parse_fraction("0.1"), Ok(100));
}

/// The error `from_map` gives for the world object `json` of file `f.json`.
fn map_error(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let map = value.as_object().unwrap();
    World::from_map(map, &WorldPlace::file("f.json"))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_bad_world_value_is_reported_under_its_key() {
    // Once given as `--estimate-noise -5`, the value was read as a flag of its own.
    assert_eq!(
        map_error(r#"{"estimate_noise": -5}"#),
        "f.json: world.estimate_noise: -5 is too small (a whole number from 0 to 100)"
    );
    assert_eq!(
        map_error(r#"{"gateways": 4, "assign": "random"}"#),
        "f.json: world.assign: \"random\" is not one of round-robin, hash, skewed"
    );
    assert_eq!(
        map_error(r#"{"gateways": "many"}"#),
        "f.json: world.gateways: \"many\" is not a whole number"
    );
    assert!(
        map_error(r#"{"gateways": [2, 3]}"#).starts_with("f.json: world.gateways: takes one value"),
    );
    // A string value that looks like a flag is a value, never a flag.
    assert!(map_error(r#"{"assign": "--stale-headers"}"#).starts_with("f.json: world.assign: "));
    let error = map_error(r#"{"bogus": 1}"#);
    assert!(
        error.starts_with(
            "f.json: world: unknown key \"bogus\" (known: gateways, assign, foreign_load, "
        ),
        "{error}"
    );
    assert!(!error.contains("help"), "{error}");
    assert_eq!(
        map_error(r#"{"stale_headers": true, "stale-headers": true}"#),
        "f.json: world: \"stale-headers\" and \"stale_headers\" are the same key"
    );
    assert_eq!(
        map_error(r#"{"limits_change_at": ["120:rpm=5,rpm=6"]}"#),
        "f.json: world.limits_change_at: rpm is given twice: 120:rpm=5,rpm=6"
    );
}

#[test]
fn whole_numbers_are_refused_in_words_with_their_range() {
    for (json, message) in [
        (
            r#"{"gateways": 0}"#,
            "0 is too small (a whole number from 1 to 4096)",
        ),
        (r#"{"gateways": 2.5}"#, "2.5 is not a whole number"),
        (
            r#"{"estimate_bias": -91}"#,
            "-91 is too small (a whole number from -90 to 1000)",
        ),
        (
            r#"{"estimate_bias": 1001}"#,
            "1001 is too large (a whole number from -90 to 1000)",
        ),
        (
            r#"{"concurrency": "100001"}"#,
            "\"100001\" is too large (a whole number from 1 to 100000)",
        ),
        (
            r#"{"concurrency": "-05"}"#,
            "\"-05\" is too small (a whole number from 1 to 100000)",
        ),
        (
            r#"{"header_skew_ms": "9223372036854775808"}"#,
            "\"9223372036854775808\" is too large",
        ),
        (
            r#"{"header_skew_ms": "-9223372036854775809"}"#,
            "\"-9223372036854775809\" is too small",
        ),
        (r#"{"header_skew_ms": ""}"#, "\"\" is not a whole number"),
        (
            r#"{"header_skew_ms": "4.0"}"#,
            "\"4.0\" is not written as a whole number",
        ),
    ] {
        let error = map_error(json);
        let key = error.split(": ").nth(1).unwrap();
        assert_eq!(error, format!("f.json: {key}: {message}"), "{json}");
    }
}

/// The error `from_map` gives for the `world` member of `text`, the whole of file `sc.json`.
fn object_error(text: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let map = value["world"].as_object().unwrap();
    World::from_map(map, &WorldPlace::object("sc.json", text))
        .unwrap_err()
        .to_string()
}

/// A number is quoted as the file writes it, not as serde_json or clap would write it again
/// (`1e3` became `1000.0`, 99999999999999999999 became `1e+20`), and one too large or too small
/// for the flag is said to be, whole though it is.
#[test]
fn a_refused_number_is_quoted_as_written() {
    let error = |world: &str| object_error(&format!("{{\"world\":\t{world}}}"));
    for (world, message) in [
        (
            "{\"gateways\": 4.0}",
            "sc.json:1:24: world.gateways: 4.0 is not written as a whole number",
        ),
        (
            "{\"gateways\": 1e3}",
            "sc.json:1:24: world.gateways: 1e3 is not written as a whole number",
        ),
        (
            "{\"gateways\": 1E+3}",
            "sc.json:1:24: world.gateways: 1E+3 is not written as a whole number",
        ),
        (
            "{\"gateways\": 2.5e0}",
            "sc.json:1:24: world.gateways: 2.5e0 is not a whole number",
        ),
        (
            "{\"gateways\": 99999999999999999999}",
            "sc.json:1:24: world.gateways: 99999999999999999999 is too large",
        ),
        (
            "{\"gateways\": -99999999999999999999}",
            "sc.json:1:24: world.gateways: -99999999999999999999 is too small",
        ),
        (
            "{\"gateways\": 5000}",
            "sc.json:1:24: world.gateways: 5000 is too large (a whole number from 1 to 4096)",
        ),
        (
            "{\"gateways\": \"m\\u0061ny\"}",
            "sc.json:1:24: world.gateways: \"m\\u0061ny\" is not a whole number",
        ),
        // Tabs between the tokens: each place is still found.
        (
            "{\t\"gateways\"\t:\t2\t,\t\"estimate_noise\"\t:\t-5\t}",
            "sc.json:1:49: world.estimate_noise: -5 is too small (a whole number from 0 to 100)",
        ),
        (
            "{\t\"gateways\"\t:\t2\t,\t\"bogus\"\t:\t1}",
            "sc.json:1:30: world: unknown key \"bogus\" (known: gateways, ",
        ),
    ] {
        assert!(
            error(world).starts_with(message),
            "{world}: {}",
            error(world)
        );
    }
    // An array's items are shown as JSON.
    assert!(
        map_error(r#"{"limits_change_at": ["120:rpm=5", 7]}"#).contains("world.limits_change_at: ")
    );
}

/// clap's reason for `value` given to `--n`, parsed by `parser`, as a world object says it.
fn clap_reason(parser: clap::builder::ValueParser, value: &str) -> String {
    let command = clap::Command::new("t")
        .no_binary_name(true)
        .arg(clap::Arg::new("n").long("n").value_parser(parser));
    let error = command
        .try_get_matches_from([format!("--n={value}")])
        .unwrap_err();
    flag_error(&error, &|word: &str| word.to_owned())
}

/// The ranges clap writes for ranged integer parsers, each read exactly or left in clap's words:
/// an unbounded end is written as the type's largest value after a bare `..`, an excluded end
/// as itself after a bare `..`.
#[test]
fn clap_ranges_are_reworded_only_when_read_exactly() {
    use clap::builder::ValueParser;
    use clap::value_parser;
    let five_to_ten: ValueParser = value_parser!(u64).range(5..=10).into();
    let from_one: ValueParser = value_parser!(u64).range(1..).into();
    let signed_from_one: ValueParser = value_parser!(i64).range(1..).into();
    let to_five: ValueParser = value_parser!(i64).range(..=5).into();
    let below_five: ValueParser = value_parser!(i64).range(..5).into();
    let below_hundred: ValueParser = value_parser!(u64).range(0..100).into();
    let unsigned: ValueParser = value_parser!(u64).into();
    let signed: ValueParser = value_parser!(i64).into();
    let huge = "99999999999999999999";
    for (parser, value, message) in [
        (
            &five_to_ten,
            "3",
            "3 is too small (a whole number from 5 to 10)",
        ),
        (
            &five_to_ten,
            "11",
            "11 is too large (a whole number from 5 to 10)",
        ),
        (&from_one, "0", "0 is too small (a whole number at least 1)"),
        (
            &signed_from_one,
            "0",
            "0 is too small (a whole number at least 1)",
        ),
        (
            &signed_from_one,
            "9223372036854775808",
            "9223372036854775808 is too large",
        ),
        (&to_five, "9", "9 is too large (a whole number at most 5)"),
        (
            &unsigned,
            "-5",
            "-5 is too small (a whole number at least 0)",
        ),
        (&unsigned, huge, &format!("{huge} is too large")),
        (
            &signed,
            &format!("-{huge}"),
            &format!("-{huge} is too small"),
        ),
        (&unsigned, "x", "x is not a whole number"),
        // Not read exactly: clap's own words.
        (&below_hundred, "150", "150 is not in 0..100"),
        (&below_hundred, "100", "100 is not in 0..100"),
        (&below_five, "9", "9 is not in -9223372036854775808..5"),
        (&unsigned, "-0", "-0: invalid digit found in string"),
    ] {
        assert_eq!(clap_reason(parser.clone(), value), message, "{value}");
    }
}

/// A scenario-like file whose world has a bad value, an unknown key, two spellings of one key,
/// a value of no flag's type: each error at its line and column.
#[test]
fn world_errors_name_the_line_and_column_where_written() {
    let error = |world: &str| {
        object_error(&format!(
            "{{\"trace\": \"t.jsonl\",\n  \"world\": {world}}}"
        ))
    };
    assert_eq!(
        error("{\"gateways\": 2,\n    \"estimate_noise\":  -5}"),
        "sc.json:3:24: world.estimate_noise: -5 is too small (a whole number from 0 to 100)"
    );
    assert!(
        error("{\"gateways\": 2, \"bogus\": 1}")
            .starts_with("sc.json:2:28: world: unknown key \"bogus\" (known: gateways, "),
    );
    // The spelling written second is the one that repeats the key, whatever the map's order.
    for (world, column) in [
        ("{\"stale_headers\": true, \"stale-headers\": true}", 36),
        ("{\"stale-headers\": true, \"stale_headers\": true}", 36),
    ] {
        assert_eq!(
            error(world),
            format!(
                "sc.json:2:{column}: world: \"stale-headers\" and \"stale_headers\" are the same key"
            )
        );
    }
    assert_eq!(
        error("{\"assign\": {\"to\": 1}}"),
        "sc.json:2:23: world.assign: expected a string, number or boolean, found {\"to\":1}"
    );
    // An escaped key is the key it spells.
    assert_eq!(
        error("{\"gate\\u0077ays\": 0}"),
        "sc.json:2:30: world.gateways: 0 is too small (a whole number from 1 to 4096)"
    );
}

#[test]
fn a_world_object_refuses_a_key_given_twice() {
    let error =
        serde_json::from_str::<WorldObject>(r#"{"gateways": 4, "gateways": 8}"#).unwrap_err();
    assert_eq!(
        error.to_string(),
        "duplicate key `gateways` in a world object at line 1 column 26"
    );
    let object: WorldObject = serde_json::from_str(r#"{"gateways": 4, "assign": "hash"}"#).unwrap();
    assert_eq!(object.0.len(), 2);
}

#[test]
fn a_limit_change_refuses_a_limit_given_twice() {
    assert_eq!(
        parse_limit_change("120:rpm=5,rpm=6").unwrap_err(),
        "rpm is given twice: 120:rpm=5,rpm=6"
    );
    assert!(parse_limit_change("120:rpm=5,tpm=6").is_ok());
}

/// A number a flag's own parser quotes in its reason is quoted there as the file writes it,
/// not as serde_json renders it again (`1000.0` for `1e3`).
#[test]
fn a_number_in_a_parsers_reason_is_quoted_as_written() {
    assert_world_errors(&[
        (
            "{\"limits_change_at\": 1e3}",
            "sc.json:1:32: world.limits_change_at: expected T:rpm=…,itpm=…: 1e3",
        ),
        (
            "{\"token_burst_s\": -1e0}",
            "sc.json:1:29: world.token_burst_s: seconds are a decimal number from 0 to \
             18446744073709 with at most six decimals (to the µs; no sign, no exponent), like 90 \
             or 0.25: -1e0",
        ),
        (
            "{\"bare_429\": 15e-1}",
            "sc.json:1:24: world.bare_429: a fraction is from 0 to 1 with at most three decimals \
             (0.125): 15e-1",
        ),
        // An item of an array is not placed: as JSON writes it.
        (
            "{\"bare_429\": [15e-1]}",
            "sc.json:1:24: world.bare_429: a fraction is from 0 to 1 with at most three decimals \
             (0.125): 1.5",
        ),
        (
            "{\"bare_429\": \"15e-1\"}",
            "sc.json:1:24: world.bare_429: a fraction is from 0 to 1 with at most three decimals \
             (0.125): 15e-1",
        ),
    ]);
}

/// `-0` is read by serde_json as a fraction, `-0.0`, and refused as `-0.0` is: not written as
/// a whole number (not clap's `invalid digit found in string`).
#[test]
fn minus_zero_is_not_written_as_a_whole_number() {
    assert_world_errors(&[
        (
            "{\"estimate_noise\": -0}",
            "sc.json:1:30: world.estimate_noise: -0 is not written as a whole number",
        ),
        (
            "{\"estimate_bias\": -0}",
            "sc.json:1:29: world.estimate_bias: -0 is not written as a whole number",
        ),
        (
            "{\"estimate_noise\": -0.0}",
            "sc.json:1:30: world.estimate_noise: -0.0 is not written as a whole number",
        ),
    ]);
    // The string `"-0"` is the command line's `-0`, which the flag's parser takes as 0.
    let text = "{\"world\": {\"estimate_noise\": \"-0\"}}";
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    let map = value["world"].as_object().unwrap();
    let (world, _) = World::from_map(map, &WorldPlace::object("sc.json", text)).unwrap();
    assert_eq!(world.estimate_noise, Some(0));
}

/// `true` or `false` for a flag that takes a value, and anything but `true` or `false` for a
/// switch, name what the key takes (`false` was once ignored without a word).
#[test]
fn a_switch_and_a_value_are_not_mistaken_for_each_other() {
    assert_world_errors(&[
        (
            "{\"estimate_bias\": true}",
            "sc.json:1:29: world.estimate_bias: true is not a whole number",
        ),
        (
            "{\"estimate_bias\": false}",
            "sc.json:1:29: world.estimate_bias: false is not a whole number",
        ),
        (
            "{\"limits_change_at\": [false]}",
            "sc.json:1:32: world.limits_change_at: expected T:rpm=…,itpm=…: false",
        ),
        (
            "{\"assign\": true}",
            "sc.json:1:22: world.assign: true is not one of round-robin, hash, skewed",
        ),
        (
            "{\"stale_headers\": 1}",
            "sc.json:1:29: world.stale_headers: 1 is not true or false",
        ),
        (
            "{\"stale_headers\": \"yes\"}",
            "sc.json:1:29: world.stale_headers: \"yes\" is not true or false",
        ),
        (
            "{\"stale_headers\": [true, 1]}",
            "sc.json:1:29: world.stale_headers: 1 is not true or false",
        ),
    ]);
}

/// Each world refused with its message, in a scenario-like file `{"world": …}`.
fn assert_world_errors(cases: &[(&str, &str)]) {
    for (world, message) in cases {
        let error = object_error(&format!("{{\"world\": {world}}}"));
        assert_eq!(error, *message, "{world}");
    }
}
