//! The training-mode forward pass, which records every node's value (the
//! tape), and the reverse pass over it.

use std::collections::HashMap;

use ndarray::{ArrayD, ArrayViewD};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::error::{GradError, internal};
use super::ops::{self, Context, Saved};
use super::params::ParamSet;
use super::real::Real;
use crate::ir::{CheckedModel, NodeId, Op};

/// How the training-mode forward pass behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrainOptions {
    /// Seed of dropout's masks; `None`: dropout is the identity.
    pub dropout_seed: Option<u64>,
}

/// A training-mode forward pass: every node's value, kept for [`Tape::backward`].
pub struct Tape<'a, T> {
    model: &'a CheckedModel,
    params: &'a ParamSet<T>,
    values: Vec<ArrayD<T>>,
    saved: Vec<Saved<T>>,
    running: Vec<(String, ArrayD<T>)>,
}

/// The gradients of one reverse pass.
#[derive(Debug)]
pub struct Gradients<T> {
    /// Every trainable parameter's gradient, in PyTorch `state_dict` order
    /// (zeros for a parameter the seeds do not depend on).
    pub params: Vec<(String, ArrayD<T>)>,
    /// The gradient with respect to each model input, in declaration order.
    pub inputs: Vec<ArrayD<T>>,
    /// For each node, the L2 norm of the gradient of its output (`None`:
    /// the seeds do not depend on it).
    pub node_norms: Vec<Option<f64>>,
}

impl<'a, T: Real> Tape<'a, T> {
    /// Runs `model` in training mode on `inputs` (one per model input, each
    /// `N×shape`): batch norm on the batch statistics, dropout as `options` says.
    pub fn forward(
        model: &'a CheckedModel,
        params: &'a ParamSet<T>,
        inputs: &[ArrayD<T>],
        options: &TrainOptions,
    ) -> Result<Self, GradError> {
        let g = model.graph();
        if inputs.len() != g.inputs.len() {
            return Err(GradError::InputCount {
                model: g.name.clone(),
                expected: g.inputs.len(),
                found: inputs.len(),
            });
        }
        let mut given: HashMap<NodeId, &ArrayD<T>> = HashMap::new();
        for (input, x) in g.inputs.iter().zip(inputs) {
            let expected = &g.node(input.node).shape.0;
            if x.ndim() != expected.len() + 1
                || &x.shape()[1..] != expected.as_slice()
                || x.shape()[0] == 0
            {
                return Err(GradError::InputShape {
                    name: input.name.clone(),
                    expected: expected.clone(),
                    found: x.shape().to_vec(),
                });
            }
            given.insert(input.node, x);
        }
        let mut rng = options.dropout_seed.map(ChaCha8Rng::seed_from_u64);
        let mut running = Vec::new();
        let mut values: Vec<ArrayD<T>> = Vec::with_capacity(g.nodes.len());
        let mut saved = Vec::with_capacity(g.nodes.len());
        for (i, node) in g.nodes.iter().enumerate() {
            let (value, s) = if let Op::Input = node.op {
                let x = given.get(&NodeId(i as u32)).ok_or_else(|| {
                    internal(format!("input node `{}` is not a model input", node.name))
                })?;
                ((*x).clone(), Saved::Nothing)
            } else {
                let views = input_views(&values, &node.inputs)?;
                let mut ctx = Context {
                    params,
                    dropout: rng.as_mut(),
                    running: &mut running,
                };
                ops::forward(node, &views, &mut ctx)?
            };
            values.push(value);
            saved.push(s);
        }
        Ok(Tape {
            model,
            params,
            values,
            saved,
            running,
        })
    }

    /// The value of a node.
    pub fn value(&self, id: NodeId) -> Result<&ArrayD<T>, GradError> {
        self.values
            .get(id.0 as usize)
            .ok_or_else(|| internal(format!("no node {}", id.0)))
    }

    /// The running statistics after this pass (`running_mean` and
    /// `running_var` of every batch norm, updated with momentum 0.1).
    pub fn running_stats(&self) -> &[(String, ArrayD<T>)] {
        &self.running
    }

