//! Robustness: the compiler never panics on user input.
//!
//! Whatever the text (random, made of the language's tokens, a mutated
//! example, hostile nesting, huge numbers, huge files, invalid UTF-8),
//! `compile_source` / `compile_file` return `Ok` or `Err`, and every error
//! diagnostic renders and names a `file:line:col`.
//!
//! The deep-nesting cases run as ordinary `#[test]`s, i.e. on a thread with
//! the default 2 MiB test stack, to prove that nothing overflows the stack.

use std::io::Write;
use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use resnetc::{CheckOptions, CompileError, Compiled, Diagnostic, compile_file, compile_source};

// ----------------------------------------------------------------------------
// Helpers

const RESNET18: &str = include_str!("../../examples/resnet18.rn");
const RESNET_LIB: &str = include_str!("../../examples/lib/resnet.rn");
const MOBILENET_V2: &str = include_str!("../../examples/mobilenet_v2.rn");
const DENSENET121: &str = include_str!("../../examples/densenet121.rn");
const SEED: &str = include_str!("../../examples/seed.rn");

/// examples/resnet18.rn with examples/lib/resnet.rn appended in place of its
/// `import` (so that `compile_source`, which does not follow imports, sees
/// the whole program, and the first model is still `resnet18`).
fn resnet18_inlined() -> String {
    let main: String = RESNET18
        .lines()
        .filter(|l| !l.trim_start().starts_with("import"))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{main}\n{RESNET_LIB}")
}

/// Checks that a diagnostic renders and, if it is an error, names the
/// `file:line:col` of its primary span.
fn assert_renders(d: &Diagnostic, sources: &resnetc::SourceMap) {
    let text = d.render(sources);
    assert!(
        !text.contains("cannot render"),
        "diagnostic failed to render:\n{text}"
    );
    assert!(text.contains(d.code.as_str()), "no code in:\n{text}");
    if d.is_error() {
        let label = d
            .primary
            .as_ref()
            .unwrap_or_else(|| panic!("error without a location: {d:?}"));
        let file = sources.get(label.span.file);
        assert!(label.span.start <= label.span.end, "inverted span: {d:?}");
        assert!(
            label.span.end as usize <= file.text.len(),
            "span past the end of the file ({} bytes): {d:?}",
            file.text.len()
        );
        let (line, col) = file.line_col(label.span.start as usize);
        let loc = format!("{}:{line}:{col}", file.name);
        assert!(text.contains(&loc), "expected `{loc}` in:\n{text}");
    }
}

fn assert_error_ok(e: &CompileError) {
    assert!(!e.diagnostics.is_empty(), "an error without diagnostics");
    assert!(
        e.diagnostics.iter().any(Diagnostic::is_error),
        "an error with only warnings: {:?}",
        e.diagnostics
    );
    // Rendering is slow on hostile input (a 90 kB source line is printed in
    // full under each of thousands of errors), so only the first ones.
    for d in e.diagnostics.iter().take(RENDER_AT_MOST) {
        assert_renders(d, &e.sources);
    }
}

/// How many diagnostics of one compilation are rendered by the checks.
const RENDER_AT_MOST: usize = 50;

fn assert_compiled_ok(c: &Compiled) {
    for w in c.warnings.iter().take(RENDER_AT_MOST) {
        assert_renders(w, &c.sources);
    }
}

/// Compiles in-memory text; asserts the outcome is well formed.
fn compile(src: &str) -> Result<Compiled, CompileError> {
    let r = compile_source("fuzz.rn", src, &CheckOptions::default());
    match &r {
        Ok(c) => assert_compiled_ok(c),
        Err(e) => assert_error_ok(e),
    }
    r
}

/// Compiles in-memory text, for inputs whose outcome does not matter.
fn survive(src: &str) {
    let _ = compile(src);
}

/// Compiles bytes through `compile_file` (a temporary file).
fn compile_bytes(bytes: &[u8]) -> Result<Compiled, resnetc::Error> {
    let mut f = tempfile::Builder::new().suffix(".rn").tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    let r = compile_file(f.path(), &CheckOptions::default());
    match &r {
        Ok(c) => assert_compiled_ok(c),
        Err(resnetc::Error::Compile(e)) => assert_error_ok(e),
        Err(e @ resnetc::Error::Io { .. }) => panic!("cannot read the temporary file: {e}"),
    }
    r
}

