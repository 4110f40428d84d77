//! Errors and warnings of elaboration and shape checking.

use crate::diag::{Code, Diagnostic};
use crate::span::Span;

/// What went wrong, with the data a caller may want to match on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckErrorKind {
    /// A name that is not defined anywhere visible.
    #[error("cannot find `{name}` in this scope")]
    UndefinedName {
        /// The name.
        name: String,
    },
    /// A name defined twice.
    #[error("{what} `{name}` is defined more than once")]
    Duplicate {
        /// "block", "model", "parameter", "input".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A block or model named like a built-in op or function.
    #[error("{what} `{name}` has the name of a built-in {builtin}")]
    Reserved {
        /// "block" or "model".
        what: &'static str,
        /// The name.
        name: String,
        /// "op" or "function".
        builtin: &'static str,
    },
    /// Call arguments that do not fit the callee.
    #[error("{message}")]
    Arguments {
        /// The callee (`conv`, block `basic`).
        callee: String,
        /// What is wrong.
        message: String,
    },
    /// A value of the wrong kind.
    #[error("expected {expected}, found {found}")]
    Type {
        /// What was needed.
        expected: String,
        /// What was given.
        found: String,
    },
    /// A block that instantiates itself.
    #[error("block `{block}` instantiates itself: {cycle}")]
    Recursion {
        /// The block.
        block: String,
        /// `a -> b -> a`.
        cycle: String,
    },
    /// A missing, repeated or malformed `input` declaration.
    #[error("{message}")]
    Body {
        /// What is wrong.
        message: String,
    },
    /// A body that ends without a value.
    #[error("{message}")]
    NoResult {
        /// What is wrong.
        message: String,
    },
    /// A statement where it is not allowed.
    #[error("{message}")]
    Misplaced {
        /// What is wrong.
        message: String,
    },
    /// Reporting stopped after too many errors.
    #[error("{count} more errors not shown")]
    TooManyErrors {
        /// How many were not shown.
        count: usize,
    },
    /// Division by zero or overflow in integer arithmetic.
    #[error("{message}")]
    Arithmetic {
        /// What happened.
        message: String,
    },
    /// A list index out of range.
    #[error("index {index} is out of range for a list of length {len}")]
    Index {
        /// The index.
        index: i64,
        /// The list's length.
        len: usize,
    },
    /// Model selection failed.
    #[error("{message}")]
    Model {
        /// What is wrong.
        message: String,
    },
    /// Two layers with the same hierarchical name.
    #[error("two layers are both named `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// An op argument with a bad value.
    #[error("invalid `{arg}` for `{op}`: {message}")]
    ArgValue {
        /// The op.
        op: String,
        /// The argument.
        arg: String,
        /// What is wrong.
        message: String,
    },
    /// Operands of `+` with different shapes.
    #[error("cannot add tensors of shapes {}", shapes.join(" and "))]
    AddShapes {
        /// The operand shapes, rendered.
        shapes: Vec<String>,
    },
    /// Operands of `*` whose shapes do not broadcast.
    #[error("cannot multiply tensors of shapes {}: they do not broadcast", shapes.join(" and "))]
    MulShapes {
        /// The operand shapes, rendered.
        shapes: Vec<String>,
    },
    /// Inputs of `concat` that differ outside the channel dimension.
    #[error("cannot concatenate tensors of shapes {} along channels", shapes.join(" and "))]
    ConcatShapes {
        /// The operand shapes, rendered.
        shapes: Vec<String>,
    },
    /// A window that does not fit its input.
    #[error("`{op}` on input {input} would produce an empty output ({detail})")]
    Window {
        /// The op.
        op: String,
        /// The input shape.
        input: String,
        /// Which dimension and why.
        detail: String,
    },
    /// Groups that do not divide the channels.
    #[error("groups = {groups} does not divide {what} = {channels}")]
    Groups {
        /// The group count.
        groups: usize,
        /// "input channels" / "output channels".
        what: &'static str,
        /// The channel count.
        channels: usize,
    },
    /// An op applied to a tensor of the wrong rank.
    #[error("`{op}` needs {expected}, but its input is {found}")]
    Rank {
        /// The op.
        op: String,
        /// What it needs.
        expected: String,
        /// The input's shape.
        found: String,
    },
    /// A dimension too large.
    #[error("{what} is too large")]
    TooLarge {
        /// What.
        what: String,
    },
    /// A warning: a tensor that is never used.
    #[error("tensor `{name}` is never used")]
    UnusedTensor {
        /// Its name.
        name: String,
    },
    /// A warning: a parameter that is never used.
    #[error("parameter `{name}` is never used")]
    UnusedParam {
        /// Its name.
        name: String,
    },
}

