//! Charts of one or more runs: per-second p99 and max latency (log scale) above,
//! statements per second below, with the fault times as vertical lines and the library's
//! events (failover, blacklisted, back, ...) as thin ones with short labels. PNG or SVG by
//! the file's extension.
//!
//! plotters is built without its system-font support (which needs fontconfig and freetype);
//! text is drawn with a TrueType file read at run time from the usual Debian places
//! (`fonts-dejavu-core`), so the binary has no font baked in and no C dependency.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::faults::Event;
use crate::marks::Mark;
use crate::recorder::Second;

/// One line set on the chart.
pub(crate) struct Series<'a> {
    pub(crate) label: &'a str,
    pub(crate) timeline: &'a [Second],
    pub(crate) color: RGBColor,
}

/// Colours for the first and second series.
pub(crate) const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40)];

const FONT_FILES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a TrueType font as "sans-serif" once; the error says what to install.
fn font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        for file in FONT_FILES {
            if let Ok(bytes) = std::fs::read(file) {
                // Registered fonts must live for the whole process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "no TrueType font for chart text (looked for {}); install fonts-dejavu-core",
            FONT_FILES.join(", ")
        ))
    })
    .clone()
}

/// Draws `series`, `faults` and the library's events `marks` (of the first series' run) into
/// `path` (.png or .svg).
pub(crate) fn draw(
    path: &Path,
    title: &str,
    series: &[Series<'_>],
    faults: &[Event],
    marks: &[Mark],
) -> Result<(), String> {
    font()?;
    let size = (1200, 800);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            paint(&root, title, series, faults, marks)?;
            root.present().map_err(|e| e.to_string())
        }
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            paint(&root, title, series, faults, marks)?;
            root.present().map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "chart file `{}`: the name must end in .png or .svg",
            path.display()
        )),
    }
}

fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series<'_>],
    faults: &[Event],
    marks: &[Mark],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 24)).map_err(err)?;
    let (top, bottom) = root.split_vertically((root.dim_in_pixel().1 as f64 * 0.62) as u32);
    let seconds = series
        .iter()
        .map(|s| s.timeline.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let lat = |s: &Second, f: fn(&crate::recorder::Summary) -> f64| f(&s.summary);
    let max_lat = series
        .iter()
        .flat_map(|s| s.timeline.iter().map(|x| x.summary.max_ms))
        .fold(1.0_f64, f64::max);
    let min_lat = series
        .iter()
        .flat_map(|s| s.timeline.iter().map(|x| x.summary.p99_ms))
        .filter(|v| *v > 0.0)
        .fold(max_lat, f64::min)
        .min(0.5);

    // Latency, log scale.
    let mut chart = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, (min_lat * 0.8..max_lat * 1.5).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("latency per second, ms (log)")
        .x_desc("seconds since start")
        .y_label_formatter(&|v| format!("{v}"))
        .draw()
        .map_err(err)?;
    for s in series {
        let points = |f: fn(&crate::recorder::Summary) -> f64| -> Vec<(f64, f64)> {
            s.timeline
                .iter()
                .filter(|x| lat(x, f) > 0.0)
                .map(|x| (x.second as f64 + 0.5, lat(x, f)))
                .collect()
        };
        let c = s.color;
        chart
            .draw_series(LineSeries::new(points(|m| m.p99_ms), c.stroke_width(3)))
            .map_err(err)?
            .label(format!("{} p99", s.label))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3)));
        let faint = c.mix(0.45);
        chart
            .draw_series(LineSeries::new(points(|m| m.max_ms), faint.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} max", s.label))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], faint.stroke_width(2)));
    }
    event_lines(
        &mut chart,
        marks,
        (min_lat * 0.8, max_lat * 1.5),
        Some(max_lat * 1.15),
    )?;
    fault_lines(
        &mut chart,
        faults,
        (min_lat * 0.8, max_lat * 1.5),
        Some(max_lat * 1.15),
    )?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;

    // Throughput.
    let max_qps = series
        .iter()
        .flat_map(|s| s.timeline.iter().map(|x| x.summary.qps))
        .fold(1.0_f64, f64::max);
    let mut chart = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..max_qps * 1.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .y_desc("statements/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("seconds since start")
        .draw()
        .map_err(err)?;
    for s in series {
        let c = s.color;
        chart
            .draw_series(LineSeries::new(
                s.timeline
                    .iter()
                    .map(|x| (x.second as f64 + 0.5, x.summary.qps)),
                c.stroke_width(3),
            ))
            .map_err(err)?
            .label(format!("{} statements/s", s.label))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3)));
    }
    event_lines(&mut chart, marks, (0.0, max_qps * 1.1), None)?;
    fault_lines(&mut chart, faults, (0.0, max_qps * 1.1), None)?;
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

