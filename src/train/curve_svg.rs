//! The training curve as SVG (written by hand, as `grad::flow_svg`): the
//! training loss per epoch (left panel) and the training and held-out
//! accuracy per epoch (right panel).

use std::fmt::Write;

use super::trainer::EpochReport;

const PANEL_W: f64 = 340.0;
const PANEL_H: f64 = 260.0;
const LEFT: f64 = 60.0;
const GAP: f64 = 80.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const LOSS: &str = "#d62728";
const TRAIN: &str = "#1f77b4";
const TEST: &str = "#2ca02c";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One panel: axes from 0 to `hi` (ticks every `hi / 4`), epochs along x,
/// and one line per `(colour, label, values)`.
fn panel(
    s: &mut String,
    x0: f64,
    title: &str,
    hi: f64,
    percent: bool,
    lines: &[(&str, &str, Vec<f64>)],
) {
    let epochs = lines.iter().map(|l| l.2.len()).max().unwrap_or(0).max(1);
    let x = |i: usize| {
        if epochs == 1 {
            x0 + PANEL_W / 2.0
        } else {
            x0 + PANEL_W * i as f64 / (epochs - 1) as f64
        }
    };
    let y = |v: f64| TOP + PANEL_H * (1.0 - (v / hi).clamp(0.0, 1.0));
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="14">{}</text>"#,
        x0 + PANEL_W / 2.0,
        TOP - 14.0,
        escape(title)
    );
    for k in 0..=4 {
        let v = hi * f64::from(k) / 4.0;
        let yy = y(v);
        let label = if percent {
            format!("{:.0}%", v * 100.0)
        } else {
            format!("{v:.2}")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            x0 + PANEL_W,
            x0 - 6.0,
            yy + 4.0
        );
    }
    let step = epochs.div_ceil(10).max(1);
    for i in (0..epochs).step_by(step) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            TOP + PANEL_H + 16.0,
            i + 1
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{x0}" y="{TOP}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="middle">epoch</text>"##,
        x0 + PANEL_W / 2.0,
        TOP + PANEL_H + 34.0
    );
    for (k, (colour, label, values)) in lines.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let lx = x0 + 10.0 + 130.0 * k as f64;
        let ly = TOP + PANEL_H + 50.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(label)
        );
    }
}

/// The chart of a run's epochs, titled with the model's name, as an SVG document.
pub fn curve_svg(model: &str, epochs: &[EpochReport]) -> String {
    let width = LEFT + 2.0 * PANEL_W + GAP + 30.0;
    let height = TOP + PANEL_H + BOTTOM + 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let loss: Vec<f64> = epochs.iter().map(|e| e.train_loss).collect();
    let test_loss: Vec<f64> = epochs.iter().map(|e| e.test_loss).collect();
    let hi = loss
        .iter()
        .chain(&test_loss)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let hi = if hi > 0.0 { hi * 1.05 } else { 1.0 };
    panel(
        &mut s,
        LEFT,
        &format!("{model}: cross-entropy"),
        hi,
        false,
        &[(LOSS, "training", loss), (TEST, "held out", test_loss)],
    );
    panel(
        &mut s,
        LEFT + PANEL_W + GAP,
        &format!("{model}: accuracy"),
        1.0,
        true,
        &[
            (
                TRAIN,
                "training",
                epochs.iter().map(|e| e.train_accuracy).collect(),
            ),
            (
                TEST,
                "held out",
                epochs.iter().map(|e| e.test_accuracy).collect(),
            ),
        ],
    );
    s.push_str("</svg>\n");
    s
}
