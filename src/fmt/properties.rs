//! Property tests of the formatter on generated programs.
//!
//! The generator writes valid `.rn` text for every rule of the grammar, with
//! comments and odd white space (none, several spaces, tabs, blank lines)
//! wherever the grammar allows them, and redundant parentheses. For each
//! program, formatted in 100 columns and in narrower widths that break
//! every construct: formatting is idempotent, keeps the parse tree (spans aside) and
//! the comments (same texts, same order), and compiles to the same result.

use proptest::prelude::*;

use super::{comments, format_in_width, format_source, strip_spans};
use crate::span::FileId;
use crate::syntax::parse_module;

/// A piece of generated text.
#[derive(Clone, Debug)]
enum P {
    /// A token.
    T(String),
    /// The next gap must stay on the line (a call's `(`, an index's `[`).
    Glue,
    /// The next gap must contain a newline (between statements and items).
    Nl,
}

fn t(s: &str) -> P {
    P::T(s.to_string())
}

/// Generated tokens, and whether they form an atom (safe as an operand or callee).
type Gen = (Vec<P>, bool);

const IDENTS: &[&str] = &["x", "y", "a1", "conv", "bn", "relu", "_t", "planes"];
const LABELS: &[&str] = &["x", "conv1", "layer2", "block", "input", "model"];

fn ident() -> impl Strategy<Value = String> {
    prop::sample::select(IDENTS).prop_map(str::to_string)
}

fn label() -> BoxedStrategy<Vec<P>> {
    prop::sample::select(LABELS)
        .prop_map(|l| vec![t(l), t(":")])
        .boxed()
}

fn leaf() -> impl Strategy<Value = Gen> {
    prop_oneof![
        ident().prop_map(|s| (vec![P::T(s)], true)),
        prop::sample::select(&["0", "64", "1_000", "7"][..]).prop_map(|s| (vec![t(s)], true)),
        prop::sample::select(&["0.5", "1e-3", "2.5E+2", "1_0.25"][..])
            .prop_map(|s| (vec![t(s)], true)),
        prop::sample::select(&["true", "false", "same"][..]).prop_map(|s| (vec![t(s)], true)),
        prop::sample::select(&["\"lib/a.rn\"", "\"a#b\"", "\"\""][..])
            .prop_map(|s| (vec![t(s)], true)),
    ]
}

/// `e` as an operand: in parentheses unless it is an atom.
fn atom(e: Gen) -> Vec<P> {
    if e.1 { e.0 } else { paren(e.0) }
}

fn paren(mut inner: Vec<P>) -> Vec<P> {
    inner.insert(0, t("("));
    inner.push(t(")"));
    inner
}

/// `open item, item close`, with an optional trailing comma.
fn commas(open: &str, items: Vec<Vec<P>>, trailing: bool, close: &str) -> Vec<P> {
    let mut out = vec![t(open)];
    let n = items.len();
    for (k, it) in items.into_iter().enumerate() {
        out.extend(it);
        if k + 1 < n || trailing {
            out.push(t(","));
        }
    }
    out.push(t(close));
    out
}

fn expr() -> BoxedStrategy<Gen> {
    leaf()
        .prop_recursive(4, 40, 4, |inner| {
            let item = (prop::option::of(label()), inner.clone())
                .prop_map(|(l, e)| {
                    let mut v = l.unwrap_or_default();
                    v.extend(e.0);
                    v
                })
                .boxed();
            let stmts = prop::collection::vec(stmt_with(inner.clone()), 0..3).boxed();
            prop_oneof![
                // list
                (prop::collection::vec(item.clone(), 0..4), any::<bool>()).prop_map(
                    |(items, tc)| {
                        let tc = tc && !items.is_empty();
                        (commas("[", items, tc, "]"), true)
                    }
                ),
                // call
                (
                    inner.clone(),
                    prop::collection::vec(item.clone(), 0..4),
                    any::<bool>()
                )
                    .prop_map(|(callee, args, tc)| {
                        let mut v = atom(callee);
                        v.push(P::Glue);
                        let tc = tc && !args.is_empty();
                        v.extend(commas("(", args, tc, ")"));
                        (v, true)
                    }),
                // index
                (inner.clone(), inner.clone()).prop_map(|(b, i)| {
                    let mut v = atom(b);
                    v.push(P::Glue);
                    v.push(t("["));
                    v.extend(i.0);
                    v.push(t("]"));
                    (v, true)
                }),
                // unary
                (prop::sample::select(&["-", "not"][..]), inner.clone()).prop_map(|(op, e)| {
                    let mut v = vec![t(op)];
                    v.extend(atom(e));
                    (v, false)
                }),
                // binary
                (
                    inner.clone(),
                    prop::sample::select(
                        &[
                            "or", "and", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"
                        ][..]
                    ),
                    inner.clone()
                )
                    .prop_map(|(l, op, r)| {
                        let mut v = atom(l);
                        v.push(t(op));
                        v.extend(atom(r));
                        (v, false)
                    }),
                // pipeline
                (
                    inner.clone(),
                    prop::collection::vec((prop::option::of(label()), inner.clone()), 1..4)
                )
                    .prop_map(|(input, stages)| {
                        let mut v = atom(input);
                        for (l, s) in stages {
                            v.push(t("->"));
                            v.extend(l.unwrap_or_default());
                            v.extend(atom(s));
                        }
                        (v, false)
                    }),
                // if, else if
                (
                    inner.clone(),
                    stmts.clone(),
                    prop::option::of(inner.clone()),
                    stmts.clone(),
                    stmts
                )
                    .prop_map(|(c, a, elif, b, d)| {
                        let mut v = vec![t("if")];
                        v.extend(c.0);
                        v.extend(braced(a));
                        v.push(t("else"));
                        if let Some(c2) = elif {
                            v.push(t("if"));
                            v.extend(c2.0);
                            v.extend(braced(b));
                            v.push(t("else"));
                        }
                        v.extend(braced(d));
                        (v, false)
                    }),
                // redundant parentheses
                inner.prop_map(|e| (paren(e.0), true)),
            ]
        })
        .boxed()
}

