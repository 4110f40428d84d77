//! `resnetc gradflow`: the table, the SVG chart (parsed back), determinism
//! and errors, on two small models (a plain and a residual stack).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const PLAIN: &str = "block unit(c) {\n  input x\n  x -> conv1: conv(c, 3, pad: 1, bias: false) -> bn1: bn -> relu\n}\nmodel plain {\n  input x: [3, 8, 8]\n  x -> conv1: conv(4, 3, pad: 1) -> layer: unit(4) * 3 -> global_avgpool -> flatten -> fc: dense(5)\n}\n";
const RESIDUAL: &str = "block unit(c) {\n  input x\n  y = x -> conv1: conv(c, 3, pad: 1, bias: false) -> bn1: bn\n  relu(x + y)\n}\nmodel residual {\n  input x: [3, 8, 8]\n  x -> conv1: conv(4, 3, pad: 1) -> layer: unit(4) * 3 -> global_avgpool -> flatten -> fc: dense(5)\n}\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gradflow(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("resnetc")
        .unwrap()
        .current_dir(root())
        .arg("gradflow")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn models(dir: &Path) -> (String, String) {
    let p = dir.join("plain.rn");
    let r = dir.join("residual.rn");
    std::fs::write(&p, PLAIN).unwrap();
    std::fs::write(&r, RESIDUAL).unwrap();
    (p.to_str().unwrap().into(), r.to_str().unwrap().into())
}

#[test]
fn table_and_chart_for_two_models() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = models(dir.path());
    let svg = dir.path().join("flow.svg");
    let (code, stdout, stderr) = gradflow(&[&p, &r, "-o", svg.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    // One row per unit: the stem conv, each outermost block instance, the classifier.
    for model in ["plain", "residual"] {
        let table = stdout.split(&format!("model {model}:")).nth(1).unwrap();
        let units: Vec<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| !l.trim().is_empty() && !l.starts_with("model"))
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(
            units,
            ["conv1", "layer.0", "layer.1", "layer.2", "fc"],
            "{stdout}"
        );
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per model");
    for l in &lines {
        assert_eq!(
            l.attribute("points").unwrap().split_whitespace().count(),
            5,
            "one point per unit"
        );
    }
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        labels.contains(&"plain") && labels.contains(&"residual"),
        "legend: {labels:?}"
    );
    // Deterministic for a seed; another seed gives other numbers.
    let again = dir.path().join("again.svg");
    assert_eq!(gradflow(&[&p, &r, "-o", again.to_str().unwrap()]).0, 0);
    assert_eq!(std::fs::read(&svg).unwrap(), std::fs::read(&again).unwrap());
    let (_, other, _) = gradflow(&[&p, &r, "--seed", "1"]);
    assert_ne!(
        other.split_once('\n').unwrap().1,
        stdout.split_once('\n').unwrap().1
    );
}

#[test]
fn errors() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = models(dir.path());
    // Not SVG: a usage error, nothing written.
    let png = dir.path().join("flow.png");
    let (code, _, stderr) = gradflow(&[&p, "-o", png.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(".svg") && !png.exists(), "{stderr}");
    // No file: a usage error.
    assert_eq!(gradflow(&[]).0, 2);
    // A model without an N×classes output.
    let maps = dir.path().join("maps.rn");
    std::fs::write(
        &maps,
        "model maps {\n  input x: [3, 8, 8]\n  x -> conv(4, 3) -> bn\n}\n",
    )
    .unwrap();
    let (code, _, stderr) = gradflow(&[maps.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("N×classes") && stderr.contains("dense(classes)"),
        "{stderr}"
    );
    // A batch below 2 (batch norm needs two values per channel): a usage error.
    assert_eq!(gradflow(&[&p, "--batch", "1"]).0, 2);
}
