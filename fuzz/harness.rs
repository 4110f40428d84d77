//! The bodies of the fuzz targets, shared by the targets in
//! `fuzz/fuzz_targets/` (libFuzzer, `cargo fuzz`) and by `tests/suite/fuzz_corpus.rs`
//! (which replays the committed corpus and every past crash on stable).
//!
//! Both include this file with `#[path]`, so a target and its replay run the
//! same code. Each function takes the fuzzer's bytes, must never panic, and
//! panics itself only when an invariant of resnetc's output is broken (a
//! diagnostic that does not render, a check that disagrees with a load, a
//! formatting that is not idempotent): such a panic is a bug to fix.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::OnceLock;

use resnetc::interp::io::read_npy;
use resnetc::interp::{Layout, NameMap, WeightsError, WeightsFile};
use resnetc::report::Summary;
use resnetc::runtime::TensorStore;
use resnetc::{CheckOptions, Compiled, Diagnostic, SourceMap, compile_source};

/// A target's body: the fuzzer's bytes in, what became of them out.
pub type Body = fn(&[u8]) -> Outcome;

/// The fuzz targets, by the name of their directory under `fuzz/corpus/`
/// and `fuzz/artifacts/`, with their bodies.
pub const TARGETS: &[(&str, Body)] = &[
    ("compile", compile),
    ("weights", weights),
    ("npy", npy),
    ("fmt", fmt),
];

/// What a target made of an input: the replay test checks that each
/// corpus reaches both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Compiled, loaded, read or formatted.
    Accepted,
    /// Rejected with an error (rendered and checked).
    Rejected,
}

/// How many diagnostics of one input are rendered (hostile inputs produce
/// thousands, each quoting a long line; the first ones cover every code path).
const RENDER_AT_MOST: usize = 32;

/// `compile_source` on the bytes (as UTF-8, invalid sequences replaced):
/// the diagnostics of the outcome (the first [`RENDER_AT_MOST`]) are
/// rendered as text and as JSON; a model that compiles is summarised
/// (parameter and MAC counts).
pub fn compile(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    match compile_source("fuzz.rn", &text, &CheckOptions::default()) {
        Ok(c) => {
            compiled(&c);
            Outcome::Accepted
        }
        Err(e) => {
            assert!(
                e.diagnostics.iter().any(Diagnostic::is_error),
                "a failed compilation without an error: {:?}",
                e.diagnostics
            );
            for d in e.diagnostics.iter().take(RENDER_AT_MOST) {
                render(d, &e.sources);
            }
            Outcome::Rejected
        }
    }
}

fn compiled(c: &Compiled) {
    for w in c.warnings.iter().take(RENDER_AT_MOST) {
        assert!(!w.is_error(), "an error among the warnings: {w:?}");
        render(w, &c.sources);
    }
    let summary = Summary::new(&c.model).render();
    assert!(!summary.is_empty());
}

/// Renders a diagnostic as text and as JSON and checks that both name its
/// code and, for an error, its `file:line:col`.
fn render(d: &Diagnostic, sources: &SourceMap) {
    let text = d.render(sources);
    assert!(
        !text.contains("cannot render"),
        "a diagnostic that does not render: {text}"
    );
    assert!(text.contains(d.code.as_str()), "no code in: {text}");
    let json = d.to_json(sources);
    assert_eq!(json["code"], d.code.as_str());
    if d.is_error() {
        let label = d
            .primary
            .as_ref()
            .unwrap_or_else(|| panic!("an error without a location: {d:?}"));
        let file = sources.get(label.span.file);
        assert!(label.span.start <= label.span.end, "inverted span: {d:?}");
        assert!(
            label.span.end as usize <= file.text.len(),
            "a span past the end of the file: {d:?}"
        );
        let (line, col) = file.line_col(label.span.start as usize);
        let place = format!("{}:{line}:{col}", file.name);
        assert!(text.contains(&place), "no `{place}` in: {text}");
        assert_eq!(json["primary"]["line"], line);
        assert_eq!(json["primary"]["column"], col);
    }
}

/// The model the weights target loads files into: every op with learned
/// tensors (conv with bias, bn, dense), with small shapes so that the
/// fuzzer can reach files that fit.
pub const WEIGHTS_MODEL: &str = "model fz {
  input x: [2, 4, 4]
  x -> c: conv(3, 2) -> b: bn -> relu -> global_avgpool -> flatten -> fc: dense(2)
}
";

fn weights_model() -> &'static Compiled {
    static MODEL: OnceLock<Compiled> = OnceLock::new();
    MODEL.get_or_init(
        || match compile_source("fz.rn", WEIGHTS_MODEL, &Default::default()) {
            Ok(c) => c,
            Err(e) => panic!("the weights target's model does not compile:\n{e}"),
        },
    )
}

