//! One snapshot per file of a directory, as insta's `glob!` takes them,
//! without its glob engine (the `glob` feature builds globset, and with it
//! a regex engine, into every test build for four call sites).

use std::path::{Path, PathBuf};

/// Runs `check` on every file of `dir` (relative to the crate root) whose
/// name ends in `.{ext}`, in name order, each with the snapshot suffix and
/// input file that `insta::glob!(dir, "*.{ext}", …)` would set: the
/// snapshots are `<name>@<file name>.snap` with `input_file:` naming the
/// file. Every file is checked; the failures are reported together.
pub fn each_file(dir: &str, ext: &str, check: impl Fn(&Path)) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = root.join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", base.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.{ext} file in {dir}");
    let mut failed = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_suffix(name);
        settings.set_input_file(file);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| check(file));
        }));
        if outcome.is_err() {
            failed.push(name.to_owned());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} files in {dir} failed: {}",
        failed.len(),
        files.len(),
        failed.join(", ")
    );
}
