//! `resnetc fmt` on the corpus and on the command line.
//!
//! Every example, every error-corpus file that parses and every fixture net:
//! formatting is idempotent, keeps every comment, and keeps the meaning (the
//! same summary and the same checked IR apart from spans, or the same
//! diagnostics apart from their places). Every example is fmt-clean.
//! Generated programs are tested in `src/fmt/properties.rs`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use resnetc::fmt::{FormatError, format_source};
use resnetc::report::Summary;
use resnetc::{CheckOptions, compile_file};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rn_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rn"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .rn files in {dir}");
    files
}

fn examples() -> Vec<PathBuf> {
    let mut v = rn_files("examples");
    v.extend(rn_files("examples/lib"));
    v
}

/// The comments of a text, in order (a `#` outside a string, to the end of the line).
fn comments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut in_string = false;
        for (i, c) in line.char_indices() {
            match c {
                '"' => in_string = !in_string,
                '#' if !in_string => {
                    out.push(line[i..].trim_end());
                    break;
                }
                _ => {}
            }
        }
    }
    out
}

/// Replaces every span (an object `{file, start, end}`) by `null`.
fn without_spans(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let is_span = map.len() == 3
                && map.contains_key("file")
                && map.contains_key("start")
                && map.contains_key("end");
            if is_span {
                *v = serde_json::Value::Null;
            } else {
                map.values_mut().for_each(without_spans);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(without_spans),
        _ => {}
    }
}

/// What compiling `path` gives, places aside: the summary and the checked
/// graph without spans, or the diagnostics without their spans.
fn meaning(path: &Path) -> String {
    match compile_file(path, &CheckOptions::default()) {
        Ok(c) => {
            let mut graph = serde_json::to_value(c.model.graph()).unwrap();
            without_spans(&mut graph);
            let warnings: Vec<String> = c
                .warnings
                .iter()
                .map(|d| format!("{} {}", d.code.as_str(), d.message))
                .collect();
            format!("{}\n{graph}\n{warnings:?}", Summary::new(&c.model).render())
        }
        Err(resnetc::Error::Compile(e)) => {
            let diags: Vec<String> = e
                .diagnostics
                .iter()
                .map(|d| {
                    let labels: Vec<&str> = d
                        .primary
                        .iter()
                        .chain(&d.secondary)
                        .map(|l| l.message.as_str())
                        .collect();
                    format!(
                        "{} {} {labels:?} {:?} {:?}",
                        d.code.as_str(),
                        d.message,
                        d.notes,
                        d.help
                    )
                })
                .collect();
            format!("{diags:#?}")
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// Formats `file` and checks idempotence, comments and meaning. Returns
/// `false` for a file with syntax errors.
fn check_file(file: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(file) else {
        return false; // not UTF-8: a syntax error
    };
    check_text(file, &text).is_some()
}

/// Formats `text` (the content of `file`, or a variant of it) and checks
/// idempotence, comments and meaning; returns the formatted text, or `None`
/// for a text with syntax errors.
fn check_text(file: &Path, text: &str) -> Option<String> {
    let name = file.file_name().unwrap();
    let once = match format_source(text) {
        Ok(f) => f,
        Err(FormatError::Syntax { .. }) => return None,
        Err(e) => panic!("{}: {e}", file.display()),
    };
    let twice = format_source(&once).unwrap();
    assert_eq!(once, twice, "{}: not idempotent", file.display());
    assert_eq!(
        comments(text),
        comments(&once),
        "{}: comments",
        file.display()
    );
    // Compile both from the same path, next to a copy of examples/lib/.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    for lib in rn_files("examples/lib") {
        std::fs::copy(&lib, dir.path().join("lib").join(lib.file_name().unwrap())).unwrap();
    }
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let before = meaning(&path);
    std::fs::write(&path, &once).unwrap();
    let after = meaning(&path);
    assert_eq!(before, after, "{}: meaning changed", file.display());
    Some(once)
}

/// `text` with odd spacing: spaces around `,`, `(`, `:` and `->`, tabs
/// before every line, spaces at line ends and before comments.
fn mess_up(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut code = String::new();
        let mut comment = "";
        for (i, c) in line.char_indices() {
            match c {
                '"' => {
                    in_string = !in_string;
                    code.push(c);
                }
                '#' if !in_string => {
                    comment = &line[i..];
                    break;
                }
                ',' | '(' | ':' if !in_string => code.push_str(&format!(" {c}  ")),
                _ => code.push(c),
            }
        }
        let code = code.replace("->", "  ->\t");
        out.push_str(&format!("\t{code}   {comment}  \n"));
    }
    out
}

#[test]
fn messed_up_examples_format_back_to_themselves() {
    for f in examples() {
        let text = std::fs::read_to_string(&f).unwrap();
        let messy = mess_up(&text);
        assert_ne!(messy, text);
        let formatted = check_text(&f, &messy).expect("the messed-up example parses");
        assert!(
            formatted == text,
            "{}: formatting a messed-up copy does not give the example back:\n{}",
            f.display(),
            similar::TextDiff::from_lines(&text, &formatted).unified_diff()
        );
    }
}

#[test]
fn the_corpus_formats_idempotently_keeping_comments_and_meaning() {
    let mut formatted = 0;
    let mut skipped = 0;
    let mut files = examples();
    files.extend(rn_files("tests/errors"));
    files.extend(rn_files("tests/fixtures/nets"));
    for f in &files {
        if check_file(f) {
            formatted += 1;
        } else {
            skipped += 1;
        }
    }
    // The error corpus has 8 files with syntax errors (E0001-E0003 and the
    // unterminated string); everything else parses.
    assert_eq!(skipped, 8, "files with syntax errors");
    assert!(formatted >= 50, "only {formatted} files formatted");
}

#[test]
fn every_example_is_fmt_clean() {
    for f in examples() {
        let text = std::fs::read_to_string(&f).unwrap();
        let formatted = format_source(&text).unwrap();
        assert!(
            formatted == text,
            "{} is not formatted; run `resnetc fmt {}`:\n{}",
            f.display(),
            f.display(),
            similar::TextDiff::from_lines(&text, &formatted).unified_diff()
        );
    }
}

// ----------------------------------------------------------------------------
// The command line

const MESSY: &str = "model m{input x:[3,8,8]\n x->relu}\n";
const TIDY: &str = "model m {\n  input x: [3, 8, 8]\n  x -> relu\n}\n";

fn resnetc() -> Command {
    Command::cargo_bin("resnetc").unwrap()
}

#[cfg(unix)]
fn inode(p: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap())
}

