//! The build-script API (`resnetc::build`): output files, rerun lists,
//! write-if-changed, diagnostics, and real `cargo build`s of a failing crate
//! and of `examples/build-rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use resnetc::build::{BuildError, Config};

/// A model with a shape error: a 4× channel expansion added to its input.
const BROKEN: &str = "\
block expand(planes) {
  input x
  out = x -> conv(planes * 4, 1) -> bn
  relu(x + out)
}

model broken {
  input x: [64, 8, 8]
  x -> expand(64)
}
";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example(name: &str) -> PathBuf {
    root().join("examples").join(name)
}

/// A quiet config writing into `out`.
fn config(model: &Path, out: &Path) -> Config {
    let mut c = Config::new();
    c.model(model).out_dir(out).emit_cargo_directives(false);
    c
}

#[test]
fn writes_the_model_named_file_with_a_relative_header() {
    let out = tempfile::tempdir().unwrap();
    let inputs = config(&example("seed.rn"), out.path())
        .try_compile()
        .unwrap();
    assert_eq!(inputs, vec![example("seed.rn")]);
    let code = std::fs::read_to_string(out.path().join("seed.rs")).unwrap();
    let header = code.lines().next().unwrap();
    assert!(header.starts_with("// @generated"), "{header}");
    assert!(header.contains(" examples/seed.rn"), "{header}");
    assert!(
        !code.contains(root().to_str().unwrap()),
        "the generated code names an absolute path"
    );
}

#[test]
fn rerun_list_includes_imports() {
    let out = tempfile::tempdir().unwrap();
    let inputs = config(&example("resnet18.rn"), out.path())
        .try_compile()
        .unwrap();
    assert!(out.path().join("resnet18.rs").exists());
    let canon: Vec<PathBuf> = inputs.iter().map(|p| p.canonicalize().unwrap()).collect();
    for want in ["resnet18.rn", "lib/resnet.rn"] {
        assert!(
            canon.contains(&example(want).canonicalize().unwrap()),
            "{want} missing from {inputs:?}"
        );
    }
}

#[test]
fn unchanged_output_is_not_rewritten() {
    let out = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.rn");
    std::fs::copy(example("seed.rn"), &model).unwrap();
    let target = out.path().join("seed.rs");

    config(&model, out.path()).try_compile().unwrap();
    let first = std::fs::metadata(&target).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    config(&model, out.path()).try_compile().unwrap();
    let second = std::fs::metadata(&target).unwrap().modified().unwrap();
    assert_eq!(first, second, "an identical output was rewritten");

    // A change that alters the code does rewrite it.
    let text = std::fs::read_to_string(&model)
        .unwrap()
        .replace("[3, 64, 64]", "[3, 32, 32]");
    std::fs::write(&model, text).unwrap();
    config(&model, out.path()).try_compile().unwrap();
    let third = std::fs::metadata(&target).unwrap().modified().unwrap();
    assert_ne!(second, third);
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        1,
        "temp files left behind"
    );
}

#[test]
fn model_name_selects_the_model_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("two.rn");
    std::fs::write(
        &model,
        "model first {\n  input x: [3, 8, 8]\n  x -> relu\n}\nmodel second {\n  input x: [3, 8, 8]\n  x -> conv(4, 3)\n}\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    config(&model, out.path())
        .model_name("second")
        .try_compile()
        .unwrap();
    assert!(out.path().join("second.rs").exists());
    assert!(!out.path().join("first.rs").exists());

    let err = config(&model, out.path())
        .model_name("third")
        .try_compile()
        .unwrap_err();
    assert!(matches!(err, BuildError::Compile(_)), "{err:?}");
}

