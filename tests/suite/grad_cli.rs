//! `resnetc grad` end to end: the gradients file against the PyTorch
//! reference, int64 and int32 labels, dropout on request, and every kind of
//! bad input giving a clear error, exit 1 (data) or 2 (usage), and no file.
//! `resnetc gradflow`: the table, the SVG chart (parsed back), determinism
//! and errors, on two small models (a plain and a residual stack).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::{Array1, Array2, ArrayD, IxDyn};
use ndarray_npy::write_npy;
use safetensors::SafeTensors;

use crate::png_chart;

const RN: &str = "tests/fixtures/nets/resnet18_w4.rn";
const W: &str = "tests/fixtures/grad/resnet18_w4.safetensors";
const X: &str = "tests/fixtures/grad/resnet18_w4_input.npy";
const Y: &str = "tests/fixtures/grad/resnet18_w4_labels.npy";
const REF: &str = "tests/fixtures/grad/resnet18_w4_grads.safetensors";
const PLAIN: &str = "block unit(c) {\n  input x\n  x -> conv1: conv(c, 3, pad: 1, bias: false) -> bn1: bn -> relu\n}\nmodel plain {\n  input x: [3, 8, 8]\n  x -> conv1: conv(4, 3, pad: 1) -> layer: unit(4) * 3 -> global_avgpool -> flatten -> fc: dense(5)\n}\n";
const RESIDUAL: &str = "block unit(c) {\n  input x\n  y = x -> conv1: conv(c, 3, pad: 1, bias: false) -> bn1: bn\n  relu(x + y)\n}\nmodel residual {\n  input x: [3, 8, 8]\n  x -> conv1: conv(4, 3, pad: 1) -> layer: unit(4) * 3 -> global_avgpool -> flatten -> fc: dense(5)\n}\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn grad(args: &[&str]) -> Out {
    let out = Command::cargo_bin("resnetc")
        .unwrap()
        .current_dir(root())
        .arg("grad")
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let data = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (n, t.shape().to_vec(), data)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Runs `resnetc grad` on the fixture with `labels` and expects exit 1, a
/// message containing each of `needles`, and no output file.
fn rejects_labels(labels: &Path, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("g.safetensors");
    let o = grad(&[
        RN,
        "--weights",
        W,
        "--input",
        X,
        "--labels",
        labels.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "missing `{n}` in:\n{}", o.stderr);
    }
    assert!(!out_path.exists(), "nothing is written on an error");
}

#[test]
fn gradients_match_pytorch_and_name_every_trainable_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("g.safetensors");
    let o = grad(&[
        RN,
        "--weights",
        W,
        "--input",
        X,
        "--labels",
        Y,
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("loss 2.78"), "{}", o.stdout);
    let ours = tensors(&out_path);
    let reference: Vec<_> = tensors(&root().join(REF))
        .into_iter()
        .filter(|(n, _, _)| {
            n != "loss" && !n.ends_with("running_mean") && !n.ends_with("running_var")
        })
        .collect();
    assert_eq!(ours.len(), 62, "ResNet-18 has 62 trainable tensors");
    assert_eq!(ours.len(), reference.len());
    for ((n, s, a), (rn, rs, r)) in ours.iter().zip(&reference) {
        assert_eq!((n, s), (rn, rs));
        let diff = a
            .iter()
            .zip(r)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        let scale = r.iter().fold(0.0f32, |m, y| m.max(y.abs())).max(1e-12);
        assert!(
            diff / scale <= 1e-4,
            "`{n}`: relative error {}",
            diff / scale
        );
    }
}

#[test]
fn int32_labels_on_the_mixed_net() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("g.safetensors");
    let o = grad(&[
        "tests/fixtures/nets/mixed.rn",
        "--weights",
        "tests/fixtures/nets/mixed.safetensors",
        "--input",
        "tests/fixtures/grad/mixed_input.npy",
        "--labels",
        "tests/fixtures/grad/mixed_labels.npy",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        tensors(&out_path).len(),
        25,
        "the mixed net has 25 trainable tensors"
    );
}

