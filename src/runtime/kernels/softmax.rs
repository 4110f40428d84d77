//! Numerically stable softmax over axis 1.

use ndarray::{Array, ArrayView, Axis, Dimension};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Softmax over axis 1 (`torch.softmax(x, dim=1)`) for arrays with at least
/// 2 dimensions (`[N, C]` logits or `[N, C, H, W]` maps).
///
/// Numerically stable: subtracts the per-position maximum before `exp`.
/// Errors if `x` has fewer than 2 dimensions.
pub fn softmax_dim1<D: Dimension>(x: ArrayView<'_, f32, D>) -> Result<Array<f32, D>, KernelError> {
    if x.ndim() < 2 {
        return shape_err("softmax_dim1: input needs at least 2 dimensions");
    }
    let c = x.len_of(Axis(1));
    let inner: usize = x.shape()[2..].iter().product();
    let mut out = x.as_standard_layout().into_owned();
    if c == 0 || inner == 0 || out.is_empty() {
        return Ok(out);
    }
    let data = out
        .as_slice_mut()
        .ok_or_else(|| KernelError::Shape("softmax_dim1: output not contiguous".into()))?;
    let mut maxv = vec![0.0f32; inner];
    let mut sum = vec![0.0f32; inner];
    for sample in data.chunks_mut(c * inner) {
        maxv.fill(f32::NEG_INFINITY);
        for plane in sample.chunks(inner) {
            for (m, &v) in maxv.iter_mut().zip(plane) {
                // NaN in any channel propagates through the max.
                if v > *m || v.is_nan() {
                    *m = v;
                }
            }
        }
        sum.fill(0.0);
        for plane in sample.chunks_mut(inner) {
            for ((v, &m), s) in plane.iter_mut().zip(&maxv).zip(sum.iter_mut()) {
                // All -inf column: m = -inf; use 0 so exp(-inf - 0) = 0 → 0/0 = NaN like torch.
                let shift = if m == f32::NEG_INFINITY { 0.0 } else { m };
                let e = (*v - shift).exp();
                *v = e;
                *s += e;
            }
        }
        for plane in sample.chunks_mut(inner) {
            for (v, &s) in plane.iter_mut().zip(&sum) {
                *v /= s;
            }
        }
    }
    Ok(out)
}
