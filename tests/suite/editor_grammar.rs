//! The VS Code extension in `editors/vscode/`: its TextMate grammar names every
//! keyword of `grammar/resnet.ebnf` and every op and built-in of the op table,
//! its scope assertions (`editors/vscode/tests/*.rn`) hold, and its snapshots of
//! the examples (`editors/vscode/tests/snapshots/`) are current.
//!
//! The last two run `vscode-tmgrammar-test` / `vscode-tmgrammar-snap` from
//! `editors/vscode/node_modules/.bin/` (`.ci/setup-editor.sh` installs them).
//! `UPDATE_EDITOR_SNAPSHOTS=1 cargo test --test suite editor_grammar::` rewrites the snapshots.

use crate::tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use resnetc::check::builtins;
use resnetc::ir::ops::OPS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vscode() -> PathBuf {
    root().join("editors/vscode")
}

fn grammar() -> serde_json::Value {
    let path = vscode().join("syntaxes/rn.tmLanguage.json");
    let text = std::fs::read_to_string(&path).expect("read the grammar");
    serde_json::from_str(&text).expect("the grammar is valid JSON")
}

/// Every `(scope name, regex)` of the grammar, at any depth.
fn patterns(v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            let name = map.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            for key in ["match", "begin"] {
                if let Some(re) = map.get(key).and_then(|r| r.as_str()) {
                    out.push((name.to_string(), re.to_string()));
                }
            }
            for child in map.values() {
                patterns(child, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| patterns(i, out)),
        _ => {}
    }
}

/// The identifier-like words of a regex (`\b(if|else)\b` → `b`, `if`, `else`, `b`).
fn words(re: &str) -> BTreeSet<String> {
    re.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The words of the regex of the pattern with this scope name.
fn words_of_scope(all: &[(String, String)], scope: &str) -> BTreeSet<String> {
    let found: Vec<&(String, String)> = all.iter().filter(|(n, _)| n == scope).collect();
    assert_eq!(found.len(), 1, "exactly one pattern is named {scope}");
    let re = &found[0].1;
    // `\b(a|b|c)\b`, optionally followed by a lookahead: the alternation itself.
    let inner = re
        .strip_prefix("\\b(")
        .and_then(|r| r.split_once(")\\b"))
        .map(|(alts, _)| alts)
        .unwrap_or_else(|| panic!("{scope}: expected `\\b(a|b|…)\\b`, found {re}"));
    inner.split('|').map(str::to_string).collect()
}

/// The terminals of the `keyword` rule of grammar/resnet.ebnf.
fn ebnf_keywords() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("grammar/resnet.ebnf")).expect("read ebnf");
    let start = text
        .lines()
        .position(|l| l.trim_start().starts_with("keyword") && l.contains('='))
        .expect("grammar/resnet.ebnf has a `keyword` rule");
    let mut rule = String::new();
    for line in text.lines().skip(start) {
        rule.push_str(line);
        if line.contains(';') {
            break;
        }
    }
    rule.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn grammar_names_every_keyword_op_and_builtin() {
    let mut all = Vec::new();
    patterns(&grammar(), &mut all);
    let every_word: BTreeSet<String> = all.iter().flat_map(|(_, re)| words(re)).collect();

    let keywords = ebnf_keywords();
    assert_eq!(keywords.len(), 12, "the keyword rule changed: {keywords:?}");
    for k in &keywords {
        assert!(
            every_word.contains(k),
            "keyword `{k}` is not in the grammar"
        );
    }

    let ops: BTreeSet<String> = OPS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
        .map(str::to_string)
        .collect();
    assert_eq!(
        words_of_scope(&all, "support.function.op.rn"),
        ops,
        "the grammar's op names differ from src/ir/ops.rs OPS"
    );

    let builtin_names: BTreeSet<String> = builtins::BUILTINS
        .iter()
        .map(|b| b.name.to_string())
        .collect();
    assert_eq!(
        words_of_scope(&all, "support.function.builtin.rn"),
        builtin_names,
        "the grammar's built-ins differ from src/check/builtins.rs"
    );
    for constant in ["same", "valid", "true", "false"] {
        assert!(every_word.contains(constant), "`{constant}` missing");
    }
}