fn braced(stmts: Vec<Vec<P>>) -> Vec<P> {
    let mut v = vec![t("{")];
    for s in stmts {
        v.push(P::Nl);
        v.extend(s);
    }
    v.push(P::Nl);
    v.push(t("}"));
    v
}

/// A statement over expressions from `e`.
fn stmt_with(e: BoxedStrategy<Gen>) -> BoxedStrategy<Vec<P>> {
    prop_oneof![
        (
            ident(),
            prop::option::of(prop::collection::vec(e.clone(), 1..4)),
            any::<bool>()
        )
            .prop_map(|(n, dims, tc)| {
                let mut v = vec![t("input"), P::T(n)];
                if let Some(d) = dims {
                    v.push(t(":"));
                    v.extend(commas("[", d.into_iter().map(|x| x.0).collect(), tc, "]"));
                }
                v
            }),
        prop::collection::vec(ident(), 1..3).prop_map(|names| {
            let mut v = vec![t("output")];
            for (k, n) in names.into_iter().enumerate() {
                if k > 0 {
                    v.push(t(","));
                }
                v.push(P::T(n));
            }
            v
        }),
        (ident(), e.clone()).prop_map(|(n, x)| {
            let mut v = vec![P::T(n), t("=")];
            v.extend(x.0);
            v
        }),
        // A statement starting with `-` would continue the one before it.
        e.prop_map(|x| if matches!(x.0.first(), Some(P::T(s)) if s == "-") {
            paren(x.0)
        } else {
            x.0
        }),
    ]
    .boxed()
}

fn params() -> impl Strategy<Value = Vec<P>> {
    (
        prop::collection::vec((ident(), prop::option::of(expr())), 0..3),
        any::<bool>(),
    )
        .prop_map(|(ps, tc)| {
            let tc = tc && !ps.is_empty();
            let items = ps
                .into_iter()
                .map(|(n, d)| {
                    let mut v = vec![P::T(n)];
                    if let Some(d) = d {
                        v.push(t("="));
                        v.extend(d.0);
                    }
                    v
                })
                .collect();
            commas("(", items, tc, ")")
        })
}

fn body() -> impl Strategy<Value = Vec<P>> {
    prop::collection::vec(stmt_with(expr()), 0..4).prop_map(braced)
}

fn item() -> impl Strategy<Value = Vec<P>> {
    prop_oneof![
        prop::sample::select(&["\"lib/resnet.rn\"", "\"a#b.rn\""][..])
            .prop_map(|s| vec![t("import"), t(s)]),
        (ident(), params(), body()).prop_map(|(n, p, b)| {
            let mut v = vec![t("block"), P::T(n)];
            v.extend(p);
            v.extend(b);
            v
        }),
        (ident(), prop::option::of(params()), body()).prop_map(|(n, p, b)| {
            let mut v = vec![t("model"), P::T(n)];
            v.extend(p.unwrap_or_default());
            v.extend(b);
            v
        }),
        (ident(), ident(), prop::collection::vec(expr(), 0..3)).prop_map(|(n, target, args)| {
            let mut v = vec![t("model"), P::T(n), t("="), P::T(target)];
            v.extend(commas(
                "(",
                args.into_iter().map(|a| a.0).collect(),
                false,
                ")",
            ));
            v
        }),
    ]
}

