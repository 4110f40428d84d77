//! The checked graph as a Graphviz DOT picture (`resnetc graph`).
//!
//! The DOT text is written by hand from [`crate::ir::Graph`]; rendering it to
//! SVG or PNG runs Graphviz's `dot` program ([`render_with_graphviz`]).
//!
//! What is drawn:
//!
//! - **By default** every outermost block instance is one box
//!   (`layer1.0: basic(planes=64)`, its output shape and parameter count), so
//!   ResNet-152 is a column of 50 blocks and DenseNet-121 one of 61; layers of
//!   the model body are drawn one node each.
//! - **With `expand_blocks`** every layer is a node, and every block instance
//!   is a `subgraph cluster_b<i>` around its layers, nested as the instances
//!   are nested.
//! - A layer node reads `name: op(args)` (the arguments as in the IR dump),
//!   its output shape and, when it has any, its parameter count (learned
//!   tensors and batch-norm running statistics, as Keras counts). Model inputs
//!   are ellipses; every model output gets an ellipse of its own.
//! - Every edge is labelled with the shape of the tensor it carries.
//! - Skip edges (see [`skip_edges`]) are dashed and red. A collapsed edge
//!   between two boxes is a skip edge when every edge it stands for is one.
//!
//! Output is deterministic: nodes and clusters in graph order, DOT ids
//! derived from node and instance indices (`n3`, `b1`, `o0`), every name and
//! label a quoted, escaped DOT string.

mod escape;
mod graphviz;
mod skip;
mod write;

pub use graphviz::{GraphvizError, ImageFormat, render_with_graphviz};
pub use skip::{Edge, skip_edges};

use crate::ir::CheckedModel;

/// How to draw the graph.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DotOptions {
    /// Draw every layer, with each block instance as a (nested) cluster,
    /// instead of one box per outermost block instance.
    pub expand_blocks: bool,
}

/// The graph could not be drawn: only ever an inconsistency in the IR.
#[derive(Debug, thiserror::Error)]
pub enum DotError {
    /// The IR broke one of its own invariants.
    #[error("cannot draw the graph: {0} (this is a bug in resnetc; please report it)")]
    Internal(String),
}

/// The model as a DOT `digraph`.
pub fn to_dot(model: &CheckedModel, options: &DotOptions) -> Result<String, DotError> {
    write::write(model, options)
}

#[cfg(test)]
mod tests;
