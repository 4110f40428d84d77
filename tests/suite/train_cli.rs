//! `resnetc train` end to end, on a tiny residual net and a subset of the
//! bundled digits (each run well under a second): determinism for a seed
//! and thread count, the loss falling, checkpoints that `resnetc run`
//! loads (running statistics included), the `--plot` chart parsed back,
//! and bad data or options giving a clear error, exit 1 (data) or 2
//! (usage, I/O), and no file.

use std::path::Path;

use assert_cmd::Command;
use ndarray::{Array1, ArrayD, IxDyn};
use ndarray_npy::write_npy;
use safetensors::SafeTensors;

use crate::png_chart;

const TINY: &str = "block unit(c) {\n  input x\n  y = x -> conv1: conv(c, 3, pad: 1, bias: false) -> bn1: bn -> relu\n  relu(x + y)\n}\nmodel tiny {\n  input x: [1, 8, 8]\n  x -> conv1: conv(8, 3, pad: 1, bias: false) -> bn1: bn -> relu -> layer1: unit(8) -> global_avgpool -> drop: dropout(0.1) -> flatten -> fc: dense(10)\n}\n";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn resnetc(dir: &Path, args: &[&str]) -> Out {
    let out = Command::cargo_bin("resnetc")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A temp dir holding `tiny.rn`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tiny.rn"), TINY).unwrap();
    dir
}

/// The arguments of `resnetc train tiny.rn --data digits --limit 120`
/// writing `out`, with `extra` options.
fn train_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "tiny.rn",
        "--data",
        "digits",
        "--limit",
        "120",
        "--batch",
        "16",
        "--threads",
        "2",
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    args
}

/// `resnetc train tiny.rn --data digits --limit 120` with `extra` options.
fn train(dir: &Path, out: &str, extra: &[&str]) -> Out {
    resnetc(dir, &train_args(out, extra))
}

