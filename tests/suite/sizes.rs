//! `resnetc sizes`: the formula of every example against brute force.
//!
//! For every example and both spatial dimensions, the computed set of valid
//! sizes must agree with the model's verdict on every size in 1..=512: by
//! the size maps (`resnetc::sizes::maps`, cheap) on every size, and by full
//! compilation on every size for the small examples and on a sample of
//! sizes (around the least valid size, the declared size and 512) where the
//! size maps decided (a compilation of a large example takes tens of
//! milliseconds in the test profile); on every size where the analysis
//! itself compiled (`pad: same`: seed.rn, two_heads.rn). Compilations run in
//! parallel; the whole file takes about 4 s in the test profile.

use rayon::prelude::*;
use resnetc::CheckOptions;
use resnetc::sizes::{self, DimSizes, ModelSizes};

const UP_TO: usize = 512;

fn examples() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir("examples")
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rn"))
        .collect();
    v.sort();
    v
}

/// The options that change one dimension of one input, others as declared.
fn with_size(base: &[(String, Vec<usize>)], input: usize, dim: usize, n: usize) -> CheckOptions {
    CheckOptions {
        model: None,
        input_shapes: base
            .iter()
            .enumerate()
            .map(|(i, (name, s))| {
                let mut s = s.clone();
                if i == input {
                    s[1 + dim] = n;
                }
                (Some(name.clone()), s)
            })
            .collect(),
    }
}

/// Whether the parsed program checks with `options` (what `compile_file`
/// does after parsing, which the brute force does once per example).
fn compiles(program: &resnetc::syntax::Program, options: &CheckOptions) -> bool {
    resnetc::check::check(program, options).is_ok()
}

/// Sizes compiled in full for a large example.
fn sample(d: &DimSizes, declared: usize) -> Vec<usize> {
    let least = match d {
        DimSizes::Periodic { least, .. } => *least,
        DimSizes::Checked { valid, .. } => valid.first().copied().unwrap_or(1),
    };
    let mut v: Vec<usize> = [
        1,
        2,
        3,
        least.saturating_sub(1),
        least,
        least + 1,
        least + 2,
    ]
    .into_iter()
    .chain([declared - 1, declared, declared + 1, 255, UP_TO])
    .filter(|&n| (1..=UP_TO).contains(&n))
    .collect();
    v.sort();
    v.dedup();
    v
}

fn check_example(path: &std::path::Path) -> String {
    let compiled = resnetc::compile_file(path, &CheckOptions::default()).expect("compiles");
    let (program, syntax_errors) = resnetc::syntax::load(path).expect("readable");
    assert!(syntax_errors.is_empty());
    let graph = compiled.model.graph();
    let base: Vec<(String, Vec<usize>)> = graph
        .inputs
        .iter()
        .map(|i| (i.name.clone(), graph.node(i.node).shape.0.clone()))
        .collect();
    let ModelSizes {
        inputs,
        compilations,
        ..
    } = sizes::of_file(path, &CheckOptions::default()).expect("sizes of an example");
    let mut lines = Vec::new();
    for (index, (name, shape)) in base.iter().enumerate() {
        let Some(found) = inputs.iter().find(|i| &i.input == name) else {
            assert_ne!(
                shape.len(),
                3,
                "{}: input `{name}` is C×H×W",
                path.display()
            );
            continue;
        };
        for (dim, d) in [(0, &found.height), (1, &found.width)] {
            // The size maps on every size, where they decide (no `same`, no
            // `height(x)`: the analysis compiled nothing).
            for n in (1..=UP_TO).filter(|_| compilations == 0) {
                assert_eq!(
                    sizes::maps::valid(graph, index, dim, n),
                    d.contains(n),
                    "{}: `{name}` dim {dim} size {n} by the size maps vs {d:?}",
                    path.display()
                );
            }
            // Full compilation: every size where the analysis itself compiled
            // (`same` padding), a sample where the size maps decided.
            let sizes: Vec<usize> = if compilations > 0 {
                (1..=UP_TO).collect()
            } else {
                sample(d, shape[1 + dim])
            };
            let wrong: Vec<usize> = sizes
                .par_iter()
                .copied()
                .filter(|&n| compiles(&program, &with_size(&base, index, dim, n)) != d.contains(n))
                .collect();
            assert!(
                wrong.is_empty(),
                "{}: `{name}` dim {dim}: the formula {d:?} is wrong at {wrong:?}",
                path.display()
            );
        }
        lines.push(found.line());
    }
    format!("{}: {}", path.display(), lines.join("; "))
}

#[test]
fn every_example_formula_matches_brute_force() {
    let start = std::time::Instant::now();
    let lines: Vec<String> = examples()
        .iter()
        .map(|p| {
            let t = std::time::Instant::now();
            let line = check_example(p);
            eprintln!("{line} ({:?})", t.elapsed());
            line
        })
        .collect();
    eprintln!("checked in {:?}", start.elapsed());
    insta::assert_snapshot!(lines.join("\n"));
}

