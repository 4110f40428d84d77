//! Replays the fuzz corpus and every past crash through the fuzz targets'
//! bodies (`fuzz/harness.rs`, shared with `fuzz/fuzz_targets/`), on stable:
//! no input of `fuzz/corpus/<target>/` or `fuzz/artifacts/<target>/` panics.

use crate::harness;

use harness::Outcome;
use std::path::{Path, PathBuf};

/// The files of `fuzz/<kind>/<target>/`, sorted (an absent directory has none).
fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut out: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("cannot list the fuzz corpus").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read `{}`: {e}", dir.display()),
    };
    out.sort();
    out
}

/// Runs every file of `fuzz/<kind>/<target>/` through the target's body;
/// returns the outcome of each.
fn replay(kind: &str, target: &str) -> Vec<Outcome> {
    let body = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz target `{target}`"));
    replay_files(&files(kind, target), body)
}

/// Runs each file through `body`; panics naming the first file that panics.
fn replay_files(files: &[PathBuf], body: harness::Body) -> Vec<Outcome> {
    files
        .iter()
        .map(|path| {
            let data = std::fs::read(path).expect("cannot read a fuzz input");
            std::panic::catch_unwind(|| body(&data))
                .unwrap_or_else(|_| panic!("`{}` panics", path.display()))
        })
        .collect()
}

/// Replays a target's corpus and crashes; the corpus must reach both the
/// accepting and the rejecting paths.
fn corpus_and_crashes(target: &str) {
    let outcomes = replay("corpus", target);
    for expected in [Outcome::Accepted, Outcome::Rejected] {
        assert!(
            outcomes.contains(&expected),
            "no input of fuzz/corpus/{target} is {expected:?}"
        );
    }
    replay("artifacts", target);
}

#[test]
fn compile_corpus_and_crashes() {
    corpus_and_crashes("compile");
}

#[test]
fn weights_corpus_and_crashes() {
    corpus_and_crashes("weights");
}

#[test]
fn npy_corpus_and_crashes() {
    corpus_and_crashes("npy");
}

#[test]
fn fmt_corpus_and_crashes() {
    corpus_and_crashes("fmt");
}

/// Every directory under `fuzz/corpus/` and `fuzz/artifacts/` belongs to a
/// target, so that no committed input is left unreplayed.
#[test]
fn every_directory_is_a_target() {
    for kind in ["corpus", "artifacts"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let name = e.expect("cannot list").file_name();
            let name = name.to_string_lossy();
            assert!(
                harness::TARGETS.iter().any(|(t, _)| *t == name),
                "`fuzz/{kind}/{name}` is not a fuzz target"
            );
        }
    }
}

/// The replay fails on an input whose body panics (what a crash is to
/// libFuzzer), naming the file.
#[test]
#[should_panic(expected = "e0001_missing_paren.rn` panics")]
fn a_panicking_input_fails_the_replay() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors/e0001_missing_paren.rn");
    replay_files(&[file], |data| match harness::compile(data) {
        Outcome::Rejected => panic!("a crash"),
        Outcome::Accepted => Outcome::Accepted,
    });
}

/// `fuzz/artifacts/npy/oom-header-len-4gib` (12 bytes) announces a 4 GiB
/// header, which the `.npy` parser allocated before reading: it is rejected
/// first, with the length it announces.
#[test]
fn npy_header_longer_than_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/artifacts/npy/oom-header-len-4gib");
    let e = resnetc::interp::io::read_npy(&path).expect_err("a 12-byte .npy file");
    let e = e.to_string();
    assert!(
        e.contains("ends at byte 4294967307, but the file is only 12 bytes long"),
        "{e}"
    );
}
