use super::body::Pairs;
use super::*;

fn pairs(body: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut walk = Pairs { body, pos: 0 };
    let mut out = Vec::new();
    while let Some((k, v, _)) = walk.next_pair() {
        out.push((k, v));
    }
    out
}

#[test]
fn pairs_skip_escaped_quotes_and_non_string_values() {
    let body = br#"{"a": 1, "m": "say \"type\": \"x\"", "b" : "c", "arr": ["d", "e"], "t":"u"}"#;
    assert_eq!(
        pairs(body),
        vec![
            (&b"m"[..], &br#"say \"type\": \"x\""#[..]),
            (b"b", b"c"),
            (b"t", b"u")
        ]
    );
}

#[test]
fn truncated_and_garbage_input_ends_quietly() {
    assert!(pairs(br#"{"type":"error","error":{"type":"overlo"#).len() == 1);
    assert!(pairs(b"\\\"\\").is_empty());
    assert!(pairs(b"\"").is_empty());
    assert!(pairs(&[0xff, b'"', 0xfe, b'"', b':', b'"']).is_empty());
    assert!(pairs(b"").is_empty());
}

#[test]
fn unknown_type_spans_point_into_the_body() {
    let body = br#"{"error":{"type":"brand_new_error"}}"#;
    let facts = scan_body(body);
    let Some(ErrorType::Unknown(span)) = facts.error_type else {
        panic!("expected unknown, got {:?}", facts.error_type);
    };
    assert_eq!(span.of(body), Some(&b"brand_new_error"[..]));
}

#[test]
fn scan_is_bounded() {
    let mut body = vec![b' '; BODY_SCAN_LIMIT];
    body.extend_from_slice(br#"{"type":"overloaded_error"}"#);
    assert_eq!(scan_body(&body).error_type, None);
}
