//! `resnetc run` / `init` / `check` end to end: happy paths, and every kind of
//! bad input (weights, name maps, .npy data, output paths, flags) giving a
//! clear error, the right exit code (1 bad data, 2 usage) and no files
//! half-written. Every bad file is generated here; no Python needed.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ndarray::{Array4, ArrayD, Axis};
use ndarray_npy::{read_npy, write_npy};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

// ----------------------------------------------------------------------------
// Helpers

const NETS: &str = "tests/fixtures/nets";
const R18: &str = "tests/fixtures/nets/resnet18_w8.rn";
const R18_W: &str = "tests/fixtures/nets/resnet18_w8.safetensors";
const R18_X: &str = "tests/fixtures/nets/resnet18_w8_input.npy";
const R18_Y: &str = "tests/fixtures/nets/resnet18_w8_output.npy";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn resnetc() -> Command {
    let mut c = Command::cargo_bin("resnetc").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// What a run printed.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run<I, S>(args: I) -> Out
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let o = resnetc().args(args).output().unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !out.stderr.contains("panicked"),
        "resnetc panicked:\n{}",
        out.stderr
    );
    out
}

/// Asserts a failure with `code`, nothing on stdout, and each needle in stderr.
fn fails(out: &Out, code: i32, needles: &[&str]) {
    assert_eq!(
        out.code, code,
        "expected exit {code}; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "nothing should run, but stdout is:\n{}",
        out.stdout
    );
    for n in needles {
        assert!(
            out.stderr.contains(n),
            "expected `{n}` in stderr:\n{}",
            out.stderr
        );
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The tensors of a safetensors file: name, dtype, shape, bytes.
type Entry = (String, Dtype, Vec<usize>, Vec<u8>);

fn read_entries(path: &Path) -> Vec<Entry> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<Entry> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn write_entries(path: &Path, entries: &[Entry]) {
    let views: Vec<(String, TensorView<'_>)> = entries
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

fn f32_entry(name: &str, shape: &[usize]) -> Entry {
    let n: usize = shape.iter().product();
    (name.into(), Dtype::F32, shape.to_vec(), vec![0u8; n * 4])
}

/// Valid weights for examples/seed.rn, written by `resnetc init`.
fn seed_weights(dir: &Path) -> PathBuf {
    let w = dir.join("seed.safetensors");
    let out = run(["init", "examples/seed.rn", "-o", &s(&w), "--seed", "0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    w
}

fn assert_close(a: &ArrayD<f32>, b: &ArrayD<f32>, tol: f32) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((x - y).abs() <= tol * y.abs().max(1.0), "{x} vs {y}");
    }
}

/// Names in `dir` left behind by the atomic writer.
fn temp_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".resnetc-"))
        .collect()
}

/// A .npy v1.0 file with a raw header dict and `data` after it.
fn npy_with_header(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

fn write_png(path: &Path, w: u32, h: u32, shift: u8) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 5) as u8 ^ shift, (y * 3) as u8, (x + y) as u8 + shift])
    });
    img.save(path).unwrap();
}

// ----------------------------------------------------------------------------
// 1. Happy paths

