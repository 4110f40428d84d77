//! Compile-time values of the elaborator.

use std::rc::Rc;

use crate::ir::{ArgValue, NodeId, OpKind, UpsampleMode};
use crate::span::Span;
use crate::syntax::ast::Ident;

/// A compile-time value.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A list of plain values (`[2, 2, 2, 2]`).
    List(Rc<Vec<Value>>),
    /// A tensor: the node that produces it.
    Tensor(NodeId),
    /// Something that can be applied to a tensor.
    Stage(Rc<Stage>),
    /// `same` or `valid` padding.
    Pad(PadKeyword),
    /// `nearest` or `bilinear` (the interpolation of `upsample`).
    Mode(UpsampleMode),
    /// `like(t)`: the height and width of a feature map (the `size` of `upsample`).
    Like([usize; 2], NodeId),
    /// The result of an expression that already reported an error.
    Poison,
}

/// `same` / `valid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PadKeyword {
    Same,
    Valid,
}

/// An argument after evaluation.
#[derive(Clone, Debug)]
pub(crate) struct CallArg {
    pub name: Option<Ident>,
    pub value: Value,
    pub span: Span,
}

/// An applicable stage.
#[derive(Clone, Debug)]
pub(crate) enum Stage {
    /// An op with (some of) its arguments.
    Op {
        kind: OpKind,
        args: Vec<CallArg>,
        span: Span,
    },
    /// A block (index into the checker's block table) with arguments.
    Block {
        block: usize,
        args: Vec<CallArg>,
        span: Span,
    },
    /// A sequence applied left to right; unlabelled items are named by index.
    Seq { items: Vec<SeqItem>, span: Span },
}

/// An item of a sequence.
#[derive(Clone, Debug)]
pub(crate) struct SeqItem {
    pub label: Option<Ident>,
    pub stage: Rc<Stage>,
}

impl Stage {
    pub fn span(&self) -> Span {
        match self {
            Stage::Op { span, .. } | Stage::Block { span, .. } | Stage::Seq { span, .. } => *span,
        }
    }
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(i) => format!("integer `{i}`"),
            Value::Float(f) => format!("number `{f}`"),
            Value::Bool(b) => format!("boolean `{b}`"),
            Value::Str(_) => "a string".into(),
            Value::List(l) => format!("a list of {} values", l.len()),
            Value::Tensor(_) => "a tensor".into(),
            Value::Stage(s) => match &**s {
                Stage::Op { kind, .. } => format!("the layer `{}`", kind.name()),
                Stage::Block { .. } => "a block".into(),
                Stage::Seq { items, .. } => format!("a sequence of {} layers", items.len()),
            },
            Value::Pad(PadKeyword::Same) => "`same`".into(),
            Value::Pad(PadKeyword::Valid) => "`valid`".into(),
            Value::Mode(m) => format!("the interpolation mode `{}`", m.name()),
            Value::Like([h, w], _) => format!("the size {h}×{w} of a tensor (`like(…)`)"),
            Value::Poison => "an erroneous value".into(),
        }
    }

    /// The value as a typed instance argument (`None` for [`Value::Poison`],
    /// which only an erroneous, never checked, model holds).
    pub fn to_arg(&self) -> Option<ArgValue> {
        Some(match self {
            Value::Int(i) => ArgValue::Int(*i),
            Value::Float(f) => ArgValue::Float(*f),
            Value::Bool(b) => ArgValue::Bool(*b),
            Value::Str(s) => ArgValue::Str(s.clone()),
            Value::List(l) => ArgValue::List(l.iter().map(Value::to_arg).collect::<Option<_>>()?),
            Value::Tensor(n) => ArgValue::Tensor(*n),
            Value::Stage(_) => ArgValue::Stage,
            Value::Pad(PadKeyword::Same) => ArgValue::Same,
            Value::Pad(PadKeyword::Valid) => ArgValue::Valid,
            Value::Mode(m) => ArgValue::Mode(*m),
            Value::Like(size, node) => ArgValue::Like {
                size: *size,
                node: *node,
            },
            Value::Poison => return None,
        })
    }
}
