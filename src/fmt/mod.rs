//! `resnetc fmt`: one canonical layout of `.rn` source.
//!
//! [`format_source`] parses a text, turns the tree and its comments into a
//! [`doc::Doc`] (a Wadler-style pretty-printing document) and prints it in
//! 100 columns. The layout:
//!
//! - 2-space indentation, one statement per line, one blank line at most
//!   between items and between statements (where the source had one);
//! - canonical spacing: `conv(64, 3, stride: 2)`, `[a, b]`, `name: op(…)`,
//!   `a + b`, `x -> relu`, and parentheses only where precedence needs them;
//! - a pipeline that does not fit on its line is broken before every `->`,
//!   the arrows aligned under the first one; an argument list, parameter list
//!   or list that does not fit puts one element per line, with a trailing comma;
//! - an `if` whose branches hold one statement each stays on one line when it
//!   fits (`if c { a } else { b }`);
//! - comments stay where they were: on their own line before the element
//!   they precede, or at the end of the line they end.
//!
//! Literals keep their spelling (`1e-3`, `1_000`). The result is checked
//! before it is returned: it must parse to the same tree as the input.

mod comments;
mod doc;
mod print;
#[cfg(test)]
mod properties;

use crate::diag::Diagnostic;
use crate::span::FileId;
use crate::syntax::parse_module;

/// The width the formatter fills, in columns.
pub const MAX_WIDTH: usize = 100;

/// Why a text could not be formatted.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The text has syntax errors; nothing is formatted.
    #[error("the text has {} syntax error{}", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" })]
    Syntax {
        /// The syntax errors, with spans in file `FileId(0)`: the text given.
        diagnostics: Vec<Diagnostic>,
    },
    /// The formatter produced text that does not mean what the input meant.
    #[error("this is a bug in resnetc: {0}")]
    Internal(String),
}

impl FormatError {
    /// The diagnostics to show (empty for an internal error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            FormatError::Syntax { diagnostics } => diagnostics,
            FormatError::Internal(_) => &[],
        }
    }
}

/// Formats `.rn` source text in the canonical layout.
///
/// Returns the formatted text (ending in one newline, or empty for a file
/// with neither items nor comments). Spans in the diagnostics of
/// [`FormatError::Syntax`] refer to `text` as file `FileId(0)`.
pub fn format_source(text: &str) -> Result<String, FormatError> {
    format_in_width(text, MAX_WIDTH)
}

/// [`format_source`] in `width` columns (tests use narrow widths to break
/// every construct).
fn format_in_width(text: &str, width: usize) -> Result<String, FormatError> {
    let (module, errors) = parse_module(FileId(0), text);
    if !errors.is_empty() {
        return Err(FormatError::Syntax {
            diagnostics: errors.iter().map(|e| e.to_diagnostic()).collect(),
        });
    }
    let comments = comments::collect(text);
    let count = comments.len();
    let mut printer = print::Printer::new(text, comments);
    let out = match printer.module(&module) {
        Some(d) => {
            let mut s = doc::render(&d, width);
            s.push('\n');
            s
        }
        None => String::new(),
    };
    verify(&module, &out, count)?;
    Ok(out)
}

/// Checks that `out` parses to the same tree as `module` (spans aside) and
/// has the same number of comments.
fn verify(
    module: &crate::syntax::ast::Module,
    out: &str,
    comments: usize,
) -> Result<(), FormatError> {
    let (again, errors) = parse_module(FileId(0), out);
    if let Some(e) = errors.first() {
        return Err(FormatError::Internal(format!(
            "the formatted text does not parse ({e}); please report it with the input file"
        )));
    }
    if strip_spans(&format!("{module:?}")) != strip_spans(&format!("{again:?}")) {
        return Err(FormatError::Internal(
            "the formatted text parses to a different program; please report it with the input file"
                .into(),
        ));
    }
    let after = comments::collect(out).len();
    if after != comments {
        return Err(FormatError::Internal(format!(
            "the formatted text has {after} comments instead of {comments}; please report it with the input file"
        )));
    }
    Ok(())
}

