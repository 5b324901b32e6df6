//! Where a `world` object is written, so that its errors name `file:line:column` as every other
//! input error of the CLI does.
//!
//! A world arrives as a parsed map (serde keeps no positions), so its place is found again in
//! the text it was parsed from — a scenario file, or a trace's header line — only when an error
//! needs it. The text has been parsed once already; the walk here leaves all lexing to
//! serde_json (strings, escapes, nested values) and only steps over the object's punctuation.
//! Lines and columns are counted as the trace reader counts them (`crate::trace::TraceError`):
//! lines 1-based over every line of the file, columns 1-based bytes, a byte order mark at the
//! start of a trace not counted. Anything not found leaves the file alone named, never a panic.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::de::{DeserializeOwned, IgnoredAny};

/// The file a `world` object comes from, and where in it the object is written when that can
/// be read again.
///
/// # Examples
///
/// ```
/// use headroom_sim::world::{World, WorldPlace};
///
/// let text = "{\"trace\": \"t.jsonl\",\n \"world\": {\"gateways\": 0}}";
/// let map = serde_json::json!({"gateways": 0});
/// let error = World::from_map(map.as_object().unwrap(), &WorldPlace::object("sc.json", text));
/// assert!(error.unwrap_err().to_string().starts_with("sc.json:2:24: world.gateways: "));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorldPlace<'a> {
    /// The file as the user named it.
    file: &'a str,
    /// The text holding the object as its `world` member.
    holder: Holder<'a>,
}

/// The text whose `world` member is the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder<'a> {
    /// Not at hand (standard input, a bundled trace, a map built in code).
    Unknown,
    /// A JSON object that is the whole file (a scenario).
    Object(&'a str),
    /// The header line of the trace file at the path `file`, read again when needed.
    TraceHeader,
}

/// The part of a `world` object an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spot<'k> {
    /// The object as a whole (its `{`).
    Object,
    /// A key (its opening quote).
    Key(&'k str),
    /// A key's value (its first byte).
    Value(&'k str),
    /// Whichever of two keys is written later: the one that repeats the other.
    Later(&'k str, &'k str),
}

impl<'a> WorldPlace<'a> {
    /// A world from `file` whose text is not at hand: errors name the file alone.
    pub fn file(file: &'a str) -> Self {
        Self {
            file,
            holder: Holder::Unknown,
        }
    }

    /// The `world` member of the JSON object `text`, the whole of `file` (a scenario file).
    pub fn object(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            holder: Holder::Object(text),
        }
    }

    /// The `world` member of the header line of the trace file at the path `file`: the file is
    /// read again, up to its header, only when an error needs the place (standard input cannot
    /// be, and a bundled trace's name is no file: those name the file alone).
    pub fn trace_header(file: &'a str) -> Self {
        Self {
            file,
            holder: Holder::TraceHeader,
        }
    }

    /// `file:line:column` of `spot`, or `file` when it cannot be found.
    pub(super) fn at(&self, spot: Spot<'_>) -> String {
        self.holder_text()
            .and_then(|(text, first_line)| {
                let offset = offset_of(&text, spot)?;
                let (line, column) = line_and_column(&text, first_line, offset)?;
                Some(format!("{}:{line}:{column}", self.file))
            })
            .unwrap_or_else(|| self.file.to_owned())
    }

    /// The text holding the object, and the line of the file it starts on.
    fn holder_text(&self) -> Option<(Cow<'a, str>, usize)> {
        match self.holder {
            Holder::Unknown => None,
            Holder::Object(text) => Some((Cow::Borrowed(text), 1)),
            Holder::TraceHeader => {
                let (text, line) = header_line(self.file)?;
                Some((Cow::Owned(text), line))
            }
        }
    }
}