/// The rendered text of an error (for content assertions), cut to a length
/// that is readable in a failure message (the source lines of hostile inputs
/// are huge).
fn rendered(r: Result<Compiled, CompileError>) -> String {
    match r {
        Ok(_) => "(compiled without errors)".into(),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| {
                let text = d.render(&e.sources);
                let short: String = text
                    .lines()
                    .map(|l| l.chars().take(160).collect::<String>() + "\n")
                    .collect();
                short
            })
            .collect(),
    }
}

/// Runs `f` and reports how long it took. Not an assertion: the machines
/// are shared and noisy, so speed is measured by `benches/criterion/frontend.rs`; a
/// test that went quadratic or exponential shows up here as a hang.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    eprintln!("{what}: {:?}", t.elapsed());
    r
}

const MODEL_HEAD: &str = "model m {\n  input x: [3, 16, 16]\n";

// ----------------------------------------------------------------------------
// Property tests

/// Tokens of the language, plus a few near-misses, to reach deep into the
/// parser and the checker.
const TOKENS: &[&str] = &[
    // keywords
    "model",
    "block",
    "input",
    "output",
    "import",
    "if",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    // names: variables, parameters, ops, built-ins
    "x",
    "y",
    "c",
    "m",
    "b",
    "stride",
    "conv",
    "bn",
    "relu",
    "relu6",
    "dense",
    "flatten",
    "concat",
    "dropout",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "channels",
    "height",
    "width",
    "len",
    "min",
    "max",
    "same",
    "pad",
    "groups",
    "bias",
    // numbers and strings
    "0",
    "1",
    "2",
    "3",
    "7",
    "16",
    "64",
    "1_000",
    "0.5",
    "1e3",
    "2.5e-1",
    "9223372036854775807",
    "99999999999999999999",
    "1e999",
    "\"lib.rn\"",
    "\"",
    "\"unterminated",
    // punctuation
    "->",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    // layout and comments
    "\n",
    "\n\n",
    "# a comment\n",
    "#",
    ";",
    "\t",
    // odd characters
    "é",
    "\u{0}",
    "\u{feff}",
    "\r\n",
    "@",
    "$",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "", "\n"];

/// A string of random tokens with random separators (sometimes none, so that
/// tokens merge: `x1`, `->=`, `1e3x`, ...).
fn token_soup(max_len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec((select(TOKENS), select(SEPARATORS)), 0..max_len).prop_map(|toks| {
        toks.into_iter().fold(String::new(), |mut s, (t, sep)| {
            s.push_str(t);
            s.push_str(sep);
            s
        })
    })
}

/// Syntactically plausible expressions, so that most inputs get past the
/// parser and exercise the checker's evaluation and shape rules.
fn expr_strategy() -> impl Strategy<Value = String> {
    let leaf = select(
        &[
            "x",
            "y",
            "c",
            "0",
            "1",
            "2",
            "3",
            "16",
            "-1",
            "0.5",
            "true",
            "false",
            "\"s\"",
            "relu",
            "bn",
            "flatten",
            "global_avgpool",
            "conv(8, 3)",
            "conv(c, 3, pad: 1)",
            "conv(16, 1, stride: 2)",
            "maxpool(3, stride: 2, pad: 1)",
            "dense(10)",
            "channels(x)",
            "height(x)",
            "[1, 2, 3]",
            "[]",
            "b(4)",
            "b",
            "same",
        ][..],
    )
    .prop_map(str::to_string);
    leaf.prop_recursive(4, 32, 4, |inner| {
        let op = select(
            &[
                "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "->",
            ][..],
        );
        let callee = select(
            &[
                "conv", "bn", "relu", "dense", "concat", "min", "max", "len", "channels", "b",
                "dropout", "avgpool",
            ][..],
        );
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} -> l: {b}")),
            (callee, prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("conv({a}, 3, stride: {b})")),
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("if {c} {{ {a} }} else {{ {b} }}")),
            (inner.clone(), inner.clone()).prop_map(|(a, i)| format!("{a}[{i}]")),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            (inner.clone(), inner).prop_map(|(a, n)| format!("{a} * {n}")),
        ]
    })
}

