//! Charts as SVG or PNG, the format chosen by the output file's extension.
//!
//! A PNG is the chart's SVG rasterised by `resvg`, with the embedded DejaVu
//! Sans subset (`third_party/dejavu/`) as the only font: no system font is
//! looked up, so the text renders the same on every machine, with or without
//! fonts installed.

use std::path::Path;
use std::sync::Arc;

use resvg::{tiny_skia, usvg};

/// The embedded font (DejaVu Sans, Latin subset; see `third_party/dejavu/README.md`).
pub const CHART_FONT: &[u8] = include_bytes!("../../third_party/dejavu/DejaVuSans-subset.ttf");

/// The family name of [`CHART_FONT`], used for every `font-family` of a chart.
const FAMILY: &str = "DejaVu Sans";

/// A chart file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartFormat {
    /// SVG text.
    Svg,
    /// A PNG image of the SVG, one pixel per SVG unit.
    Png,
}

impl ChartFormat {
    /// The format named by `path`'s extension (`.svg` or `.png`, any case);
    /// `None` for any other extension or none.
    pub fn from_path(path: &Path) -> Option<ChartFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(ChartFormat::Svg),
            "png" => Some(ChartFormat::Png),
            _ => None,
        }
    }
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The SVG did not parse.
    #[error("internal error: the chart's SVG does not parse: {0} (this is a bug in resnetc)")]
    Svg(String),
    /// The chart's size is not a positive pixel size.
    #[error("internal error: the chart has no pixel size (this is a bug in resnetc)")]
    Size,
    /// PNG encoding failed.
    #[error("cannot encode the chart as PNG: {0}")]
    Encode(String),
}

/// The bytes of a chart given as `svg`, in `format`.
pub fn render_chart(svg: &str, format: ChartFormat) -> Result<Vec<u8>, ChartError> {
    match format {
        ChartFormat::Svg => Ok(svg.as_bytes().to_vec()),
        ChartFormat::Png => svg_to_png(svg),
    }
}

/// Rasterises `svg` (on its own size, one pixel per unit) to PNG bytes,
/// with [`CHART_FONT`] as the only font.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, ChartError> {
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(CHART_FONT.to_vec());
    fonts.set_sans_serif_family(FAMILY);
    fonts.set_serif_family(FAMILY);
    fonts.set_monospace_family(FAMILY);
    let options = usvg::Options {
        font_family: FAMILY.to_owned(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| ChartError::Svg(e.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or(ChartError::Size)?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| ChartError::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PNG into (width, height, RGBA).
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("decodes")
            .to_rgba8();
        (img.width(), img.height(), img.into_raw())
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(
            ChartFormat::from_path(Path::new("a/flow.svg")),
            Some(ChartFormat::Svg)
        );
        assert_eq!(
            ChartFormat::from_path(Path::new("c.PNG")),
            Some(ChartFormat::Png)
        );
        for bad in ["c.jpg", "c", "c.svg.txt", "png"] {
            assert_eq!(ChartFormat::from_path(Path::new(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_embedded_font_is_small_and_is_the_only_one() {
        // The size third_party/dejavu/README.md states.
        assert_eq!(CHART_FONT.len(), 25_036);
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(CHART_FONT.to_vec());
        let families: Vec<String> = db
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
            .collect();
        assert_eq!(families, [FAMILY]);
    }

    #[test]
    fn text_renders_dark_pixels_where_it_is_and_nowhere_else() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60" font-family="sans-serif" font-size="20"><rect width="100%" height="100%" fill="white"/><text x="10" y="25">Hello 1e-3</text></svg>"#;
        let (w, h, rgba) = decode(&svg_to_png(svg).expect("renders"));
        assert_eq!((w, h), (200, 60));
        let dark = |y0: u32, y1: u32| {
            (y0..y1)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, y)| rgba[((y * w + x) * 4) as usize] < 100)
                .count()
        };
        assert!(dark(0, 30) > 50, "the text's pixels: {}", dark(0, 30));
        assert_eq!(dark(30, 60), 0, "nothing below the text");
    }
}
