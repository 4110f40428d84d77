//! Typed block-instance arguments and the sequences the checker elaborated.
//!
//! The checker records the value of every parameter a block was instantiated
//! with as an [`ArgValue`] and every sequence it applied (`[a, b]`, `block(..)
//! * n`) as a [`Sequence`]; back ends read these instead of parsing names or
//! rendered text. Text is made only for display ([`Instance::args_text`]).

use serde::Serialize;

use super::{InstanceId, UpsampleMode};
use crate::ir::NodeId;
use crate::span::Span;

/// A compile-time value a block parameter was bound to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ArgValue {
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A string.
    Str(String),
    /// A list of plain values (`[2, 2, 2, 2]`).
    List(Vec<ArgValue>),
    /// A tensor: the node producing it.
    Tensor(NodeId),
    /// A layer, block or sequence passed as an argument. Two instances with
    /// different stages compare equal here; their bodies tell them apart.
    Stage,
    /// `same` padding.
    Same,
    /// `valid` padding.
    Valid,
    /// An interpolation mode of `upsample`.
    Mode(UpsampleMode),
    /// `like(t)`: the height and width of the tensor `node`.
    Like {
        /// Height and width.
        size: [usize; 2],
        /// The tensor it was taken from.
        node: NodeId,
    },
}

impl ArgValue {
    /// The value as the checker prints it (`128`, `[2, 2]`, `same`).
    pub fn render(&self) -> String {
        match self {
            ArgValue::Int(i) => i.to_string(),
            ArgValue::Float(f) => f.to_string(),
            ArgValue::Bool(b) => b.to_string(),
            ArgValue::Str(s) => format!("{s:?}"),
            ArgValue::List(l) => format!(
                "[{}]",
                l.iter()
                    .map(ArgValue::render)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ArgValue::Tensor(n) => format!("%{}", n.0),
            ArgValue::Stage => "<stage>".into(),
            ArgValue::Same => "same".into(),
            ArgValue::Valid => "valid".into(),
            ArgValue::Mode(m) => m.name().into(),
            ArgValue::Like { size: [h, w], .. } => format!("like({h}x{w})"),
        }
    }
}

/// One bound parameter of a block instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceArg {
    /// The parameter's name.
    pub name: String,
    /// Its value.
    pub value: ArgValue,
}

/// Index of a sequence in [`super::Graph::sequences`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SequenceId(pub u32);

/// A sequence applied to a tensor: `[a, b, c]`, `block(..) * n`, or both
/// spliced (`[stem, basic(64) * 2]`). Its items are named `{name}.{index}`
/// (or `{name}.{label}` when labelled).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sequence {
    /// The prefix of its items' names (`layer1`; empty in a model body).
    pub name: String,
    /// The block instance it was applied in (`None`: the model body).
    pub parent: Option<InstanceId>,
    /// How many items it has.
    pub len: usize,
    /// The source of the sequence.
    pub span: Span,
}

/// Where a block instance sits in a [`Sequence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SequenceItem {
    /// The sequence.
    pub sequence: SequenceId,
    /// Its position (from 0).
    pub index: usize,
    /// Whether the item has a label (then it is named `{sequence}.{label}`,
    /// otherwise `{sequence}.{index}`).
    pub labelled: bool,
}

/// `prefix.segment`, or `segment` alone when the prefix is empty: how the
/// checker names the items of a scope.
pub fn join_name(prefix: &str, segment: &str) -> String {
    if prefix.is_empty() {
        segment.to_string()
    } else {
        format!("{prefix}.{segment}")
    }
}