#[test]
fn package_json_contributes_the_language_and_grammar() {
    let text = std::fs::read_to_string(vscode().join("package.json")).expect("read package.json");
    let pkg: serde_json::Value = serde_json::from_str(&text).expect("package.json is JSON");
    let lang = &pkg["contributes"]["languages"][0];
    assert_eq!(lang["id"], "rn");
    assert_eq!(lang["extensions"][0], ".rn");
    let grammar = &pkg["contributes"]["grammars"][0];
    assert_eq!(grammar["scopeName"], "source.rn");
    assert!(vscode().join(grammar["path"].as_str().unwrap()).is_file());
    assert!(
        pkg.get("main").is_none() && pkg.get("browser").is_none(),
        "the extension is code-free"
    );
    let config = std::fs::read_to_string(vscode().join("language-configuration.json")).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).expect("valid JSON");
    assert_eq!(config["comments"]["lineComment"], "#");
}

/// The npm tool `name`, or `None` after saying why it is skipped (outside CI).
fn tool(name: &str) -> Option<PathBuf> {
    let path = vscode().join("node_modules/.bin").join(name);
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "{} not found: run `.ci/setup-editor.sh` (npm ci in editors/vscode; needs Node.js and npm)",
        path.display()
    );
    tools::missing(&why)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run the npm tool (is node installed?)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn scope_assertions_hold() {
    let Some(test) = tool("vscode-tmgrammar-test") else {
        return;
    };
    let out = run(Command::new(test).current_dir(vscode()).args([
        "-c",
        "-g",
        "syntaxes/rn.tmLanguage.json",
        "tests/*.rn",
    ]));
    assert!(out.contains("tokens.rn"), "no test file ran:\n{out}");
}

fn rn_files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rn_files(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "rn") {
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
        }
    }
}

#[test]
fn snapshots_of_the_examples_are_current() {
    let Some(snap) = tool("vscode-tmgrammar-snap") else {
        return;
    };
    let update = std::env::var_os("UPDATE_EDITOR_SNAPSHOTS").is_some();
    let examples = root().join("examples");
    let snapshots = vscode().join("tests/snapshots");
    let mut files = Vec::new();
    rn_files(&examples, &examples, &mut files);
    assert!(files.len() >= 15, "examples: {files:?}");

    // The tool keeps `x.rn.snap` beside `x.rn`: work on a copy of the examples.
    let work = tempfile::tempdir().unwrap();
    for rel in &files {
        let dest = work.path().join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(examples.join(rel), &dest).unwrap();
        let snap_rel = PathBuf::from(format!("{}.snap", rel.display()));
        let committed = snapshots.join(&snap_rel);
        if committed.is_file() {
            std::fs::copy(&committed, work.path().join(&snap_rel)).unwrap();
        } else {
            assert!(
                update,
                "{} has no snapshot: run UPDATE_EDITOR_SNAPSHOTS=1 cargo test --test suite editor_grammar:: and review it",
                rel.display()
            );
        }
    }
    let mut cmd = Command::new(snap);
    cmd.current_dir(work.path()).args([
        "-g",
        vscode()
            .join("syntaxes/rn.tmLanguage.json")
            .to_str()
            .unwrap(),
        "-s",
        "source.rn",
        "**/*.rn",
    ]);
    if update {
        cmd.arg("--updateSnapshot");
    }
    run(&mut cmd);
    if update {
        for rel in &files {
            let snap_rel = PathBuf::from(format!("{}.snap", rel.display()));
            let dest = snapshots.join(&snap_rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(work.path().join(&snap_rel), dest).unwrap();
        }
    }
    // No stale snapshot of a removed example.
    let mut snaps = Vec::new();
    collect_snaps(&snapshots, &snapshots, &mut snaps);
    let expected: Vec<PathBuf> = files
        .iter()
        .map(|r| PathBuf::from(format!("{}.snap", r.display())))
        .collect();
    snaps.sort();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort();
    assert_eq!(snaps, expected_sorted, "one snapshot per example");
}

fn collect_snaps(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_snaps(&p, base, out);
        } else if p.extension().is_some_and(|e| e == "snap") {
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
        }
    }
}
