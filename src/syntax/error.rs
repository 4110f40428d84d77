//! Syntax errors: what the parser and the file loader report.

use crate::diag::{Code, Diagnostic};
use crate::span::Span;

/// An error found while reading or parsing a `.rn` file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SyntaxError {
    /// A token that does not fit the grammar at this point.
    #[error("expected {}, found {found}", or_list(expected))]
    Unexpected {
        /// What the grammar allows here.
        expected: Vec<String>,
        /// A description of the token found.
        found: String,
        /// Where.
        span: Span,
        /// A likely fix.
        hint: Option<String>,
    },
    /// A malformed token or construct (bad literal, too deep nesting, ...).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// A likely fix.
        hint: Option<String>,
        /// Where.
        span: Span,
    },
    /// The file is not UTF-8 text.
    #[error("this file is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
        /// The file's (empty) span.
        span: Span,
    },
    /// An `import` names a file that cannot be read.
    #[error("cannot read imported file `{path}`: {reason}")]
    Import {
        /// The path as resolved.
        path: String,
        /// The I/O error.
        reason: String,
        /// The `import` statement.
        span: Span,
    },
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn or_list(items: &[String]) -> String {
    match items {
        [] => "something else".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {}", rest.join(", "), last),
    }
}

impl SyntaxError {
    /// The primary span of the error.
    pub fn span(&self) -> Span {
        match self {
            SyntaxError::Unexpected { span, .. }
            | SyntaxError::Invalid { span, .. }
            | SyntaxError::NotUtf8 { span, .. }
            | SyntaxError::Import { span, .. } => *span,
        }
    }

    /// Converts the error into a renderable diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let message = self.to_string();
        match self {
            SyntaxError::Unexpected {
                span, hint, found, ..
            } => {
                let d = Diagnostic::error(Code::E0001, message)
                    .primary(*span, format!("unexpected {found}"));
                with_hint(d, hint)
            }
            SyntaxError::Invalid { span, hint, .. } => {
                let d = Diagnostic::error(Code::E0002, message).primary(*span, "here");
                with_hint(d, hint)
            }
            SyntaxError::NotUtf8 { span, .. } => Diagnostic::error(Code::E0003, message)
                .primary(*span, "")
                .help("save the file as UTF-8 text; `.rn` files are plain text"),
            SyntaxError::Import { span, .. } => Diagnostic::error(Code::E0004, message)
                .primary(*span, "imported here")
                .help("import paths are relative to the importing file's directory"),
        }
    }
}

fn with_hint(d: Diagnostic, hint: &Option<String>) -> Diagnostic {
    match hint {
        Some(h) => d.help(h.clone()),
        None => d,
    }
}