    /// The reverse pass: the gradients of `Σ seed ⊙ value` over the given
    /// `(node, seed)` pairs (each seed shaped as its node's value).
    pub fn backward(&self, seeds: Vec<(NodeId, ArrayD<T>)>) -> Result<Gradients<T>, GradError> {
        let g = self.model.graph();
        let mut grads: Vec<Option<ArrayD<T>>> = vec![None; g.nodes.len()];
        for (id, seed) in seeds {
            let value = self.value(id)?;
            if seed.shape() != value.shape() {
                return Err(internal(format!(
                    "seed of shape {:?} for a value of shape {:?}",
                    seed.shape(),
                    value.shape()
                )));
            }
            accumulate(&mut grads, id, seed)?;
        }
        let mut param_grads: HashMap<String, ArrayD<T>> = HashMap::new();
        let mut node_norms = vec![None; g.nodes.len()];
        let mut input_grads: HashMap<NodeId, ArrayD<T>> = HashMap::new();
        for (i, node) in g.nodes.iter().enumerate().rev() {
            let Some(dy) = grads[i].take() else { continue };
            node_norms[i] = Some(
                dy.iter()
                    .map(|v| v.to_f64() * v.to_f64())
                    .sum::<f64>()
                    .sqrt(),
            );
            if let Op::Input = node.op {
                input_grads.insert(NodeId(i as u32), dy);
                continue;
            }
            let views = input_views(&self.values, &node.inputs)?;
            let saved = self
                .saved
                .get(i)
                .ok_or_else(|| internal("tape without saved state"))?;
            let out = ops::backward(
                node,
                &views,
                self.values[i].view(),
                saved,
                dy.view(),
                self.params,
            )?;
            if out.inputs.len() != node.inputs.len() {
                return Err(internal(format!(
                    "`{}`: {} input gradients for {} inputs",
                    node.name,
                    out.inputs.len(),
                    node.inputs.len()
                )));
            }
            for (&id, dx) in node.inputs.iter().zip(out.inputs) {
                accumulate(&mut grads, id, dx)?;
            }
            for (name, dp) in out.params {
                match param_grads.get_mut(&name) {
                    Some(acc) => *acc += &dp,
                    None => {
                        param_grads.insert(name, dp);
                    }
                }
            }
        }
        let params = g
            .params()
            .filter(|p| p.trainable)
            .map(|p| {
                let grad = match param_grads.remove(&p.name) {
                    Some(d) => d,
                    None => ArrayD::zeros(p.shape.clone()),
                };
                (p.name.clone(), grad)
            })
            .collect();
        let inputs = g
            .inputs
            .iter()
            .map(|input| match input_grads.remove(&input.node) {
                Some(d) => d,
                None => ArrayD::zeros(self.values[input.node.0 as usize].raw_dim()),
            })
            .collect();
        Ok(Gradients {
            params,
            inputs,
            node_norms,
        })
    }
}

fn input_views<'v, T>(
    values: &'v [ArrayD<T>],
    ids: &[NodeId],
) -> Result<Vec<ArrayViewD<'v, T>>, GradError> {
    ids.iter()
        .map(|id| {
            values
                .get(id.0 as usize)
                .map(|v| v.view())
                .ok_or_else(|| internal(format!("node {} is read before it is computed", id.0)))
        })
        .collect()
}

/// Adds `d` to the gradient of node `id` (a tensor read twice, as the skip
/// connection's `x`, gets the sum of both gradients).
fn accumulate<T: Real>(
    grads: &mut [Option<ArrayD<T>>],
    id: NodeId,
    d: ArrayD<T>,
) -> Result<(), GradError> {
    let slot = grads
        .get_mut(id.0 as usize)
        .ok_or_else(|| internal(format!("gradient for unknown node {}", id.0)))?;
    match slot {
        Some(acc) => *acc += &d,
        None => *slot = Some(d),
    }
    Ok(())
}
