//! The IETF draft examples of `docs/protocol.md` §3, verbatim, all three generations,
//! including the draft's own malformed ones.

use crate::headers::*;
use crate::time;

fn ignored(snapshot: &Snapshot) -> Vec<(u16, HeaderError)> {
    snapshot.ignored.iter().map(|i| (i.index, i.why)).collect()
}

fn requests(snapshot: &Snapshot) -> Quota {
    *snapshot.quota(Scope::Requests).unwrap()
}

fn quota(
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    window: Option<u64>,
) -> Quota {
    Quota {
        limit,
        remaining,
        reset: reset.map(|secs| Reset::After(time::secs(secs))),
        window: window.map(time::secs),
    }
}

#[test]
fn draft_06_split_fields() {
    let s = parse(
        None,
        [
            ("RateLimit-Limit", "100"),
            ("RateLimit-Remaining", "50"),
            ("RateLimit-Reset", "50"),
            ("RateLimit-Policy", "100;w=10"),
        ],
    );
    assert_eq!(s.dialect, Dialect::IetfSplit);
    assert_eq!(requests(&s), quota(Some(100), Some(50), Some(50), Some(10)));
    assert!(s.ignored.is_empty());
}

#[test]
fn draft_06_policy_lists() {
    // The first policy is the expiring limit's; the others are reported as superseded.
    let s = parse(
        None,
        [
            ("RateLimit-Limit", "10"),
            (
                "RateLimit-Policy",
                "10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400",
            ),
            ("RateLimit-Reset", "1"),
        ],
    );
    assert_eq!(requests(&s), quota(Some(10), None, Some(1), Some(1)));
    assert_eq!(ignored(&s), [(1, HeaderError::Superseded)]);
    // Without a limit field, the lowest rate is kept: 1000 per hour.
    let s = parse(
        None,
        [("RateLimit-Policy", "10;w=1;burst=1000, 1000;w=3600")],
    );
    assert_eq!(s.dialect, Dialect::IetfSplit);
    assert_eq!(requests(&s), quota(Some(1000), None, None, Some(3600)));
    // The draft's invalid example (two policies, one unit) still gives the tighter one.
    let s = parse(None, [("RateLimit-Policy", "10;w=1, 10;w=60")]);
    assert_eq!(requests(&s), quota(Some(10), None, None, Some(60)));
    // Parameters on the split fields are ignored, as are older list tails.
    let s = parse(
        None,
        [
            ("RateLimit-Limit", "10, 10;w=1, 50;w=60"),
            ("RateLimit-Reset", "7;foo=bar"),
        ],
    );
    assert_eq!(requests(&s), quota(Some(10), None, Some(7), None));
}

#[test]
fn draft_07_dictionary() {
    let s = parse(
        None,
        [
            ("RateLimit-Policy", "100;w=10"),
            ("RateLimit", "limit=100, remaining=50, reset=5"),
        ],
    );
    assert_eq!(s.dialect, Dialect::IetfDictionary);
    assert_eq!(requests(&s), quota(Some(100), Some(50), Some(5), Some(10)));
    let s = parse(None, [("RateLimit", "limit=10, remaining=0, reset=10")]);
    assert_eq!(requests(&s), quota(Some(10), Some(0), Some(10), None));
    let s = parse(
        None,
        [
            ("RateLimit", "limit=100, remaining=99, reset=60"),
            (
                "RateLimit-Policy",
                r#"100;w=60;burst=1000;comment="sliding window", 5000;w=3600;burst=0;comment="fixed window""#,
            ),
        ],
    );
    assert_eq!(requests(&s), quota(Some(100), Some(99), Some(60), Some(60)));
    assert_eq!(ignored(&s), [(1, HeaderError::Superseded)]);
    let s = parse(None, [("RateLimit", "limit=0, remaining=-1, reset=5")]);
    assert_eq!(
        ignored(&s),
        [(0, HeaderError::ZeroLimit), (0, HeaderError::Negative)]
    );
    assert_eq!(requests(&s), quota(None, None, Some(5), None));
}

