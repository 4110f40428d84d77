//! `resnetc completions` and `resnetc man`: scripts that the shells accept
//! and a manual page that groff renders without a warning.

use crate::tools;

use std::io::Write;
use std::process::Stdio;

use assert_cmd::Command;

const SUBCOMMANDS: &[&str] = &[
    "ops",
    "explain",
    "run",
    "init",
    "check",
    "bench",
    "emit",
    "graph",
    "completions",
    "man",
];

fn resnetc() -> Command {
    let mut c = Command::cargo_bin("resnetc").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn stdout_of(args: &[&str]) -> String {
    let out = resnetc().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `program args…` with `input` on stdin; returns (success, stdout, stderr).
fn run_with_stdin(
    program: &std::path::Path,
    args: &[&str],
    input: &[u8],
) -> (bool, String, String) {
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `shell -n script`: parse without running.
fn syntax_check(shell: &std::path::Path, script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnetc.completion");
    std::fs::write(&path, script).unwrap();
    let out = std::process::Command::new(shell)
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{} -n rejects the script:\n{}",
        shell.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: `{sub}` missing");
        }
        assert!(script.contains("expand-blocks"), "{shell}");
    }
    resnetc().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn bash_script_parses() {
    let Some(bash) = tools::required("bash", "apt-get install bash") else {
        return;
    };
    syntax_check(&bash, &stdout_of(&["completions", "bash"]));
}

#[test]
fn zsh_and_fish_scripts_parse_where_installed() {
    for shell in ["zsh", "fish"] {
        if let Some(program) = tools::optional(shell) {
            syntax_check(&program, &stdout_of(&["completions", shell]));
        }
    }
}

#[test]
fn man_page_renders_without_warnings() {
    let page = stdout_of(&["man"]);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "not roff:\n{page}");
    let Some(groff) = tools::required("groff", "apt-get install groff") else {
        return;
    };
    // -ww: all warnings; -z: no output, only the diagnostics.
    let (ok, _, stderr) = run_with_stdin(&groff, &["-man", "-Tutf8", "-ww", "-z"], page.as_bytes());
    assert!(ok && stderr.is_empty(), "groff warns:\n{stderr}");
    let (ok, text, stderr) =
        run_with_stdin(&groff, &["-man", "-Tutf8", "-P-cbou"], page.as_bytes());
    assert!(ok, "{stderr}");
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "EXIT STATUS"] {
        assert!(text.contains(section), "{section} missing:\n{text}");
    }
    for sub in SUBCOMMANDS {
        let heading = format!("resnetc {sub}");
        assert!(text.contains(&heading), "`{heading}` missing:\n{text}");
    }
    assert!(text.contains("--expand-blocks"), "{text}");
    // Shapes keep their `×` (written as a \[u00D7] escape).
    assert!(text.contains("N×C×H×W"), "{text}");
}

#[test]
fn man_writes_the_page_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnetc.1");
    resnetc().arg("man").arg("-o").arg(&path).assert().success();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), stdout_of(&["man"]));
    let missing = dir.path().join("no/such/dir/resnetc.1");
    resnetc()
        .arg("man")
        .arg("-o")
        .arg(&missing)
        .assert()
        .code(2);
}