/// Programs built around generated expressions: a model body, a block body
/// used by a model, parameters with defaults, a model alias.
fn program_strategy() -> impl Strategy<Value = String> {
    let e = expr_strategy;
    prop_oneof![
        e().prop_map(|a| format!("{MODEL_HEAD}  x -> {a}\n}}\n")),
        (e(), e()).prop_map(|(a, b)| format!("{MODEL_HEAD}  y = {a}\n  {b}\n}}\n")),
        (e(), e()).prop_map(|(a, b)| format!(
            "block b(c, s = 1) {{\n  input x\n  y = {a}\n  x -> {b}\n}}\n{MODEL_HEAD}  x -> b(8) -> b(16, s: 2)\n}}\n"
        )),
        (e(), e()).prop_map(|(a, b)| format!(
            "model m(c = {a}) {{\n  input x: [3, 16, 16]\n  x -> {b}\n}}\nmodel n = m(c: {a})\n"
        )),
        (e(), e(), e()).prop_map(|(a, b, d)| format!(
            "model m {{\n  input x: [{a}, {b}, {d}]\n  x -> relu\n}}\n"
        )),
    ]
}

/// Deletes, duplicates or swaps byte ranges of `src`; the result is made
/// valid UTF-8 lossily (the raw bytes are tested through `compile_file`).
fn mutate_bytes(src: &[u8], ops: &[(u8, Index, Index, Index)]) -> Vec<u8> {
    let mut v = src.to_vec();
    for (kind, a, b, len) in ops {
        if v.is_empty() {
            break;
        }
        let n = v.len();
        let start = a.index(n);
        let len = 1 + len.index(64.min(n - start));
        let end = start + len;
        match kind % 4 {
            0 => {
                v.drain(start..end);
            }
            1 => {
                let chunk = v[start..end].to_vec();
                let at = b.index(v.len() + 1);
                v.splice(at..at, chunk);
            }
            2 => {
                // Swap with another range of the same length, if disjoint.
                let other = b.index(n - len + 1);
                if other + len <= start || end <= other {
                    for k in 0..len {
                        v.swap(start + k, other + k);
                    }
                }
            }
            _ => {
                // Replace with a chunk from elsewhere (a different token).
                let other = b.index(n - len + 1);
                let chunk = v[other..other + len].to_vec();
                v.splice(start..end, chunk);
            }
        }
    }
    v
}

fn mutations() -> impl Strategy<Value = Vec<(u8, Index, Index, Index)>> {
    prop::collection::vec(
        (any::<u8>(), any::<Index>(), any::<Index>(), any::<Index>()),
        1..4,
    )
}

/// The number of cases of a property: `n`, or `PROPTEST_CASES` for a longer
/// fuzzing run (`PROPTEST_CASES=100000 cargo test --release --test suite robustness::`).
fn cases(n: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn arbitrary_strings(s in "\\PC{0,300}") {
        survive(&s);
    }

    #[test]
    fn arbitrary_ascii(s in "[ -~\n\t]{0,300}") {
        survive(&s);
    }

    #[test]
    fn token_soup_alone(s in token_soup(120)) {
        survive(&s);
    }

    #[test]
    fn token_soup_in_a_model(s in token_soup(60)) {
        survive(&format!("{MODEL_HEAD}  x -> {s}\n}}\n"));
        survive(&format!("{MODEL_HEAD}  {s}\n}}\n"));
    }

    #[test]
    fn token_soup_in_a_block(s in token_soup(60)) {
        survive(&format!(
            "block b(c, stride = 1) {{\n  input x\n  {s}\n}}\n{MODEL_HEAD}  x -> b(8) -> b(16, stride: 2)\n}}\n"
        ));
    }

    #[test]
    fn generated_programs(src in program_strategy()) {
        survive(&src);
    }

    #[test]
    fn mutated_resnet18(ops in mutations()) {
        let src = resnet18_inlined();
        let m = mutate_bytes(src.as_bytes(), &ops);
        survive(&String::from_utf8_lossy(&m));
    }

    #[test]
    fn mutated_self_contained_examples(which in 0..3usize, ops in mutations()) {
        let src = [MOBILENET_V2, DENSENET121, SEED][which];
        let m = mutate_bytes(src.as_bytes(), &ops);
        survive(&String::from_utf8_lossy(&m));
    }
}