/// A vertical line at each fault, and its name near the top when `label_y` is given.
fn fault_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    faults: &[Event],
    (y0, y1): (f64, f64),
    label_y: Option<f64>,
) -> Result<(), String> {
    let mark = RGBColor(230, 120, 0);
    for f in faults {
        let x = f.at_ms as f64 / 1000.0;
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(x, y0), (x, y1)],
                mark.stroke_width(2),
            )))
            .map_err(|e| e.to_string())?;
        if let Some(y) = label_y {
            // Just right of the line, so the line does not cross the text.
            let x = x + (chart.x_range().end - chart.x_range().start) * 0.004;
            let text = format!("{} {}", f.action, f.server);
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (x, y),
                    ("sans-serif", 15).into_font().color(&mark),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Most event marks on a chart; the report lists them all.
const MAX_MARKS: usize = 20;
/// Rows of event labels under the fault labels.
const LABEL_ROWS: usize = 3;
/// Event labels in one row are at least this far apart, in seconds.
const MIN_LABEL_GAP_S: f64 = 0.5;
/// Size of the event labels, and roughly the width of one of their characters, in pixels.
const LABEL_FONT: u32 = 13;
const LABEL_CHAR_PX: f64 = 7.0;

/// A thin vertical line at each of the first [`MAX_MARKS`] event marks; with the height of
/// the fault labels (`fault_label_y`, on the latency chart), each line's label in one of
/// [`LABEL_ROWS`] rows below them, in the first row where it does not run into the previous
/// label (else the line goes without one), and a note of what was left out.
fn event_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    marks: &[Mark],
    (y0, y1): (f64, f64),
    fault_label_y: Option<f64>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let color = RGBColor(120, 60, 170);
    let (x_start, x_end) = (chart.x_range().start, chart.x_range().end);
    let on_chart: Vec<&Mark> = marks.iter().filter(|m| m.at_s() <= x_end).collect();
    let shown = &on_chart[..on_chart.len().min(MAX_MARKS)];
    for m in shown {
        let x = m.at_s();
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(x, y0), (x, y1)],
                color.mix(0.7).stroke_width(1),
            )))
            .map_err(err)?;
    }
    let Some(fault_label_y) = fault_label_y else {
        return Ok(());
    };
    let area = chart.plotting_area().strip_coord_spec();
    let (width_px, height_px) = area.dim_in_pixel();
    let base = area.get_base_pixel();
    // The first row goes below the fault labels (whose top is at `fault_label_y`).
    let top = chart.backend_coord(&(x_start, fault_label_y)).1 - base.1 + 20;
    let s_per_px = (x_end - x_start) / f64::from(width_px.max(1));
    let style = ("sans-serif", LABEL_FONT).into_font().color(&color);
    // Where each row's last label ends, in seconds.
    let mut row_end = [f64::NEG_INFINITY; LABEL_ROWS];
    let mut unlabelled = 0;
    for m in shown {
        let text = m.label_with_count();
        let width_s = (text.chars().count() as f64 * LABEL_CHAR_PX + 6.0) * s_per_px;
        // Right of the line; left of it when it would run off the chart.
        let mut from = m.at_s() + 3.0 * s_per_px;
        if from + width_s > x_end {
            from = (m.at_s() - 3.0 * s_per_px - width_s).max(x_start);
        }
        let Some(row) = row_end.iter().position(|&end| end <= from) else {
            unlabelled += 1;
            continue;
        };
        row_end[row] = from + width_s.max(MIN_LABEL_GAP_S);
        let px = chart.backend_coord(&(from, y1)).0 - base.0;
        let py = top + row as i32 * (LABEL_FONT as i32 + 4);
        area.draw(&Text::new(text, (px, py), style.clone()))
            .map_err(err)?;
    }
    let left_out = marks.len() - shown.len();
    if left_out + unlabelled > 0 {
        let note = match (left_out, unlabelled) {
            (0, 1) => "1 event mark without a label (see the report)".to_owned(),
            (0, u) => format!("{u} event marks without a label (see the report)"),
            (l, 0) => format!("{l} more events not marked (see the report)"),
            (l, u) => format!("{l} more events not marked, {u} marks without a label"),
        };
        area.draw(&Text::new(
            note,
            (6, height_px as i32 - 20),
            ("sans-serif", LABEL_FONT).into_font().color(&color),
        ))
        .map_err(err)?;
    }
    Ok(())
}

/// The legend box.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())
}
