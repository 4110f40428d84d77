//! Diagnostics: the one place where spans become `file:line:col`, carets and
//! `help:` lines.
//!
//! Every phase reports its own typed errors; each converts into a
//! [`Diagnostic`] (plain, serialisable data) at the public boundary. A
//! diagnostic is rendered rustc-style by `codespan-reporting` (the renderer
//! naga uses) with [`Diagnostic::render`], or as JSON for editors and CI.

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{Error as FilesError, Files};
use codespan_reporting::term;
use serde::Serialize;

use crate::span::{FileId, SourceMap, Span};

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The model cannot be compiled.
    Error,
    /// Probably a mistake, but the model compiles.
    Warning,
}

macro_rules! codes {
    ($($code:ident => $what:literal,)*) => {
        /// Stable diagnostic codes; `resnetc --explain CODE` prints the explanation.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum Code { $(#[doc = $what] $code,)* }

        impl Code {
            /// All codes, in order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            /// A one-line explanation.
            pub fn explain(self) -> &'static str {
                match self { $(Code::$code => $what,)* }
            }

            /// The code as written (`E0001`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code),)* }
            }
        }
    };
}

codes! {
    E0001 => "A token that the grammar does not allow at this point (see grammar/resnet.ebnf).",
    E0002 => "A malformed literal or construct: a number too large, an unterminated string, nesting too deep.",
    E0003 => "The file is not UTF-8 text.",
    E0004 => "An imported file cannot be read.",
    E0100 => "A name that is not defined: not a variable, parameter, block, model, op or built-in.",
    E0101 => "A name defined twice in the same scope (block, model, parameter or input).",
    E0102 => "A call with wrong arguments: missing, unknown keyword, too many, or given twice.",
    E0103 => "A value of the wrong kind (for example a tensor where an integer is expected).",
    E0104 => "A block that instantiates itself, directly or through other blocks.",
    E0105 => "A block or model whose `input` declaration is wrong: none, several, a model input without a shape, or a block input with one.",
    E0106 => "An integer operation that divides by zero or overflows.",
    E0107 => "A list index out of range.",
    E0108 => "No model to compile, an unknown `--model`, or a model parameter without a value.",
    E0109 => "Two layers or blocks that would get the same hierarchical name.",
    E0110 => "An invalid argument value for an op (non-positive kernel, zero stride, bad probability, ...).",
    E0111 => "A block, model or `if` branch that ends without a resulting value (no final expression, no `output`).",
    E0112 => "A statement where it is not allowed: `input` inside an `if` branch, `output` in a block.",
    E0113 => "Too many errors in one model: reporting stopped, fix the first ones and compile again.",
    E0200 => "The operands of `+` (add) do not have exactly equal shapes; resnetc never broadcasts.",
    E0201 => "The inputs of `concat` differ in a dimension other than channels.",
    E0202 => "A convolution or pooling window does not fit: the output would have no rows or columns.",
    E0203 => "`groups` does not divide the input or output channel count.",
    E0204 => "An op applied to a tensor of the wrong rank (for example `dense` on N×C×H×W).",
    E0205 => "A dimension or element count too large to represent.",
    E0210 => "The operands of `*` (mul) do not broadcast: equal ranks, and in each dimension equal sizes or a size 1.",
    E0300 => "A weights file lacks a tensor the model needs.",
    E0301 => "A weights file has a tensor the model does not use.",
    E0302 => "A tensor in a weights file has a different shape from the model's parameter.",
    E0303 => "A tensor in a weights file is not float32.",
    E0900 => "An internal error: the checked graph breaks an invariant of the IR (`ir::validate`); a bug in resnetc, never the model's fault.",
    W0001 => "A named tensor that is never used.",
    W0002 => "A block or model parameter that is never used.",
}

/// A labelled span.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    /// The span.
    pub span: Span,
    /// The text shown next to it.
    pub message: String,
}

/// A compiler message: an error or a warning with its places and hints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// The main message.
    pub message: String,
    /// The primary place (rendered with `^^^`).
    pub primary: Option<Label>,
    /// Other relevant places (rendered with `---`).
    pub secondary: Vec<Label>,
    /// Notes (`= note: ...`).
    pub notes: Vec<String>,
    /// Suggested fixes (`= help: ...`).
    pub help: Vec<String>,
}

impl Diagnostic {
    /// A new error.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// A new warning.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Sets the primary label.
    pub fn primary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.primary = Some(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a secondary label.
    pub fn secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// Is this an error (as opposed to a warning)?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    fn to_codespan(&self) -> cs::Diagnostic<FileId> {
        let sev = match self.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
        };
        let mut labels = Vec::new();
        if let Some(p) = &self.primary {
            labels.push(cs::Label::primary(p.span.file, p.span.range()).with_message(&p.message));
        }
        for s in &self.secondary {
            labels.push(cs::Label::secondary(s.span.file, s.span.range()).with_message(&s.message));
        }
        let mut notes: Vec<String> = self.notes.iter().map(|n| format!("note: {n}")).collect();
        notes.extend(self.help.iter().map(|h| format!("help: {h}")));
        cs::Diagnostic::new(sev)
            .with_code(self.code.as_str())
            .with_message(&self.message)
            .with_labels(labels)
            .with_notes(notes)
    }

    /// Renders the diagnostic as rustc-style plain text.
    pub fn render(&self, sources: &SourceMap) -> String {
        let config = term::Config::default();
        term::emit_into_string(&config, sources, &self.to_codespan()).unwrap_or_else(|e| {
            format!(
                "{}: {} (cannot render: {e})\n",
                self.code.as_str(),
                self.message
            )
        })
    }

    /// Renders with terminal colours into `writer`.
    pub fn render_styled(
        &self,
        sources: &SourceMap,
        writer: &mut dyn term::WriteStyle,
    ) -> Result<(), FilesError> {
        term::emit_to_write_style(
            writer,
            &term::Config::default(),
            sources,
            &self.to_codespan(),
        )
    }

    /// The diagnostic as JSON data with resolved locations (for `--message-format json`).
    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let label = |l: &Label| {
            let f = sources.get(l.span.file);
            let (line, column) = f.line_col(l.span.start as usize);
            let (end_line, end_column) = f.line_col(l.span.end as usize);
            serde_json::json!({
                "file": f.name, "byte_start": l.span.start, "byte_end": l.span.end,
                "line": line, "column": column, "end_line": end_line, "end_column": end_column,
                "message": l.message,
            })
        };
        serde_json::json!({
            "severity": self.severity,
            "code": self.code.as_str(),
            "message": self.message,
            "primary": self.primary.as_ref().map(label),
            "secondary": self.secondary.iter().map(label).collect::<Vec<_>>(),
            "notes": self.notes,
            "help": self.help,
            "rendered": self.render(sources),
        })
    }
}

impl<'a> Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(&self.get(id).name)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(&self.get(id).text)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        let starts = self.get(id).line_starts();
        Ok(match starts.binary_search(&byte_index) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        })
    }

    fn line_range(
        &'a self,
        id: FileId,
        line_index: usize,
    ) -> Result<std::ops::Range<usize>, FilesError> {
        let f = self.get(id);
        let starts = f.line_starts();
        let start = *starts.get(line_index).ok_or(FilesError::LineTooLarge {
            given: line_index,
            max: starts.len().saturating_sub(1),
        })?;
        let end = starts.get(line_index + 1).copied().unwrap_or(f.text.len());
        Ok(start..end)
    }
}
