//! The invariants of a checked [`Graph`], checked before any back end reads
//! it (in the manner of naga's `valid`).
//!
//! The checker builds graphs that satisfy these; back ends rely on them
//! (they index nodes, instances and sequences by id, and read parameters by
//! kind). A violation is therefore never the model's fault: it is reported
//! as an internal error naming the model, never repaired with a default.
//!
//! Checked, in order:
//! - every node reads only nodes before it, as many as its op takes;
//! - every node's instance exists;
//! - every instance's parent comes before it, and every id an argument
//!   holds (a tensor, `like(t)`) is a node;
//! - inputs and outputs name existing nodes (an input an `input` node);
//!   input and node names are unique, and an output name names one node
//!   (`output y, y` lists one output twice);
//! - each node's parameters are exactly its op's
//!   [`Op::param_specs`](super::Op::param_specs) (name `{node}.{suffix}`,
//!   shape, kind, trainable), and parameter names are unique;
//! - sequences: a sequence's parent instance exists; an item's sequence
//!   exists, its index is in range and taken once, it lives in the
//!   sequence's instance, and an unlabelled item is named `{sequence}.{index}`;
//! - bindings (editor hover) name existing nodes.

use std::collections::HashSet;

use super::ops::Arity;
use super::{ArgValue, Graph, NodeId, Op, join_name};

/// A broken invariant of a checked graph: a bug in resnetc.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error(
    "internal error: the checked graph of model `{model}` is invalid: {violation}; \
     this is a bug in resnetc, please report it with the model"
)]
pub struct InvalidGraph {
    /// The model's name.
    pub model: String,
    /// The first invariant found broken.
    pub violation: Violation,
}

/// Which invariant is broken.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Violation {
    /// A node reads a node that does not come before it.
    #[error("node {node} (`{name}`) reads node {input}, which does not come before it")]
    InputNotBefore {
        /// The reading node.
        node: u32,
        /// Its name.
        name: String,
        /// The node it reads.
        input: u32,
    },
    /// A node has a number of inputs its op does not take.
    #[error("node `{name}` has {found} inputs; its op takes {expected}")]
    Arity {
        /// The node.
        name: String,
        /// Its input count.
        found: usize,
        /// What the op takes.
        expected: &'static str,
    },
    /// An instance id that does not exist.
    #[error("{what} refers to instance {instance}, which does not exist")]
    NoSuchInstance {
        /// Who refers to it.
        what: String,
        /// The id.
        instance: u32,
    },
    /// An instance whose parent does not come before it.
    #[error("instance {instance} (`{name}`) has parent {parent}, which does not come before it")]
    ParentNotBefore {
        /// The instance.
        instance: u32,
        /// Its name.
        name: String,
        /// Its parent.
        parent: u32,
    },
    /// A node id that does not exist.
    #[error("{what} refers to node {node}, which does not exist")]
    NoSuchNode {
        /// Who refers to it.
        what: String,
        /// The id.
        node: u32,
    },
    /// A model input whose node is not an `input` op.
    #[error("input `{name}` is node {node}, which is not an `input`")]
    InputNotInput {
        /// The input's name.
        name: String,
        /// Its node.
        node: u32,
    },
    /// Two things of one kind with the same name (two outputs: on different
    /// nodes).
    #[error("two {what}s are named `{name}`")]
    DuplicateName {
        /// `node`, `input`, `output` or `parameter`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A node's parameters are not those of its op.
    #[error("node `{node}` has parameters {found:?}, but its op has {expected:?}")]
    Params {
        /// The node.
        node: String,
        /// Its parameters (name, shape).
        found: Vec<(String, Vec<usize>)>,
        /// The op's (name, shape).
        expected: Vec<(String, Vec<usize>)>,
    },
    /// A sequence or a sequence item that does not fit the graph.
    #[error("sequence item `{instance}`: {reason}")]
    Sequence {
        /// The instance (or sequence) name.
        instance: String,
        /// What is wrong.
        reason: String,
    },
}

/// Checks every invariant of `g` (see the module documentation).
pub fn validate(g: &Graph) -> Result<(), InvalidGraph> {
    check(g).map_err(|violation| InvalidGraph {
        model: g.name.clone(),
        violation,
    })
}

