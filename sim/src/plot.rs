//! `--plot OUT.svg`: each provider bucket's level over time and the 429s, one panel per
//! strategy (plotters, SVG backend only).
//!
//! A level is drawn as a fraction of the bucket's capacity: 1 is full, 0 empty, below 0 the
//! provider's debt (actual output above the reservation). 429s are red marks along the top.

use std::path::Path;

use headroom::LimitKind;
use plotters::prelude::*;

use crate::engine::RunOutcome;
use crate::strategy::StrategyName;
use crate::workload::Workload;

/// Most points drawn per series; denser series are thinned evenly.
const MAX_POINTS: usize = 2_000;

fn color(kind: LimitKind) -> RGBColor {
    match kind {
        LimitKind::Requests => RGBColor(31, 119, 180),
        LimitKind::InputTokens => RGBColor(44, 160, 44),
        LimitKind::OutputTokens => RGBColor(148, 103, 189),
        LimitKind::Tokens => RGBColor(255, 127, 14),
    }
}

#[expect(clippy::float_arithmetic, reason = "plot coordinates only")]
fn coordinates(t_us: u64, level_ppm: i64) -> (f64, f64) {
    (t_us as f64 / 1e6, (level_ppm as f64 / 1e6).clamp(-0.5, 1.0))
}

#[expect(clippy::float_arithmetic, reason = "plot coordinates only")]
fn seconds(us: u64) -> f64 {
    us as f64 / 1e6 + 1.0
}

/// Writes the plot of `outcomes` (runs recorded with levels) to `path`.
///
/// # Errors
///
/// The drawing backend's message when the file cannot be written.
pub fn write_svg(
    path: &Path,
    workload: &Workload,
    outcomes: &[(StrategyName, RunOutcome)],
) -> Result<(), String> {
    let panels = outcomes.len().max(1);
    let height = u32::try_from(panels * 260).unwrap_or(u32::MAX);
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels, 1));
    let first = workload.first_arrival_us();
    for ((name, outcome), area) in outcomes.iter().zip(areas) {
        let end = seconds(first.saturating_add(outcome.makespan_us));
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!("{} ({} × 429)", name.name(), outcome.rate_limited),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..end, -0.5f64..1.1f64)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("s")
            .y_desc("level / capacity")
            .draw()
            .map_err(|e| e.to_string())?;
        for (lane_index, lane) in workload.lanes.iter().enumerate() {
            for kind in LimitKind::ALL {
                if lane.limits.get(kind).is_none() {
                    continue;
                }
                let series: Vec<(f64, f64)> = outcome
                    .levels
                    .iter()
                    .filter(|s| usize::from(s.lane) == lane_index && s.kind == kind)
                    .map(|s| coordinates(s.t_us, s.level_ppm))
                    .collect();
                let step = series.len().div_ceil(MAX_POINTS).max(1);
                let label = if workload.lanes.len() > 1 {
                    format!("{} {}", lane.name, kind.name())
                } else {
                    kind.name().to_owned()
                };
                let style = color(kind);
                chart
                    .draw_series(LineSeries::new(series.into_iter().step_by(step), style))
                    .map_err(|e| e.to_string())?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
            }
        }
        let step = outcome.rate_limited_at.len().div_ceil(MAX_POINTS).max(1);
        chart
            .draw_series(
                outcome
                    .rate_limited_at
                    .iter()
                    .step_by(step)
                    .map(|&t| Circle::new((coordinates(t, 0).0, 1.05), 2, RED.filled())),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