/// The trace file `path`'s header line (without its newline, and on line 1 without a byte
/// order mark) and its number: the first line that is not blank or a `#` comment, as the trace
/// reader takes it. A trace whose header has a `world` has it there, since the reader refuses
/// a header after an event. `None` when the file cannot be read again or has no such line.
fn header_line(path: &str) -> Option<(String, usize)> {
    if path == "-" || !Path::new(path).is_file() {
        return None;
    }
    let mut input = BufReader::new(File::open(path).ok()?);
    let mut bytes = Vec::new();
    let mut number = 0_usize;
    loop {
        bytes.clear();
        if input.read_until(b'\n', &mut bytes).ok()? == 0 {
            return None;
        }
        number = number.saturating_add(1);
        let line = std::str::from_utf8(&bytes).ok()?;
        let line = match line.strip_prefix('\u{feff}') {
            Some(rest) if number == 1 => rest,
            _ => line,
        };
        let line = line.trim_end_matches(['\n', '\r']);
        let content = line.trim_start();
        if !content.is_empty() && !content.starts_with('#') {
            return Some((line.to_owned(), number));
        }
    }
}

/// The byte offset in `text` (a JSON object with a `world` member) of `spot` of the world.
fn offset_of(text: &str, spot: Spot<'_>) -> Option<usize> {
    let world = members(text, 0)
        .into_iter()
        .find(|member| member.key == "world")?
        .value_at;
    let keys = members(text, world);
    let key_at = |key: &str| {
        keys.iter()
            .find(|member| member.key == key)
            .map(|member| member.key_at)
    };
    match spot {
        Spot::Object => Some(world),
        Spot::Key(key) => key_at(key),
        Spot::Value(key) => keys
            .iter()
            .find(|member| member.key == key)
            .map(|member| member.value_at),
        Spot::Later(one, other) => key_at(one).max(key_at(other)),
    }
}

/// One member of a JSON object as written.
#[derive(Debug, PartialEq, Eq)]
struct Member {
    /// The key, unescaped.
    key: String,
    /// The offset of the key's opening quote.
    key_at: usize,
    /// The offset of the value's first byte.
    value_at: usize,
}

/// The members of the JSON object starting at offset `from` of `text` (after any whitespace),
/// in the order written; the walk stops quietly at anything that is not a well-formed member.
fn members(text: &str, from: usize) -> Vec<Member> {
    let mut found = Vec::new();
    let mut at = after_whitespace(text, from);
    if text.as_bytes().get(at) != Some(&b'{') {
        return found;
    }
    at = at.saturating_add(1);
    loop {
        let key_at = after_whitespace(text, at);
        let Some((key, key_end)) = json_at::<String>(text, key_at) else {
            return found;
        };
        let colon = after_whitespace(text, key_end);
        if text.as_bytes().get(colon) != Some(&b':') {
            return found;
        }
        let value_at = after_whitespace(text, colon.saturating_add(1));
        let Some((IgnoredAny, value_end)) = json_at::<IgnoredAny>(text, value_at) else {
            return found;
        };
        found.push(Member {
            key,
            key_at,
            value_at,
        });
        let comma = after_whitespace(text, value_end);
        if text.as_bytes().get(comma) != Some(&b',') {
            return found;
        }
        at = comma.saturating_add(1);
    }
}

/// The JSON value starting at offset `at` of `text`, read by serde_json, and the offset just
/// after it.
fn json_at<T: DeserializeOwned>(text: &str, at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at.saturating_add(values.byte_offset())))
}

/// The first offset at or after `at` that is not JSON whitespace.
fn after_whitespace(text: &str, at: usize) -> usize {
    let rest = text.get(at..).unwrap_or_default();
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    at.saturating_add(skipped)
}

