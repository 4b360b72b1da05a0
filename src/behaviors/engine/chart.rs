//! Charts for people (the `report` kind): followers and AXP over the last
//! days, and the top posts by engagement, as one PNG of the configured size.
//! Text is drawn with a font built into the binary (DejaVu Sans,
//! `assets/fonts`), so no system font library is needed.

use plotters::prelude::*;

/// What the chart shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartData {
    /// (day label, followers) for the days with a figure.
    pub followers: Vec<(String, u64)>,
    /// (day label, AXP total at the end of that day).
    pub xp: Vec<(String, u64)>,
    /// (post label, engagement) of the top posts, best first.
    pub top: Vec<(String, u64)>,
    pub title: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the chart could not be drawn: {0}")]
pub struct ChartError(String);

static FONT: std::sync::Once = std::sync::Once::new();

fn font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is built in and known good: a failure here would be a build defect.
            let _ = plotters::style::register_font("sans-serif", style, bytes);
        }
    });
}

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// The chart as PNG bytes, drawn on a blocking thread: drawing and encoding
/// take milliseconds of CPU, which would hold up every agent on the daemon's
/// runtime (one worker thread by default).
pub async fn draw(data: ChartData, width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    tokio::task::spawn_blocking(move || render(&data, width, height)).await.map_err(err)?
}

/// The chart as PNG bytes of `width` x `height` pixels.
pub fn render(data: &ChartData, width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    font();
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root.titled(&data.title, ("sans-serif", 20).into_font()).map_err(err)?;
        let (upper, lower) = root.split_vertically(height.saturating_sub(30) / 2);
        let (left, right) = upper.split_horizontally(width / 2);
        line(&left, "Followers", &data.followers, &BLUE)?;
        line(&right, "AXP", &data.xp, &RED)?;
        bars(&lower, "Top posts by engagement (likes + comments + reposts)", &data.top)?;
        root.present().map_err(err)?;
    }
    let img = image::RgbImage::from_raw(width, height, rgb).ok_or_else(|| err("buffer size"))?;
    let mut out = std::io::Cursor::new(vec![]);
    img.write_to(&mut out, image::ImageFormat::Png).map_err(err)?;
    Ok(out.into_inner())
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn line(area: &Area<'_>, caption: &str, points: &[(String, u64)], color: &RGBColor) -> Result<(), ChartError> {
    let n = points.len().max(1);
    let lo = points.iter().map(|p| p.1).min().unwrap_or(0);
    let hi = points.iter().map(|p| p.1).max().unwrap_or(1).max(lo + 1);
    let pad = ((hi - lo) / 10).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0..n, lo.saturating_sub(pad)..hi + pad)
        .map_err(err)?;
    let labels: Vec<String> = points.iter().map(|p| p.0.clone()).collect();
    chart.configure_mesh().x_labels(n.min(6)).x_label_formatter(&|i| labels.get(*i).cloned().unwrap_or_default()).draw().map_err(err)?;
    chart.draw_series(LineSeries::new(points.iter().enumerate().map(|(i, p)| (i, p.1)), color.stroke_width(2))).map_err(err)?;
    chart.draw_series(points.iter().enumerate().map(|(i, p)| Circle::new((i, p.1), 3, color.filled()))).map_err(err)?;
    Ok(())
}

fn bars(area: &Area<'_>, caption: &str, top: &[(String, u64)]) -> Result<(), ChartError> {
    let n = top.len().max(1);
    let hi = top.iter().map(|p| p.1).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d((0..n).into_segmented(), 0..hi + hi / 10 + 1)
        .map_err(err)?;
    let labels: Vec<String> = top.iter().map(|p| p.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(err)?;
    chart
        .draw_series(
            top.iter()
                .enumerate()
                .map(|(i, p)| Rectangle::new([(SegmentValue::Exact(i), 0), (SegmentValue::Exact(i + 1), p.1)], GREEN.mix(0.7).filled())),
        )
        .map_err(err)?;
    Ok(())
}

impl From<ChartError> for super::error::BehaviorError {
    fn from(e: ChartError) -> Self {
        super::error::BehaviorError::new(super::error::ErrorKind::Chart, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_a_png_of_the_asked_size_with_something_drawn() {
        let data = ChartData {
            followers: (1..=7).map(|d| (format!("11-{d:02}"), 10 + d * 3)).collect(),
            xp: (1..=7).map(|d| (format!("11-{d:02}"), 100 * d)).collect(),
            top: vec![("post_1".into(), 9), ("post_2".into(), 4)],
            title: "@bot, last 7 days".into(),
        };
        let png = render(&data, 640, 400).unwrap();
        let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (640, 400));
        let colored = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(colored > 640 * 400 / 50, "lines, bars and text drawn ({colored} pixels)");
        // No data at all still draws (empty axes), it does not fail.
        assert!(render(&ChartData::default(), 300, 200).is_ok());
    }
}