fn program() -> impl Strategy<Value = Vec<P>> {
    prop::collection::vec(item(), 0..4).prop_map(|items| {
        let mut v = Vec::new();
        for it in items {
            v.push(P::Nl);
            v.extend(it);
        }
        v
    })
}

/// Gaps between tokens, chosen by the generated numbers.
const ANY_GAP: &[&str] = &[
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\n\n\n  ",
    " #C\n",
    "\n#C\n\n",
    "  #C \n\t",
];
const SAME_LINE_GAP: &[&str] = &["", " ", "  "];
const NEWLINE_GAP: &[&str] = &["\n", "\n\n", "\n\n\n", " #C\n", "\n  #C\n\n  #C\n"];

/// The text of the pieces, each gap picked by the next of `choices`; every
/// `#C` becomes a numbered comment.
fn render(pieces: &[P], choices: &[u8]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    let mut comments = 0usize;
    let mut gap = NEWLINE_GAP;
    for p in pieces {
        match p {
            P::Glue => gap = SAME_LINE_GAP,
            P::Nl => gap = NEWLINE_GAP,
            P::T(tok) => {
                let c = choices
                    .get(next % choices.len().max(1))
                    .copied()
                    .unwrap_or(0);
                next += 1;
                let mut g = gap[c as usize % gap.len()].to_string();
                let ident_char =
                    |ch: Option<char>| ch.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                if g.is_empty() && ident_char(out.chars().last()) && ident_char(tok.chars().next())
                {
                    g = " ".into();
                }
                while let Some(at) = g.find("#C") {
                    comments += 1;
                    g.replace_range(at..at + 2, &format!("# c{comments}"));
                }
                if !out.is_empty() || !g.trim().is_empty() {
                    out.push_str(&g);
                }
                out.push_str(tok);
                gap = ANY_GAP;
            }
        }
    }
    out.push('\n');
    out
}

fn comment_texts(s: &str) -> Vec<String> {
    comments::collect(s).into_iter().map(|c| c.text).collect()
}

/// What compiling a text gives, spans aside: the diagnostics' codes and messages.
fn compile_outcome(text: &str) -> Vec<String> {
    let diags = match crate::compile_source("t.rn", text, &Default::default()) {
        Ok(c) => c.warnings,
        Err(e) => e.diagnostics,
    };
    diags
        .iter()
        .map(|d| {
            format!(
                "{} {} {:?} {:?}",
                d.code.as_str(),
                d.message,
                d.notes,
                d.help
            )
        })
        .collect()
}

/// Every property of one generated program.
fn check_program(src: &str, width: usize) -> Result<(), TestCaseError> {
    let (tree, errors) = parse_module(FileId(0), src);
    prop_assert!(
        errors.is_empty(),
        "the generator wrote an invalid program: {errors:?}\n{src}"
    );
    let fmt =
        |s: &str| format_in_width(s, width).map_err(|e| TestCaseError::fail(format!("{e}\n{s}")));
    let once = fmt(src)?;
    let twice = fmt(&once)?;
    prop_assert_eq!(&once, &twice, "not idempotent; input:\n{}", src);
    let (again, _) = parse_module(FileId(0), &once);
    prop_assert_eq!(
        strip_spans(&format!("{tree:?}")),
        strip_spans(&format!("{again:?}"))
    );
    prop_assert_eq!(comment_texts(src), comment_texts(&once));
    prop_assert_eq!(compile_outcome(src), compile_outcome(&once));
    Ok(())
}

/// 300 cases (about a second), or `PROPTEST_CASES` for a longer run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_programs_format_idempotently_keeping_meaning_and_comments(
        pieces in program(),
        gaps in prop::collection::vec(any::<u8>(), 1..64),
        width in prop::sample::select(&[100usize, 40, 16][..]),
    ) {
        check_program(&render(&pieces, &gaps), width)?;
    }

    #[test]
    fn arbitrary_text_never_panics(s in "[ -~\n\t]{0,200}") {
        let _ = format_source(&s);
    }
}

/// The generator reaches every rule of the grammar (the parser records the
/// rules it matches in test builds).
#[test]
fn the_generator_covers_every_grammar_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (program(), prop::collection::vec(any::<u8>(), 1..64));
    for _ in 0..300 {
        let (pieces, gaps) = strategy.new_tree(&mut runner).expect("a program").current();
        let src = render(&pieces, &gaps);
        let _ = parse_module(FileId(0), &src);
    }
    let hits = crate::syntax::coverage::hits();
    let missing: Vec<String> = crate::syntax::coverage::grammar_rules()
        .into_iter()
        .filter(|r| !hits.contains(r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "rules the generator never produces: {missing:?}"
    );
}