proptest! {
    #![proptest_config(cases(200))]

    /// Raw bytes, usually not UTF-8, through the file loader.
    #[test]
    fn arbitrary_bytes_from_a_file(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let r = compile_bytes(&bytes);
        if std::str::from_utf8(&bytes).is_err() {
            let Err(resnetc::Error::Compile(e)) = r else { panic!("invalid UTF-8 accepted") };
            prop_assert!(e.render().contains("E0003"), "{}", e.render());
        }
    }

    /// Mutated example bytes (may split a multi-byte character) through the loader.
    #[test]
    fn mutated_bytes_from_a_file(which in 0..3usize, ops in mutations()) {
        let src = [MOBILENET_V2, DENSENET121, SEED][which];
        let _ = compile_bytes(&mutate_bytes(src.as_bytes(), &ops));
    }
}

// ----------------------------------------------------------------------------
// The examples themselves compile (the mutation tests start from valid input).

#[test]
fn unmutated_examples_compile() {
    for (name, src) in [
        ("resnet18", resnet18_inlined()),
        ("mobilenet_v2", MOBILENET_V2.to_string()),
        ("densenet121", DENSENET121.to_string()),
        ("seed", SEED.to_string()),
    ] {
        if let Err(e) = compile(&src) {
            panic!("{name} does not compile:\n{}", e.render());
        }
    }
}

// ----------------------------------------------------------------------------
// Degenerate files

#[test]
fn empty_file() {
    assert!(compile("").is_err());
    assert!(compile_bytes(b"").is_err());
}

#[test]
fn only_white_space_and_comments() {
    assert!(compile("   \n\t\n").is_err());
    assert!(compile("# just a comment").is_err());
    assert!(compile("# one\n# two\n\n   # three\n").is_err());
    assert!(compile("#").is_err());
    assert!(compile_bytes(b"# comment\r\n# another\r\n").is_err());
}

#[test]
fn invalid_utf8_files() {
    for bytes in [
        &b"\xff\xfe\x00\x00"[..],
        b"model m {\n  input x: [3, 8, 8]\n  x -> relu \xc3\n}\n",
        b"\xc3",
        b"# caf\xe9\nmodel m { input x: [3, 8, 8]\n x }",
        b"\xef\xbb\xbfmodel m { input x: [3, 8, 8]\n x }", // a BOM is valid UTF-8
        b"\x00\x00\x00",
    ] {
        let r = compile_bytes(bytes);
        if std::str::from_utf8(bytes).is_err() {
            let Err(resnetc::Error::Compile(e)) = r else {
                panic!("invalid UTF-8 accepted")
            };
            assert!(e.render().contains("E0003"), "{}", e.render());
        }
    }
}

#[test]
fn a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = compile_file(&dir.path().join("missing.rn"), &CheckOptions::default());
    assert!(matches!(r, Err(resnetc::Error::Io { .. })));
}

#[test]
fn an_import_of_itself_or_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.rn");
    std::fs::write(&main, "import \"main.rn\"\nimport \"nope.rn\"\nimport \"\"\nimport \"..\"\nmodel m { input x: [3, 8, 8]\n x }\n").unwrap();
    match compile_file(&main, &CheckOptions::default()) {
        Ok(c) => assert_compiled_ok(&c),
        Err(resnetc::Error::Compile(e)) => assert_error_ok(&e),
        Err(e) => panic!("{e}"),
    }
}

// ----------------------------------------------------------------------------
// Huge input

const TEN_MB: usize = 10 * 1024 * 1024;

#[test]
fn ten_megabytes_of_valid_blocks() {
    let block = "block b(c) {\n  input x\n  x -> conv(c, 3, pad: 1) -> bn -> relu\n}\n";
    let mut src = String::with_capacity(TEN_MB + 1000);
    let mut k = 0;
    while src.len() < TEN_MB {
        src.push_str(&block.replace("block b", &format!("block b{k}")));
        k += 1;
    }
    src.push_str(&format!("{MODEL_HEAD}  x -> b0(8) -> b1(8)\n}}\n"));
    let r = timed("10 MB of blocks", || compile(&src));
    assert!(r.is_ok(), "{}", rendered(r));
}

#[test]
fn ten_megabytes_of_garbage() {
    let garbage = "model ) ]] -> { ( %% \"x\n block 1 2 3 }}}\n";
    let src = garbage.repeat(TEN_MB / garbage.len());
    timed("10 MB of garbage", || assert!(compile(&src).is_err()));
    // One 10 MB line, no newline to resynchronise on.
    let src = "(((] ".repeat(TEN_MB / 5);
    timed("10 MB line", || assert!(compile(&src).is_err()));
}