#[test]
fn broken_model_error_is_the_rendered_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.rn");
    std::fs::write(&model, BROKEN).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = config(&model, out.path()).try_compile().unwrap_err();
    assert!(matches!(err, BuildError::Compile(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("error[E0200]"), "{text}");
    assert!(text.contains("broken.rn:4:10"), "{text}");
    assert!(text.contains("^"), "{text}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn missing_inputs_and_settings_are_clear_errors() {
    let out = tempfile::tempdir().unwrap();
    let err = Config::new().out_dir(out.path()).try_compile().unwrap_err();
    assert!(matches!(err, BuildError::NoModel));
    assert!(err.to_string().contains("Config::model"));

    let err = config(Path::new("no/such/model.rn"), out.path())
        .try_compile()
        .unwrap_err();
    assert!(matches!(err, BuildError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/model.rn"), "{err}");

    // Integration tests of a crate without a build script have no OUT_DIR.
    if std::env::var_os("OUT_DIR").is_none() {
        let err = Config::new()
            .model(example("seed.rn"))
            .emit_cargo_directives(false)
            .try_compile()
            .unwrap_err();
        assert!(matches!(err, BuildError::NoOutDir), "{err:?}");
        assert!(err.to_string().contains("OUT_DIR"), "{err}");
    }
}

#[test]
fn embedded_weights_are_checked_copied_and_watched() {
    let compiled = resnetc::compile_file(&example("seed.rn"), &Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    resnetc::interp::init(&compiled.model, 0)
        .save(&weights)
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let inputs = config(&example("seed.rn"), out.path())
        .embed_weights(&weights)
        .try_compile()
        .unwrap();
    assert_eq!(inputs, vec![example("seed.rn"), weights.clone()]);
    let copy = out.path().join("seed.safetensors");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&weights).unwrap()
    );
    let code = std::fs::read_to_string(out.path().join("seed.rs")).unwrap();
    assert!(code.contains("seed.safetensors"));
    assert!(!code.contains(dir.path().to_str().unwrap()));
    assert!(!code.contains(out.path().to_str().unwrap()));

    // Weights written into OUT_DIR itself (by the build script) are an
    // output, not an input: they are used in place and not watched.
    let inputs = config(&example("seed.rn"), out.path())
        .embed_weights(&copy)
        .try_compile()
        .unwrap();
    assert_eq!(inputs, vec![example("seed.rn")]);
}

#[test]
fn weights_that_do_not_fit_are_diagnostics() {
    let other = resnetc::compile_file(&example("two_heads.rn"), &Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("other.safetensors");
    resnetc::interp::init(&other.model, 0)
        .save(&weights)
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = config(&example("seed.rn"), out.path())
        .embed_weights(&weights)
        .try_compile()
        .unwrap_err();
    assert!(matches!(err, BuildError::Weights { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("error[E0300]"), "{text}");
    assert!(text.contains("seed.rn:"), "{text}");
    assert!(!out.path().join("seed.rs").exists());

    std::fs::write(&weights, b"not safetensors").unwrap();
    let err = config(&example("seed.rn"), out.path())
        .embed_weights(&weights)
        .try_compile()
        .unwrap_err();
    assert!(
        err.to_string().contains("not a valid safetensors file"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Real cargo builds of `examples/build-rs`, in the workspace's target
// directory and the `dev` profile, whose dependency settings `cargo test`
// also uses: the dependencies the test build already compiled with the same
// features are reused, as are the runtime's dependencies for
// tests/suite/codegen_run.rs where their features match (resnetc itself is
// built again: a workspace member here, a dependency there). The first build
// compiles resnetc's compiler for the build script, the second reuses it.

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // The test's own environment describes this package, not the one built.
    for var in [
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
        "OUT_DIR",
        // .ci/run builds the workspace with clippy as the compiler of its
        // members; the crates built here are compiled as a user's are.
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", target_dir());
    cmd
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// A build script that compiles a broken model with `compile()` fails the
/// build and shows the diagnostic: `examples/build-rs`, pointed at a broken
/// model through `RESNETC_EXAMPLE_MODEL` (so it reuses that crate's build).
#[test]
fn cargo_build_fails_with_the_diagnostic() {
    let dir = target_dir().join("build-api-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.rn");
    std::fs::write(&broken, BROKEN).unwrap();
    let output = cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "build-rs-example",
            "--manifest-path",
        ])
        .arg(root().join("Cargo.toml"))
        .env("RESNETC_EXAMPLE_MODEL", &broken)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the build succeeded:\n{stderr}");
    assert!(
        stderr.contains("failed to run custom build command"),
        "{stderr}"
    );
    assert!(stderr.contains("error[E0200]"), "{stderr}");
    assert!(stderr.contains("broken.rn:4:10"), "{stderr}");
    assert!(
        !stderr.contains("panicked"),
        "compile() did not exit cleanly:\n{stderr}"
    );
}

/// `examples/build-rs` builds and runs: build script, generated code with
/// embedded weights, runtime-only dependency.
#[test]
fn build_rs_example_builds_and_runs() {
    let output = cargo()
        .args([
            "run",
            "--quiet",
            "-p",
            "build-rs-example",
            "--manifest-path",
        ])
        .arg(root().join("Cargo.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("output shape: [2, 64, 64, 64]"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("mean"), "{stdout}");
}
