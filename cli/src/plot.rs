//! Charts of one or more runs: per-second p99 and max latency (log scale) above,
//! statements per second below, with the fault times as vertical lines. PNG or SVG by the
//! file's extension.
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

/// Draws `series` and `faults` (of the first series' run) into `path` (.png or .svg).
pub(crate) fn draw(
    path: &Path,
    title: &str,
    series: &[Series<'_>],
    faults: &[Event],
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
            paint(&root, title, series, faults)?;
            root.present().map_err(|e| e.to_string())
        }
        Some("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            paint(&root, title, series, faults)?;
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
