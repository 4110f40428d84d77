//! The ONNX export in onnxruntime: every example (and `tests/onnx/all_ops.rn`)
//! exported with `resnetc export` on the weights of `resnetc init`, checked by
//! `onnx.checker.check_model(full_check=True)` and run by onnxruntime on the
//! same input as `resnetc run`, and the PyTorch / Keras fixtures with their
//! weights against their references: max |Δ| ≤ 1e-4 × max(1, |ref|)
//! (`tests/onnx/check_export.py`).
//!
//! Python comes from `RESNETC_PYTHON`, else `target/ci-venv/bin/python`
//! (made by `.ci/setup-onnx.sh`). Without it the test fails under `CI` and is
//! skipped otherwise.

use crate::tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;
use resnetc::interp::{Interpreter, NameMap, WeightsFile};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with onnx, onnxruntime and numpy, or `None` (after failing
/// under CI) with the reason printed.
fn python() -> Option<PathBuf> {
    let (python, origin) = match std::env::var_os("RESNETC_PYTHON") {
        Some(p) => (PathBuf::from(p), "RESNETC_PYTHON"),
        None => (repo().join("target/ci-venv/bin/python"), "the default venv"),
    };
    let usable = Command::new(&python)
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if usable {
        return Some(python);
    }
    let why = format!(
        "no Python with onnx, onnxruntime and numpy at `{}` ({origin}); run `.ci/setup-onnx.sh` or set RESNETC_PYTHON",
        python.display()
    );
    tools::missing(&why)
}

fn resnetc(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .args(args)
        .output()
        .expect("run resnetc");
    assert!(
        out.status.success(),
        "resnetc {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deterministic inputs in [-2, 2).
fn input(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            r as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("input shape")
}

fn write_npy(path: &Path, a: &ArrayD<f32>) {
    resnetc::interp::io::write_npy(path, a).expect("write .npy");
}

/// One case: a model exported and run by resnetc, in `dir`; `small` replaces
/// a 3×224×224 input by 3×64×64 (the same weights; a quarter of the time).
fn prepare(dir: &Path, file: &Path, label: &str, export_args: &[&str], small: bool) {
    std::fs::create_dir_all(dir).expect("case dir");
    let file_s = file.to_str().expect("utf-8 path");
    let weights = dir.join("weights.safetensors");
    let weights_s = weights.to_str().expect("utf-8 path");
    let onnx = dir.join("model.onnx");
    let declared = resnetc::compile_file(file, &Default::default()).expect("example compiles");
    let shrink = small
        && declared.model.graph().inputs.len() == 1
        && declared
            .model
            .graph()
            .node(declared.model.graph().inputs[0].node)
            .shape
            .0
            == [3, 224, 224];
    resnetc(&["init", file_s, "-o", weights_s, "--seed", "0"]);
    let mut args = vec!["export", file_s, "--weights", weights_s, "-o"];
    args.push(onnx.to_str().expect("utf-8 path"));
    args.extend(export_args);
    if shrink {
        args.extend(["--input", "3x64x64"]);
    }
    resnetc(&args);

    let compiled = if shrink {
        let options = resnetc::CheckOptions {
            model: None,
            input_shapes: vec![(None, vec![3, 64, 64])],
        };
        resnetc::compile_file(file, &options).expect("example compiles at 64×64")
    } else {
        declared
    };
    let g = compiled.model.graph();
    let inputs: Vec<ArrayD<f32>> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(k, i)| {
            let mut shape = vec![2]; // a batch of two: N stays symbolic
            shape.extend(&g.node(i.node).shape.0);
            input(&shape, k as u64 + 7)
        })
        .collect();
    for (i, a) in g.inputs.iter().zip(&inputs) {
        write_npy(&dir.join(format!("input.{}.npy", i.name)), a);
    }
    if let [only] = g.inputs.as_slice() {
        // `resnetc run` itself, on the input file.
        let x = dir.join(format!("input.{}.npy", only.name));
        let y = dir.join("expected.npy");
        resnetc(&[
            "run",
            file_s,
            "--weights",
            weights_s,
            "--input",
            x.to_str().expect("utf-8 path"),
            "-o",
            y.to_str().expect("utf-8 path"),
            "--batch",
            "2",
        ]);
        match g.outputs.as_slice() {
            [o] => {
                std::fs::rename(&y, dir.join(format!("expected.{}.npy", o.name))).expect("rename")
            }
            outs => {
                // Several outputs: `run -o expected.npy` wrote expected.<name>.npy.
                for o in outs {
                    let p = dir.join(format!("expected.{}.npy", o.name));
                    assert!(p.is_file(), "resnetc run wrote no {}", p.display());
                }
            }
        }
    } else {
        // `resnetc run --input` feeds one tensor: the interpreter it runs, directly.
        let w = WeightsFile::open(&weights)
            .and_then(|f| f.load(&compiled.model, &NameMap::default()))
            .expect("load weights");
        let net = Interpreter::new(&compiled.model, &w).expect("interpreter");
        let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
        let out = net.forward(&views).expect("forward");
        for (name, y) in &out.outputs {
            write_npy(&dir.join(format!("expected.{name}.npy")), y);
        }
    }
    let quote = |v: Vec<String>| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let meta = format!(
        "{{\"name\": \"{label}\", \"inputs\": [{}], \"outputs\": [{}]}}\n",
        quote(g.inputs.iter().map(|i| i.name.clone()).collect()),
        quote(g.outputs.iter().map(|o| o.name.clone()).collect()),
    );
    std::fs::write(dir.join("case.json"), meta).expect("case.json");
}

/// A case from the committed PyTorch / Keras fixtures (`tests/fixtures/nets`):
/// their weights (through a name map for Keras), input and reference output.
fn prepare_fixture(dir: &Path, file: &Path, weights: &str, names: Option<&str>, io: &str) {
    std::fs::create_dir_all(dir).expect("case dir");
    let nets = repo().join("tests/fixtures/nets");
    let onnx = dir.join("model.onnx");
    let weights = nets.join(weights);
    let mut args = vec![
        "export",
        file.to_str().expect("utf-8 path"),
        "--weights",
        weights.to_str().expect("utf-8 path"),
        "-o",
        onnx.to_str().expect("utf-8 path"),
    ];
    let names = names.map(|n| nets.join(n));
    if let Some(n) = &names {
        args.extend(["--names", n.to_str().expect("utf-8 path")]);
    }
    resnetc(&args);
    let compiled = resnetc::compile_file(file, &Default::default()).expect("fixture compiles");
    let g = compiled.model.graph();
    let (input, output) = (&g.inputs[0].name, &g.outputs[0].name);
    std::fs::copy(
        nets.join(format!("{io}_input.npy")),
        dir.join(format!("input.{input}.npy")),
    )
    .expect("copy input");
    std::fs::copy(
        nets.join(format!("{io}_output.npy")),
        dir.join(format!("expected.{output}.npy")),
    )
    .expect("copy output");
    let label = dir.file_name().expect("name").to_string_lossy();
    let meta = format!(
        "{{\"name\": \"{label}\", \"inputs\": [\"{input}\"], \"outputs\": [\"{output}\"]}}\n"
    );
    std::fs::write(dir.join("case.json"), meta).expect("case.json");
}

#[test]
fn every_example_matches_resnetc_in_onnxruntime() {
    let Some(python) = python() else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rn"))
        .collect();
    files.sort();
    assert!(files.len() >= 11, "examples/*.rn: {files:?}");
    // Examples whose graph is that of a fixture net below, built from the same
    // definitions at another depth or width (the fixtures also carry
    // PyTorch's outputs): left out to keep this test short.
    const SAME_GRAPH_AS_A_FIXTURE: [&str; 6] = [
        "resnet32_cifar.rn",
        "resnet44_cifar.rn",
        "resnet56_cifar.rn",
        "resnet110_cifar.rn",
        "fcn_resnet50.rn",
        "deeplabv3_resnet50.rn",
    ];
    // ResNet-50's graph with more blocks or wider bottlenecks: the same ops,
    // attributes and initializer kinds, with 2–3× the weights to write,
    // export and load (most of this test's time when they were in).
    const SAME_GRAPH_AS_RESNET50: [&str; 3] =
        ["resnet101.rn", "resnet152.rn", "wide_resnet50_2.rn"];
    files.retain(|f| {
        !f.file_name().is_some_and(|n| {
            SAME_GRAPH_AS_A_FIXTURE
                .iter()
                .chain(&SAME_GRAPH_AS_RESNET50)
                .any(|s| n == *s)
        })
    });
    let all_ops = repo().join("tests/onnx/all_ops.rn");
    let max = resnetc::export::MAX_OPSET.to_string();
    // ImageNet models at 3×64×64 but resnet18 (at 224, as in the README).
    let mut cases: Vec<(PathBuf, String, Vec<&str>, bool)> = files
        .iter()
        .map(|f| {
            let stem = f.file_stem().expect("stem").to_string_lossy().into_owned();
            let small = stem != "resnet18";
            (f.clone(), stem, Vec::new(), small)
        })
        .collect();
    cases.push((all_ops.clone(), "all_ops".into(), Vec::new(), false));
    cases.push((
        all_ops.clone(),
        format!("all_ops-opset{max}"),
        vec!["--opset", &max],
        false,
    ));
    cases.push((all_ops, "all_ops-fold-bn".into(), vec!["--fold-bn"], false));
    cases.push((
        repo().join("examples/two_heads.rn"),
        format!("two_heads-opset{max}"),
        vec!["--opset", &max],
        false,
    ));
    cases.push((
        repo().join("examples/resnet50.rn"),
        "resnet50-fold-bn".into(),
        vec!["--fold-bn"],
        true,
    ));
    // The cases are independent: prepared on every core (the `resnetc`
    // processes they start are most of this test's time).
    let mut dirs: Vec<PathBuf> = cases
        .par_iter()
        .map(|(file, label, args, small)| {
            let dir = tmp.path().join(label);
            prepare(&dir, file, label, args, *small);
            dir
        })
        .collect();
    // Trained-like weights with independent references: PyTorch and Keras.
    let nets = repo().join("tests/fixtures/nets");
    for (label, file, weights, names, io) in [
        (
            "pytorch-mixed",
            nets.join("mixed.rn"),
            "mixed.safetensors",
            None,
            "mixed",
        ),
        (
            "pytorch-resnet18_w8",
            nets.join("resnet18_w8.rn"),
            "resnet18_w8.safetensors",
            None,
            "resnet18_w8",
        ),
        (
            "pytorch-resnet20_cifar_w8",
            nets.join("resnet20_cifar_w8.rn"),
            "resnet20_cifar_w8.safetensors",
            None,
            "resnet20_cifar_w8",
        ),
        (
            "timm-seresnet50_w4",
            nets.join("seresnet50_w4.rn"),
            "seresnet50_w4.safetensors",
            None,
            "seresnet50_w4",
        ),
        (
            "torchvision-fcn_resnet50_w4",
            nets.join("fcn_resnet50_w4.rn"),
            "fcn_resnet50_w4.safetensors",
            None,
            "fcn_resnet50_w4",
        ),
        (
            "torchvision-deeplabv3_resnet50_w4",
            nets.join("deeplabv3_resnet50_w4.rn"),
            "deeplabv3_resnet50_w4.safetensors",
            None,
            "deeplabv3_resnet50_w4",
        ),
        (
            "keras-seed",
            repo().join("examples/seed.rn"),
            "keras_seed_keras.safetensors",
            Some("keras_seed.names.yaml"),
            "keras_seed",
        ),
    ] {
        let dir = tmp.path().join(label);
        prepare_fixture(&dir, &file, weights, names, io);
        dirs.push(dir);
    }
    let out = Command::new(&python)
        .arg(repo().join("tests/onnx/check_export.py"))
        .args(&dirs)
        .output()
        .expect("run check_export.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "check_export.py failed:\n{stdout}");
    assert!(
        stdout.contains(&format!("all {} cases match", dirs.len())),
        "{stdout}"
    );

    // The README's Python lines, on the resnet18 export.
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let snippet = readme
        .split("```python\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a Python block in README.md");
    let dir = tmp.path().join("resnet18");
    std::fs::hard_link(dir.join("model.onnx"), dir.join("resnet18.onnx")).expect("link");
    let script =
        format!("{snippet}assert logits.shape == (8, 1000), logits.shape\nprint('readme ok')\n");
    let out = Command::new(&python)
        .args(["-c", &script])
        .current_dir(&dir)
        .output()
        .expect("run the README snippet");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("readme ok"),
        "the README's Python fails:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