#[test]
fn ten_megabytes_of_one_long_pipeline() {
    // About 1.7 million stages: more layers than the checker allows.
    let src = format!("{MODEL_HEAD}  x{}\n}}\n", " -> relu".repeat(TEN_MB / 8));
    timed("10 MB pipeline", || {
        survive(&src);
    });
}

#[test]
fn ten_megabytes_of_one_sum() {
    // A left-leaning tree 1.3 million levels deep, built without recursion in
    // the parser: the checker and the destructors must not recurse on it.
    let src = format!("{MODEL_HEAD}  x{}\n}}\n", " + x".repeat(TEN_MB / 4));
    timed("10 MB sum", || {
        survive(&src);
    });
}

// ----------------------------------------------------------------------------
// Deep nesting (normal #[test] threads: 2 MiB stacks)

const DEEP: usize = 10_000;

fn deep(open: &str, inner: &str, close: &str) -> String {
    format!(
        "{MODEL_HEAD}  x -> relu\n  y = {}{inner}{}\n  x\n}}\n",
        open.repeat(DEEP),
        close.repeat(DEEP)
    )
}

fn assert_nesting_error(src: &str) {
    let text = rendered(compile(src));
    assert!(
        text.contains("nested"),
        "expected a nesting error, got:\n{text}"
    );
}

#[test]
fn deep_parentheses() {
    assert_nesting_error(&deep("(", "1", ")"));
    assert_nesting_error(&deep("(", "", ""));
}

#[test]
fn deep_lists() {
    assert_nesting_error(&deep("[", "1", "]"));
    assert_nesting_error(&deep("[", "", ""));
    assert_nesting_error(&deep("[l: ", "relu", "]"));
}

#[test]
fn deep_negation() {
    assert_nesting_error(&deep("-", "1", ""));
    assert_nesting_error(&deep("- ", "1", ""));
}

#[test]
fn deep_not() {
    assert_nesting_error(&deep("not ", "true", ""));
}

#[test]
fn deep_ifs() {
    assert_nesting_error(&deep("if c { ", "x", " } else { x }"));
    assert_nesting_error(&deep("if true { x } else ", "{ x }", ""));
    assert_nesting_error(&deep("if if ", "true", ""));
}

#[test]
fn deep_calls() {
    assert_nesting_error(&deep("a(", "1", ")"));
    assert_nesting_error(&deep("conv(c: ", "1", ")"));
    assert_nesting_error(&deep("x[", "0", "]"));
}

#[test]
fn deep_shapes_and_defaults() {
    let src = format!(
        "model m {{\n  input x: [{}3{}, 8, 8]\n  x\n}}\n",
        "(".repeat(DEEP),
        ")".repeat(DEEP)
    );
    assert_nesting_error(&src);
    let src = format!(
        "block b(c = {}1{}) {{\n input x\n x\n}}\n",
        "[".repeat(DEEP),
        "]".repeat(DEEP)
    );
    assert_nesting_error(&src);
}

#[test]
fn deep_mixed_nesting() {
    assert_nesting_error(&deep("(not -[if (", "1", ") { x } else { x }])"));
}

/// The deepest nesting the parser accepts must not overflow the checker
/// (nor anything else that walks the tree).
#[test]
fn nesting_at_the_limit() {
    let max = resnetc::syntax::MAX_NESTING as usize;
    for (open, inner, close) in [
        ("(", "1", ")"),
        ("[", "1", "]"),
        ("[l: ", "relu", "]"),
        ("-", "1", ""),
        ("not ", "true", ""),
        ("if true { ", "x", " } else { x }"),
        ("if c { ", "x", " } else { x }"),
        ("max(", "1", ")"),
        ("(", "x -> relu", ")"),
        ("", "1", " + 1"),
        ("", "x", " + x"),
        ("", "true", " and true"),
        ("", "relu", "(x)"),
        ("", "[[[1]]]", "[0]"),
        ("(1 + ", "1", ") * 2"),
        ("[", "x", "] + x"),
        ("-(", "1", ") - 1"),
    ] {
        let src = |n: usize| {
            format!(
                "{MODEL_HEAD}  y = {}{inner}{}\n  x\n}}\n",
                open.repeat(n),
                close.repeat(n)
            )
        };
        let parses = |n: usize| {
            resnetc::syntax::parse_module(resnetc::span::FileId(0), &src(n))
                .1
                .is_empty()
        };
        // The deepest accepted nesting: at least a few levels, never more than the limit.
        let n = (0..=max).rev().find(|&n| parses(n)).unwrap();
        assert!(n >= 3, "{open}{inner}{close}: only {n} levels accepted");
        assert!(!parses(n + 1));
        assert_nesting_error(&src(n + 1));
        survive(&src(n));
        // A long chain is an error, not a crash.
        assert_nesting_error(&src(DEEP));
    }
}

