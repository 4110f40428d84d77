//! `resnetc run` / `init` options as their `--help` states them (issue 8):
//! `--mean`/`--std` given once as `R,G,B` or three numbers, usage errors
//! (exit 2) for everything the command line gets wrong, `--top` only on a
//! class vector, a warning when predictions come from random weights, and a
//! model too large for memory as a clear error (exit 1), never an abort.

use std::path::Path;

use assert_cmd::Command;

/// What a run printed.
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Out {
    let o = Command::cargo_bin("resnetc")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
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

/// Asserts exit `code`, nothing on stdout and each needle on stderr.
fn fails(out: &Out, code: i32, needles: &[&str]) {
    assert_eq!(
        out.code, code,
        "expected exit {code}; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout:\n{}", out.stdout);
    for n in needles {
        assert!(out.stderr.contains(n), "expected `{n}` in:\n{}", out.stderr);
    }
}

fn png(dir: &Path) -> String {
    let p = dir.join("img.png");
    image::RgbImage::from_fn(40, 36, |x, y| image::Rgb([(x * 5) as u8, (y * 3) as u8, 7]))
        .save(&p)
        .unwrap();
    p.display().to_string()
}

const CIFAR: &str = "examples/resnet20_cifar.rn";

#[test]
fn mean_and_std_take_one_rgb_value_or_three_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let img = png(dir.path());
    let base = ["run", CIFAR, "--image", &img];
    let first_row = |extra: &[&str]| -> String {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_eq!(out.code, 0, "{extra:?}: {}", out.stderr);
        out.stdout.lines().next().unwrap_or_default().to_string()
    };
    // `R,G,B` (what the help names) and three numbers mean the same.
    let comma = first_row(&["--mean", "0.5,0.4,0.3", "--std", "0.2,0.25,0.3"]);
    let spaced = first_row(&["--mean", "0.5", "0.4", "0.3", "--std", "0.2", "0.25", "0.3"]);
    assert_eq!(comma, spaced);
    // … and differ from the ImageNet defaults.
    assert_ne!(comma, first_row(&[]));
    // Negative means are numbers, not flags.
    first_row(&["--mean", "-0.5", "0", "0.5"]);
    first_row(&["--mean=-0.5,0,0.5"]);
}

#[test]
fn repeated_or_malformed_mean_and_std_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img = png(dir.path());
    let cases: &[(&[&str], &str)] = &[
        // Issue 8: this panicked (exit 101).
        (
            &["--mean", "0.5", "0.5", "0.5", "--mean", "0.4", "0.4", "0.4"],
            "--mean",
        ),
        (&["--std", "0.2,0.2,0.2", "--std", "0.3,0.3,0.3"], "--std"),
        (
            &["--mean", "0.5,0.5"],
            "--mean takes three numbers, R,G,B, but got 2",
        ),
        (
            &["--std", "0.2,0,0.2"],
            "--std values must be finite and positive",
        ),
        (&["--mean", "a,b,c"], "--mean"),
        (
            &["--mean", "0.5,0.5,0.5", "--no-normalize"],
            "cannot be used with",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["run", CIFAR, "--image", &img];
        args.extend_from_slice(extra);
        fails(&run(&args), 2, &[needle]);
    }
    // Without images there is nothing to normalise.
    fails(
        &run(&["run", CIFAR, "--mean", "0.5,0.5,0.5"]),
        2,
        &["--mean and --std normalise images: they need --image"],
    );
}

#[test]
fn help_says_what_mean_and_std_accept() {
    let out = run(&["run", "--help"]);
    assert_eq!(out.code, 0);
    for needle in [
        "--mean <R,G,B>",
        "given once",
        "three numbers `R G B`",
        "N×classes",
    ] {
        assert!(
            out.stdout.contains(needle),
            "`{needle}` in:\n{}",
            out.stdout
        );
    }
}

#[test]
fn undecodable_images_and_unknown_models_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"\x89PNG but not really").unwrap();
    let fake = fake.display().to_string();
    fails(
        &run(&["run", CIFAR, "--image", &fake]),
        2,
        &["cannot read image", "fake.png"],
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    fails(
        &run(&["run", CIFAR, "--image", &empty.display().to_string()]),
        2,
        &["no .png or .jpg files"],
    );
    for cmd in [
        &["run"][..],
        &["init", "-o", "w.safetensors"],
        &["check", "--weights", "w.safetensors"],
        &[],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["examples/resnet18.rn", "--model", "resnet19"]);
        fails(
            &run(&args),
            2,
            &["no model named `resnet19`", "did you mean"],
        );
    }
}

#[test]
fn top_needs_a_class_vector() {
    // seed.rn's output is N×64×64×64, not N×classes: a usage error, before any work.
    fails(
        &run(&["run", "examples/seed.rn", "--top", "3"]),
        2,
        &[
            "--top ranks classes",
            "output `output` of `seed` is N×64×64×64",
            "drop --top",
        ],
    );
}

#[test]
fn predictions_from_random_weights_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let img = png(dir.path());
    let warning = "warning: no --weights: the weights are random";
    for args in [
        &["run", CIFAR, "--top", "2"][..],
        &["run", CIFAR, "--image", &img],
    ] {
        let out = run(args);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains(warning), "{args:?}:\n{}", out.stderr);
    }
    // A plain random run is not a prediction: no warning.
    let out = run(&["run", CIFAR]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains(warning), "{}", out.stderr);
    // With weights, none either.
    let w = dir.path().join("w.safetensors").display().to_string();
    assert_eq!(run(&["init", CIFAR, "-o", &w]).code, 0);
    let out = run(&["run", CIFAR, "--weights", &w, "--top", "2"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains(warning), "{}", out.stderr);
}

/// A valid model with 4 TiB of weights (one dense layer of 2^40 × 1).
const HUGE_WEIGHTS: &str =
    "model huge {\n  input x: [1]\n  x -> fc: dense(1099511627776, bias: false)\n}\n";

/// A valid model with small weights but 4 TiB of activations per sample.
const HUGE_ACTIVATIONS: &str =
    "model wide {\n  input x: [4, 262144, 262144]\n  x -> conv(4, 1, groups: 4) -> relu\n}\n";

#[test]
fn models_too_large_for_memory_are_errors_not_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let rn = dir.path().join("huge.rn");
    std::fs::write(&rn, HUGE_WEIGHTS).unwrap();
    let rn = rn.display().to_string();
    let w = dir.path().join("w.safetensors");
    let ws = w.display().to_string();
    // Issue 8: `init` aborted (exit 134).
    let out = run(&["init", &rn, "-o", &ws]);
    fails(
        &out,
        1,
        &[
            "cannot allocate the weights and their safetensors encoding of model `huge`",
            "12288.00 GiB",
            "largest part is layer `fc`",
        ],
    );
    assert!(!w.exists(), "nothing is written");
    for cmd in ["run", "bench"] {
        fails(
            &run(&[cmd, &rn]),
            1,
            &["cannot allocate", "4096.00 GiB", "`fc`"],
        );
    }
    let rn = dir.path().join("wide.rn");
    std::fs::write(&rn, HUGE_ACTIVATIONS).unwrap();
    fails(
        &run(&["run", &rn.display().to_string()]),
        1,
        &[
            "cannot allocate the activations and inputs of a batch of 1",
            "GiB",
        ],
    );
}