#[test]
fn seed_runs_on_a_random_batch() {
    let out = run(["run", "examples/seed.rn"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("output: 1×64×64×64"), "{}", out.stdout);
    assert!(
        out.stdout.contains("time: ") && out.stdout.contains(" ms per batch"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("random batch"), "{}", out.stderr);
}

#[test]
fn init_check_run_round_trip_equals_the_seeded_run() {
    let dir = tempfile::tempdir().unwrap();
    let w = seed_weights(dir.path());
    let out = run(["check", "examples/seed.rn", "--weights", &s(&w)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
    assert!(out.stdout.contains("all 26 tensors"), "{}", out.stdout);

    let a = dir.path().join("a.npy");
    let b = dir.path().join("b.npy");
    assert_eq!(run(["run", "examples/seed.rn", "-o", &s(&a)]).code, 0);
    assert_eq!(
        run(["run", "examples/seed.rn", "--weights", &s(&w), "-o", &s(&b)]).code,
        0
    );
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "init weights = built-in seed 0"
    );
    let y: ArrayD<f32> = read_npy(&a).unwrap();
    assert_eq!(y.shape(), &[1, 64, 64, 64]);
}

#[test]
fn resnet18_fixture_matches_pytorch_and_layouts_agree() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("out.npy");
    let out = run([
        "run",
        R18,
        "--weights",
        R18_W,
        "--input",
        R18_X,
        "-o",
        &s(&o),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("output: 1×10"), "{}", out.stdout);
    let reference: ArrayD<f32> = read_npy(root().join(R18_Y)).unwrap();
    let y: ArrayD<f32> = read_npy(&o).unwrap();
    assert_close(&y, &reference, 1e-4);

    // The same data stored N×H×W×C, read with --layout nhwc.
    let x: ArrayD<f32> = read_npy(root().join(R18_X)).unwrap();
    let nhwc = x
        .permuted_axes(vec![0, 2, 3, 1])
        .as_standard_layout()
        .into_owned();
    let xn = dir.path().join("nhwc.npy");
    write_npy(&xn, &nhwc).unwrap();
    let o2 = dir.path().join("out_nhwc.npy");
    let out = run([
        "run",
        R18,
        "--weights",
        R18_W,
        "--input",
        &s(&xn),
        "--layout",
        "nhwc",
        "-o",
        &s(&o2),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let y2: ArrayD<f32> = read_npy(&o2).unwrap();
    assert_close(&y2, &reference, 1e-4);
}

#[test]
fn batch_size_does_not_change_results() {
    let dir = tempfile::tempdir().unwrap();
    let x: ArrayD<f32> = read_npy(root().join(R18_X)).unwrap();
    let half = &x * 0.5;
    let neg = -&x;
    let three = ndarray::concatenate(Axis(0), &[x.view(), half.view(), neg.view()]).unwrap();
    let xp = dir.path().join("three.npy");
    write_npy(&xp, &three).unwrap();
    let (o1, o3) = (dir.path().join("b1.npy"), dir.path().join("b3.npy"));
    let out = run([
        "run",
        R18,
        "--weights",
        R18_W,
        "--input",
        &s(&xp),
        "--batch",
        "1",
        "-o",
        &s(&o1),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("median of 3 batches"), "{}", out.stdout);
    let out = run([
        "run",
        R18,
        "--weights",
        R18_W,
        "--input",
        &s(&xp),
        "--batch",
        "3",
        "-o",
        &s(&o3),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (y1, y3): (ArrayD<f32>, ArrayD<f32>) = (read_npy(&o1).unwrap(), read_npy(&o3).unwrap());
    assert_eq!(y1.shape(), &[3, 10]);
    assert_close(&y1, &y3, 1e-5);
    let reference: ArrayD<f32> = read_npy(root().join(R18_Y)).unwrap();
    assert_close(
        &y1.index_axis(Axis(0), 0).to_owned().insert_axis(Axis(0)),
        &reference,
        1e-4,
    );
}

#[test]
fn top_k_prints_k_classes_per_sample() {
    let out = run([
        "run",
        "examples/resnet20_cifar.rn",
        "--batch",
        "2",
        "--top",
        "3",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("sample "))
        .collect();
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    for r in rows {
        let (_, classes) = r.split_once(": ").unwrap();
        assert_eq!(classes.split(", ").count(), 3, "{r}");
    }
}

#[test]
fn several_outputs_are_written_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let rn = dir.path().join("two_out.rn");
    std::fs::write(
        &rn,
        "model two_out {\n  input x: [3, 8, 8]\n  feat = x -> conv(4, 3, pad: 1) -> relu -> global_avgpool -> flatten\n  \
         logits = feat -> dense(5) -> softmax\n  score = feat -> dense(1)\n  output logits, score\n}\n",
    )
    .unwrap();
    let o = dir.path().join("o.npy");
    let out = run(["run", &s(&rn), "--batch", "2", "-o", &s(&o)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("logits: 2×5") && out.stdout.contains("score: 2×1"),
        "{}",
        out.stdout
    );
    let logits: ArrayD<f32> = read_npy(dir.path().join("o.logits.npy")).unwrap();
    let score: ArrayD<f32> = read_npy(dir.path().join("o.score.npy")).unwrap();
    assert_eq!((logits.shape(), score.shape()), (&[2, 5][..], &[2, 1][..]));
    assert!(
        !o.exists(),
        "with several outputs, FILE itself is not written"
    );
    assert!(temp_leftovers(dir.path()).is_empty());
}

#[test]
fn two_heads_writes_both_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("o.npy");
    let out = run(["run", "examples/two_heads.rn", "-o", &s(&o)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dir.path().join("o.logits.npy").exists() && dir.path().join("o.score.npy").exists());
}

#[test]
fn input_npy_into_a_two_input_model_is_refused() {
    let out = run(["run", "examples/two_heads.rn", "--input", R18_X]);
    fails(
        &out,
        1,
        &[
            "--input feeds one tensor",
            "`two_heads` has 2 inputs",
            "`image`, `meta`",
        ],
    );
}

#[test]
fn images_and_image_folders() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.png");
    write_png(&one, 40, 50, 0);
    let out = run([
        "run",
        "examples/resnet20_cifar.rn",
        "--image",
        &s(&one),
        "--top",
        "2",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("output: 1×10"), "{}", out.stdout);
    assert!(
        out.stdout.contains("one.png: "),
        "rows are labelled by file:\n{}",
        out.stdout
    );

    let folder = dir.path().join("imgs");
    std::fs::create_dir(&folder).unwrap();
    write_png(&folder.join("a.png"), 40, 50, 0);
    write_png(&folder.join("b.png"), 64, 30, 77);
    std::fs::write(folder.join("notes.txt"), "not an image").unwrap();
    let o = dir.path().join("y.npy");
    let out = run([
        "run",
        "examples/resnet20_cifar.rn",
        "--image",
        &s(&folder),
        "-o",
        &s(&o),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let y: ArrayD<f32> = read_npy(&o).unwrap();
    assert_eq!(y.shape(), &[2, 10]);
    assert_ne!(y.index_axis(Axis(0), 0), y.index_axis(Axis(0), 1));
}

#[test]
fn bad_images_are_io_errors() {
    // An image that cannot be decoded, or a folder without images: exit 2.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"\x89PNG but not really").unwrap();
    let out = run(["run", "examples/resnet20_cifar.rn", "--image", &s(&fake)]);
    fails(&out, 2, &["cannot read image", "fake.png"]);
    let empty = dir.path().join("empty_dir");
    std::fs::create_dir(&empty).unwrap();
    let out = run(["run", "examples/resnet20_cifar.rn", "--image", &s(&empty)]);
    fails(&out, 2, &["no .png or .jpg files", "empty_dir"]);
}

// ----------------------------------------------------------------------------
// 2. Bad weights: exit 1, nothing runs

/// Runs `run` and `check` of seed.rn with `w`; both must fail with `needles`.
fn seed_weights_fail(w: &Path, needles: &[&str]) -> Out {
    let out = run(["run", "examples/seed.rn", "--weights", &s(w)]);
    fails(&out, 1, needles);
    assert!(
        !out.stderr.contains("random batch"),
        "nothing runs:\n{}",
        out.stderr
    );
    let out = run(["check", "examples/seed.rn", "--weights", &s(w)]);
    fails(&out, 1, needles);
    out
}

#[test]
fn missing_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = read_entries(&seed_weights(dir.path()));
    e.retain(|t| t.0 != "residual_block.conv.weight");
    let w = dir.path().join("missing.safetensors");
    write_entries(&w, &e);
    let out = seed_weights_fail(
        &w,
        &[
            "error[E0300]",
            "missing tensor `residual_block.conv.weight`",
            "missing.safetensors",
        ],
    );
    assert!(
        out.stderr.contains("examples/seed.rn:") && out.stderr.contains('^'),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("1 problem"), "{}", out.stderr);
}

#[test]
fn unexpected_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = read_entries(&seed_weights(dir.path()));
    e.push(f32_entry("head.fc.weight", &[10, 64]));
    let w = dir.path().join("extra.safetensors");
    write_entries(&w, &e);
    seed_weights_fail(
        &w,
        &[
            "error[E0301]",
            "unexpected tensor `head.fc.weight` (shape [10, 64])",
            "extra.safetensors",
        ],
    );
}

#[test]
fn misshaped_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = read_entries(&seed_weights(dir.path()));
    let i = e.iter().position(|t| t.0 == "conv.weight").unwrap();
    e[i] = f32_entry("conv.weight", &[64, 3, 5, 5]);
    let w = dir.path().join("shape.safetensors");
    write_entries(&w, &e);
    let out = seed_weights_fail(
        &w,
        &[
            "error[E0302]",
            "`conv.weight` has shape [64, 3, 5, 5] in the file, but the model needs [64, 3, 3, 3]",
        ],
    );
    assert!(out.stderr.contains("examples/seed.rn:"), "{}", out.stderr);
}

#[test]
fn non_f32_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = read_entries(&seed_weights(dir.path()));
    for t in e.iter_mut() {
        let n: usize = t.2.iter().product();
        if t.0 == "conv.bias" {
            *t = (t.0.clone(), Dtype::F16, t.2.clone(), vec![0; n * 2]);
        } else if t.0 == "residual_block.conv.bias" {
            *t = (t.0.clone(), Dtype::F64, t.2.clone(), vec![0; n * 8]);
        }
    }
    let w = dir.path().join("dtype.safetensors");
    write_entries(&w, &e);
    seed_weights_fail(
        &w,
        &[
            "error[E0303]",
            "`conv.bias` is F16",
            "`residual_block.conv.bias` is F64",
            "float32",
            "2 problems",
        ],
    );
}

#[test]
fn check_reports_every_problem_at_once_with_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = read_entries(&seed_weights(dir.path()));
    e.retain(|t| t.0 != "conv.bias");
    e.push(f32_entry("stray", &[3]));
    let i = e
        .iter()
        .position(|t| t.0 == "residual_block.bn.running_var")
        .unwrap();
    e[i] = f32_entry("residual_block.bn.running_var", &[63]);
    let w = dir.path().join("three.safetensors");
    write_entries(&w, &e);
    let out = run(["check", "examples/seed.rn", "--weights", &s(&w)]);
    fails(
        &out,
        1,
        &["E0300", "E0301", "E0302", "3 problems", "three.safetensors"],
    );
    assert_eq!(out.stderr.matches("error[E03").count(), 3, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("┌─ examples/seed.rn:").count(),
        2,
        "missing and mis-shaped point at a layer"
    );
    assert!(out.stderr.contains('^'));
}

#[test]
fn many_problems_are_capped_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = read_entries(&seed_weights(dir.path()));
    let drop: Vec<String> = e.iter().take(8).map(|t| t.0.clone()).collect();
    e.retain(|t| !drop.contains(&t.0));
    for i in 0..100 {
        e.push(f32_entry(&format!("junk.{i:03}"), &[1]));
    }
    let w = dir.path().join("many.safetensors");
    write_entries(&w, &e);
    let out = run(["check", "examples/seed.rn", "--weights", &s(&w)]);
    fails(&out, 1, &["108 problems", "… and 88 more: 88 unexpected"]);
    assert_eq!(
        out.stderr.matches("error[E03").count(),
        resnetc::interp::SHOWN_PROBLEMS,
        "{}",
        out.stderr
    );
    // The 8 missing tensors come first: they are all shown.
    assert_eq!(out.stderr.matches("error[E0300]").count(), 8);
}

#[test]
fn num_batches_tracked_extras_are_ignored() {
    let names: Vec<String> = read_entries(&root().join(R18_W))
        .into_iter()
        .map(|t| t.0)
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("num_batches_tracked")),
        "the fixture has them"
    );
    let out = run(["check", R18, "--weights", R18_W]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);
}

#[test]
fn truncated_weights() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(seed_weights(dir.path())).unwrap();
    let w = dir.path().join("cut.safetensors");
    std::fs::write(&w, &bytes[..bytes.len() - 100]).unwrap();
    seed_weights_fail(
        &w,
        &[
            "cut.safetensors",
            "not a valid safetensors file",
            "truncated",
            "help: re-save",
        ],
    );
}

#[test]
fn random_bytes_and_empty_weights() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("noise.safetensors");
    // Deterministic noise (a xorshift stream).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&w, &noise).unwrap();
    seed_weights_fail(
        &w,
        &[
            "noise.safetensors",
            "not a valid safetensors file",
            "4096 bytes",
        ],
    );
    let w = dir.path().join("empty.safetensors");
    std::fs::write(&w, b"").unwrap();
    seed_weights_fail(&w, &["empty.safetensors", "the file is empty"]);
    let w = dir.path().join("short.safetensors");
    std::fs::write(&w, b"abc").unwrap();
    seed_weights_fail(&w, &["short.safetensors", "too short"]);
}

#[test]
fn hostile_weight_headers_fail_fast() {
    let dir = tempfile::tempdir().unwrap();
    let header = |len: u64, json: &str| {
        let mut b = len.to_le_bytes().to_vec();
        b.extend(json.as_bytes());
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "max_len",
            header(u64::MAX, "{}"),
            "18446744073709551615-byte JSON header",
        ),
        (
            "past_end",
            header(1 << 20, "{}"),
            "1048576-byte JSON header",
        ),
        (
            "huge_shape",
            {
                let j = r#"{"a":{"dtype":"F32","shape":[1000000000000,1000000000000],"data_offsets":[0,4]}}"#;
                let mut b = header(j.len() as u64, j);
                b.extend([0; 4]);
                b
            },
            "overflows",
        ),
        (
            "bad_offsets",
            {
                let j =
                    r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,4611686018427387904]}}"#;
                let mut b = header(j.len() as u64, j);
                b.extend([0; 16]);
                b
            },
            "disagree",
        ),
        (
            "bad_json",
            header(7, "{nope!}"),
            "not a valid safetensors file",
        ),
    ];
    for (name, bytes, needle) in cases {
        let w = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&w, bytes).unwrap();
        seed_weights_fail(
            &w,
            &[
                &format!("{name}.safetensors"),
                "not a valid safetensors file",
                needle,
            ],
        );
    }
}