/// The 1-based line (counted from `first_line`, the line `text` starts on) and byte column of
/// offset `offset` of `text`.
fn line_and_column(text: &str, first_line: usize, offset: usize) -> Option<(usize, usize)> {
    let before = text.as_bytes().get(..offset)?;
    let newlines = before.iter().filter(|&&byte| byte == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline.saturating_add(1));
    Some((
        first_line.saturating_add(newlines),
        offset.saturating_sub(line_start).saturating_add(1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_where_written_escapes_and_nesting_included() {
        let text = r#" { "a" : [1, {"b": 2}], "k\u0065y":"v" ,"c":{}}"#;
        let found = members(text, 0);
        let keys: Vec<(&str, usize, usize)> = found
            .iter()
            .map(|member| (member.key.as_str(), member.key_at, member.value_at))
            .collect();
        assert_eq!(keys, [("a", 3, 9), ("key", 24, 35), ("c", 40, 44)]);
        assert!(members("[1]", 0).is_empty());
        assert!(members("{}", 0).is_empty());
        assert_eq!(members(r#"{"a": 1, "b"#, 0).len(), 1);
        assert!(members("{\"a\": ", 0).is_empty());
    }

    #[test]
    fn spots_are_the_worlds_not_a_sibling_objects() {
        let text =
            "{\"other\": {\"gateways\": 1},\n \"world\": {\"gateways\": 0,\n  \"bogus\": 1}}";
        let place = WorldPlace::object("sc.json", text);
        assert_eq!(place.at(Spot::Object), "sc.json:2:11");
        assert_eq!(place.at(Spot::Key("gateways")), "sc.json:2:12");
        assert_eq!(place.at(Spot::Value("gateways")), "sc.json:2:24");
        assert_eq!(place.at(Spot::Key("bogus")), "sc.json:3:3");
        assert_eq!(place.at(Spot::Later("bogus", "gateways")), "sc.json:3:3");
        assert_eq!(place.at(Spot::Key("missing")), "sc.json");
        assert_eq!(WorldPlace::file("f").at(Spot::Object), "f");
        for broken in ["", "[1]", "{\"world\"", "{\"world\": {\"gateways\": 0"] {
            assert_eq!(
                WorldPlace::object("f", broken).at(Spot::Value("gateways")),
                "f"
            );
        }
    }

    /// Text cut anywhere (mid-character included) gives a place or the file, never a panic.
    #[test]
    fn any_cut_of_the_text_is_placed_or_named_by_file() {
        let text =
            "{\"about\": \"é\\\"{\", \"world\": {\"gatéways\": [1, {\"x\": \"}\"}],\n \"b\": 2}}";
        for cut in 0..=text.len() {
            for part in [text.get(..cut), text.get(cut..)].into_iter().flatten() {
                let place = WorldPlace::object("f", part);
                for spot in [Spot::Object, Spot::Key("b"), Spot::Value("gatéways")] {
                    assert!(place.at(spot).starts_with('f'));
                }
            }
            let bytes = String::from_utf8_lossy(text.as_bytes().get(..cut).unwrap());
            WorldPlace::object("f", &bytes).at(Spot::Later("b", "gatéways"));
        }
        assert_eq!(WorldPlace::object("f", text).at(Spot::Value("b")), "f:2:7");
    }

    #[test]
    fn a_trace_header_is_found_as_the_reader_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let header = "  {\"trace\": 1, \"world\": {\"gateways\": 0}}";
        std::fs::write(
            &path,
            format!("\u{feff}# made by hand\n\n \t\r\n{header}\r\n{{}}\n"),
        )
        .unwrap();
        let path = path.to_str().unwrap();
        assert_eq!(header_line(path), Some((header.to_owned(), 4)));
        let place = WorldPlace::trace_header(path);
        assert_eq!(place.at(Spot::Value("gateways")), format!("{path}:4:38"));
        // On line 1 the mark is not counted: columns start after it, as the reader's do.
        std::fs::write(dir.path().join("t.jsonl"), format!("\u{feff}{header}\n")).unwrap();
        assert_eq!(place.at(Spot::Value("gateways")), format!("{path}:1:38"));
        for unread in ["-", "no/such/trace.jsonl"] {
            assert_eq!(WorldPlace::trace_header(unread).at(Spot::Object), unread);
        }
    }
}