#[test]
fn draft_08_policy_only_examples() {
    let cases: &[(&str, Quota, usize)] = &[
        (
            r#""burst";q=100;w=60,"daily";q=1000;w=86400"#,
            quota(Some(1000), None, None, Some(86_400)),
            1,
        ),
        (
            r#""default";q=100;w=10"#,
            quota(Some(100), None, None, Some(10)),
            0,
        ),
        (
            r#""permin";q=50;w=60,"perhr";q=1000;w=3600"#,
            quota(Some(1000), None, None, Some(3600)),
            1,
        ),
        (
            r#""peruser";q=100;w=60;pk=:cHsdsRa894==:"#,
            quota(Some(100), None, None, Some(60)),
            0,
        ),
        (
            r#""hour";q=1000;w=3600, "day";q=5000;w=86400"#,
            quota(Some(5000), None, None, Some(86_400)),
            1,
        ),
    ];
    for &(policy, want, superseded) in cases {
        let s = parse(None, [("RateLimit-Policy", policy)]);
        assert_eq!(s.dialect, Dialect::IetfPolicies, "{policy}");
        assert_eq!(requests(&s), want, "{policy}");
        assert_eq!(s.ignored.len(), superseded, "{policy}");
    }
}

#[test]
fn draft_08_limit_only_examples() {
    let cases: &[(&str, Quota)] = &[
        (
            r#""default";r=50;t=30"#,
            quota(None, Some(50), Some(30), None),
        ),
        (
            r#""default";r=999;pk=:dHJpYWwxMjEzMjM=:"#,
            quota(None, Some(999), None, None),
        ),
        (
            r#""default";r=300000000;t=60;pk=:QXBwLTk5OQ==:"#,
            quota(None, Some(300_000_000), Some(60), None),
        ),
        (
            r#""problemPolicy";r=0;t=10"#,
            quota(None, Some(0), Some(10), None),
        ),
        (
            r#""default";r=50;t=60"#,
            quota(None, Some(50), Some(60), None),
        ),
    ];
    for &(limit, want) in cases {
        let s = parse(None, [("RateLimit", limit)]);
        assert_eq!(s.dialect, Dialect::IetfPolicies);
        assert_eq!(requests(&s), want, "{limit}");
        assert!(s.ignored.is_empty());
    }
}