/// Writes `data` to this thread's scratch file and returns its path (the
/// loaders under test read files, through a memory map).
fn scratch(name: &str, data: &[u8]) -> PathBuf {
    thread_local! {
        static DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
    }
    DIR.with(|dir| {
        let mut dir = dir.borrow_mut();
        let dir = match &mut *dir {
            Some(d) => d,
            None => dir.insert(tempfile::tempdir().expect("cannot create a temporary directory")),
        };
        let path = dir.path().join(name);
        std::fs::write(&path, data).expect("cannot write the scratch file");
        path
    })
}

/// A safetensors file checked against, then loaded into, [`WEIGHTS_MODEL`],
/// by `interp::weights` and by the generated code's `runtime::TensorStore`.
///
/// The first byte chooses the name map: bit 0 the Keras layout, bit 1 a map
/// that sends `fc.weight` to `dense/kernel`; the rest is the file.
pub fn weights(data: &[u8]) -> Outcome {
    let Some((&options, file)) = data.split_first() else {
        return Outcome::Rejected;
    };
    let model = weights_model();
    let mut map = NameMap::default();
    if options & 1 != 0 {
        map.layout = Layout::Keras;
    }
    if options & 2 != 0 {
        map.names.insert("fc.weight".into(), "dense/kernel".into());
    }
    let path = scratch("fuzz.safetensors", file);
    let outcome = match WeightsFile::open(&path) {
        Ok(wf) => {
            let checked = wf.check(&model.model, &map);
            let loaded = wf.load(&model.model, &map);
            match (&checked, &loaded) {
                (Ok(()), Ok(w)) => {
                    for node in &model.model.graph().nodes {
                        for p in &node.params {
                            let t = w
                                .get(&p.name)
                                .unwrap_or_else(|| panic!("loaded without `{}`", p.name));
                            assert_eq!(t.shape, p.shape, "`{}`", p.name);
                            assert_eq!(t.data.len(), p.shape.iter().product::<usize>());
                        }
                    }
                    Outcome::Accepted
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "check and load disagree");
                    weights_error(a, &model.sources);
                    Outcome::Rejected
                }
                _ => panic!("check and load disagree: {checked:?} / {:?}", loaded.err()),
            }
        }
        Err(e) => {
            assert!(
                matches!(e, WeightsError::Format { .. }),
                "not a format error: {e}"
            );
            assert!(!e.to_string().is_empty());
            Outcome::Rejected
        }
    };
    store(file, model);
    outcome
}

fn weights_error(e: &WeightsError, sources: &SourceMap) {
    let text = e.to_string();
    assert!(!text.is_empty());
    if let WeightsError::Mismatch { problems, .. } = e {
        assert!(!problems.is_empty(), "a mismatch without problems");
        for p in problems.iter().take(RENDER_AT_MOST) {
            let d = p.to_diagnostic("fuzz.safetensors");
            let rendered = d.render(sources);
            assert!(!rendered.contains("cannot render"), "{rendered}");
        }
    }
}

/// The generated code's loader on the same bytes: check every parameter of
/// the model, then read those that fit.
fn store(file: &[u8], model: &Compiled) {
    let Ok(store) = TensorStore::from_vec(file.to_vec()) else {
        return;
    };
    let params: Vec<(&str, &[usize])> = model
        .model
        .graph()
        .nodes
        .iter()
        .flat_map(|n| &n.params)
        .map(|p| (p.name.as_str(), p.shape.as_slice()))
        .collect();
    let all = store.check(&params);
    let mut every_one = true;
    for (name, shape) in &params {
        match store.tensor(name, shape) {
            Ok(t) => assert_eq!(t.shape(), *shape),
            Err(e) => {
                every_one = false;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert_eq!(all.is_ok(), every_one, "check and tensor disagree");
}

/// `interp::io::read_npy` on the bytes as a file; an array it returns has as
/// many elements as its shape says.
pub fn npy(data: &[u8]) -> Outcome {
    let path = scratch("fuzz.npy", data);
    match read_npy(&path) {
        Ok(a) => {
            let n = a.shape().iter().try_fold(1usize, |n, &d| n.checked_mul(d));
            assert_eq!(n, Some(a.len()));
            Outcome::Accepted
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            Outcome::Rejected
        }
    }
}

/// `fmt::format_source` on the bytes (as UTF-8, invalid sequences replaced):
/// never an internal error; formatting the result again changes nothing;
/// syntax errors render.
pub fn fmt(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    match resnetc::fmt::format_source(&text) {
        Ok(once) => match resnetc::fmt::format_source(&once) {
            Ok(twice) => {
                assert_eq!(once, twice, "formatting is not idempotent");
                Outcome::Accepted
            }
            Err(e) => panic!("the formatted text does not format again: {e}\n{once}"),
        },
        Err(resnetc::fmt::FormatError::Syntax { diagnostics }) => {
            assert!(!diagnostics.is_empty());
            let mut sources = SourceMap::new();
            sources.add("fuzz.rn", text.as_ref());
            for d in diagnostics.iter().take(RENDER_AT_MOST) {
                render(d, &sources);
            }
            Outcome::Rejected
        }
        Err(e) => panic!("{e}\ninput:\n{text}"),
    }
}