#[test]
fn nonexistent_and_directory_weights() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("nope.safetensors");
    seed_weights_fail(
        &w,
        &[
            "cannot access weights file",
            "nope.safetensors",
            "No such file",
        ],
    );
    seed_weights_fail(
        dir.path(),
        &["cannot access weights file", "it is a directory"],
    );
}

// ----------------------------------------------------------------------------
// 3. Bad name maps

fn name_map_fails(yaml: &str, needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let w = seed_weights(dir.path());
    let m = dir.path().join("map.yaml");
    std::fs::write(&m, yaml).unwrap();
    for cmd in ["run", "check"] {
        let out = run([
            cmd,
            "examples/seed.rn",
            "--weights",
            &s(&w),
            "--names",
            &s(&m),
        ]);
        fails(&out, 1, needles);
    }
}

#[test]
fn invalid_yaml_name_map() {
    name_map_fails(
        "names: [unclosed\n",
        &["invalid name map", "map.yaml", "line 1"],
    );
}

#[test]
fn unknown_field_in_name_map() {
    name_map_fails(
        "layout: torch\nrenames:\n  a: b\n",
        &[
            "invalid name map",
            "unknown field `renames`",
            "expected `layout` or `names`",
        ],
    );
    name_map_fails(
        "layout: tensorflow\n",
        &["unknown variant `tensorflow`", "`torch` or `keras`"],
    );
}

