//! Where a `world` object is written, so that its errors name `file:line:column` as every other
//! input error of the CLI does.
//!
//! A world arrives as a parsed map (serde keeps no positions), so its place is found again in
//! the world object's own text — in a scenario file, or as a trace reader kept it with where it
//! starts ([`HeaderLine`]) — only when an error needs it, by the walk the trace reader's own
//! errors use ([`crate::trace::members`]), and spelled as theirs are
//! ([`crate::trace::Position`]): lines 1-based over every line of the file, columns 1-based
//! bytes, a byte order mark at the start of a trace not counted. Anything not found leaves the
//! file alone named, never a panic.

use crate::trace::{HeaderLine, HeaderWorld, Member, Position, member_value, members, value_end};

/// The file a `world` object comes from, and where in it the object is written when the text
/// holding it is at hand.
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
    /// The file as the user (or the trace reader) names it.
    file: &'a str,
    /// The world's text; `None` when not at hand (a map built in code).
    holder: Option<Holder<'a>>,
}

/// A `world` object's text as written, and where in its file it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holder<'a> {
    /// The object, `{` to `}` (or to the end of the file when cut short).
    text: &'a str,
    /// The 1-based line of the file `text` starts on.
    line: usize,
    /// The 1-based byte column of that line `text` starts at.
    column: usize,
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
        Self { file, holder: None }
    }

    /// The `world` member of the JSON object `text`, the whole of `file` (a scenario file).
    pub fn object(file: &'a str, text: &'a str) -> Self {
        let whole = Holder {
            text,
            line: 1,
            column: 1,
        };
        let holder = member_value(text, "world").and_then(|(at, world)| {
            let (line, column) = line_and_column(whole, at)?;
            Some(Holder {
                text: world,
                line,
                column,
            })
        });
        Self { file, holder }
    }

    /// The world of a trace header, placed where the reader read it (the file named as the
    /// reader names it: `<stdin>` for standard input); a world built in code names `file`
    /// alone.
    pub fn trace_header(file: &'a str, world: &'a HeaderWorld) -> Self {
        match &world.written {
            Some(HeaderLine {
                file,
                line,
                column,
                text,
            }) => Self {
                file,
                holder: Some(Holder {
                    text,
                    line: *line,
                    column: *column,
                }),
            },
            None => Self::file(file),
        }
    }

    /// `file:line:column` of `spot`, or `file` when it cannot be found.
    pub(super) fn at(&self, spot: Spot<'_>) -> String {
        let (line, column) = self
            .holder
            .and_then(|holder| {
                let offset = offset_of(holder, spot)?;
                line_and_column(holder, offset)
            })
            .unwrap_or((0, 0));
        Position {
            file: self.file,
            line,
            column,
        }
        .to_string()
    }

    /// The value of `key` as written (its JSON text: a string with its quotes), when the text
    /// is at hand.
    pub(super) fn written(&self, key: &str) -> Option<&'a str> {
        let holder = self.holder?;
        let text = holder.text;
        let at = offset_of(holder, Spot::Value(key))?;
        text.get(at..value_end(text, at)?)
    }
}

/// The byte offset in `holder`'s text of `spot` of the world.
fn offset_of(holder: Holder<'_>, spot: Spot<'_>) -> Option<usize> {
    let keys: Vec<Member<'_>> = members(holder.text, 0).collect();
    let find = |key: &str| keys.iter().find(|member| member.key == key);
    let key_at = |key: &str| find(key).map(|member| member.key_at);
    match spot {
        Spot::Object => Some(0),
        Spot::Key(key) => key_at(key),
        Spot::Value(key) => find(key).map(|member| member.value_at),
        Spot::Later(one, other) => key_at(one).max(key_at(other)),
    }
}

