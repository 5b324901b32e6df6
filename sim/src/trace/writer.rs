//! [`Trace`] → v1 text, such that [`read`](super::read) gives the same trace back.
//!
//! The header line always comes first (`{"trace":1,…}`), then one compact JSON object per
//! event, fields in the contract's order (`t`, `type`, `id`, …). Times are printed in the
//! trace's own [`TimeForm`]: seconds as the shortest number that reads back to the same
//! microsecond, RFC 3339 as UTC by the core's [`headroom::datetime::Rfc3339`] (a fraction only
//! when needed, trailing zeros trimmed).
//!
//! Headers that share a name (exactly, case included) are written as one key with an array of
//! values, at the first one's place: JSON objects with repeated keys are legal but many tools
//! keep only the last. So `[(a, 1), (b, 2), (a, 3)]` reads back as `[(a, 1), (a, 3), (b, 2)]`;
//! header lists whose equal names are adjacent (what the reader and the HAR importer produce)
//! round-trip exactly.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use headroom::datetime::Rfc3339;
use headroom::time::UnixTime;

use super::raw::micros_to_seconds;
use super::{Event, TimeForm, Trace, Usage};

/// Writes `trace` as v1 JSON Lines to `out`.
///
/// # Errors
///
/// Whatever writing to `out` returns.
///
/// # Examples
///
/// ```
/// let mut out = Vec::new();
/// headroom_sim::trace::write(&headroom_sim::trace::Trace::default(), &mut out).unwrap();
/// assert_eq!(out, b"{\"trace\":1}\n");
/// ```
pub fn write(trace: &Trace, mut out: impl Write) -> io::Result<()> {
    let header = OutHeader {
        trace: 1,
        provider: trace.header.provider.as_deref(),
        model: trace.header.model.as_deref(),
        note: trace.header.note.as_deref(),
        world: trace.header.world.as_ref().map(|world| &world.map),
    };
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    for event in &trace.events {
        let t = match trace.time_form {
            TimeForm::Seconds => OutTime::Seconds(micros_to_seconds(event.t_us())),
            TimeForm::Rfc3339 { origin } => {
                let at = UnixTime::from_micros(origin.as_micros().saturating_add(event.t_us()));
                OutTime::Text(Rfc3339(at).to_string())
            }
        };
        match event {
            Event::Request(request) => serde_json::to_writer(
                &mut out,
                &OutRequest {
                    t,
                    kind: "request",
                    id: &request.id,
                    lane: request.lane.as_deref(),
                    input_tokens: request.input_tokens,
                    max_tokens: request.max_tokens,
                },
            )?,
            Event::Response(response) => serde_json::to_writer(
                &mut out,
                &OutResponse {
                    t,
                    kind: "response",
                    id: &response.id,
                    status: response.status,
                    headers: OutHeaders(&response.headers),
                    usage: response.usage.as_ref().map(OutUsage),
                },
            )?,
        }
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes `trace` to a new file at `path` (replacing any), or to standard output for `-`.
///
/// # Errors
///
/// The file cannot be created or written.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.jsonl");
/// headroom_sim::trace::write_file(&headroom_sim::trace::Trace::default(), &path).unwrap();
/// assert!(headroom_sim::trace::read_file(&path).unwrap().events.is_empty());
/// ```
pub fn write_file(trace: &Trace, path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if path == Path::new("-") {
        return write(trace, io::stdout().lock());
    }
    write(trace, BufWriter::new(File::create(path)?))
}

/// The trace as v1 text, one line per event after the header.
///
/// # Examples
///
/// ```
/// let text = headroom_sim::trace::to_jsonl(&headroom_sim::trace::Trace::default());
/// assert_eq!(text, "{\"trace\":1}\n");
/// ```
pub fn to_jsonl(trace: &Trace) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and the output is UTF-8 JSON.
    let _ = write(trace, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Serialize)]
struct OutHeader<'a> {
    trace: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    world: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OutTime {
    Seconds(f64),
    Text(String),
}

#[derive(Serialize)]
struct OutRequest<'a> {
    t: OutTime,
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    lane: Option<&'a str>,
    input_tokens: u64,
    max_tokens: u64,
}

#[derive(Serialize)]
struct OutResponse<'a> {
    t: OutTime,
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    status: u16,
    headers: OutHeaders<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OutUsage<'a>>,
}

/// Header pairs as a JSON object, equal names grouped into an array at the first's place.
struct OutHeaders<'a>(&'a [(String, String)]);

impl Serialize for OutHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for (name, value) in self.0 {
            match groups.iter_mut().find(|(seen, _)| *seen == name) {
                Some((_, values)) => values.push(value),
                None => groups.push((name, vec![value])),
            }
        }
        let mut map = serializer.serialize_map(Some(groups.len()))?;
        for (name, values) in &groups {
            match values.as_slice() {
                [one] => map.serialize_entry(name, one)?,
                many => map.serialize_entry(name, many)?,
            }
        }
        map.end()
    }
}

/// All four usage counts, always written.
struct OutUsage<'a>(&'a Usage);

impl Serialize for OutUsage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("input_tokens", &self.0.input_tokens)?;
        map.serialize_entry("output_tokens", &self.0.output_tokens)?;
        map.serialize_entry("cache_read_input_tokens", &self.0.cache_read_input_tokens)?;
        map.serialize_entry(
            "cache_creation_input_tokens",
            &self.0.cache_creation_input_tokens,
        )?;
        map.end()
    }
}
