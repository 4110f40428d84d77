//! Gradient flow: how large the loss's gradient is where it reaches each
//! block (or top-level layer with weights) of a model, from the output back
//! to the input — the quantity a skip connection keeps from vanishing.

use std::collections::HashMap;

use ndarray::ArrayD;

use super::error::{GradError, internal};
use super::params::ParamSet;
use super::real::Real;
use super::tape::TrainOptions;
use crate::ir::{CheckedModel, Graph, InstanceId, Op};

/// One unit of the model: an outermost block instance or a top-level
/// convolution or dense layer.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowRow {
    /// The instance's or layer's name (`layer2.0`, `conv1`, `fc`).
    pub name: String,
    /// The L2 norm of the loss's gradient with respect to the unit's output.
    pub output_grad_norm: f64,
    /// The L2 norm of the loss's gradient with respect to the unit's
    /// trainable parameters (all of them together).
    pub param_grad_norm: f64,
}

/// The gradient flow of one model on one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// The model's name.
    pub model: String,
    /// The mean cross-entropy of the batch.
    pub loss: f64,
    /// Its units from the input to the output.
    pub rows: Vec<FlowRow>,
}

/// The outermost block instance a node belongs to.
fn outermost(g: &Graph, mut id: InstanceId) -> Result<InstanceId, GradError> {
    for _ in 0..=g.instances.len() {
        match g.instances.get(id.0 as usize) {
            Some(inst) => match inst.parent {
                Some(p) => id = p,
                None => return Ok(id),
            },
            None => return Err(internal(format!("no instance {}", id.0))),
        }
    }
    Err(internal("instances form a cycle"))
}

/// The gradient flow of the mean cross-entropy of `inputs` against
/// `labels`, in training mode (dropout off).
pub fn gradient_flow<T: Real>(
    model: &CheckedModel,
    params: &ParamSet<T>,
    inputs: &[ArrayD<T>],
    labels: &[i64],
) -> Result<Flow, GradError> {
    let g = model.graph();
    let step =
        super::cross_entropy_gradients(model, params, inputs, labels, &TrainOptions::default())?;
    let grads: HashMap<&str, &ArrayD<T>> = step
        .gradients
        .params
        .iter()
        .map(|(n, a)| (n.as_str(), a))
        .collect();
    // Units in order of first appearance: name, last node, sum of squared
    // parameter gradients.
    let mut units: Vec<(String, usize, f64)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, node) in g.nodes.iter().enumerate() {
        let name = match node.instance {
            Some(id) => g.instances[outermost(g, id)?.0 as usize].name.clone(),
            None if matches!(node.op, Op::Conv(_) | Op::Dense(_)) => node.name.clone(),
            None => continue,
        };
        let squares: f64 = node
            .params
            .iter()
            .filter(|p| p.trainable)
            .map(|p| {
                grads
                    .get(p.name.as_str())
                    .map(|a| a.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>())
                    .ok_or_else(|| internal(format!("no gradient for `{}`", p.name)))
            })
            .sum::<Result<f64, GradError>>()?;
        let k = *index.entry(name.clone()).or_insert_with(|| {
            units.push((name, i, 0.0));
            units.len() - 1
        });
        units[k].1 = i;
        units[k].2 += squares;
    }
    let rows = units
        .into_iter()
        .map(|(name, last, squares)| FlowRow {
            name,
            // `None`: the loss does not depend on this unit, its gradient is zero.
            output_grad_norm: step.gradients.node_norms[last].unwrap_or(0.0),
            param_grad_norm: squares.sqrt(),
        })
        .collect();
    Ok(Flow {
        model: g.name.clone(),
        loss: step.loss.to_f64(),
        rows,
    })
}
