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

use serde::Deserialize;
use serde_json::Value;

use crate::cli::CliError;
use crate::world::World;

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
    /// The trace: a path or a bundled trace's name.
    pub trace: String,
    /// What it shows, in a sentence.
    pub about: String,
    /// The world.
    pub world: World,
    /// The world as flags (for reports).
    pub flags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    trace: String,
    #[serde(default)]
    about: String,
    #[serde(default)]
    world: serde_json::Map<String, Value>,
}

/// Parses the scenario text `text` of file `file`, named `name`.
///
/// # Errors
///
/// [`CliError::Input`] naming the file (with line and column for JSON errors) and what is
/// wrong: bad JSON, an unknown field or world key, a bad value.
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
/// ```
pub fn parse_scenario(name: &str, text: &str, file: &str) -> Result<Scenario, CliError> {
    let raw: RawScenario = serde_json::from_str(text).map_err(|error| {
        CliError::Input(format!(
            "{file}:{}:{}: {error}",
            error.line(),
            error.column()
        ))
    })?;
    let (world, flags) = World::from_map(&raw.world, file)?;
    Ok(Scenario {
        name: name.to_owned(),
        trace: raw.trace,
        about: raw.about,
        world,
        flags,
    })
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
