//! Batch normalisation (inference): folding into a preceding conv, and a
//! standalone kernel using running statistics.

use ndarray::{
    Array, Array1, Array4, ArrayView, ArrayView1, ArrayView4, ArrayViewMut, Axis, Dimension,
};
use rayon::prelude::*;

use crate::runtime::kernels::error::{
    KernelError, check_out_shape, out_slice, param_err, shape_err,
};

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
        self.validate(channels)?;
        let mut scale = Array1::<f32>::zeros(channels);
        let mut shift = Array1::<f32>::zeros(channels);
        for ch in 0..channels {
            (scale[ch], shift[ch]) = self.channel_scale_shift(ch);
        }
        Ok((scale, shift))
    }

    /// Checks that the four vectors all have length `channels` and that
    /// `eps` is non-negative and finite.
    fn validate(&self, channels: usize) -> Result<(), KernelError> {
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
        Ok(())
    }

    /// `(scale, shift)` of channel `ch` (computed in f64, rounded once), after
    /// [`Self::validate`].
    #[inline]
    fn channel_scale_shift(&self, ch: usize) -> (f32, f32) {
        let s = f64::from(self.gamma[ch])
            / (f64::from(self.running_var[ch]) + f64::from(self.eps)).sqrt();
        (
            s as f32,
            (f64::from(self.beta[ch]) - f64::from(self.running_mean[ch]) * s) as f32,
        )
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
/// lengths differ from `C`. Allocating wrapper around [`batchnorm_into`].
pub fn batchnorm<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    bn: &BatchNormParams<'_>,
) -> Result<Array<f32, D>, KernelError> {
    let mut out = Array::zeros(x.raw_dim());
    batchnorm_into(x, bn, out.view_mut())?;
    Ok(out)
}

/// [`batchnorm`] writing into `out` (every element overwritten; allocates
/// nothing for standard-layout inputs: the per-channel scale and shift are
/// computed per plane).
///
/// Errors like [`batchnorm`], and with [`KernelError::Shape`] if `out` does
/// not have the shape of `x` or is not in standard (C-contiguous) layout.
pub fn batchnorm_into<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    bn: &BatchNormParams<'_>,
    out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    if x.ndim() < 2 {
        return shape_err("batchnorm: input needs at least 2 dimensions");
    }
    let c = x.len_of(Axis(1));
    bn.validate(c)?;
    check_out_shape("batchnorm", x.shape(), out.shape())?;
    let out = out_slice("batchnorm", out)?;
    let inner: usize = x.shape()[2..].iter().product();
    if inner == 0 || c == 0 || out.is_empty() {
        return Ok(());
    }
    let xc = x.as_standard_layout();
    let xs = xc
        .as_slice()
        .ok_or_else(|| KernelError::Shape("batchnorm: input not contiguous".into()))?;
    out.par_chunks_mut(inner)
        .zip(xs.par_chunks(inner))
        .enumerate()
        .for_each(|(i, (plane, src))| {
            let (s, t) = bn.channel_scale_shift(i % c);
            for (v, &u) in plane.iter_mut().zip(src) {
                *v = u * s + t;
            }
        });
    Ok(())
}