#[test]
fn without_weights_the_init_weights_of_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.safetensors");
    let init = Command::cargo_bin("resnetc")
        .unwrap()
        .current_dir(root())
        .args(["init", RN, "--seed", "3", "-o", w.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(init.status.success());
    let run = |extra: &[&str], name: &str| {
        let p = dir.path().join(name);
        let mut args = vec![RN, "--input", X, "--labels", Y, "-o", p.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = grad(&args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        std::fs::read(p).unwrap()
    };
    let seeded = run(&["--seed", "3"], "a.safetensors");
    assert_eq!(
        seeded,
        run(&["--weights", w.to_str().unwrap()], "b.safetensors")
    );
    assert_ne!(seeded, run(&[], "c.safetensors"), "the seed matters");
}

#[test]
fn dropout_only_when_seeded() {
    let dir = tempfile::tempdir().unwrap();
    let rn = dir.path().join("d.rn");
    std::fs::write(
        &rn,
        "model d {\n  input x: [6]\n  x -> dense(8) -> dropout(0.5) -> dense(3)\n}\n",
    )
    .unwrap();
    let x = dir.path().join("x.npy");
    write_npy(
        &x,
        &Array2::<f32>::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f32 / 10.0),
    )
    .unwrap();
    let y = dir.path().join("y.npy");
    write_npy(&y, &Array1::<i64>::from(vec![0, 1, 2, 0])).unwrap();
    let run = |extra: &[&str], name: &str| {
        let p = dir.path().join(name);
        let mut args = vec![
            rn.to_str().unwrap(),
            "--input",
            x.to_str().unwrap(),
            "--labels",
            y.to_str().unwrap(),
            "-o",
            p.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = grad(&args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        std::fs::read(p).unwrap()
    };
    let off = run(&[], "off.safetensors");
    let seeded = run(&["--dropout-seed", "3"], "a.safetensors");
    assert_ne!(off, seeded, "a seed turns dropout on");
    assert_eq!(
        seeded,
        run(&["--dropout-seed", "3"], "b.safetensors"),
        "the same seed, the same gradients"
    );
    assert_eq!(off, run(&[], "off2.safetensors"));
}

#[test]
fn bad_labels_are_data_errors_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    write_npy(p("range.npy"), &Array1::<i64>::from(vec![0, 10, 1, 2])).unwrap();
    rejects_labels(
        &p("range.npy"),
        &["label 10 of sample 1", "10 classes", "0..=9"],
    );
    write_npy(p("neg.npy"), &Array1::<i32>::from(vec![0, -1, 1, 2])).unwrap();
    rejects_labels(&p("neg.npy"), &["label -1 of sample 1"]);
    write_npy(p("count.npy"), &Array1::<i64>::from(vec![0, 1, 2])).unwrap();
    rejects_labels(
        &p("count.npy"),
        &["3 labels for a batch of 4", "one class index per sample"],
    );
    write_npy(
        p("float.npy"),
        &Array1::<f32>::from(vec![0.0, 1.0, 2.0, 3.0]),
    )
    .unwrap();
    rejects_labels(&p("float.npy"), &["int64 or int32", "astype(np.int64)"]);
    write_npy(p("2d.npy"), &ArrayD::<i64>::zeros(IxDyn(&[4, 1]))).unwrap();
    rejects_labels(&p("2d.npy"), &["shape (N,)", "reshape(-1)"]);
    // A header promising 10^12 labels over 8 bytes of data: an error, no allocation.
    let mut header =
        b"{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000,), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header);
    bytes.extend([0u8; 8]);
    std::fs::write(p("huge.npy"), bytes).unwrap();
    rejects_labels(&p("huge.npy"), &["is not a usable .npy file"]);
}

#[test]
fn other_errors_and_usage() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("g.safetensors");
    let out = out_path.to_str().unwrap();
    // A batch of one: batch norm has a single value per channel in layer4.
    let x1 = dir.path().join("x1.npy");
    write_npy(&x1, &ArrayD::<f32>::zeros(IxDyn(&[1, 3, 32, 32]))).unwrap();
    let y1 = dir.path().join("y1.npy");
    write_npy(&y1, &Array1::<i64>::from(vec![0])).unwrap();
    let o = grad(&[
        RN,
        "--weights",
        W,
        "--input",
        x1.to_str().unwrap(),
        "--labels",
        y1.to_str().unwrap(),
        "-o",
        out,
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("more than one value per channel")
            && o.stderr.contains("at least 2 samples"),
        "{}",
        o.stderr
    );
    // A model whose output is not N×classes.
    let rn = dir.path().join("maps.rn");
    std::fs::write(
        &rn,
        "model maps {\n  input x: [3, 32, 32]\n  x -> conv(4, 3)\n}\n",
    )
    .unwrap();
    let o = grad(&[rn.to_str().unwrap(), "--input", X, "--labels", Y, "-o", out]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("N×classes") && o.stderr.contains("dense(classes)"),
        "{}",
        o.stderr
    );
    // Weights that do not fit (the mixed net's for the ResNet).
    let o = grad(&[
        RN,
        "--weights",
        "tests/fixtures/nets/mixed.safetensors",
        "--input",
        X,
        "--labels",
        Y,
        "-o",
        out,
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!out_path.exists());
    // Usage: no --labels, a malformed seed.
    assert_eq!(grad(&[RN, "--input", X, "-o", out]).code, 2);
    assert_eq!(
        grad(&[
            RN,
            "--input",
            X,
            "--labels",
            Y,
            "-o",
            out,
            "--dropout-seed",
            "x"
        ])
        .code,
        2
    );
    // An output directory that does not exist.
    let o = grad(&[
        RN,
        "--weights",
        W,
        "--input",
        X,
        "--labels",
        Y,
        "-o",
        "/nonexistent-dir/g.safetensors",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("does not exist"), "{}", o.stderr);
}

// ----------------------------------------------------------------------------
// resnetc gradflow

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
fn gradflow_table_and_chart_for_two_models() {
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
fn gradflow_png_is_the_svg_rasterised() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = models(dir.path());
    let svg = dir.path().join("flow.svg");
    let png = dir.path().join("flow.PNG");
    for out in [&svg, &png] {
        let (code, _, stderr) = gradflow(&[&p, &r, "-o", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
    }
    let size = png_chart::svg_size(&std::fs::read_to_string(&svg).unwrap());
    // The title's baseline is at y = 22, the plot starts at y = 40.
    png_chart::check_png(&std::fs::read(&png).unwrap(), size, 8..30);
}

#[test]
fn gradflow_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = models(dir.path());
    // Neither SVG nor PNG: a usage error, nothing written.
    let jpg = dir.path().join("flow.jpg");
    let (code, _, stderr) = gradflow(&[&p, "-o", jpg.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(".svg") && stderr.contains(".png") && !jpg.exists(),
        "{stderr}"
    );
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
    // A model too large for the machine: an error before any allocation.
    let (code, _, stderr) = gradflow(&[&p, "--input", "3x100000x100000"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot allocate the training-mode values"),
        "{stderr}"
    );
    // A batch below 2 (batch norm needs two values per channel): a usage error.
    assert_eq!(gradflow(&[&p, "--batch", "1"]).0, 2);
}

#[test]
fn readme_gradflow_picture_is_the_documented_command_s_output_shape() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("](docs/gradflow.svg)"));
    assert!(readme.contains(
        "resnetc gradflow examples/plain34.rn examples/resnet34.rn --input 3x32x32 -o docs/gradflow.svg"
    ));
    let text = std::fs::read_to_string(root().join("docs/gradflow.svg")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        // conv1, 16 blocks, fc.
        assert_eq!(
            l.attribute("points").unwrap().split_whitespace().count(),
            18
        );
    }
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        labels.contains(&"plain34") && labels.contains(&"resnet34"),
        "{labels:?}"
    );
}
