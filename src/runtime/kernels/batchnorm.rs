//! Batch normalisation (inference): folding into a preceding conv, and a
//! standalone kernel using running statistics.

use ndarray::{Array, Array1, Array4, ArrayView, ArrayView1, ArrayView4, Axis, Dimension};
use rayon::prelude::*;

use crate::runtime::kernels::error::{KernelError, param_err, shape_err};

/// Inference-mode batch-norm parameters for `C` channels:
/// `y = (x - running_mean) / sqrt(running_var + eps) · gamma + beta`.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormParams<'a> {
    /// Scale (`weight` in PyTorch), `[C]`.
    pub gamma: ArrayView1<'a, f32>,
    /// Shift (`bias` in PyTorch), `[C]`.
    pub beta: ArrayView1<'a, f32>,
    /// Running mean, `[C]`.
    pub running_mean: ArrayView1<'a, f32>,
    /// Running variance, `[C]`.
    pub running_var: ArrayView1<'a, f32>,
    /// Epsilon added to the variance (PyTorch default 1e-5, Keras 1e-3).
    pub eps: f32,
}

impl BatchNormParams<'_> {
    /// Per-channel `(scale, shift)` with `y = x·scale + shift`, computed in f64.
    ///
    /// Errors if the four vectors do not all have length `channels` or if
    /// `eps` is negative / not finite.
    pub fn scale_shift(&self, channels: usize) -> Result<(Array1<f32>, Array1<f32>), KernelError> {
        for (name, v) in [
            ("gamma", &self.gamma),
            ("beta", &self.beta),
            ("running_mean", &self.running_mean),
            ("running_var", &self.running_var),
        ] {
            if v.len() != channels {
                return shape_err(format!(
                    "batchnorm: {name} has {} elements, expected {channels}",
                    v.len()
                ));
            }
        }
        if !(self.eps >= 0.0 && self.eps.is_finite()) {
            return param_err(format!("batchnorm: invalid eps {}", self.eps));
        }
        let mut scale = Array1::<f32>::zeros(channels);
        let mut shift = Array1::<f32>::zeros(channels);
        for ch in 0..channels {
            let s = f64::from(self.gamma[ch])
                / (f64::from(self.running_var[ch]) + f64::from(self.eps)).sqrt();
            scale[ch] = s as f32;
            shift[ch] = (f64::from(self.beta[ch]) - f64::from(self.running_mean[ch]) * s) as f32;
        }
        Ok((scale, shift))
    }
}

/// Folds an inference batch-norm into the preceding convolution.
///
/// * `weight`: conv weight `[O, I/g, KH, KW]`
/// * `bias`: optional conv bias `[O]` (treated as zero when absent)
/// * `bn`: batch-norm over the conv's `O` output channels
///
/// Returns `(weight', bias')` with `weight'[o] = weight[o]·s[o]` and
/// `bias'[o] = (bias[o] - mean[o])·s[o] + beta[o]`, where
/// `s = gamma / sqrt(var + eps)`; the fused conv computes `bn(conv(x))`.
pub fn fold_batchnorm(
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    bn: &BatchNormParams<'_>,
) -> Result<(Array4<f32>, Array1<f32>), KernelError> {
    let o = weight.dim().0;
    if let Some(b) = &bias
        && b.len() != o
    {
        return shape_err(format!(
            "fold_batchnorm: bias has {} elements, expected {o}",
            b.len()
        ));
    }
    let (scale, _) = bn.scale_shift(o)?;
    let mut w = weight.as_standard_layout().into_owned();
    for (mut w_o, s) in w.outer_iter_mut().zip(scale.iter()) {
        w_o.mapv_inplace(|v| v * s);
    }
    let mut b = Array1::<f32>::zeros(o);
    for ch in 0..o {
        let b0 = bias.as_ref().map_or(0.0, |b| f64::from(b[ch]));
        let s =
            f64::from(bn.gamma[ch]) / (f64::from(bn.running_var[ch]) + f64::from(bn.eps)).sqrt();
        b[ch] = ((b0 - f64::from(bn.running_mean[ch])) * s + f64::from(bn.beta[ch])) as f32;
    }
    Ok((w, b))
}

/// Standalone inference batch-norm over axis 1 (channels) of an array with
/// at least 2 dimensions (`[N, C]`, `[N, C, L]`, `[N, C, H, W]`, …).
///
/// Errors if `x` has fewer than 2 dimensions or the parameter vectors'
/// lengths differ from `C`.
pub fn batchnorm<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    bn: &BatchNormParams<'_>,
) -> Result<Array<f32, D>, KernelError> {
    if x.ndim() < 2 {
        return shape_err("batchnorm: input needs at least 2 dimensions");
    }
    let c = x.len_of(Axis(1));
    let (scale, shift) = bn.scale_shift(c)?;
    let mut out = x.as_standard_layout().into_owned();
    let inner: usize = x.shape()[2..].iter().product();
    if inner == 0 || c == 0 {
        return Ok(out);
    }
    let slice = out
        .as_slice_mut()
        .ok_or_else(|| KernelError::Shape("batchnorm: output not contiguous".into()))?;
    slice
        .par_chunks_mut(inner)
        .enumerate()
        .for_each(|(i, plane)| {
            let ch = i % c;
            let (s, t) = (scale[ch], shift[ch]);
            for v in plane.iter_mut() {
                *v = *v * s + t;
            }
        });
    Ok(out)
}
