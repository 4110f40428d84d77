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
    Plan::new(g, &[], &inlined_body(g), &input_nodes(g)).map_err(|message| LowerError {
        model: g.name.clone(),
        message,
    })
}

/// The model body with every block instance inlined: its items are the
/// layers of [`crate::lower::layers`] in graph order (no instance calls).
pub(crate) fn inlined_body(g: &Graph) -> Body {
    Body {
        inputs: Vec::new(),
        outputs: g.outputs.iter().map(|o| o.node.0 as usize).collect(),
        items: super::layers(g)
            .into_iter()
            .flatten()
            .map(|l| Item::Layer(l.nodes().map(|n| n.0 as usize).collect()))
            .collect(),
    }
}

/// The model's input nodes, in declaration order.
pub(crate) fn input_nodes(g: &Graph) -> Vec<usize> {
    g.inputs.iter().map(|i| i.node.0 as usize).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::buffers::StepKind;

    fn graph(src: &str) -> crate::Compiled {
        crate::compile_source("m.rn", src, &Default::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_inlined_plan_has_only_layers_and_the_per_block_plans_call_blocks() {
        let src = "block basic(c) {\n  input x\n  y = x -> conv(c, 3, pad: 1) -> bn -> relu\n  relu(x + y)\n}\nmodel m {\n  input x: [4, 8, 8]\n  x -> basic(4) -> basic(4) -> global_avgpool -> flatten -> dense(2)\n}\n";
        let c = graph(src);
        let g = c.model.graph();
        let flat = inlined(g).unwrap();
        assert!(
            flat.steps
                .iter()
                .all(|s| matches!(s.kind, StepKind::Layer(_) | StepKind::Alias(_)))
        );
        // conv+bn+relu, add, relu per block; pool, dense; flatten is a reshape.
        let layers = flat
            .steps
            .iter()
            .filter(|s| matches!(s.kind, StepKind::Layer(_)))
            .count();
        assert_eq!(layers, 3 * 2 + 2);
        // The add and the relu after it run in place, in both blocks.
        assert_eq!(
            flat.steps.iter().filter(|s| s.in_place.is_some()).count(),
            4
        );
        let blocks = blocks(g).unwrap();
        assert_eq!(blocks.type_plans.len(), 1);
        assert!(
            blocks
                .top
                .steps
                .iter()
                .any(|s| matches!(s.kind, StepKind::Child(_) | StepKind::Loop(_)))
        );
    }

    #[test]
    fn resnet50_inlined_workspace_is_as_architecture_md_says() {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resnet50.rn");
        let c = crate::compile_file(&file, &Default::default()).unwrap();
        let plan = inlined(c.model.graph()).unwrap();
        assert_eq!(plan.own_workspace(), 1_404_928);
    }

    #[test]
    fn a_body_that_calls_an_instance_without_a_body_is_a_bug_naming_the_model() {
        let src = "block p(c) {\n  input x\n  x -> conv(c, 3, pad: 1)\n}\nmodel tiny {\n  input x: [3, 8, 8]\n  x -> a: p(4) -> relu\n}\n";
        let c = graph(src);
        let g = c.model.graph();
        let st = Structure::new(g);
        // Planned without the instances' bodies, the call cannot be resolved.
        let err = Plan::new(g, &[], &st.top, &input_nodes(g)).unwrap_err();
        assert!(err.contains("has no body"), "{err}");
        let err = LowerError {
            model: g.name.clone(),
            message: err,
        }
        .to_string();
        assert!(err.contains("model `tiny`"), "{err}");
        assert!(err.contains("this is a bug in resnetc"), "{err}");
    }
}
