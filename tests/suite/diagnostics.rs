//! Snapshot tests of the compiler's diagnostics.
//!
//! Every `tests/errors/*.rn` file is a small program with a realistic mistake.
//! Its first line is a comment naming the codes it must produce:
//!
//! ```text
//! # E0200: the classic skip connection without a projection shortcut
//! # E0100 E0102 E0200: several independent errors in one run
//! ```
//!
//! The test compiles each file, checks that the named codes are reported and
//! that every diagnostic points at a `file:line:col` with a caret, and
//! snapshots the full rendered output (`tests/suite/snapshots/`). To accept changed
//! output: `INSTA_UPDATE=always cargo test --test suite diagnostics::`, then review
//! the `.snap` files.

use std::path::{Path, PathBuf};

use resnetc::diag::{Diagnostic, Severity};
use resnetc::{CheckOptions, SourceMap};

/// The codes named by the file's first line (`# E0200 W0001: ...`).
fn expected_codes(path: &Path, bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or_default();
    let header = first.strip_prefix("# ").unwrap_or_else(|| {
        panic!(
            "{}: the first line must be a `# CODE: what` comment",
            path.display()
        )
    });
    let (codes, what) = header.split_once(':').unwrap_or_else(|| {
        panic!(
            "{}: the first line must read `# CODE: what`",
            path.display()
        )
    });
    assert!(
        !what.trim().is_empty(),
        "{}: say what the file tests",
        path.display()
    );
    let codes: Vec<String> = codes
        .split([' ', ','])
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    for c in &codes {
        let ok = c.len() == 5
            && (c.starts_with('E') || c.starts_with('W'))
            && c[1..].chars().all(|d| d.is_ascii_digit());
        assert!(ok, "{}: `{c}` is not a diagnostic code", path.display());
    }
    assert!(
        !codes.is_empty(),
        "{}: no expected code in the first line",
        path.display()
    );
    codes
}

/// Does `rendered` contain `file:LINE:COL`?
fn has_location(rendered: &str, file: &str) -> bool {
    rendered.match_indices(file).any(|(i, m)| {
        let rest = &rendered[i + m.len()..];
        let mut parts = rest.splitn(3, ':');
        let empty = parts.next().is_some_and(str::is_empty);
        let line = parts
            .next()
            .is_some_and(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()));
        let col = parts
            .next()
            .is_some_and(|c| c.chars().next().is_some_and(|d| d.is_ascii_digit()));
        empty && line && col
    })
}

/// Does `rendered` have a source line underlined with carets?
fn has_caret(rendered: &str) -> bool {
    rendered
        .lines()
        .any(|l| l.trim_start().starts_with('│') && l.contains('^'))
}

/// Compiles `rel` (a path relative to the crate root) and returns its
/// diagnostics with the sources they point into.
fn diagnostics(rel: &Path) -> (Vec<Diagnostic>, SourceMap) {
    match resnetc::compile_file(rel, &CheckOptions::default()) {
        Ok(c) => (c.warnings, c.sources),
        Err(resnetc::Error::Compile(e)) => (e.diagnostics, e.sources),
        Err(e) => panic!("{}: {e}", rel.display()),
    }
}

#[test]
fn error_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Diagnostics show paths as given: compile with crate-relative paths so
    // that the snapshots do not depend on where the crate is checked out.
    std::env::set_current_dir(&root).expect("cannot enter the crate root");
    crate::snapshot_files::each_file("tests/errors", "rn", |path| {
        let rel = path
            .strip_prefix(&root)
            .expect("error file outside the crate");
        let name = rel.to_str().expect("non-UTF-8 path").replace('\\', "/");
        let bytes = std::fs::read(path).expect("cannot read the error file");
        let expected = expected_codes(rel, &bytes);

        let (diags, sources) = diagnostics(Path::new(&name));
        assert!(!diags.is_empty(), "{name}: no diagnostic at all");

        let mut rendered = String::new();
        for d in &diags {
            let text = d.render(&sources);
            if d.severity == Severity::Error {
                assert!(
                    has_location(&text, &name),
                    "{name}: an error without a `{name}:line:col` location:\n{text}"
                );
                assert!(
                    has_caret(&text),
                    "{name}: an error without a caret line:\n{text}"
                );
            }
            rendered.push_str(&text);
        }
        for code in &expected {
            assert!(
                diags.iter().any(|d| d.code.as_str() == code),
                "{name}: expected {code}, got:\n{rendered}"
            );
        }
        // A file that promises only warnings must compile.
        if expected.iter().all(|c| c.starts_with('W')) {
            assert!(
                diags.iter().all(|d| d.severity == Severity::Warning),
                "{name}: expected only warnings, got:\n{rendered}"
            );
        }
        insta::assert_snapshot!(rendered);
    });
}

/// Every code that compiling a `.rn` file can produce is exercised by some
/// error file. (E03xx are about weights files, not programs: tested with the
/// weights loader.)
#[test]
fn every_code_is_covered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors");
    let mut covered = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("tests/errors") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "rn") {
            let bytes = std::fs::read(&path).expect("cannot read the error file");
            covered.extend(expected_codes(&path, &bytes));
        }
    }
    let missing: Vec<&str> = resnetc::diag::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !c.starts_with("E03"))
        // Internal errors (a bug in resnetc) have no model that causes them.
        .filter(|c| !c.starts_with("E09"))
        .filter(|c| !covered.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "no file in tests/errors/ covers {missing:?}"
    );
}

/// `resnetc explain` without a code lists every code with its explanation,
/// one per line, in order; with a code, just that one.
#[test]
fn explain_lists_every_code() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .arg("explain")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let expected: Vec<String> = resnetc::diag::Code::ALL
        .iter()
        .map(|c| format!("{}: {}", c.as_str(), c.explain()))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    let one = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .args(["explain", "E0111"])
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8(one.stdout).expect("UTF-8"),
        format!("E0111: {}\n", resnetc::diag::Code::E0111.explain())
    );
}

/// Each of the three errors E0105 once covered has its own code.
#[test]
fn body_errors_have_one_code_each() {
    let code = |text: &str| -> Vec<&'static str> {
        match resnetc::compile_source("t.rn", text, &CheckOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.code.as_str())
                .collect(),
        }
    };
    let no_input = "block b(w = 1) { x }\nmodel m { input x: [3, 8, 8]\n x -> b }";
    let no_result = "block b(w = 1) { input x\n y = x }\nmodel m { input x: [3, 8, 8]\n x -> b }";
    let misplaced =
        "block b(w = 1) { input x\n output x\n x }\nmodel m { input x: [3, 8, 8]\n x -> b }";
    assert!(code(no_input).contains(&"E0105"), "{:?}", code(no_input));
    assert_eq!(code(no_result), ["E0111"]);
    assert_eq!(code(misplaced), ["E0112"]);
}
