//! The command line: exit codes, streams and formats.

use assert_cmd::Command;
use std::path::Path;

fn resnetc() -> Command {
    let mut c = Command::cargo_bin("resnetc").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn stdout_of(c: &mut Command) -> String {
    let out = c.output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn seed_summary_has_keras_totals() {
    let out = resnetc()
        .arg("examples/seed.rn")
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Total params: 150,528"), "{text}");
    assert!(text.contains("Trainable params: 150,016"), "{text}");
    assert!(text.contains("Non-trainable params: 512"), "{text}");
    assert!(text.contains("output: N×64×64×64"), "{text}");
    assert!(out.stderr.is_empty(), "no warnings expected");
}

#[test]
fn model_errors_exit_1_with_rendered_diagnostics_on_stderr() {
    let out = resnetc()
        .arg("tests/errors/e0200_skip_without_projection.rn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("error[E0200]"), "{err}");
    assert!(
        err.contains("tests/errors/e0200_skip_without_projection.rn:"),
        "{err}"
    );
    assert!(err.contains('^'), "{err}");
    assert!(err.contains("could not compile"), "{err}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    resnetc().arg("does/not/exist.rn").assert().code(2);
    resnetc()
        .args(["examples/seed.rn", "--input", "3x0x4"])
        .assert()
        .code(2);
    resnetc()
        .args(["examples/seed.rn", "--format", "xml"])
        .assert()
        .code(2);
    resnetc().assert().code(2);
    resnetc().args(["explain", "E9999"]).assert().code(2);
}

#[test]
fn unknown_model_is_a_usage_error() {
    let out = resnetc()
        .args(["examples/resnet18.rn", "--model", "resnet19"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no model named `resnet19`"), "{err}");
    assert!(err.contains("did you mean"), "{err}");
}

#[test]
fn picks_a_model_and_overrides_the_input() {
    let text = stdout_of(resnetc().args([
        "examples/resnet18.rn",
        "--model",
        "resnet",
        "--input",
        "3x64x64",
    ]));
    // `resnet` has required parameters: it cannot be compiled on its own.
    assert!(text.is_empty());
    let text = stdout_of(resnetc().args(["examples/resnet18.rn", "--input", "3x64x64"]));
    assert!(text.contains("x: N×3×64×64"), "{text}");
    assert!(text.contains("layer4.1.relu_1 (relu)"), "{text}");
    assert!(text.contains("N×512×2×2"), "{text}");
    let text = stdout_of(resnetc().args(["examples/two_heads.rn", "--input", "meta=8"]));
    assert!(text.contains("meta: N×8"), "{text}");
}

#[test]
fn yaml_and_json_are_the_same_data() {
    let yaml = stdout_of(resnetc().args(["examples/seed.rn", "--format", "yaml"]));
    let json = stdout_of(resnetc().args(["examples/seed.rn", "--format", "json"]));
    let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    let from_json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(from_yaml, from_json);
    assert_eq!(from_json["totals"]["total_params"], 150_528);
    assert_eq!(from_json["totals"]["non_trainable_params"], 512);
    let add = from_json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["type"] == "add")
        .unwrap();
    assert_eq!(
        add["connected_to"].as_array().unwrap().len(),
        2,
        "skip connections are visible"
    );
}

#[test]
fn json_diagnostics_are_one_object_per_line() {
    let out = resnetc()
        .args([
            "tests/errors/e0200_skip_without_projection.rn",
            "--message-format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    let d = &lines[0];
    assert_eq!(d["code"], "E0200");
    assert_eq!(d["severity"], "error");
    assert!(d["primary"]["line"].as_u64().unwrap() > 0);
    assert!(d["primary"]["column"].as_u64().unwrap() > 0);
    assert!(
        d["help"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h.as_str().unwrap().contains("conv("))
    );
}

#[test]
fn warnings_do_not_fail_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("w.rn");
    std::fs::write(
        &f,
        "model m {\n  input x: [3, 8, 8]\n  unused = x -> relu\n  x -> relu\n}\n",
    )
    .unwrap();
    let out = resnetc().arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("warning[W0001]"), "{err}");
}

#[test]
fn ir_format_and_ops_reference() {
    let ir = stdout_of(resnetc().args(["examples/seed.rn", "--format", "ir"]));
    assert!(ir.starts_with("model seed\n%0 inputs = input()"), "{ir}");
    let ops = stdout_of(resnetc().arg("ops"));
    assert_eq!(
        ops,
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ops.md")).unwrap()
    );
    let explain = stdout_of(resnetc().args(["explain", "e0200"]));
    assert!(explain.starts_with("E0200: "), "{explain}");
}

#[test]
fn closed_stdout_is_not_a_panic() {
    // `resnetc emit big.rn | head -c 10`: a broken pipe must not panic.
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["emit", "examples/densenet121.rn"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    // The code is larger than a pipe's buffer, so the write that the closed
    // pipe stops is certain: status 141 (128 + SIGPIPE), no message.
    let len = stdout_of(resnetc().args(["emit", "examples/densenet121.rn"])).len();
    assert!(len > 1 << 17, "{len} bytes");
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert_eq!(err, "");
}

#[test]
fn every_error_file_exits_1_with_a_located_diagnostic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rn"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "the error corpus has {} files",
        files.len()
    );
    for f in files {
        let rel = f
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .to_owned();
        let warnings_only = rel.file_name().unwrap().to_string_lossy().starts_with('w');
        let out = resnetc().arg(&rel).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(if warnings_only { 0 } else { 1 }),
            "{}: {err}",
            rel.display()
        );
        assert!(
            err.contains(&format!("{}:", rel.display())),
            "{}: {err}",
            rel.display()
        );
        assert!(err.contains('^'), "{}: no caret: {err}", rel.display());
        assert!(!err.contains("panicked"), "{}: {err}", rel.display());
    }
}

#[test]
fn emit_writes_rust_or_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed.rs");
    resnetc()
        .args(["emit", "examples/seed.rn", "-o"])
        .arg(&out)
        .assert()
        .success();
    let code = std::fs::read_to_string(&out).unwrap();
    assert!(
        code.starts_with("// @generated by resnetc from examples/seed.rn"),
        "{}",
        &code[..200]
    );
    assert!(code.contains("pub fn forward"));
    // To stdout, byte-identical.
    assert_eq!(
        stdout_of(resnetc().args(["emit", "examples/seed.rn"])),
        code
    );
    // A broken model: exit 1 with the diagnostic, nothing written.
    let bad = dir.path().join("bad.rs");
    let o = resnetc()
        .args([
            "emit",
            "tests/errors/e0200_skip_without_projection.rn",
            "-o",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error[E0200]"));
    assert!(!bad.exists());
    // An unwritable output path: exit non-zero, clear message.
    let o = resnetc()
        .args(["emit", "examples/seed.rn", "-o"])
        .arg(dir.path().join("missing/dir/seed.rs"))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
}