#[test]
fn name_map_to_a_nonexistent_tensor() {
    name_map_fails(
        "names:\n  conv.weight: stem/kernel\n",
        &[
            "missing tensor `stem/kernel` for `conv.weight`",
            "fix its entry under `names:`",
            "examples/seed.rn:",
        ],
    );
}

#[test]
fn missing_name_map_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = seed_weights(dir.path());
    let out = run([
        "check",
        "examples/seed.rn",
        "--weights",
        &s(&w),
        "--names",
        "no/such/map.yaml",
    ]);
    fails(&out, 1, &["name map `no/such/map.yaml`", "No such file"]);
    assert!(!out.stderr.contains("weights file"), "{}", out.stderr);
}

#[test]
fn keras_name_map_fixture_works() {
    let out = run([
        "check",
        "examples/seed.rn",
        "--weights",
        &format!("{NETS}/keras_seed_keras.safetensors"),
        "--names",
        &format!("{NETS}/keras_seed.names.yaml"),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

// ----------------------------------------------------------------------------
// 4. Bad .npy inputs: exit 1

fn r18_input_fails(x: &Path, needles: &[&str]) -> Out {
    let out = run(["run", R18, "--weights", R18_W, "--input", &s(x)]);
    fails(&out, 1, needles);
    out
}

#[test]
fn float64_and_int32_inputs_suggest_a_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let x: ArrayD<f32> = read_npy(root().join(R18_X)).unwrap();
    let p = dir.path().join("f64.npy");
    write_npy(&p, &x.mapv(f64::from)).unwrap();
    r18_input_fails(&p, &["f64.npy", "'<f8'", "float32", "astype(np.float32)"]);
    let p = dir.path().join("i32.npy");
    write_npy(&p, &x.mapv(|v| v as i32)).unwrap();
    r18_input_fails(&p, &["i32.npy", "'<i4'", "astype(np.float32)"]);
}

#[test]
fn truncated_random_and_empty_npy() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(root().join(R18_X)).unwrap();
    let p = dir.path().join("cut.npy");
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    r18_input_fails(&p, &["cut.npy", "truncated"]);
    let p = dir.path().join("noise.npy");
    std::fs::write(
        &p,
        (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    r18_input_fails(&p, &["noise.npy", "not a usable .npy file", "numpy.save"]);
    let p = dir.path().join("empty.npy");
    std::fs::write(&p, b"").unwrap();
    r18_input_fails(&p, &["empty.npy", "the file is empty"]);
    r18_input_fails(dir.path(), &["it is a directory"]);
    r18_input_fails(
        &dir.path().join("absent.npy"),
        &["absent.npy", "No such file"],
    );
}

#[test]
fn hostile_npy_header_fails_without_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.npy");
    let bytes = npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
        &[0; 64],
    );
    std::fs::write(&p, bytes).unwrap();
    r18_input_fails(&p, &["huge.npy", "truncated"]);
}

#[test]
fn five_channels_into_a_three_channel_model_explains_the_override() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c5.npy");
    write_npy(&p, &Array4::<f32>::zeros((1, 5, 64, 64))).unwrap();
    let out = r18_input_fails(
        &p,
        &[
            "E0302",
            "[8, 5, 7, 7]",
            "c5.npy` has shape 1×5×64×64",
            "declared N×3×64×64",
        ],
    );
    assert!(
        out.stderr
            .contains("help: give an array of shape N×3×64×64"),
        "{}",
        out.stderr
    );
}

