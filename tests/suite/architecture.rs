//! ARCHITECTURE.md's module table says what each module may import; this
//! test reads the table and every module's code (comments and `#[cfg(test)]`
//! code excluded) and fails on a `crate::` path the table does not allow.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `(module, allowed modules)` from the table's rows: the first backticked
/// name of the first cell, and every backticked name of the last cell (its
/// first path segment).
fn table() -> Vec<(String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(|t| t.split("::").next().unwrap_or(t).to_string())
            .collect()
    };
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
            let module = ticked(cells.first()?).into_iter().next()?;
            let allowed = ticked(cells.last()?).into_iter().collect();
            Some((module, allowed))
        })
        .collect()
}

/// The module's source files: `src/<m>.rs` or everything under `src/<m>/`.
fn files(module: &str) -> Vec<PathBuf> {
    let single = root().join("src").join(format!("{module}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut out = Vec::new();
    let mut stack = vec![root().join("src").join(module)];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    // Files that a `#[cfg(test)] mod name;` declares are test code.
    let mut test_only = BTreeSet::new();
    for f in &out {
        let text = std::fs::read_to_string(f).expect("source file");
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l.trim() == "#[cfg(test)]"
                && let Some(next) = lines.next()
                && let Some(name) = next
                    .trim()
                    .trim_start_matches("pub(crate) ")
                    .strip_prefix("mod ")
                    .and_then(|r| r.strip_suffix(';'))
                && let Some(dir) = f.parent()
            {
                test_only.insert(dir.join(format!("{name}.rs")));
            }
        }
    }
    out.retain(|f| !test_only.contains(f));
    out
}

/// The `crate::x` modules that `path`'s non-test code names.
fn imports(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).expect("source file");
    if path.file_name().is_some_and(|f| f == "tests.rs") {
        return BTreeSet::new();
    }
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // A braced list (`crate::{a, b}`) names several.
            if name.is_empty() && rest.starts_with('{') {
                let inner = rest[1..].split('}').next().unwrap_or("");
                out.extend(
                    inner
                        .split(',')
                        .map(|s| s.trim().split("::").next().unwrap_or("").to_string())
                        .filter(|s| !s.is_empty()),
                );
            } else if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn modules_import_only_what_the_architecture_allows() {
    let rows = table();
    assert!(rows.len() >= 15, "module table rows: {rows:?}");
    let mut checked = 0;
    let mut problems = Vec::new();
    for (module, allowed) in &rows {
        // `bin/resnetc/` is another crate (its `crate::` is the binary's);
        // `build` lives in build_api.rs and `pipeline.rs` may use everything.
        let fs = if module.starts_with("bin") {
            Vec::new()
        } else {
            files(module)
        };
        if fs.is_empty() {
            continue;
        }
        checked += 1;
        for f in fs {
            for used in imports(&f) {
                // A crate-root name that is no module is `pipeline`'s
                // re-export (`crate::compile_file`, `crate::CheckOptions`).
                let src = root().join("src");
                let used = if src.join(&used).is_dir() || src.join(format!("{used}.rs")).exists() {
                    used
                } else {
                    "pipeline".to_string()
                };
                if &used != module && !allowed.contains(&used) {
                    problems.push(format!(
                        "{} uses crate::{used}, which ARCHITECTURE.md does not allow `{module}`",
                        f.strip_prefix(root()).unwrap_or(&f).display()
                    ));
                }
            }
        }
    }
    assert!(checked >= 12, "only {checked} modules found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself can fail: a made-up import is caught.
#[test]
fn the_import_scanner_sees_paths_and_braced_lists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("x.rs");
    std::fs::write(
        &p,
        "use crate::{ir::Graph, span};\n// crate::hidden\nfn f() { crate::report::group(1); }\n#[cfg(test)]\nmod t { use crate::check; }\n",
    )
    .expect("write");
    let got: Vec<String> = imports(&p).into_iter().collect();
    assert_eq!(got, ["ir", "report", "span"]);
}