impl CheckErrorKind {
    /// The diagnostic code.
    pub fn code(&self) -> Code {
        use CheckErrorKind::*;
        match self {
            UndefinedName { .. } => Code::E0100,
            Duplicate { .. } | Reserved { .. } => Code::E0101,
            Arguments { .. } => Code::E0102,
            Type { .. } => Code::E0103,
            Recursion { .. } => Code::E0104,
            Body { .. } => Code::E0105,
            NoResult { .. } => Code::E0111,
            Misplaced { .. } => Code::E0112,
            TooManyErrors { .. } => Code::E0113,
            Arithmetic { .. } => Code::E0106,
            Index { .. } => Code::E0107,
            Model { .. } => Code::E0108,
            DuplicateName { .. } => Code::E0109,
            ArgValue { .. } => Code::E0110,
            AddShapes { .. } => Code::E0200,
            ConcatShapes { .. } => Code::E0201,
            Window { .. } => Code::E0202,
            Groups { .. } => Code::E0203,
            Rank { .. } => Code::E0204,
            TooLarge { .. } => Code::E0205,
            MulShapes { .. } => Code::E0210,
            UnusedTensor { .. } => Code::W0001,
            UnusedParam { .. } => Code::W0002,
        }
    }

    /// Is this a warning rather than an error?
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            CheckErrorKind::UnusedTensor { .. } | CheckErrorKind::UnusedParam { .. }
        )
    }
}

/// One frame of the chain of block instantiations that led to an error.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// The block.
    pub block: String,
    /// The instance's hierarchical name.
    pub instance: String,
    /// The call site.
    pub call: Span,
}

/// An error (or warning) of the checker, with its place and context.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{kind}")]
pub struct CheckError {
    /// What went wrong.
    pub kind: CheckErrorKind,
    /// Where.
    pub span: Span,
    /// The label under the primary span.
    pub label: String,
    /// Other relevant places.
    pub secondary: Vec<(Span, String)>,
    /// Suggested fixes.
    pub help: Vec<String>,
    /// Notes.
    pub notes: Vec<String>,
    /// The block instantiations that led here, innermost first.
    pub chain: Vec<Frame>,
}

impl CheckError {
    /// A new error at `span`.
    pub fn new(kind: CheckErrorKind, span: Span) -> Self {
        CheckError {
            kind,
            span,
            label: String::new(),
            secondary: Vec::new(),
            help: Vec::new(),
            notes: Vec::new(),
            chain: Vec::new(),
        }
    }

    /// Sets the primary label's text.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.label = text.into();
        self
    }

    /// Adds a secondary label.
    pub fn with(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push((span, text.into()));
        self
    }

    /// Adds a help line.
    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help.push(text.into());
        self
    }

    /// Adds a note.
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    /// Converts into a renderable diagnostic.
    pub fn to_diagnostic(&self) -> Diagnostic {
        let code = self.kind.code();
        let mut d = if self.kind.is_warning() {
            Diagnostic::warning(code, self.kind.to_string())
        } else {
            Diagnostic::error(code, self.kind.to_string())
        };
        d = d.primary(self.span, self.label.clone());
        for (s, t) in &self.secondary {
            d = d.secondary(*s, t.clone());
        }
        for f in &self.chain {
            d = d.secondary(
                f.call,
                format!(
                    "in block `{}`, instantiated as `{}` here",
                    f.block, f.instance
                ),
            );
        }
        for n in &self.notes {
            d = d.note(n.clone());
        }
        for h in &self.help {
            d = d.help(h.clone());
        }
        d
    }
}
