//! A scenario: a trace and the world it is replayed in, bundled as a small JSON file
//! (`sim/scenarios/*.json`, `docs/trace-format.md` §3):
//!
//! ```json
//! {"trace": "anthropic-tier1-batch.jsonl", "about": "…", "world": {"gateways": 4, "assign": "skewed"}}
//! ```
//!
//! The `world` object is the `simulate` command line written down: each key is a world flag
//! with `_` for `-`, each value its argument (`true` for a switch, an array for a repeatable
//! flag). It is parsed by the very parser of the flags ([`World`]), so a scenario means exactly
//! what the same flags mean, and an unknown key is an error, as an unknown flag is.

use std::fmt;
use std::path::Path;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::cli::CliError;
use crate::trace::strip_position;
use crate::world::{World, WorldObject, WorldPlace};

/// The scenarios compiled into the binary, by name (the file name without `.json`).
pub const BUNDLED: [(&str, &str); 16] = [
    (
        "solo-tier1-batch",
        include_str!("../../scenarios/solo-tier1-batch.json"),
    ),
    (
        "solo-openai-tpm",
        include_str!("../../scenarios/solo-openai-tpm.json"),
    ),
    (
        "solo-multi-lane",
        include_str!("../../scenarios/solo-multi-lane.json"),
    ),
    (
        "solo-prompt-caching",
        include_str!("../../scenarios/solo-prompt-caching.json"),
    ),
    (
        "shared-key",
        include_str!("../../scenarios/shared-key.json"),
    ),
    (
        "fleet-4-round-robin",
        include_str!("../../scenarios/fleet-4-round-robin.json"),
    ),
    (
        "fleet-4-skewed",
        include_str!("../../scenarios/fleet-4-skewed.json"),
    ),
    (
        "fleet-16-round-robin",
        include_str!("../../scenarios/fleet-16-round-robin.json"),
    ),
    (
        "fleet-16-skewed",
        include_str!("../../scenarios/fleet-16-skewed.json"),
    ),
    (
        "noisy-estimates",
        include_str!("../../scenarios/noisy-estimates.json"),
    ),
    (
        "low-estimates",
        include_str!("../../scenarios/low-estimates.json"),
    ),
    (
        "small-burst",
        include_str!("../../scenarios/small-burst.json"),
    ),
    (
        "tier-upgrade",
        include_str!("../../scenarios/tier-upgrade.json"),
    ),
    (
        "imperfect-headers",
        include_str!("../../scenarios/imperfect-headers.json"),
    ),
    (
        "actual-output",
        include_str!("../../scenarios/actual-output.json"),
    ),
    (
        "reserve-output",
        include_str!("../../scenarios/reserve-output.json"),
    ),
];

/// One scenario, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Its name.
    pub name: String,
    /// The file it was read from, for errors.
    pub file: String,
    /// The trace: a path or a bundled trace's name.
    pub trace: String,
    /// What it shows, in a sentence.
    pub about: String,
    /// The world.
    pub world: World,
    /// The world as flags (for reports).
    pub flags: Vec<String>,
}

/// What a scenario file holds, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario object")]
struct RawScenario {
    trace: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    world: WorldObject,
}

/// A scenario read as a JSON object only: serde reads a struct from an array too (its fields in
/// order), so `["t.jsonl", "about", {}]` would pass for a scenario.
struct ScenarioObject(RawScenario);

impl<'de> Deserialize<'de> for ScenarioObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = ScenarioObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a scenario object {"trace": …, "about": …, "world": {…}}"#)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ScenarioObject, A::Error> {
                RawScenario::deserialize(MapAccessDeserializer::new(map)).map(ScenarioObject)
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Parses the scenario text `text` of file `file`, named `name`.
///
/// # Errors
///
/// [`CliError::Input`] naming the file (with line and column for JSON errors) and what is
/// wrong: bad JSON, not an object, an unknown field, a world key unknown or given twice, a bad
/// value.
///
/// # Examples
///
/// ```
/// use headroom_sim::matrix::parse_scenario;
///
/// let text = r#"{"trace": "openai-tpm.jsonl", "world": {"gateways": 4, "stale_headers": true}}"#;
/// let scenario = parse_scenario("fleet", text, "fleet.json").unwrap();
/// assert_eq!((scenario.world.gateways, scenario.world.stale_headers), (4, true));
/// assert!(parse_scenario("x", r#"{"trace": "t", "world": {"gateway": 4}}"#, "x.json").is_err());
/// let error = parse_scenario("x", r#"["t", "", {}]"#, "x.json").unwrap_err().to_string();
/// assert!(error.starts_with("x.json:1:1: invalid type: sequence, expected a scenario object"));
/// ```
pub fn parse_scenario(name: &str, text: &str, file: &str) -> Result<Scenario, CliError> {
    let ScenarioObject(raw) = serde_json::from_str(text).map_err(|error| {
        CliError::Input(format!(
            "{file}:{}:{}: {}",
            error.line(),
            error.column().max(1),
            strip_position(&error)
        ))
    })?;
    let (world, flags) = World::from_map(&raw.world.0, &WorldPlace::object(file, text))?;
    Ok(Scenario {
        name: name.to_owned(),
        file: file.to_owned(),
        trace: raw.trace,
        about: raw.about,
        world,
        flags,
    })
}

/// Where the trace `trace` of the scenario file `file` is: a relative path beside the scenario
/// file when a file is there (a scenario is kept beside its trace), else `trace` as written,
/// which [`crate::simulate::load_with`] reads as a path relative to the working directory, else
/// as a bundled trace's name.
///
/// # Examples
///
/// ```
/// use headroom_sim::matrix::resolve_trace;
///
/// // Nothing named so beside the scenario: the trace as written (a bundled trace here).
/// assert_eq!(resolve_trace("sc/fleet.json", "anthropic-tier1-batch.jsonl"), "anthropic-tier1-batch.jsonl");
/// ```
pub fn resolve_trace(file: &str, trace: &str) -> String {
    let trace_path = Path::new(trace);
    if trace_path.is_absolute() {
        return trace.to_owned();
    }
    let beside = Path::new(file)
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .map(|folder| folder.join(trace_path));
    match beside {
        Some(path) if path.is_file() => path.to_string_lossy().into_owned(),
        _ => trace.to_owned(),
    }
}

/// Every bundled scenario, parsed.
///
/// # Errors
///
/// [`CliError::Input`] if a bundled file is broken (a test keeps them valid).
pub fn bundled() -> Result<Vec<Scenario>, CliError> {
    BUNDLED
        .iter()
        .map(|(name, text)| parse_scenario(name, text, &format!("sim/scenarios/{name}.json")))
        .collect()
}