#[test]
fn draft_08_named_policies_matched() {
    let s = parse(
        None,
        [
            (
                "RateLimit-Policy",
                r#""permin";q=50;w=60,"perhr";q=1000;w=3600"#,
            ),
            ("RateLimit", r#""permin";r=15;t=40"#),
        ],
    );
    assert_eq!(requests(&s), quota(Some(50), Some(15), Some(40), Some(60)));
    assert_eq!(ignored(&s), [(0, HeaderError::Superseded)]);
    let s = parse(
        None,
        [
            ("RateLimit", r#""day";r=100;t=36000"#),
            (
                "RateLimit-Policy",
                r#""hour";q=1000;w=3600, "day";q=5000;w=86400"#,
            ),
        ],
    );
    assert_eq!(
        requests(&s),
        quota(Some(5000), Some(100), Some(36_000), Some(86_400))
    );
    assert_eq!(ignored(&s), [(1, HeaderError::Superseded)]);
    // Both limits known: the smaller remaining binds now.
    let s = parse(
        None,
        [
            (
                "RateLimit-Policy",
                r#""permin";q=50;w=60,"perhr";q=1000;w=3600"#,
            ),
            ("RateLimit", r#""permin";r=45;t=4, "perhr";r=3;t=3000"#),
        ],
    );
    assert_eq!(
        requests(&s),
        quota(Some(1000), Some(3), Some(3000), Some(3600))
    );
    assert_eq!(
        ignored(&s),
        [(0, HeaderError::Superseded), (1, HeaderError::Superseded)]
    );
}

#[test]
fn draft_08_throttled_responses() {
    let s = parse(
        Some(429),
        [
            ("Content-Type", "application/problem+json"),
            ("Date", "Mon, 05 Aug 2019 09:27:00 GMT"),
            ("Retry-After", "Mon, 05 Aug 2019 09:27:05 GMT"),
            ("RateLimit", r#""default";r=0;t=5"#),
        ],
    );
    assert_eq!(s.server_delay(), Some(time::secs(5)));
    assert_eq!(requests(&s), quota(None, Some(0), Some(5), None));
    let s = parse(
        Some(429),
        [
            ("Retry-After", "20"),
            ("RateLimit-Policy", r#""dynamic";q=100;w=60"#),
            ("RateLimit", r#""dynamic";r=15;t=40"#),
        ],
    );
    assert_eq!(s.server_delay(), Some(time::secs(20)));
    assert_eq!(requests(&s), quota(Some(100), Some(15), Some(40), Some(60)));
    assert!(s.ignored.is_empty());
}

#[test]
fn draft_malformed_examples_tolerated() {
    // A Token name and a missing `r`.
    let s = parse(
        None,
        [
            ("RateLimit-Policy", "quota;q=100;w=1"),
            ("RateLimit", "quota;t=1"),
        ],
    );
    assert_eq!(requests(&s), quota(Some(100), None, None, Some(1)));
    assert_eq!(ignored(&s), [(1, HeaderError::BadStructuredField)]);
    // `q` on RateLimit.
    let s = parse(None, [("RateLimit", r#""sliding";q=12;r=6;t=1"#)]);
    assert_eq!(requests(&s), quota(Some(12), Some(6), Some(1), None));
}

#[test]
fn quota_units_other_than_requests() {
    let s = parse(
        None,
        [
            (
                "RateLimit-Policy",
                r#""peruser";q=65535;qu="content-bytes";w=10;pk=:sdfjLJUOUH==:"#,
            ),
            ("RateLimit", r#""peruser";r=100"#),
        ],
    );
    assert!(s.quota(Scope::Requests).is_none());
    assert_eq!(
        ignored(&s),
        [(0, HeaderError::Unsupported), (1, HeaderError::Unsupported)]
    );
    let s = parse(
        None,
        [(
            "RateLimit-Policy",
            r#""a";q=5;qu="requests";w=1, "b";q=1;qu="concurrent-requests""#,
        )],
    );
    assert_eq!(requests(&s), quota(Some(5), None, None, Some(1)));
}

#[test]
fn malformed_fields_ignored_as_a_whole() {
    for value in [
        r#""default";r="#,
        r#""default;r=1"#,
        r#""a";r=1,"#,
        "(1 2);w=1",
        "",
    ] {
        let s = parse(None, [("RateLimit", value)]);
        assert!(s.quota(Scope::Requests).is_none(), "{value}");
        assert_eq!(s.ignored.len(), 1, "{value}");
    }
    let cases: &[(&str, HeaderError)] = &[
        (r#""a";r=-1"#, HeaderError::Negative),
        (r#""a";r=99999999999999999999"#, HeaderError::NumberTooLarge),
        (r#""a";r=1.5"#, HeaderError::BadStructuredField),
        (r#"1;r=1"#, HeaderError::BadStructuredField),
        (r#""a";r=1;t=-2"#, HeaderError::Negative),
    ];
    for &(value, why) in cases {
        let s = parse(None, [("RateLimit", value)]);
        assert_eq!(ignored(&s), [(0, why)], "{value}");
    }
    let cases: &[(&str, HeaderError)] = &[
        (r#""a";w=1"#, HeaderError::BadStructuredField),
        (r#""a";q=0"#, HeaderError::ZeroLimit),
        (r#""a";q=1;w=0"#, HeaderError::BadStructuredField),
        ("-5;w=1", HeaderError::Negative),
        ("a=1", HeaderError::BadStructuredField),
    ];
    for &(value, why) in cases {
        let s = parse(None, [("RateLimit-Policy", value)]);
        assert_eq!(ignored(&s), [(0, why)], "{value}");
    }
}

#[test]
fn duplicates_and_capacity() {
    let s = parse(
        None,
        [
            ("RateLimit", r#""a";r=1"#),
            ("RateLimit", r#""a";r=1"#),
            ("RateLimit", r#""a";r=2"#),
        ],
    );
    assert_eq!(requests(&s).remaining, Some(1));
    assert_eq!(ignored(&s), [(2, HeaderError::Duplicate)]);
    let many: String = (0..10)
        .map(|i| format!("\"p{i}\";q={};w=60,", 100 + i))
        .collect();
    let many = many.trim_end_matches(',');
    let s = parse(None, [("RateLimit-Policy", many)]);
    assert!(ignored(&s).contains(&(0, HeaderError::TooMany)));
    assert_eq!(requests(&s).limit, Some(100));
    let long = format!("\"{}\";q=1", "n".repeat(33));
    let s = parse(None, [("RateLimit-Policy", long.as_str())]);
    assert_eq!(ignored(&s), [(0, HeaderError::BadStructuredField)]);
}

#[test]
fn split_and_named_generations_mixed() {
    // The split fields fill the quota; named policies then have nothing to add.
    let s = parse(
        None,
        [
            ("RateLimit-Limit", "100"),
            ("RateLimit", r#""x";r=1"#),
            ("RateLimit-Policy", r#""x";q=5"#),
        ],
    );
    assert_eq!(s.dialect, Dialect::IetfSplit);
    assert_eq!(requests(&s), quota(Some(100), None, None, None));
    assert_eq!(
        ignored(&s),
        [(1, HeaderError::Superseded), (2, HeaderError::Superseded)]
    );
}
