//! The checked graph: plain data, produced only by [`crate::check`].
//!
//! A [`Graph`] is a flat list of [`Node`]s in topological order (every node's
//! inputs come before it). Shapes exclude the batch dimension, which is
//! symbolic (`N`) throughout. Back ends take a [`CheckedModel`], which only the
//! checker can construct, so an unchecked graph can never be run or emitted.

mod args;
pub mod cost;
mod dump;
pub mod ops;
pub mod validate;

#[cfg(feature = "lsp")]
pub(crate) use dump::op_args;

use serde::Serialize;

pub use args::{ArgValue, InstanceArg, Sequence, SequenceId, SequenceItem, join_name};
pub use cost::{Costs, Overflow};
pub(crate) use dump::op_arg_words;
pub use ops::{
    Activation, ConvParams, ConvTransposeParams, DenseParams, Op, OpKind, ParamKind, ParamSpec,
    PoolParams, UpsampleMode, UpsampleParams,
};

use crate::span::Span;

/// Index of a node in [`Graph::nodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct NodeId(pub u32);

/// Index of a block instance in [`Graph::instances`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct InstanceId(pub u32);

/// A tensor shape without the batch dimension: `[C, H, W]` or `[F]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Elements per sample, if their count fits in a `u64`.
    pub fn checked_elements(&self) -> Option<u64> {
        cost::product(self.0.iter().copied())
    }

    /// Elements per sample.
    ///
    /// # Panics
    ///
    /// If the count does not fit in a `usize`: never for the shapes of a
    /// checked graph, which have at most 2^40 elements (E0205 otherwise).
    pub fn elements(&self) -> usize {
        self.checked_elements()
            .and_then(|e| usize::try_from(e).ok())
            .expect("a checked shape has at most 2^40 elements")
    }

    /// The channel (first) dimension, if any.
    pub fn channels(&self) -> Option<usize> {
        self.0.first().copied()
    }
}

impl std::fmt::Display for Shape {
    /// `N×C×H×W`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "N")?;
        for d in &self.0 {
            write!(f, "×{d}")?;
        }
        Ok(())
    }
}

/// A learned tensor, with its full hierarchical name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    /// `layer2.0.downsample.0.weight`.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// False for batch-norm running statistics.
    pub trainable: bool,
    /// What it is to its op (its name ends in `.{kind.suffix()}`).
    pub kind: ParamKind,
}

/// One op applied to earlier nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Hierarchical name, unique in the graph (`layer1.0.conv1`).
    pub name: String,
    /// The op with resolved arguments.
    pub op: Op,
    /// The nodes it reads, all earlier in [`Graph::nodes`].
    pub inputs: Vec<NodeId>,
    /// The output shape (batch excluded).
    pub shape: Shape,
    /// Learned tensors, named `{name}.{suffix}`.
    pub params: Vec<Param>,
    /// The innermost block instance the node belongs to (`None`: the model body).
    pub instance: Option<InstanceId>,
    /// The source text that created the node.
    pub span: Span,
}

/// One instantiation of a block.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Instance {
    /// The block's name.
    pub block: String,
    /// The instance's hierarchical name (`layer2.0`).
    pub name: String,
    /// The enclosing instance.
    pub parent: Option<InstanceId>,
    /// The arguments it was instantiated with, every parameter of the block
    /// in declaration order.
    pub args: Vec<InstanceArg>,
    /// The input shape it was instantiated on.
    pub input_shape: Shape,
    /// Its place in a sequence (`layer1.0` is item 0 of `layer1`), if it is
    /// an item of one.
    pub sequence: Option<SequenceItem>,
    /// The call site.
    pub span: Span,
}

impl Instance {
    /// The arguments as the checker prints them (`planes=128, stride=2`).
    pub fn args_text(&self) -> String {
        self.args
            .iter()
            .map(|a| format!("{}={}", a.name, a.value.render()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The value of the parameter `name`.
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|a| a.name == name).map(|a| &a.value)
    }
}

/// A model input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    /// The name in the source.
    pub name: String,
    /// The node holding it.
    pub node: NodeId,
}

/// A model output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Output {
    /// The name (`output` when the model's last expression is its output).
    pub name: String,
    /// The node producing it.
    pub node: NodeId,
}

/// A checked model graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Graph {
    /// The model's name.
    pub name: String,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Block instances, parents before children.
    pub instances: Vec<Instance>,
    /// The sequences applied, in order of elaboration.
    pub sequences: Vec<Sequence>,
    /// Inputs, in declaration order.
    pub inputs: Vec<Input>,
    /// Outputs, in declaration order.
    pub outputs: Vec<Output>,
    /// Every name bound to a tensor, once per instantiation (editor hover).
    #[serde(skip)]
    pub bindings: Vec<TensorBinding>,
}

/// A name bound to a tensor: `input x` or `y = …`, in one instantiation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TensorBinding {
    /// The name where it is declared (the `x` of `input x`, the `y` of `y = …`).
    pub span: Span,
    /// The tensor it holds in this instantiation.
    pub node: NodeId,
}

impl Graph {
    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// The instance with this id.
    pub fn instance(&self, id: InstanceId) -> &Instance {
        &self.instances[id.0 as usize]
    }

    /// The sequence with this id.
    pub fn sequence(&self, id: SequenceId) -> &Sequence {
        &self.sequences[id.0 as usize]
    }

    /// All learned tensors in graph order.
    pub fn params(&self) -> impl Iterator<Item = &Param> {
        self.nodes.iter().flat_map(|n| n.params.iter())
    }

    /// For each node, the index of the last node that reads it (outputs live to the end).
    pub fn last_uses(&self) -> Vec<usize> {
        let mut last: Vec<usize> = (0..self.nodes.len()).collect();
        for (i, n) in self.nodes.iter().enumerate() {
            for inp in &n.inputs {
                last[inp.0 as usize] = i;
            }
        }
        for o in &self.outputs {
            last[o.node.0 as usize] = self.nodes.len();
        }
        last
    }

    /// Renders the graph as stable, line-per-node text (the IR snapshots).
    pub fn dump(&self, sources: &crate::span::SourceMap) -> String {
        dump::dump(self, sources)
    }
}

/// A graph that has passed every check, with the sources it came from.
///
/// Only [`crate::check`] constructs one; interpreters and code generators
/// take it, so they never see an unchecked graph.
#[derive(Clone, Debug)]
pub struct CheckedModel {
    graph: Graph,
    costs: Costs,
}

impl CheckedModel {
    /// The checker's constructor: `costs` are those of `graph`.
    pub(crate) fn new(graph: Graph, costs: Costs) -> Self {
        CheckedModel { graph, costs }
    }

    /// Its parameter counts, multiply-adds and bytes (all fit in a `u64`:
    /// the checker rejects a model whose figures overflow, E0205).
    pub fn costs(&self) -> &Costs {
        &self.costs
    }

    /// The checked graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}
