//! Batch normalisation in training mode, as PyTorch's `model.train()`: the
//! batch's statistics normalise (biased variance), and the running
//! statistics move towards them with momentum 0.1 (unbiased variance).

use ndarray::{Array1, Array3, ArrayD, ArrayView3, ArrayViewD};

use crate::grad::Real;
use crate::grad::error::{GradError, internal};

/// PyTorch's default momentum of the running statistics.
pub const MOMENTUM: f64 = 0.1;

/// What the backward pass needs from the forward pass.
pub(crate) struct BatchNormSaved<T> {
    /// The normalised input, `[N, C, S]`.
    xhat: Array3<T>,
    /// `1 / sqrt(var + eps)` per channel.
    inv_std: Array1<T>,
}

/// The result of a training-mode forward pass.
pub(crate) struct BatchNormForward<T> {
    /// The output, shaped as the input.
    pub(crate) y: ArrayD<T>,
    /// The new running mean.
    pub(crate) running_mean: Array1<T>,
    /// The new running variance.
    pub(crate) running_var: Array1<T>,
    /// For [`backward`].
    pub(crate) saved: BatchNormSaved<T>,
}

/// `x` (`[N, C]` or `[N, C, H, W]`) as `[N, C, S]`.
fn as3<'a, T: Real>(
    x: &'a ArrayViewD<'_, T>,
) -> Result<ndarray::CowArray<'a, T, ndarray::Ix3>, GradError> {
    let (n, c) = match x.shape() {
        [n, c, ..] => (*n, *c),
        other => return Err(internal(format!("batch norm input of shape {other:?}"))),
    };
    let s = x.shape()[2..].iter().product::<usize>();
    x.to_shape((n, c, s)).map_err(internal)
}

/// The forward pass on the batch statistics of `x`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<T: Real>(
    layer: &str,
    x: ArrayViewD<'_, T>,
    gamma: &Array1<T>,
    beta: &Array1<T>,
    running_mean: &Array1<T>,
    running_var: &Array1<T>,
    eps: f64,
) -> Result<BatchNormForward<T>, GradError> {
    let x3 = as3(&x)?;
    let (n, c, s) = x3.dim();
    let m = n * s;
    if m < 2 {
        return Err(GradError::BatchTooSmall {
            layer: layer.to_string(),
            values: m,
        });
    }
    let count = T::from_f64(m as f64);
    let momentum = T::from_f64(MOMENTUM);
    let mut xhat = Array3::<T>::zeros((n, c, s));
    let mut inv_std = Array1::<T>::zeros(c);
    let mut new_mean = running_mean.clone();
    let mut new_var = running_var.clone();
    let mut y = Array3::<T>::zeros((n, c, s));
    for ch in 0..c {
        let plane = x3.slice(ndarray::s![.., ch, ..]);
        let mean = plane.sum() / count;
        let sq = plane.fold(T::zero(), |a, &v| a + (v - mean) * (v - mean));
        let var = sq / count;
        let is = T::one() / (var + T::from_f64(eps)).sqrt();
        inv_std[ch] = is;
        let unbiased = sq / T::from_f64((m - 1) as f64);
        new_mean[ch] = (T::one() - momentum) * running_mean[ch] + momentum * mean;
        new_var[ch] = (T::one() - momentum) * running_var[ch] + momentum * unbiased;
        for b in 0..n {
            for i in 0..s {
                let h = (x3[[b, ch, i]] - mean) * is;
                xhat[[b, ch, i]] = h;
                y[[b, ch, i]] = gamma[ch] * h + beta[ch];
            }
        }
    }
    let y = y.into_shape_with_order(x.raw_dim()).map_err(internal)?;
    Ok(BatchNormForward {
        y,
        running_mean: new_mean,
        running_var: new_var,
        saved: BatchNormSaved { xhat, inv_std },
    })
}

/// Gradients of batch norm.
pub(crate) struct BatchNormGrads<T> {
    /// With respect to the input.
    pub(crate) dx: ArrayD<T>,
    /// With respect to `gamma` (`weight`).
    pub(crate) dgamma: Array1<T>,
    /// With respect to `beta` (`bias`).
    pub(crate) dbeta: Array1<T>,
}

/// Gradients with respect to the input, `gamma` and `beta`.
pub(crate) fn backward<T: Real>(
    saved: &BatchNormSaved<T>,
    gamma: &Array1<T>,
    dy: ArrayViewD<'_, T>,
) -> Result<BatchNormGrads<T>, GradError> {
    let dy3 = as3(&dy)?;
    let dy3: ArrayView3<'_, T> = dy3.view();
    let (n, c, s) = dy3.dim();
    let count = T::from_f64((n * s) as f64);
    let mut dx = Array3::<T>::zeros((n, c, s));
    let mut dgamma = Array1::<T>::zeros(c);
    let mut dbeta = Array1::<T>::zeros(c);
    for ch in 0..c {
        let d = dy3.slice(ndarray::s![.., ch, ..]);
        let h = saved.xhat.slice(ndarray::s![.., ch, ..]);
        let sum_dy = d.sum();
        let sum_dy_h = ndarray::Zip::from(&d)
            .and(&h)
            .fold(T::zero(), |a, &dv, &hv| a + dv * hv);
        dgamma[ch] = sum_dy_h;
        dbeta[ch] = sum_dy;
        let k = gamma[ch] * saved.inv_std[ch] / count;
        for b in 0..n {
            for i in 0..s {
                dx[[b, ch, i]] = k * (count * d[[b, i]] - sum_dy - h[[b, i]] * sum_dy_h);
            }
        }
    }
    let dx = dx.into_shape_with_order(dy.raw_dim()).map_err(internal)?;
    Ok(BatchNormGrads { dx, dgamma, dbeta })
}