/// Compiles `text` with input `x` of size `n`×`n`... along one dimension.
fn accepts(text: &str, h: usize, w: usize) -> bool {
    let options = CheckOptions {
        model: None,
        input_shapes: vec![(Some("x".into()), vec![3, h, w])],
    };
    resnetc::compile_source("t.rn", text, &options).is_ok()
}

fn formula_of(text: &str) -> (String, ModelSizes) {
    let s = sizes::of_source("t.rn", text, &CheckOptions::default()).expect("sizes");
    (s.inputs[0].line(), s)
}

/// Checks a small model's formula against compilation on 1..=128 in both
/// dimensions (the other at its declared size).
fn brute(text: &str, s: &ModelSizes) {
    let i = &s.inputs[0];
    for n in 1..=128 {
        assert_eq!(
            accepts(text, n, i.shape[2]),
            i.height.contains(n),
            "H = {n}"
        );
        assert_eq!(accepts(text, i.shape[1], n), i.width.contains(n), "W = {n}");
    }
}

#[test]
fn floor_and_ceil_paths_need_even_sizes() {
    // maxpool(2, stride 2) gives floor(n / 2), a strided padded conv ceil(n / 2):
    // they agree exactly on even sizes.
    let text = "model m { input x: [3, 32, 32]\n a = x -> maxpool(2, stride: 2)\n b = x -> conv(3, 3, stride: 2, pad: 1)\n a + b }";
    let (line, s) = formula_of(text);
    assert_eq!(line, "x: H = 2·k, k ≥ 1, W = 2·k, k ≥ 1");
    assert!(matches!(
        s.inputs[0].height,
        DimSizes::Periodic { period: 2, .. }
    ));
    brute(text, &s);
}

#[test]
fn deep_concat_skip_needs_multiples() {
    // Four floor-halvings against four ceil-halvings: H = 16·k.
    let down = "maxpool(2, stride: 2)";
    let up = "conv(3, 3, stride: 2, pad: 1)";
    let text = format!(
        "model m {{ input x: [3, 64, 48]\n a = x -> {down} -> {down} -> {down} -> {down}\n b = x -> {up} -> {up} -> {up} -> {up}\n concat(a, b) }}"
    );
    let (line, s) = formula_of(&text);
    assert_eq!(line, "x: H = 16·k, k ≥ 1, W = 16·k, k ≥ 1");
    brute(&text, &s);
}

#[test]
fn windows_without_padding_set_the_least_size() {
    let text = "model m { input x: [3, 32, 20]\n x -> conv(8, 5) -> maxpool(3, stride: 3) -> conv(8, [3, 1]) }";
    let (line, s) = formula_of(text);
    // H: 5 − 1 = 4 lost, then 3 rows of windows of 3 → 4 + 3·3 = 13; W: 4 + 3.
    assert_eq!(line, "x: H ≥ 13, W ≥ 7");
    brute(text, &s);
}

#[test]
fn same_padding_and_size_queries_use_full_compilation() {
    let same = "model m { input x: [3, 32, 32]\n a = x -> conv(3, 3, stride: 2, pad: same)\n b = x -> maxpool(2, stride: 2)\n a + b }";
    let (line, s) = formula_of(same);
    assert_eq!(line, "x: H = 2·k, k ≥ 1, W = 2·k, k ≥ 1");
    assert!(s.compilations > 0, "`same` is decided by compiling");
    brute(same, &s);
    // The structure depends on the height: no formula is proven.
    let query =
        "model m { input x: [3, 16, 16]\n if height(x) > 8 { x -> conv(3, 9) } else { x } }";
    let (line, s) = formula_of(query);
    assert!(line.contains("not proven beyond"), "{line}");
    assert!(matches!(
        s.inputs[0].height,
        DimSizes::Checked {
            checked_up_to: 512,
            ..
        }
    ));
    brute(query, &s);
}

#[test]
fn cli_prints_formula_and_nearest_sizes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .args(["sizes", "examples/densenet121.rn"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("x (3×224×224): H ≥ 29, W ≥ 29\n"),
        "{text}"
    );
    assert!(
        text.contains("H: least 29, period 1, residues {0}"),
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_resnetc"))
        .args(["examples/densenet121.rn", "--input", "3x20x33"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("help: `x` accepts H ≥ 29, W ≥ 29; nearest valid sizes: H 20 → 29; try `--input x=3x29x33`"),
        "{err}"
    );
}

#[test]
fn huge_declared_sizes_are_cheap() {
    // The least size is found by binary search, never by listing the sizes below.
    let text = "model m { input x: [1, 1000000000, 8]\n a = x -> maxpool(2, stride: 2)\n b = x -> conv(1, 3, stride: 2, pad: 1)\n a + b }";
    let start = std::time::Instant::now();
    let (line, _) = formula_of(text);
    assert_eq!(line, "x: H = 2·k, k ≥ 1, W = 2·k, k ≥ 1");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}
