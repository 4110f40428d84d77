//! Numerically stable softmax over axis 1.

use ndarray::{Array, ArrayView, ArrayViewMut, Axis, Dimension};

use crate::runtime::kernels::error::{KernelError, check_out_shape, out_slice, shape_err};

/// Positions processed together: the per-position maximum and sum live in
/// two stack arrays of this length, so the kernel allocates nothing.
const BLOCK: usize = 256;

/// Softmax over axis 1 (`torch.softmax(x, dim=1)`) for arrays with at least
/// 2 dimensions (`[N, C]` logits or `[N, C, H, W]` maps).
///
/// Numerically stable: subtracts the per-position maximum before `exp`.
/// Errors if `x` has fewer than 2 dimensions. Allocating wrapper around
/// [`softmax_dim1_into`].
pub fn softmax_dim1<D: Dimension>(x: ArrayView<'_, f32, D>) -> Result<Array<f32, D>, KernelError> {
    let mut out = Array::zeros(x.raw_dim());
    softmax_dim1_into(x, out.view_mut())?;
    Ok(out)
}

/// [`softmax_dim1`] writing into `out` (every element overwritten; allocates
/// nothing for standard-layout inputs).
///
/// Errors if `x` has fewer than 2 dimensions, and with [`KernelError::Shape`]
/// if `out` does not have the shape of `x` or is not in standard
/// (C-contiguous) layout.
pub fn softmax_dim1_into<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    if x.ndim() < 2 {
        return shape_err("softmax_dim1: input needs at least 2 dimensions");
    }
    check_out_shape("softmax_dim1", x.shape(), out.shape())?;
    let data = out_slice("softmax_dim1", out)?;
    let c = x.len_of(Axis(1));
    let inner: usize = x.shape()[2..].iter().product();
    if c == 0 || inner == 0 || data.is_empty() {
        return Ok(());
    }
    let xc = x.as_standard_layout();
    let xs = xc
        .as_slice()
        .ok_or_else(|| KernelError::Shape("softmax_dim1: input not contiguous".into()))?;
    let mut maxv = [0.0f32; BLOCK];
    let mut sum = [0.0f32; BLOCK];
    for (sample, src) in data.chunks_mut(c * inner).zip(xs.chunks(c * inner)) {
        for j0 in (0..inner).step_by(BLOCK) {
            let j1 = (j0 + BLOCK).min(inner);
            let maxv = &mut maxv[..j1 - j0];
            let sum = &mut sum[..j1 - j0];
            maxv.fill(f32::NEG_INFINITY);
            for plane in src.chunks(inner) {
                for (m, &v) in maxv.iter_mut().zip(&plane[j0..j1]) {
                    // NaN in any channel propagates through the max.
                    if v > *m || v.is_nan() {
                        *m = v;
                    }
                }
            }
            sum.fill(0.0);
            for (dst, plane) in sample.chunks_mut(inner).zip(src.chunks(inner)) {
                let it = dst[j0..j1].iter_mut().zip(&plane[j0..j1]);
                for ((v, &u), (&m, s)) in it.zip(maxv.iter().zip(sum.iter_mut())) {
                    // All -inf column: m = -inf; use 0 so exp(-inf - 0) = 0 → 0/0 = NaN like torch.
                    let shift = if m == f32::NEG_INFINITY { 0.0 } else { m };
                    let e = (u - shift).exp();
                    *v = e;
                    *s += e;
                }
            }
            for dst in sample.chunks_mut(inner) {
                for (v, &s) in dst[j0..j1].iter_mut().zip(sum.iter()) {
                    *v /= s;
                }
            }
        }
    }
    Ok(())
}