/// The `(train loss, held-out accuracy %)` of each epoch line.
fn epochs(stdout: &str) -> Vec<(f64, f64)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("epoch"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let after = |key: &str| -> f64 {
                let i = words
                    .windows(2)
                    .position(|w| w[0] == key && w[1] != "acc")
                    .unwrap();
                words[i + 2].trim_end_matches('%').parse().unwrap()
            };
            (after("train"), after("held-out"))
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_and_loss_falls() {
    let dir = setup();
    let a = train(
        dir.path(),
        "a.safetensors",
        &["--epochs", "3", "--seed", "5"],
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    let b = train(
        dir.path(),
        "b.safetensors",
        &["--epochs", "3", "--seed", "5"],
    );
    assert_eq!(b.code, 0, "{}", b.stderr);
    let bytes = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    assert_eq!(bytes("a.safetensors"), bytes("b.safetensors"));
    let c = train(
        dir.path(),
        "c.safetensors",
        &["--epochs", "1", "--seed", "6"],
    );
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_ne!(bytes("a.safetensors")[..], bytes("c.safetensors")[..]);
    // The loss falls: 3 epochs of 6 steps on 96 samples.
    let e = epochs(&a.stdout);
    assert_eq!(e.len(), 3, "{}", a.stdout);
    assert!(
        e[2].0 < e[0].0 && e[0].0 < 2.5,
        "train loss per epoch: {e:?}"
    );
    assert!(
        a.stdout.contains("96 samples for training, 24 held out"),
        "{}",
        a.stdout
    );
}

#[test]
fn checkpoint_runs_and_plot_parses() {
    let dir = setup();
    let o = train(
        dir.path(),
        "w.safetensors",
        &["--epochs", "2", "--plot", "curve.svg"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Every parameter and running statistic of the model, by its name.
    let bytes = std::fs::read(dir.path().join("w.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for n in [
        "bn1.running_mean",
        "bn1.running_var",
        "layer1.bn1.weight",
        "fc.bias",
        "conv1.weight",
    ] {
        assert!(names.iter().any(|m| m == n), "{n} missing from {names:?}");
    }
    let rm = st.tensor("bn1.running_mean").unwrap();
    assert!(
        rm.data().iter().any(|&b| b != 0),
        "running statistics were not updated"
    );
    // `resnetc run` loads it.
    let x = ArrayD::<f32>::from_shape_fn(IxDyn(&[3, 1, 8, 8]), |d| (d[2] * d[3]) as f32 / 49.0);
    write_npy(dir.path().join("x.npy"), &x).unwrap();
    let r = resnetc(
        dir.path(),
        &[
            "run",
            "tiny.rn",
            "--weights",
            "w.safetensors",
            "--input",
            "x.npy",
            "-o",
            "y.npy",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let y: ArrayD<f32> = ndarray_npy::read_npy(dir.path().join("y.npy")).unwrap();
    assert_eq!(y.shape(), &[3, 10]);
    // The chart: two panels, each with a training and a held-out line of 2 points.
    let text = std::fs::read_to_string(dir.path().join("curve.svg")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| n.attribute("points").unwrap().split_whitespace().count())
        .collect();
    assert_eq!(lines, [2, 2, 2, 2], "{text}");
    assert!(text.contains("tiny: accuracy"));
}

#[test]
fn plot_as_png() {
    let dir = setup();
    for plot in ["curve.svg", "curve.png"] {
        let o = train(
            dir.path(),
            "w.safetensors",
            &["--epochs", "1", "--plot", plot],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    let size = png_chart::svg_size(&std::fs::read_to_string(dir.path().join("curve.svg")).unwrap());
    // The panel titles' baselines are at y = 36, the panels start at y = 50.
    png_chart::check_png(
        &std::fs::read(dir.path().join("curve.png")).unwrap(),
        size,
        20..40,
    );
}

/// Expects exit `code`, each of `needles` in stderr, and no output file.
fn rejects(dir: &Path, args: &[&str], code: i32, needles: &[&str]) {
    let mut all = vec!["train", "tiny.rn", "-o", "bad.safetensors"];
    all.extend_from_slice(args);
    let o = resnetc(dir, &all);
    assert_eq!(o.code, code, "{args:?}: {}", o.stderr);
    for n in needles {
        assert!(o.stderr.contains(n), "{args:?}: `{n}` not in {}", o.stderr);
    }
    assert!(
        !dir.join("bad.safetensors").exists(),
        "{args:?} wrote a file"
    );
}

#[test]
fn bad_data_and_options_are_clear_errors() {
    let dir = setup();
    let d = dir.path();
    let good_x = ArrayD::<f32>::zeros(IxDyn(&[10, 1, 8, 8]));
    write_npy(d.join("x.npy"), &good_x).unwrap();
    write_npy(
        d.join("x_shape.npy"),
        &ArrayD::<f32>::zeros(IxDyn(&[10, 3, 8, 8])),
    )
    .unwrap();
    let mut nan = good_x.clone();
    nan[[2, 0, 1, 1]] = f32::NAN;
    write_npy(d.join("x_nan.npy"), &nan).unwrap();
    write_npy(d.join("y.npy"), &Array1::<i64>::from_iter(0..10)).unwrap();
    write_npy(d.join("y_short.npy"), &Array1::<i64>::from_iter(0..9)).unwrap();
    write_npy(d.join("y_range.npy"), &Array1::<i32>::from_iter(3..13)).unwrap();
    write_npy(d.join("y_float.npy"), &Array1::<f32>::zeros(10)).unwrap();
    rejects(
        d,
        &["--data", "x_shape.npy,y.npy"],
        1,
        &["shape [3, 8, 8]", "[1, 8, 8]"],
    );
    rejects(
        d,
        &["--data", "x.npy,y_short.npy"],
        1,
        &["10 inputs but 9 labels"],
    );
    rejects(
        d,
        &["--data", "x.npy,y_range.npy"],
        1,
        &["label 10 of sample 7", "10 classes"],
    );
    rejects(d, &["--data", "x.npy,y_float.npy"], 1, &["int64 or int32"]);
    rejects(d, &["--data", "x_nan.npy,y.npy"], 1, &["NaN", "finite"]);
    rejects(d, &["--data", "missing.npy,y.npy"], 2, &["missing.npy"]);
    rejects(d, &["--data", "mnist"], 2, &["`digits` or two .npy files"]);
    rejects(d, &["--data", "digits", "--batch", "1"], 2, &["--batch"]);
    rejects(d, &["--data", "digits", "--lr=-1"], 2, &["positive"]);
    rejects(
        d,
        &["--data", "digits", "--plot", "c.jpg"],
        2,
        &["SVG or PNG", ".png"],
    );
    assert!(!d.join("c.jpg").exists());
    rejects(
        d,
        &["--data", "digits", "--limit", "3", "--test-percent", "90"],
        1,
        &["too few"],
    );
    // A model without a classifier output.
    std::fs::write(
        d.join("nolog.rn"),
        "model nolog {\n  input x: [1, 8, 8]\n  x -> conv(2, 3, pad: 1)\n}\n",
    )
    .unwrap();
    let o = resnetc(
        d,
        &[
            "train",
            "nolog.rn",
            "--data",
            "digits",
            "-o",
            "bad.safetensors",
        ],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("N×classes"), "{}", o.stderr);
    assert!(!d.join("bad.safetensors").exists());
}

#[test]
fn readme_has_the_degradation_table_and_charts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table = std::fs::read_to_string(root.join("examples/degradation/results.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md does not have examples/degradation/results.md as it is"
    );
    for net in ["plain32", "resnet32"] {
        let chart = format!("examples/degradation/curve-{net}.svg");
        assert!(readme.contains(&format!("]({chart})")), "{chart}");
        assert!(root.join(&chart).is_file(), "{chart}");
    }
}

/// `resnetc train … | head -1`: the reader leaves after the first line, and
/// the next line ends the command quietly with 141 (128 + SIGPIPE, as a
/// shell reports a tool a closed pipe stopped), not a panic.
#[test]
fn a_closed_stdout_ends_training_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = setup();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .current_dir(dir.path())
        .args(train_args("w.safetensors", &["--epochs", "3"]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The pipe's read end is closed here; the next line cannot be written.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
    // Nothing half-written: the first epoch's checkpoint (written before its
    // line) is whole, and no temporary file is left beside it.
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["tiny.rn", "w.safetensors"]);
    let bytes = std::fs::read(dir.path().join("w.safetensors")).unwrap();
    SafeTensors::deserialize(&bytes).unwrap();
}
