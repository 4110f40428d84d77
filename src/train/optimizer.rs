//! Stochastic gradient descent with momentum and weight decay, as PyTorch's
//! `torch.optim.SGD` (dampening 0, not Nesterov): `g ← ∇ + λ·p` (the decay
//! added to the gradient), `b ← μ·b + g` (`b = g` at the first step),
//! `p ← p − lr·b`.
//!
//! Weight decay applies to the weights of convolutions and dense layers
//! only, not to biases nor to batch norm's scale and shift (a common
//! choice: decaying them only limits what normalisation can express).

use std::collections::{BTreeMap, HashSet};

use ndarray::{ArrayD, Zip};

use super::error::{TrainError, internal};
use crate::grad::ParamSet;
use crate::ir::{CheckedModel, Op};

/// SGD's state: the momentum buffers and which parameters decay.
#[derive(Debug)]
pub struct Sgd {
    momentum: f32,
    weight_decay: f32,
    decayed: HashSet<String>,
    buffers: BTreeMap<String, ArrayD<f32>>,
}

/// The names of the parameters weight decay applies to: `.weight` of every
/// convolution and dense layer.
pub fn decayed_params(model: &CheckedModel) -> HashSet<String> {
    model
        .graph()
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Conv(_) | Op::Dense(_)))
        .flat_map(|n| n.params.iter())
        .filter(|p| p.trainable && p.name.ends_with(".weight"))
        .map(|p| p.name.clone())
        .collect()
}

impl Sgd {
    /// SGD for `model` with `momentum` (0 for plain SGD) and `weight_decay`.
    pub fn new(model: &CheckedModel, momentum: f32, weight_decay: f32) -> Self {
        Sgd {
            momentum,
            weight_decay,
            decayed: decayed_params(model),
            buffers: BTreeMap::new(),
        }
    }

    /// One update of `params` with `gradients` (by name) at learning rate `lr`.
    pub fn step(
        &mut self,
        params: &mut ParamSet<f32>,
        gradients: &[(String, ArrayD<f32>)],
        lr: f32,
    ) -> Result<(), TrainError> {
        for (name, grad) in gradients {
            let mut p = params.get(name)?.clone();
            if p.shape() != grad.shape() {
                return Err(internal(format!(
                    "gradient of `{name}` has shape {:?}, the parameter {:?}",
                    grad.shape(),
                    p.shape()
                )));
            }
            let mut g = grad.clone();
            if self.weight_decay != 0.0 && self.decayed.contains(name) {
                g.scaled_add(self.weight_decay, &p);
            }
            let update = if self.momentum != 0.0 {
                match self.buffers.get_mut(name) {
                    Some(b) => {
                        Zip::from(&mut *b)
                            .and(&g)
                            .for_each(|b, &g| *b = self.momentum * *b + g);
                        b.clone()
                    }
                    None => {
                        self.buffers.insert(name.clone(), g.clone());
                        g
                    }
                }
            } else {
                g
            };
            p.scaled_add(-lr, &update);
            params.insert(name.clone(), p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    /// The same numbers as `torch.optim.SGD([p], lr=0.1, momentum=0.9,
    /// weight_decay=0.5)` on a conv weight p = [1, -2] with gradient [0.5, 0.5]
    /// twice: step 1 b = g + 0.5p = [1, -0.5], p = [0.9, -1.95];
    /// step 2 g = [0.95, -0.475], b = 0.9·b + g = [1.85, -0.925],
    /// p = [0.715, -1.8575].
    #[test]
    fn matches_pytorch_sgd() {
        let src = "model m {\n  input x: [2]\n  x -> fc: dense(1, bias: false)\n}\n";
        let c = crate::compile_source("m.rn", src, &Default::default()).unwrap();
        let mut sgd = Sgd::new(&c.model, 0.9, 0.5);
        let mut params = ParamSet::<f32>::default();
        params.insert("fc.weight", arr1(&[1.0f32, -2.0]).into_dyn());
        let g = vec![("fc.weight".to_string(), arr1(&[0.5f32, 0.5]).into_dyn())];
        sgd.step(&mut params, &g, 0.1).unwrap();
        sgd.step(&mut params, &g, 0.1).unwrap();
        let p = params.get("fc.weight").unwrap();
        assert!(
            (p[[0]] - 0.715).abs() < 1e-6 && (p[[1]] + 1.8575).abs() < 1e-6,
            "{p}"
        );
    }

    #[test]
    fn no_decay_on_bias_and_batch_norm() {
        let src = "model m {\n  input x: [1, 4, 4]\n  x -> c: conv(2, 3, pad: 1) -> b: bn -> flatten -> fc: dense(3)\n}\n";
        let c = crate::compile_source("m.rn", src, &Default::default()).unwrap();
        let mut d: Vec<_> = decayed_params(&c.model).into_iter().collect();
        d.sort();
        assert_eq!(d, ["c.weight", "fc.weight"]);
    }
}
