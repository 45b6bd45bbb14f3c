//! SVG charts drawn with `plotters`: bars per backend (log scale) and latency against
//! dataset size. Each returns the `<svg>` text.

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::format::{calls_per_second, nanos};

/// One bar: its label and value (`None`: not measured, drawn as a note).
#[derive(Debug, Clone)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height, or `None`.
    pub value: Option<f64>,
    /// Fill colour.
    pub color: RGBColor,
}

/// One line: a backend's latency at each dataset size.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Line colour.
    pub color: RGBColor,
    /// `(records, nanoseconds)`, ascending by records.
    pub points: Vec<(f64, f64)>,
}

/// How to print an axis value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds, printed as ns/µs/ms/s.
    Nanos,
    /// Calls per second.
    Rate,
    /// A plain factor (`1.5x`).
    Factor,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Nanos => nanos(v),
            Unit::Rate => calls_per_second(v),
            Unit::Factor => format!("{v:.2}x"),
        }
    }
}

/// A colour per backend (stable across charts).
pub fn color_of(backend: &str) -> RGBColor {
    const PALETTE: [RGBColor; 9] = [
        RGBColor(78, 121, 167),
        RGBColor(242, 142, 43),
        RGBColor(225, 87, 89),
        RGBColor(118, 183, 178),
        RGBColor(89, 161, 79),
        RGBColor(237, 201, 72),
        RGBColor(176, 122, 161),
        RGBColor(255, 157, 167),
        RGBColor(156, 117, 95),
    ];
    let index = crate::ids::BACKENDS
        .iter()
        .position(|b| *b == backend)
        .unwrap_or(8);
    PALETTE[index]
}

const SIZE: (u32, u32) = (640, 380);

/// Log-scale bounds that leave room around `values`.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (1.0, 10.0);
    }
    (lo / 2.5, hi * 2.5)
}

/// A bar chart on a log scale; `reference` draws a dashed level (e.g. 1x).
pub fn bars(
    title: &str,
    y_desc: &str,
    unit: Unit,
    bars: &[Bar],
    reference: Option<f64>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw_bars(&root, title, y_desc, unit, bars, reference)
            .map_err(|e| format!("chart {title:?}: {e}"))?;
        root.present()
            .map_err(|e| format!("chart {title:?}: {e}"))?;
    }
    Ok(svg)
}

fn draw_bars(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    unit: Unit,
    bars: &[Bar],
    reference: Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (lo, hi) = log_bounds(bars.iter().filter_map(|b| b.value).chain(reference));
    let n = bars.len().max(1) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(110)
        .y_label_area_size(80)
        .build_cartesian_2d((0..n).into_segmented(), (lo..hi).log_scale())?;
    let label_of = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) => bars
            .get(*i as usize)
            .map(|b| b.label.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&label_of)
        .x_label_style(
            ("sans-serif", 12)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc(y_desc)
        .y_label_formatter(&|v| unit.show(*v))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().filter_map(|(i, bar)| {
        let i = i as i32;
        bar.value.map(|v| {
            let mut rect = Rectangle::new(
                [
                    (SegmentValue::Exact(i), lo),
                    (SegmentValue::Exact(i + 1), v),
                ],
                bar.color.filled(),
            );
            rect.set_margin(0, 0, 8, 8);
            rect
        })
    }))?;
    let note = ("sans-serif", 11)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(bars.iter().enumerate().map(|(i, bar)| {
        let text = bar
            .value
            .map_or_else(|| "not measured".to_owned(), |v| unit.show(v));
        let y = bar.value.map_or(lo * 1.3, |v| v * 1.15);
        Text::new(text, (SegmentValue::CenterOf(i as i32), y), note.clone())
    }))?;
    if let Some(level) = reference {
        chart.draw_series(DashedLineSeries::new(
            [
                (SegmentValue::Exact(0), level),
                (SegmentValue::Exact(n), level),
            ],
            6,
            4,
            BLACK.stroke_width(1),
        ))?;
    }
    Ok(())
}

/// Latency against dataset size, both on log scales, one line per series.
pub fn growth(title: &str, series: &[Series]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw_growth(&root, title, series).map_err(|e| format!("chart {title:?}: {e}"))?;
        root.present()
            .map_err(|e| format!("chart {title:?}: {e}"))?;
    }
    Ok(svg)
}

fn draw_growth(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let (x_lo, x_hi) = log_bounds(points().map(|p| p.0));
    let (y_lo, y_hi) = log_bounds(points().map(|p| p.1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("records in the store")
        .y_desc("median latency")
        .x_label_formatter(&|v| crate::ids::dataset_label(v.round() as u64))
        .y_label_formatter(&|v| nanos(*v))
        .draw()?;
    for s in series {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 11))
        .draw()?;
    Ok(())
}
