//! Keeps `grammar/resnet.ebnf` and the parser in step.
//!
//! Every parser function records the grammar rule it implements when it
//! succeeds (test builds only). These tests parse the example corpus and check
//! that every rule of the grammar is implemented and exercised.

use std::cell::RefCell;
use std::collections::BTreeSet;

thread_local! {
    static HITS: RefCell<BTreeSet<&'static str>> = const { RefCell::new(BTreeSet::new()) };
}

pub(crate) fn record_hits(hits: &BTreeSet<&'static str>) {
    HITS.with(|h| h.borrow_mut().extend(hits.iter().copied()));
}

/// The rules recorded so far on this thread.
pub(crate) fn hits() -> BTreeSet<&'static str> {
    HITS.with(|h| h.borrow().clone())
}

/// The rule names defined in the grammar file.
pub(crate) fn grammar_rules() -> Vec<String> {
    let text = include_str!("../../grammar/resnet.ebnf");
    // Drop comments, then take every `name =` at the start of a line.
    let mut clean = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("(*") {
        clean.push_str(&rest[..start]);
        rest = rest[start..]
            .find("*)")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    clean.push_str(rest);
    clean
        .lines()
        .filter_map(|l| {
            let (name, _) = l.split_once('=')?;
            let name = name.trim();
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

/// Rules that are lexical details checked inside other parsers.
const LEXICAL: &[&str] = &["compare_op", "exponent"];

#[test]
fn every_rule_is_implemented_by_a_parser_function() {
    let parser = include_str!("parser.rs");
    for rule in grammar_rules() {
        let cited = parser.contains(&format!("rule: {rule}\n"))
            || parser.contains(&format!("rule: {rule},"))
            || parser
                .lines()
                .any(|l| l.contains("rule: ") && l.split(&[' ', ','][..]).any(|w| w == rule));
        assert!(
            cited,
            "grammar rule `{rule}` is cited by no parser function"
        );
    }
}

#[test]
fn the_corpus_exercises_every_rule() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [
        "examples",
        "examples/lib",
        "tests/grammar",
        "tests/fixtures/nets",
    ] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "rn") {
                    files.push(e.path());
                }
            }
        }
    }
    assert!(!files.is_empty());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (_, errors) = super::parse_module(crate::span::FileId(0), &text);
        assert!(
            errors.is_empty(),
            "{} does not parse: {errors:?}",
            f.display()
        );
    }
    let hits = HITS.with(|h| h.borrow().clone());
    let missing: Vec<String> = grammar_rules()
        .into_iter()
        .filter(|r| !hits.contains(r.as_str()) && !LEXICAL.contains(&r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "grammar rules never exercised by the corpus: {missing:?}"
    );
}
