//! The lowering products the back ends read: the model's bodies with the
//! buffer plan of each, at two granularities made by the one planner
//! ([`Plan::new`]).
//!
//! - [`blocks`]: one plan per block type and one for the model body, whose
//!   steps call nested instances ([`crate::codegen`] prints these as one
//!   `forward_into` per block type).
//! - [`inlined`]: one plan for the model body with every block instance
//!   inlined, so every step is a layer (the interpreter runs this one on a
//!   workspace of [`Plan::own_workspace`] `f32` per sample).
//!
//! Both take their layers from [`crate::lower::layers`] and their buffers
//! from the same rules (liveness, in-place element-wise ops, best-fit slots),
//! so the two back ends compute the same operations on values that live in
//! buffers planned the same way.

use super::blocks::{Body, Item, Structure};
use super::buffers::Plan;
use crate::ir::Graph;

/// A lowering invariant does not hold: never the model's fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "internal error while lowering model `{model}`: {message}; \
     this is a bug in resnetc, please report it with the model"
)]
pub struct LowerError {
    /// The model being lowered.
    pub model: String,
    /// What went wrong.
    pub message: String,
}

/// The model in blocks, as the code generator prints it.
pub(crate) struct Lowered {
    /// The bodies, block types and loops.
    pub structure: Structure,
    /// The plan of each block type (the body of its first instance), by type.
    pub type_plans: Vec<Plan>,
    /// The plan of the model body.
    pub top: Plan,
}

/// Lowers `g` into bodies with one plan each.
pub(crate) fn blocks(g: &Graph) -> Result<Lowered, LowerError> {
    let bug = |message: String| LowerError {
        model: g.name.clone(),
        message,
    };
    let structure = Structure::new(g);
    let type_plans = structure
        .types
        .iter()
        .map(|t| {
            let body = structure
                .bodies
                .get(t.first)
                .ok_or_else(|| format!("block type of instance {} has no body", t.first))?;
            Plan::new(g, &structure.bodies, body, &body.inputs)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(bug)?;
    let top = Plan::new(g, &structure.bodies, &structure.top, &input_nodes(g)).map_err(bug)?;
    Ok(Lowered {
        structure,
        type_plans,
        top,
    })
}

/// The plan of the model body with every block instance inlined: one step
/// per layer of [`crate::lower::layers`], in graph order, reading the
/// model's inputs (parameter `k` is input `k`) and writing its outputs
/// (output view `k` is output `k`).
pub(crate) fn inlined(g: &Graph) -> Result<Plan, LowerError> {
    let body = Body {
        inputs: Vec::new(),
        outputs: g.outputs.iter().map(|o| o.node.0 as usize).collect(),
        items: super::layers(g)
            .into_iter()
            .flatten()
            .map(|l| Item::Layer(l.nodes().map(|n| n.0 as usize).collect()))
            .collect(),
    };
    Plan::new(g, &[], &body, &input_nodes(g)).map_err(|message| LowerError {
        model: g.name.clone(),
        message,
    })
}

/// The model's input nodes, in declaration order.
fn input_nodes(g: &Graph) -> Vec<usize> {
    g.inputs.iter().map(|i| i.node.0 as usize).collect()
}
