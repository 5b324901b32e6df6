//! `--plot OUT.svg`: each provider bucket's level over time and the 429s, one panel per
//! strategy (plotters, SVG backend only).
//!
//! The panels are read against each other, so they share one time axis: from 0 to the latest
//! finish of any strategy, in seconds of the simulation's clock. A level is drawn as a fraction
//! of the bucket's capacity, 1 full and 0 empty; the provider's debt (actual output above the
//! reservation, a level below 0) is drawn at 0, so every panel's y range is the same 0 to 1.
//! 429s are red dots along the top, listed in each panel's legend with their count.
//!
//! The SVG is drawn in memory and written in one go, so a path that cannot be written is
//! reported as such and leaves no partial file.

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

/// A level sample as a point: seconds, and the level as a fraction of capacity in `0..=1`.
#[expect(clippy::float_arithmetic, reason = "plot coordinates only")]
fn coordinates(t_us: u64, level_ppm: i64) -> (f64, f64) {
    (t_us as f64 / 1e6, (level_ppm as f64 / 1e6).clamp(0.0, 1.0))
}

/// The end of the shared time axis, in seconds: the latest finish of any run, plus one second
/// so the last marks are not on the frame.
#[expect(clippy::float_arithmetic, reason = "plot coordinates only")]
fn axis_end_s(workload: &Workload, outcomes: &[(StrategyName, RunOutcome)]) -> f64 {
    let first = workload.first_arrival_us();
    let last = outcomes
        .iter()
        .map(|(_, outcome)| first.saturating_add(outcome.makespan_us))
        .max()
        .unwrap_or(first);
    last as f64 / 1e6 + 1.0
}

/// Writes the plot of `outcomes` (runs recorded with levels) to `path`.
///
/// # Errors
///
/// `cannot write the plot: …` with the system's reason when the file cannot be written (the
/// caller prefixes the path), or the drawing backend's message.
pub fn write_svg(
    path: &Path,
    workload: &Workload,
    outcomes: &[(StrategyName, RunOutcome)],
) -> Result<(), String> {
    let svg = render_svg(workload, outcomes)?;
    std::fs::write(path, svg).map_err(|error| format!("cannot write the plot: {error}"))
}

/// The plot of `outcomes` as SVG text.
fn render_svg(
    workload: &Workload,
    outcomes: &[(StrategyName, RunOutcome)],
) -> Result<String, String> {
    let panels = outcomes.len().max(1);
    let height = u32::try_from(panels * 260).unwrap_or(u32::MAX);
    let mut svg = String::new();
    draw(
        SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area(),
        workload,
        outcomes,
    )?;
    Ok(svg)
}

/// Draws every panel on `root`.
fn draw(
    root: DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    workload: &Workload,
    outcomes: &[(StrategyName, RunOutcome)],
) -> Result<(), String> {
    let panels = outcomes.len().max(1);
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels, 1));
    let end = axis_end_s(workload, outcomes);
    for ((name, outcome), area) in outcomes.iter().zip(areas) {
        let mut chart = ChartBuilder::on(&area)
            .caption(
                format!("{} ({} × 429)", name.name(), outcome.rate_limited),
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0f64..end, 0f64..1.1f64)
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
            .map_err(|e| e.to_string())?
            .label(format!("429 ({})", outcome.rate_limited))
            .legend(|(x, y)| Circle::new((x + 8, y), 3, RED.filled()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(makespan_us: u64, rate_limited_at: Vec<u64>) -> RunOutcome {
        RunOutcome {
            makespan_us,
            rate_limited: rate_limited_at.len() as u64,
            rate_limited_at,
            ..RunOutcome::default()
        }
    }

    #[test]
    fn debt_is_drawn_at_zero_and_fullness_at_one() {
        assert_eq!(coordinates(2_500_000, -400_000), (2.5, 0.0));
        assert_eq!(coordinates(0, 1_200_000), (0.0, 1.0));
        assert_eq!(coordinates(0, 250_000), (0.0, 0.25));
    }

    #[test]
    fn panels_share_the_latest_finish_as_their_axis() {
        let runs = [
            (StrategyName::Headroom, outcome(9_000_000, Vec::new())),
            (StrategyName::Sdk, outcome(2_000_000, vec![1_000_000])),
        ];
        assert_eq!(axis_end_s(&Workload::default(), &runs), 10.0);
        let svg = render_svg(&Workload::default(), &runs).unwrap();
        // One axis for both: the short run's panel is labelled out to the long run's end.
        assert_eq!(svg.matches("\n9.0\n").count(), 2, "{svg}");
        assert!(svg.contains("429 (0)") && svg.contains("429 (1)"), "{svg}");
    }

    #[test]
    fn an_unwritable_path_says_so() {
        let error = write_svg(
            Path::new("/no/such/dir/plot.svg"),
            &Workload::default(),
            &[(StrategyName::Headroom, outcome(1_000_000, Vec::new()))],
        )
        .unwrap_err();
        assert!(error.starts_with("cannot write the plot: "), "{error}");
        assert!(!error.contains("backend"), "{error}");
    }
}