#[test]
fn nhwc_data_without_the_flag_gets_a_layout_hint() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nhwc.npy");
    write_npy(&p, &Array4::<f32>::zeros((1, 64, 64, 3))).unwrap();
    r18_input_fails(
        &p,
        &["nhwc.npy` has shape 1×64×64×3", "add `--layout nhwc`"],
    );
}

#[test]
fn rank_two_data_into_a_conv_model_is_a_model_error_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("flat.npy");
    write_npy(&p, &ndarray::Array2::<f32>::zeros((2, 7))).unwrap();
    r18_input_fails(
        &p,
        &[
            "error[E0204]",
            "flat.npy` has shape 2×7",
            "declared N×3×64×64",
        ],
    );
}

#[test]
fn one_d_and_empty_batches() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vec.npy");
    write_npy(&p, &ndarray::Array1::<f32>::zeros(5)).unwrap();
    r18_input_fails(&p, &["vec.npy", "has shape [5]", "x[None]"]);
    let p = dir.path().join("n0.npy");
    write_npy(&p, &Array4::<f32>::zeros((0, 3, 64, 64))).unwrap();
    r18_input_fails(&p, &["n0.npy", "the batch is empty"]);
}

// ----------------------------------------------------------------------------
// 5. Output paths

#[test]
fn output_into_a_missing_directory_fails_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("nowhere").join("y.npy");
    let out = run(["run", "examples/resnet20_cifar.rn", "-o", &s(&o)]);
    fails(&out, 1, &["cannot write", "nowhere` does not exist"]);
    assert!(
        !out.stderr.contains(".resnetc-"),
        "no temp names in messages:\n{}",
        out.stderr
    );
    let out = run(["init", "examples/seed.rn", "-o", &s(&o)]);
    fails(&out, 1, &["cannot write", "does not exist"]);
    assert!(!o.exists());
}