/// The 1-based line and byte column in the file of offset `offset` of `holder`'s text.
fn line_and_column(holder: Holder<'_>, offset: usize) -> Option<(usize, usize)> {
    let before = holder.text.as_bytes().get(..offset)?;
    let newlines = before.iter().filter(|&&byte| byte == b'\n').count();
    let column = match before.iter().rposition(|&byte| byte == b'\n') {
        Some(newline) => offset.saturating_sub(newline),
        // On the line the text starts on, counted from where it starts.
        None => holder.column.saturating_add(offset),
    };
    Some((holder.line.saturating_add(newlines), column))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(place.at(Spot::Later("gateways", "bogus")), "sc.json:3:3");
        assert_eq!(place.at(Spot::Key("missing")), "sc.json");
        assert_eq!(WorldPlace::file("f").at(Spot::Object), "f");
        for broken in ["", "[1]", "{\"world\"", "{\"world\": {\"gateways\" 0}}"] {
            assert_eq!(
                WorldPlace::object("f", broken).at(Spot::Value("gateways")),
                "f"
            );
        }
        // A member is placed once its value starts, what follows it unread.
        let cut = WorldPlace::object("f", "{\"world\": {\"gateways\": 0");
        assert_eq!(cut.at(Spot::Value("gateways")), "f:1:24");
    }

    /// A tab is whitespace between any two tokens of the object and of its world.
    #[test]
    fn tabs_between_tokens_are_stepped_over() {
        let text = "{\t\"world\"\t:\t{\t\"gateways\"\t:\t0\t,\t\"bogus\"\t:\t1\t}\t}";
        let place = WorldPlace::object("sc.json", text);
        assert_eq!(place.at(Spot::Object), "sc.json:1:13");
        assert_eq!(place.at(Spot::Key("gateways")), "sc.json:1:15");
        assert_eq!(place.at(Spot::Value("gateways")), "sc.json:1:28");
        assert_eq!(place.at(Spot::Key("bogus")), "sc.json:1:32");
        assert_eq!(place.written("bogus"), Some("1"));
    }

    #[test]
    fn a_value_is_quoted_as_written() {
        let text = "{\"world\": {\"a\": 1e3, \"b\": \"many\\u0021\", \"c\": [1,  2], \"d\": 4.0}}";
        let place = WorldPlace::object("sc.json", text);
        assert_eq!(place.written("a"), Some("1e3"));
        assert_eq!(place.written("b"), Some("\"many\\u0021\""));
        assert_eq!(place.written("c"), Some("[1,  2]"));
        assert_eq!(place.written("d"), Some("4.0"));
        assert_eq!(place.written("e"), None);
        assert_eq!(WorldPlace::file("f").written("a"), None);
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
                assert!(place.written("b").is_none_or(|b| b == "2"));
            }
            let bytes = String::from_utf8_lossy(text.as_bytes().get(..cut).unwrap());
            WorldPlace::object("f", &bytes).at(Spot::Later("b", "gatéways"));
        }
        assert_eq!(WorldPlace::object("f", text).at(Spot::Value("b")), "f:2:7");
    }

    /// The header line is the one the reader took (comments and blank lines counted, a byte
    /// order mark not in the columns), from a file, standard input or text alike: nothing is
    /// read again.
    #[test]
    fn a_trace_header_is_placed_where_the_reader_read_it() {
        let header = "  {\"trace\": 1, \"world\": {\"gateways\": 0}}";
        for (before, line) in [
            ("\u{feff}# made by hand\n\n \t\r\n", 4),
            ("\u{feff}", 1),
            ("", 1),
        ] {
            let text = format!("{before}{header}\r\n{{}}\n");
            let error = crate::trace::read_str(&text, "t.jsonl").unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("t.jsonl:{}:", line + 1))
            );
            let trace =
                crate::trace::read_str(&format!("{before}{header}\r\n"), "<stdin>").unwrap();
            let world = trace.header.world.unwrap();
            let place = WorldPlace::trace_header("-", &world);
            assert_eq!(
                place.at(Spot::Value("gateways")),
                format!("<stdin>:{line}:38")
            );
            assert_eq!(place.written("gateways"), Some("0"));
        }
        // Only the world's own text is kept, not the rest of the line (a note of any size).
        let note = "n".repeat(1_000);
        let line =
            format!("{{\"trace\": 1, \"note\": \"{note}\", \"world\": {{\"gateways\": 0}}}}");
        let trace = crate::trace::read_str(&format!("\u{feff}{line}\n"), "t.jsonl").unwrap();
        let world = trace.header.world.unwrap();
        let written = world.written.as_ref().unwrap();
        assert_eq!((written.line, written.column), (1, 1_035));
        assert_eq!(written.text, "{\"gateways\": 0}");
        let place = WorldPlace::trace_header("t.jsonl", &world);
        assert_eq!(place.at(Spot::Object), "t.jsonl:1:1035");
        assert_eq!(place.at(Spot::Value("gateways")), "t.jsonl:1:1048");
        assert_eq!(place.written("gateways"), Some("0"));
        let built = HeaderWorld::from(serde_json::Map::new());
        assert_eq!(
            WorldPlace::trace_header("t.jsonl", &built).at(Spot::Object),
            "t.jsonl"
        );
    }
}
