//! Gradients (or any named tensors) as safetensors bytes, in f32.

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::error::{GradError, internal};
use super::real::Real;
use ndarray::ArrayD;

/// The tensors as a safetensors file's bytes (f32, little-endian, each
/// under its name); write them with [`crate::atomic::write`].
pub fn to_safetensors<T: Real>(tensors: &[(String, ArrayD<T>)]) -> Result<Vec<u8>, GradError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, a)| a.iter().flat_map(|v| v.to_f32().to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, a), b)| {
            TensorView::new(Dtype::F32, a.shape().to_vec(), b)
                .map(|v| (name.clone(), v))
                .map_err(internal)
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize(views, None).map_err(internal)
}
