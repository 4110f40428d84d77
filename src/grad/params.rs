//! [`ParamSet`]: a model's learned tensors by name, in the float type of the
//! computation.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};

use super::error::{GradError, internal};
use super::real::Real;
use crate::interp::Weights;
use crate::ir::CheckedModel;

/// Learned tensors (trainable parameters and running statistics) by their
/// full names (`layer1.0.bn1.running_var`).
#[derive(Clone, Debug, Default)]
pub struct ParamSet<T> {
    tensors: BTreeMap<String, ArrayD<T>>,
}

impl<T: Real> ParamSet<T> {
    /// The model's tensors from loaded weights (see
    /// [`crate::interp::WeightsFile::load`] and [`crate::interp::init`]),
    /// converted to `T`; a missing or mis-shaped tensor is an error.
    pub fn from_weights(model: &CheckedModel, weights: &Weights) -> Result<Self, GradError> {
        let mut tensors = BTreeMap::new();
        for p in model.graph().params() {
            let t = weights
                .get(&p.name)
                .ok_or_else(|| GradError::MissingParam(p.name.clone()))?;
            if t.shape != p.shape {
                return Err(GradError::ParamShape {
                    name: p.name.clone(),
                    expected: p.shape.clone(),
                    found: t.shape.clone(),
                });
            }
            let data = t.data.iter().map(|&v| T::from_f32(v)).collect();
            let a = ArrayD::from_shape_vec(IxDyn(&t.shape), data).map_err(internal)?;
            tensors.insert(p.name.clone(), a);
        }
        Ok(ParamSet { tensors })
    }

    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Result<&ArrayD<T>, GradError> {
        self.tensors
            .get(name)
            .ok_or_else(|| GradError::MissingParam(name.to_string()))
    }

    /// Sets the tensor named `name`.
    pub fn insert(&mut self, name: impl Into<String>, value: ArrayD<T>) {
        self.tensors.insert(name.into(), value);
    }

    /// Every tensor, by name (sorted).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ArrayD<T>)> {
        self.tensors.iter()
    }
}
