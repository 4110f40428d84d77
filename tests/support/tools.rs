//! Finding an external program a test needs (Graphviz `dot`, `groff`, a shell,
//! the onnxruntime venv, the grammar test tool).
//!
//! The project's convention: when the program is missing, a test fails if the
//! environment variable `CI` is set (CI must install it: `.ci/setup-*.sh`),
//! and otherwise prints `skipped: <why>` to stderr and passes ([`missing`]).
#![allow(dead_code)]

use std::path::PathBuf;

/// The program `name` on `PATH`, if there is one.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The program `name`, or `None` after printing `skipped: …` (outside CI);
/// in CI a missing program fails the test with `install` as the fix.
pub fn required(name: &str, install: &str) -> Option<PathBuf> {
    if let Some(p) = on_path(name) {
        return Some(p);
    }
    missing(&format!(
        "`{name}` is not on PATH: install it ({install}; .ci/setup-graphviz.sh does)"
    ))
}

/// A tool is missing: fails the test when `CI` is set, else prints
/// `skipped: {why}` and returns `None`.
pub fn missing<T>(why: &str) -> Option<T> {
    assert!(std::env::var_os("CI").is_none(), "{why} (and CI is set)");
    eprintln!("skipped: {why}");
    None
}

/// The program `name`, or `None` after printing `skipped: …`, in CI too
/// (for optional checks such as `zsh -n` when zsh is not installed).
pub fn optional(name: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        eprintln!("skipped: `{name}` is not installed");
    }
    found
}