#[test]
fn check_prints_a_diff_exits_1_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let messy = dir.path().join("messy.rn");
    let tidy = dir.path().join("tidy.rn");
    std::fs::write(&messy, MESSY).unwrap();
    std::fs::write(&tidy, TIDY).unwrap();
    let out = resnetc()
        .args(["fmt", "--check"])
        .arg(&messy)
        .arg(&tidy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("-model m{input x:[3,8,8]"), "{stdout}");
    assert!(stdout.contains("+model m {"), "{stdout}");
    assert!(stdout.contains("messy.rn (formatted)"), "{stdout}");
    assert!(
        !stdout.contains("tidy.rn"),
        "a formatted file has no diff: {stdout}"
    );
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY);
    // A formatted file passes.
    resnetc()
        .args(["fmt", "--check"])
        .arg(&tidy)
        .assert()
        .code(0)
        .stdout("");
}

#[test]
fn rewrites_changed_files_in_place_and_leaves_others_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let messy = dir.path().join("messy.rn");
    let tidy = dir.path().join("tidy.rn");
    std::fs::write(&messy, MESSY).unwrap();
    std::fs::write(&tidy, TIDY).unwrap();
    #[cfg(unix)]
    let tidy_inode = inode(&tidy);
    resnetc()
        .arg("fmt")
        .arg(&messy)
        .arg(&tidy)
        .assert()
        .code(0)
        .stdout("");
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), TIDY);
    assert_eq!(std::fs::read_to_string(&tidy).unwrap(), TIDY);
    // Not rewritten: an atomic rewrite would have replaced the file (a new inode).
    #[cfg(unix)]
    assert_eq!(inode(&tidy), tidy_inode);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no temp files left"
    );
}

#[test]
fn a_file_with_syntax_errors_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rn");
    let messy = dir.path().join("messy.rn");
    let src = "model m {\n  input x: [3, 8, 8]\n  x -> )\n}\n";
    std::fs::write(&bad, src).unwrap();
    std::fs::write(&messy, MESSY).unwrap();
    let out = resnetc().arg("fmt").arg(&bad).arg(&messy).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("error[E0001]"), "{stderr}");
    assert!(stderr.contains("bad.rn:3"), "{stderr}");
    assert!(stderr.contains("could not format"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), src);
    // The other files are still formatted.
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), TIDY);
}

#[test]
fn a_file_that_is_not_utf8_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("latin1.rn");
    let bytes = b"# caf\xe9\nmodel m {\n}\n";
    std::fs::write(&bad, bytes).unwrap();
    let out = resnetc().arg("fmt").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("error[E0003]"), "{stderr}");
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);
}

#[test]
fn dash_reads_stdin_and_writes_stdout() {
    resnetc()
        .args(["fmt", "-"])
        .write_stdin(MESSY)
        .assert()
        .code(0)
        .stdout(TIDY);
    let out = resnetc()
        .args(["fmt", "--check", "-"])
        .write_stdin(MESSY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("+  x -> relu"), "{stdout}");
    let out = resnetc()
        .args(["fmt", "-"])
        .write_stdin("model {")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("<stdin>:1"), "{stderr}");
}

#[test]
fn an_unreadable_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = resnetc()
        .arg("fmt")
        .arg(dir.path().join("missing.rn"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot read"), "{stderr}");
}
