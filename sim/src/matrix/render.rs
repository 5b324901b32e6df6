//! The matrix as text: an aligned table, JSON, Markdown.

use std::fmt::Write as _;

use super::{Cell, Matrix};

const HEADER: [&str; 10] = [
    "scenario",
    "strategy",
    "done",
    "gave up",
    "429s",
    "429/100",
    "makespan s",
    "× bound",
    "mean wait s",
    "p99 wait s",
];

impl Matrix {
    fn rows(&self) -> Vec<[String; 10]> {
        let mut rows = Vec::new();
        for scenario in &self.scenarios {
            for (index, cell) in scenario.cells.iter().enumerate() {
                let name = if index == 0 {
                    scenario.scenario.clone()
                } else {
                    String::new()
                };
                rows.push(row(name, cell, scenario.requests));
            }
        }
        rows
    }

    /// The matrix as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The matrix as an aligned table, one line per scenario × strategy.
    pub fn to_table(&self) -> String {
        let rows = self.rows();
        let mut widths = HEADER.map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let _ = writeln!(out, "seed: {}", self.seed);
        for scenario in &self.scenarios {
            let world = if scenario.world.is_empty() {
                "ideal"
            } else {
                &scenario.world
            };
            let _ = writeln!(
                out,
                "{}: {} ({}, {} requests, bound {}; {world})",
                scenario.scenario,
                scenario.about,
                scenario.trace,
                scenario.requests,
                bound_text(scenario.bound_s)
            );
        }
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
                if index < 2 {
                    text.push_str(cell);
                    text.push_str(&pad);
                    text.push_str("  ");
                } else {
                    text.push_str(&pad);
                    text.push_str(cell);
                    text.push_str("  ");
                }
            }
            let _ = writeln!(out, "{}", text.trim_end());
        };
        line(&HEADER.map(str::to_owned));
        for row in &rows {
            line(row);
        }
        out
    }

    /// The matrix as Markdown: the scenarios' descriptions, then one table.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | trace and world (`simulate` flags) | what it shows |"
        );
        let _ = writeln!(out, "|---|---|---|");
        for scenario in &self.scenarios {
            let world = if scenario.world.is_empty() {
                "—".to_owned()
            } else {
                format!("`{}`", scenario.world)
            };
            let _ = writeln!(
                out,
                "| {} | `{}` {world} | {} ({} requests, bound {}) |",
                scenario.scenario,
                scenario.trace,
                scenario.about,
                scenario.requests,
                bound_text(scenario.bound_s)
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "| {} |", HEADER.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "--:|".repeat(HEADER.len() - 2));
        for row in self.rows() {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }
}

fn row(scenario: String, cell: &Cell, requests: u64) -> [String; 10] {
    [
        scenario,
        cell.strategy.to_owned(),
        format!("{}/{requests}", cell.completed),
        cell.gave_up.to_string(),
        cell.rate_limited.to_string(),
        format!("{:.1}", cell.rate_limited_per_100),
        format!("{:.1}", cell.makespan_s),
        cell.x_bound
            .map_or_else(|| "—".to_owned(), |x| format!("{x:.2}")),
        format!("{:.1}", cell.wait_mean_s),
        format!("{:.1}", cell.wait_p99_s),
    ]
}

/// A scenario's bound as the table and Markdown show it.
fn bound_text(bound_s: Option<f64>) -> String {
    bound_s.map_or_else(
        || "none: a request can never be admitted".to_owned(),
        |bound| format!("{bound:.1} s"),
    )
}