#[test]
fn long_flat_chains() {
    // Long, flat constructs are not nesting: they must work (or hit a
    // documented limit), not overflow.
    for src in [
        format!("{MODEL_HEAD}  x{}\n}}\n", " -> relu".repeat(DEEP)),
        format!("{MODEL_HEAD}  x{}\n}}\n", " -> l: bn".repeat(DEEP)),
        format!("{MODEL_HEAD}  x -> [{}]\n}}\n", "relu, ".repeat(DEEP)),
        format!("{MODEL_HEAD}  y = 1{}\n  x\n}}\n", " + 1".repeat(DEEP)),
        format!("{MODEL_HEAD}  y = 1{}\n  x\n}}\n", " * 1".repeat(DEEP)),
        format!(
            "{MODEL_HEAD}  y = true{}\n  x\n}}\n",
            " and true".repeat(DEEP)
        ),
        format!("{MODEL_HEAD}  x{}\n}}\n", " + x".repeat(DEEP)),
        format!("{MODEL_HEAD}  y = [1]{}\n  x\n}}\n", "[0]".repeat(DEEP)),
        format!("{MODEL_HEAD}  y = relu{}\n  x\n}}\n", "(x)".repeat(DEEP)),
        format!("{MODEL_HEAD}{}  x\n}}\n", "  y = x -> relu\n".repeat(DEEP)),
    ] {
        survive(&src);
    }
}

#[test]
fn pipeline_of_ten_thousand_stages() {
    let src = format!("{MODEL_HEAD}  x{}\n}}\n", " -> relu".repeat(DEEP));
    let r = compile(&src);
    let c = r.unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(
        c.model.graph().nodes.len() > DEEP,
        "{}",
        c.model.graph().nodes.len()
    );
}

// ----------------------------------------------------------------------------
// Block instantiation depth and recursion

#[test]
fn chain_of_two_hundred_blocks() {
    let mut src = String::new();
    for k in 0..200 {
        src.push_str(&format!(
            "block b{k}() {{\n  input x\n  x -> b{}\n}}\n",
            k + 1
        ));
    }
    src.push_str("block b200() {\n  input x\n  x -> relu\n}\n");
    src.push_str(&format!("{MODEL_HEAD}  x -> b0\n}}\n"));
    let text = rendered(compile(&src));
    assert!(
        text.contains("E0104"),
        "expected a depth error, got:\n{text}"
    );
}

#[test]
fn chain_just_under_the_depth_limit() {
    let mut src = String::new();
    for k in 0..40 {
        src.push_str(&format!(
            "block b{k}(c) {{\n  input x\n  x -> b{}(c) -> relu\n}}\n",
            k + 1
        ));
    }
    src.push_str("block b40(c) {\n  input x\n  x -> conv(c, 3, pad: 1)\n}\n");
    src.push_str(&format!("{MODEL_HEAD}  x -> b0(8)\n}}\n"));
    if let Err(e) = compile(&src) {
        panic!("{}", e.render());
    }
}

#[test]
fn block_recursion() {
    let direct = format!("block a() {{\n  input x\n  x -> a\n}}\n{MODEL_HEAD}  x -> a\n}}\n");
    let mutual = format!(
        "block a() {{\n  input x\n  x -> b\n}}\nblock b() {{\n  input x\n  x -> a()\n}}\n{MODEL_HEAD}  x -> a\n}}\n"
    );
    let repeated =
        format!("block a(n) {{\n  input x\n  x -> a(n) * n\n}}\n{MODEL_HEAD}  x -> a(3)\n}}\n");
    let guarded = format!(
        "block a(n) {{\n  input x\n  if n == 0 {{ x }} else {{ x -> relu -> a(n - 1) }}\n}}\n{MODEL_HEAD}  x -> a(1000000)\n}}\n"
    );
    for src in [direct, mutual, repeated, guarded] {
        let text = rendered(compile(&src));
        assert!(
            text.contains("E0104"),
            "expected a recursion error, got:\n{text}"
        );
    }
}