#[test]
fn output_into_a_file_or_a_directory_path_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "x").unwrap();
    let out = run([
        "run",
        "examples/resnet20_cifar.rn",
        "-o",
        &s(&file.join("y.npy")),
    ]);
    fails(&out, 1, &["plain.txt` is not a directory"]);
    let out = run(["run", "examples/resnet20_cifar.rn", "-o", &s(dir.path())]);
    fails(&out, 1, &["it is a directory", "out.npy"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    assert!(temp_leftovers(dir.path()).is_empty());
}

#[cfg(unix)]
#[test]
fn output_into_a_read_only_directory_fails() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root ignores permissions: then there is nothing to test.
    let probe = ro.join("probe");
    let writable = std::fs::write(&probe, "").is_ok();
    if !writable {
        let o = ro.join("y.npy");
        let out = run(["run", "examples/resnet20_cifar.rn", "-o", &s(&o)]);
        fails(
            &out,
            1,
            &[
                "cannot write",
                "cannot create files in",
                "choose a writable location",
            ],
        );
        assert_eq!(
            std::fs::read_dir(&ro).unwrap().count(),
            0,
            "nothing created"
        );
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn existing_output_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("y.npy");
    std::fs::write(&o, "old contents").unwrap();
    let out = run(["run", "examples/resnet20_cifar.rn", "-o", &s(&o)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let y: ArrayD<f32> = read_npy(&o).unwrap();
    assert_eq!(y.shape(), &[1, 10]);
    // A failed run (bad weights) leaves the previous output intact.
    let out = run([
        "run",
        "examples/resnet20_cifar.rn",
        "--weights",
        "no/such.safetensors",
        "-o",
        &s(&o),
    ]);
    fails(&out, 1, &["no/such.safetensors"]);
    let again: ArrayD<f32> = read_npy(&o).unwrap();
    assert_eq!(again, y);
    let w = dir.path().join("w.safetensors");
    assert_eq!(
        run(["init", "examples/resnet20_cifar.rn", "-o", &s(&w)]).code,
        0
    );
    assert_eq!(
        run([
            "init",
            "examples/resnet20_cifar.rn",
            "-o",
            &s(&w),
            "--seed",
            "3"
        ])
        .code,
        0
    );
    assert!(
        temp_leftovers(dir.path()).is_empty(),
        "{:?}",
        temp_leftovers(dir.path())
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

// ----------------------------------------------------------------------------
// 6. Usage errors: exit 2

#[test]
fn usage_errors_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "examples/seed.rn", "--batch", "0"], "--batch"),
        (
            &[
                "run",
                "examples/seed.rn",
                "--input",
                "a.npy",
                "--image",
                "b.png",
            ],
            "cannot be used with",
        ),
        (
            &["run", "examples/seed.rn", "--names", "m.yaml"],
            "--weights",
        ),
        (&["run", "examples/seed.rn", "--bogus"], "--bogus"),
        (&["run", "examples/seed.rn", "--top", "0"], "--top"),
        (
            &["run", "examples/seed.rn", "--threads", "100000"],
            "--threads",
        ),
        (&["run", "examples/seed.rn", "--layout", "chw"], "--layout"),
        (&["check", "examples/seed.rn"], "--weights"),
        (&["init", "examples/seed.rn"], "--output"),
        (&["run", "no/such/model.rn"], "no/such/model.rn"),
    ];
    for (args, needle) in cases {
        let out = run(*args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(needle),
            "{args:?}: expected `{needle}` in:\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

// ----------------------------------------------------------------------------
// bench

/// `resnetc bench` reports the time, the GFLOP/s the model's multiply-adds
/// make of it, and the fraction of the measured FMA peak (left out with
/// `--no-peak`).
#[test]
fn bench_reports_gflops_and_the_fraction_of_the_fma_peak() {
    let field = |line: &str, key: &str| -> f64 {
        let v = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in {line}"));
        v.trim_end_matches('%').parse().unwrap()
    };
    let out = run(["bench", R18, "--repeat", "2", "--threads", "1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (median, gflops) = (
        field(&out.stdout, "median_ms"),
        field(&out.stdout, "gflops"),
    );
    // resnet18_w8 at 3×64×64: the summary's multiply-adds, two flops each.
    let summary = run([R18]);
    let macs: f64 = summary
        .stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Mult-adds (conv + dense, per sample): ")
        })
        .and_then(|v| v.split_whitespace().next())
        .map(|v| v.replace(',', "").parse().unwrap())
        .unwrap_or_else(|| panic!("no Mult-adds line in\n{}", summary.stdout));
    let want = 2.0 * macs / (median * 1e-3) / 1e9;
    assert!(
        (gflops - want).abs() <= 0.05 * want + 0.1,
        "{gflops} vs {want}"
    );
    let (peak, of_peak) = (
        field(&out.stdout, "peak_gflops"),
        field(&out.stdout, "of_peak"),
    );
    assert!(peak > 0.0, "{}", out.stdout);
    // Each field is printed rounded (gflops and peak_gflops to 0.005,
    // of_peak to 0.05): the ratio of the printed values may differ from the
    // printed ratio by what those roundings propagate, and by no more.
    let rounding = 100.0 * (0.005 / peak + gflops * 0.005 / (peak * peak)) + 0.05;
    assert!(
        (of_peak - 100.0 * gflops / peak).abs() <= rounding + 1e-9,
        "{}",
        out.stdout
    );

    let out = run(["bench", R18, "--repeat", "1", "--no-peak"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("peak_gflops"), "{}", out.stdout);
    assert!(!out.stdout.contains("layer="), "{}", out.stdout);
}

/// `resnetc bench --profile` prints one line per step of the plan, in
/// execution order: the stem conv (with its batch norm and ReLU fused) first,
/// the classifier last, and a block's add fused into a conv.
#[test]
fn bench_profile_times_every_step_of_the_plan() {
    let out = run(["bench", R18, "--repeat", "2", "--no-peak", "--profile"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let steps: Vec<(String, String, f64)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let layer = f.next()?.strip_prefix("layer=")?.to_string();
            let op = f.next()?.strip_prefix("op=")?.to_string();
            let ms = f.next()?.strip_prefix("ms=")?.parse().ok()?;
            Some((layer, op, ms))
        })
        .collect();
    assert_eq!(
        steps.first().map(|s| (s.0.as_str(), s.1.as_str())),
        Some(("conv1", "conv")),
        "{}",
        out.stdout
    );
    assert_eq!(
        steps.last().map(|s| s.1.as_str()),
        Some("dense"),
        "{}",
        out.stdout
    );
    // Each block's add (and the relu after it) runs in the epilogue of the
    // conv computed last: the main branch's, or the projection's.
    assert!(
        steps
            .iter()
            .any(|s| s.0 == "layer1.0.conv2" && s.1 == "conv+add"),
        "{}",
        out.stdout
    );
    assert!(
        steps
            .iter()
            .any(|s| s.0 == "layer2.0.downsample.0" && s.1 == "conv+add"),
        "{}",
        out.stdout
    );
    assert!(
        steps.iter().all(|s| s.1 != "add" && s.1 != "relu"),
        "{}",
        out.stdout
    );
    // No batch norm of resnet18 is a step: each is folded into its conv.
    assert!(steps.iter().all(|s| s.1 != "bn"), "{}", out.stdout);
    assert!(steps.iter().all(|s| s.2 >= 0.0), "{}", out.stdout);
}
