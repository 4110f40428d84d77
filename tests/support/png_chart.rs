//! Checks of a PNG chart written by `resnetc gradflow -o … .png` or
//! `resnetc train --plot … .png`: it decodes, has the SVG's pixel size, is
//! not blank, and has dark (text) pixels in the title band at the top.
#![allow(dead_code)]

/// The `width` and `height` attributes of an SVG document's root.
pub fn svg_size(svg: &str) -> (u32, u32) {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let attr = |n: &str| {
        doc.root_element()
            .attribute(n)
            .unwrap()
            .parse::<f64>()
            .unwrap() as u32
    };
    (attr("width"), attr("height"))
}

/// Asserts the PNG `bytes` decode to a `size` image that is not blank and
/// has dark text pixels in rows `title_rows` (the chart's title).
pub fn check_png(bytes: &[u8], size: (u32, u32), title_rows: std::ops::Range<u32>) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgba8();
    assert_eq!(img.dimensions(), size, "the SVG's size");
    let distinct: std::collections::HashSet<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 10, "blank: {} colours", distinct.len());
    let dark = title_rows
        .flat_map(|y| (0..size.0).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = img.get_pixel(x, y).0;
            p[3] > 200 && p[0] < 90 && p[1] < 90 && p[2] < 90
        })
        .count();
    assert!(dark > 100, "{dark} dark pixels in the title band");
}