fn check(g: &Graph) -> Result<(), Violation> {
    let n_nodes = g.nodes.len();
    let n_inst = g.instances.len();
    let node_exists = |what: &dyn Fn() -> String, id: NodeId| {
        if (id.0 as usize) < n_nodes {
            Ok(())
        } else {
            Err(Violation::NoSuchNode {
                what: what(),
                node: id.0,
            })
        }
    };
    let mut node_names = HashSet::new();
    let mut param_names = HashSet::new();
    for (i, node) in g.nodes.iter().enumerate() {
        for inp in &node.inputs {
            if inp.0 as usize >= i {
                return Err(Violation::InputNotBefore {
                    node: i as u32,
                    name: node.name.clone(),
                    input: inp.0,
                });
            }
        }
        let (ok, expected) = match node.op.kind().map(|k| k.spec().arity) {
            None => (node.inputs.is_empty(), "none"),
            Some(Arity::One) => (node.inputs.len() == 1, "one"),
            Some(Arity::Two) => (node.inputs.len() == 2, "two"),
            Some(Arity::Many) => (node.inputs.len() >= 2, "two or more"),
        };
        if !ok {
            return Err(Violation::Arity {
                name: node.name.clone(),
                found: node.inputs.len(),
                expected,
            });
        }
        if let Some(inst) = node.instance
            && inst.0 as usize >= n_inst
        {
            return Err(Violation::NoSuchInstance {
                what: format!("node `{}`", node.name),
                instance: inst.0,
            });
        }
        if !node_names.insert(node.name.as_str()) {
            return Err(Violation::DuplicateName {
                what: "node",
                name: node.name.clone(),
            });
        }
        check_params(node)?;
        for p in &node.params {
            if !param_names.insert(p.name.as_str()) {
                return Err(Violation::DuplicateName {
                    what: "parameter",
                    name: p.name.clone(),
                });
            }
        }
    }
    for (i, inst) in g.instances.iter().enumerate() {
        if let Some(p) = inst.parent
            && p.0 as usize >= i
        {
            return Err(Violation::ParentNotBefore {
                instance: i as u32,
                name: inst.name.clone(),
                parent: p.0,
            });
        }
        for a in &inst.args {
            arg_nodes(&a.value, &mut |id| {
                node_exists(
                    &|| format!("argument `{}` of instance `{}`", a.name, inst.name),
                    id,
                )
            })?;
        }
    }
    let mut names = HashSet::new();
    for input in &g.inputs {
        node_exists(&|| format!("input `{}`", input.name), input.node)?;
        if g.node(input.node).op != Op::Input {
            return Err(Violation::InputNotInput {
                name: input.name.clone(),
                node: input.node.0,
            });
        }
        if !names.insert(input.name.as_str()) {
            return Err(Violation::DuplicateName {
                what: "input",
                name: input.name.clone(),
            });
        }
    }
    // An output listed twice (`output y, y`) is one name for one node.
    let mut outputs = std::collections::HashMap::new();
    for output in &g.outputs {
        node_exists(&|| format!("output `{}`", output.name), output.node)?;
        if *outputs.entry(output.name.as_str()).or_insert(output.node) != output.node {
            return Err(Violation::DuplicateName {
                what: "output",
                name: output.name.clone(),
            });
        }
    }
    for b in &g.bindings {
        node_exists(&|| "a binding".to_string(), b.node)?;
    }
    check_sequences(g)
}

/// Each node's parameters are its op's, in order.
fn check_params(node: &super::Node) -> Result<(), Violation> {
    let specs = node.op.param_specs();
    let same = node.params.len() == specs.len()
        && node.params.iter().zip(&specs).all(|(p, s)| {
            p.name == format!("{}.{}", node.name, s.suffix)
                && p.shape == s.shape
                && p.kind == s.kind
                && p.trainable == s.trainable
        });
    if same {
        return Ok(());
    }
    Err(Violation::Params {
        node: node.name.clone(),
        found: node
            .params
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone()))
            .collect(),
        expected: specs
            .into_iter()
            .map(|s| (format!("{}.{}", node.name, s.suffix), s.shape))
            .collect(),
    })
}

/// Calls `f` on every node id held in an argument value.
fn arg_nodes(
    v: &ArgValue,
    f: &mut dyn FnMut(NodeId) -> Result<(), Violation>,
) -> Result<(), Violation> {
    match v {
        ArgValue::Tensor(id) | ArgValue::Like { node: id, .. } => f(*id),
        ArgValue::List(items) => items.iter().try_for_each(|x| arg_nodes(x, f)),
        ArgValue::Int(_)
        | ArgValue::Float(_)
        | ArgValue::Bool(_)
        | ArgValue::Str(_)
        | ArgValue::Stage
        | ArgValue::Same
        | ArgValue::Valid
        | ArgValue::Mode(_) => Ok(()),
    }
}

fn check_sequences(g: &Graph) -> Result<(), Violation> {
    for s in &g.sequences {
        if let Some(p) = s.parent
            && p.0 as usize >= g.instances.len()
        {
            return Err(Violation::NoSuchInstance {
                what: format!("sequence `{}`", s.name),
                instance: p.0,
            });
        }
    }
    let mut taken = HashSet::new();
    for inst in &g.instances {
        let Some(item) = inst.sequence else {
            continue;
        };
        let bad = |reason: String| Violation::Sequence {
            instance: inst.name.clone(),
            reason,
        };
        let Some(seq) = g.sequences.get(item.sequence.0 as usize) else {
            return Err(bad(format!("sequence {} does not exist", item.sequence.0)));
        };
        if item.index >= seq.len {
            return Err(bad(format!(
                "index {} is out of range: sequence `{}` has {} items",
                item.index, seq.name, seq.len
            )));
        }
        if !taken.insert((item.sequence, item.index)) {
            return Err(bad(format!(
                "item {} of sequence `{}` is taken twice",
                item.index, seq.name
            )));
        }
        if inst.parent != seq.parent {
            return Err(bad(format!(
                "it lives in another instance than its sequence `{}`",
                seq.name
            )));
        }
        if !item.labelled && inst.name != join_name(&seq.name, &item.index.to_string()) {
            return Err(bad(format!(
                "an unlabelled item {} of sequence `{}` must be named `{}`",
                item.index,
                seq.name,
                join_name(&seq.name, &item.index.to_string())
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