/// A tree's debug text with every `Span { … }` replaced by `Span`.
fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("Span { ") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        rest = &rest[at..];
        match rest.find('}') {
            Some(close) => rest = &rest[close + 1..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::format_source;

    fn fmt(s: &str) -> String {
        format_source(s).unwrap_or_else(|e| panic!("{e}: {:?}", e.diagnostics()))
    }

    #[test]
    fn canonical_spacing() {
        assert_eq!(
            fmt("model m{input x:[3,8,8]\n x->c1:conv(4,3,stride:2)->relu}"),
            "model m {\n  input x: [3, 8, 8]\n  x -> c1: conv(4, 3, stride: 2) -> relu\n}\n"
        );
    }

    #[test]
    fn parentheses_only_where_needed() {
        assert_eq!(
            fmt(
                "block b(a = ((1 + 2)) * 3, c = 1 - (2 - 3), d = -(-1), e = not (x and y)) { input x\n x }"
            ),
            "block b(a = (1 + 2) * 3, c = 1 - (2 - 3), d = -(-1), e = not (x and y)) {\n  input x\n  x\n}\n"
        );
    }

    #[test]
    fn a_statement_starting_with_minus_keeps_its_parentheses() {
        let out = fmt("block b() {\n  input x\n  y = x\n  (-y)\n}\n");
        assert!(out.contains("\n  (-y)\n"), "{out}");
    }

    #[test]
    fn comments_and_blank_lines_are_kept() {
        let src = "# head\n\n# about b\nblock b() { # after brace\n  input x   # trailing\n\n\n  # own line\n  x\n  # last\n} # end\n";
        assert_eq!(
            fmt(src),
            "# head\n\n# about b\nblock b() {\n  # after brace\n  input x # trailing\n\n  # own line\n  x\n  # last\n} # end\n"
        );
    }

    #[test]
    fn long_pipelines_break_before_every_arrow() {
        let src = "model m {\n  input x: [3, 8, 8]\n  y = x -> conv(64, 3, stride: 2, pad: 1, bias: false) -> bn -> relu -> conv(64, 3, pad: 1, bias: false) -> bn\n  y\n}\n";
        assert_eq!(
            fmt(src),
            "model m {\n  input x: [3, 8, 8]\n  y = x -> conv(64, 3, stride: 2, pad: 1, bias: false)\n        -> bn\n        -> relu\n        -> conv(64, 3, pad: 1, bias: false)\n        -> bn\n  y\n}\n"
        );
    }

    #[test]
    fn long_argument_lists_break_one_per_line_with_a_trailing_comma() {
        let args: Vec<String> = (0..12).map(|k| format!("argument_{k}: {k}")).collect();
        let src = format!("model m = target({})\n", args.join(", "));
        let expected = format!("model m = target(\n  {},\n)\n", args.join(",\n  "));
        assert_eq!(fmt(&src), expected);
    }

    #[test]
    fn a_short_if_stays_on_one_line_a_long_one_breaks_every_branch() {
        let short = "block b(c) {\n  input x\n  if c { x } else { relu(x) }\n}\n";
        assert_eq!(fmt(short), short);
        let long = "block b(c) {\n  input x\n  if c == 1 { x -> conv(64, 3, stride: 2, pad: 1, bias: false) } else if c == 2 { x } else { relu(x) }\n}\n";
        assert_eq!(
            fmt(long),
            "block b(c) {\n  input x\n  if c == 1 {\n    x -> conv(64, 3, stride: 2, pad: 1, bias: false)\n  } else if c == 2 {\n    x\n  } else {\n    relu(x)\n  }\n}\n"
        );
    }

    #[test]
    fn syntax_errors_are_returned_as_diagnostics() {
        let e = super::format_source("model m {").unwrap_err();
        assert_eq!(e.diagnostics().len(), 1);
        assert_eq!(e.diagnostics()[0].code.as_str(), "E0001");
    }

    #[test]
    fn output_with_another_meaning_or_lost_comments_is_refused() {
        let src = "model m {\n  input x: [3, 8, 8]\n  x # c\n}\n";
        let (module, _) = crate::syntax::parse_module(crate::span::FileId(0), src);
        assert!(super::verify(&module, src, 1).is_ok());
        let other = "model m {\n  input x: [3, 8, 9]\n  x # c\n}\n";
        assert!(matches!(
            super::verify(&module, other, 1),
            Err(super::FormatError::Internal(_))
        ));
        let uncommented = "model m {\n  input x: [3, 8, 8]\n  x\n}\n";
        assert!(matches!(
            super::verify(&module, uncommented, 1),
            Err(super::FormatError::Internal(_))
        ));
        assert!(matches!(
            super::verify(&module, "model {", 1),
            Err(super::FormatError::Internal(_))
        ));
    }

    #[test]
    fn empty_text_stays_empty() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n  \n"), "");
        assert_eq!(fmt("# only\n\n"), "# only\n");
    }
}
