//! The gradient-flow chart as SVG: one line per model, the gradient norm
//! reaching each unit (log scale) against its depth.

use std::fmt::Write;

use super::flow::Flow;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLOURS: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart of `flows` (several models on one chart) as an SVG document.
/// Units whose gradient is exactly zero are left out (a log scale has no 0).
pub fn flow_svg(flows: &[Flow]) -> String {
    let norms = flows
        .iter()
        .flat_map(|f| f.rows.iter().map(|r| r.output_grad_norm))
        .filter(|&v| v > 0.0 && v.is_finite());
    let (lo, hi) = norms.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v.log10()), hi.max(v.log10()))
    });
    let (lo, hi) = if lo.is_finite() {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    } else {
        (-1.0, 0.0)
    };
    let units = flows.iter().map(|f| f.rows.len()).max().unwrap_or(1).max(2);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (units - 1) as f64;
    let y = |v: f64| TOP + plot_h * (hi - v.log10()) / (hi - lo);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">Gradient norm reaching each block, at initialisation</text>"#,
        LEFT + plot_w / 2.0
    );
    // Axes, a grid line per power of ten, and ticks along the depth.
    let mut p = lo;
    while p <= hi {
        let yy = TOP + plot_h * (hi - p) / (hi - lo);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">1e{}</text>"#,
            LEFT - 6.0,
            yy + 4.0,
            p as i64
        );
        p += 1.0;
    }
    let step = units.div_ceil(12).max(1);
    for i in (0..units).step_by(step) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{i}</text>"#,
            x(i),
            TOP + plot_h + 16.0
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">unit (block or layer with weights), from the input</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">‖∂loss/∂output‖ (log scale)</text>"#,
        TOP + plot_h / 2.0
    );
    for (k, f) in flows.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<(f64, f64)> = f
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.output_grad_norm > 0.0 && r.output_grad_norm.is_finite())
            .map(|(i, r)| (x(i), y(r.output_grad_norm)))
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (a, b) in &points {
            let _ = writeln!(
                s,
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="2.5" fill="{colour}"/>"#
            );
        }
        let ly = TOP + 14.0 + 20.0 * k as f64;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/>"#,
            lx + 20.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            lx + 26.0,
            ly + 4.0,
            escape(&f.model)
        );
    }
    s.push_str("</svg>\n");
    s
}