#[test]
fn recursive_models() {
    survive("model a = b()\nmodel b = a()\n");
    survive("model a = a()\n");
    survive("model a(c = 1) {\n  input x: [3, 8, 8]\n  x -> a\n}\n");
}

// ----------------------------------------------------------------------------
// Huge numbers

#[test]
fn huge_repetition() {
    for n in [
        "1000000000",
        "9223372036854775807",
        "-1",
        "-9223372036854775807",
        "0",
    ] {
        let src = format!("{MODEL_HEAD}  x -> relu * {n}\n}}\n");
        timed("huge repetition", || survive(&src));
    }
}

/// Each repetition is capped, and so is the unrolled length of a sequence:
/// nested repetitions multiply (`(relu * 10000) * 10000` is 10^8 layers) and
/// must be refused before they are unrolled.
#[test]
fn nested_repetitions() {
    for src in [
        format!("{MODEL_HEAD}  x -> [[[relu * 10000] * 10000] * 10000]\n}}\n"),
        format!("{MODEL_HEAD}  x -> relu * 10000 * 10000 * 10000\n}}\n"),
    ] {
        timed("nested repetition", || assert!(compile(&src).is_err()));
    }
}

#[test]
fn integer_overflow() {
    for e in [
        "9223372036854775807 + 1",
        "-9223372036854775807 - 2",
        "9223372036854775807 * 2",
        "-(-9223372036854775807 - 1)",
        "(-9223372036854775807 - 1) / -1",
        "(-9223372036854775807 - 1) % -1",
        "1 / 0",
        "1 % 0",
        "92233720368547758070",
        "1e400",
        "[1, 2][9223372036854775807]",
        "[1, 2][-9223372036854775807 - 1]",
    ] {
        let src = format!("{MODEL_HEAD}  y = {e}\n  x -> conv(y, 3)\n}}\n");
        assert!(compile(&src).is_err(), "{e} accepted");
    }
}

#[test]
fn huge_dimensions() {
    for dims in [
        "3, 100000000, 100000000",
        "9223372036854775807, 9223372036854775807, 9223372036854775807",
        "0, 8, 8",
        "-3, 8, 8",
        "3",
        "3, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8",
        "1.5, 8, 8",
        "true, 8, 8",
    ] {
        let src = format!(
            "model m {{\n  input x: [{dims}]\n  x -> conv(16, 3) -> relu -> flatten -> dense(10)\n}}\n"
        );
        assert!(compile(&src).is_err(), "[{dims}] accepted");
    }
    // Huge op arguments on a small input.
    for op in [
        "conv(9223372036854775807, 1)",
        "conv(100000000, 1) -> conv(100000000, 1)",
        "conv(16, 9223372036854775807)",
        "conv(16, 3, stride: 9223372036854775807)",
        "conv(16, 3, pad: 9223372036854775807)",
        "conv(16, 3, pad: 4611686018427387904)",
        "conv(16, 3, groups: 9223372036854775807)",
        "maxpool(9223372036854775807)",
        "flatten -> dense(9223372036854775807)",
        "flatten -> dense(4294967296) -> dense(4294967296)",
        "dropout(1e308)",
        "concat(x, x, x, x, x, x, x, x)",
    ] {
        let src = format!("{MODEL_HEAD}  x -> {op}\n}}\n");
        survive(&src);
    }
}

#[test]
fn input_shape_overrides_are_checked() {
    let src = format!("{MODEL_HEAD}  x -> conv(16, 3)\n}}\n");
    for shape in [
        vec![],
        vec![0, 0, 0],
        vec![usize::MAX, usize::MAX, usize::MAX],
        vec![1; 40],
    ] {
        let opts = CheckOptions {
            model: None,
            input_shapes: vec![(None, shape.clone())],
        };
        match compile_source("fuzz.rn", &src, &opts) {
            Ok(c) => assert_compiled_ok(&c),
            Err(e) => assert_error_ok(&e),
        }
    }
}
