//! Spatial upsampling, PyTorch's `F.interpolate(x, size, mode, align_corners=False)`.
//!
//! The source coordinates are computed in `f32` as PyTorch's CPU kernels do,
//! with the scale `in / out` of the sizes (equal to `1 / scale_factor` for the
//! integer factors resnetc allows).

use ndarray::{Array4, ArrayView4, ArrayViewMut4};

use crate::runtime::kernels::error::{KernelError, shape_err};
use crate::runtime::kernels::pool::per_plane_into;

/// How [`upsample2d`] interpolates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// PyTorch's legacy `nearest`: source index `min(⌊dst · in / out⌋, in − 1)`.
    Nearest,
    /// Bilinear with half-pixel centres (`align_corners=False`): source
    /// coordinate `max((dst + 0.5) · in / out − 0.5, 0)`.
    Bilinear,
}

/// PyTorch's `nearest_idx`: the source index of output index `o`.
pub(crate) fn nearest_index(o: usize, input: usize, output: usize, scale: f32) -> usize {
    if output == input {
        o
    } else if output == 2 * input {
        o >> 1
    } else {
        ((o as f32 * scale).floor() as usize).min(input - 1)
    }
}

/// PyTorch's bilinear weights along one axis for output index `o`:
/// `(i0, i1, λ0, λ1)`.
fn linear_index(o: usize, input: usize, scale: f32) -> (usize, usize, f32, f32) {
    let src = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
    let i0 = (src as usize).min(input - 1);
    let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
    let l1 = src - i0 as f32;
    (i0, i1, 1.0 - l1, l1)
}

/// Upsamples (or resizes) an `[N, C, H, W]` input to `[N, C, OH, OW]`.
///
/// Errors if an input or output spatial size is zero. Allocating wrapper
/// around [`upsample2d_into`].
pub fn upsample2d(
    input: ArrayView4<'_, f32>,
    size: (usize, usize),
    mode: Interpolation,
) -> Result<Array4<f32>, KernelError> {
    let (n, c, _, _) = input.dim();
    let mut out = Array4::zeros((n, c, size.0, size.1));
    upsample2d_into(input, size, mode, out.view_mut())?;
    Ok(out)
}

/// [`upsample2d`] writing its `[N, C, size.0, size.1]` result into `out`
/// (every element overwritten; allocates nothing for standard-layout inputs).
///
/// Errors like [`upsample2d`], and with [`KernelError::Shape`] if `out` does
/// not have the output shape or is not in standard (C-contiguous) layout.
pub fn upsample2d_into(
    input: ArrayView4<'_, f32>,
    size: (usize, usize),
    mode: Interpolation,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    let (_, _, h, w) = input.dim();
    let (oh, ow) = size;
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        return shape_err(format!(
            "upsample2d: empty spatial size (input {h}×{w}, output {oh}×{ow})"
        ));
    }
    let (scale_h, scale_w) = (h as f32 / oh as f32, w as f32 / ow as f32);
    per_plane_into("upsample2d", input, oh, ow, out, |xi, xo| match mode {
        Interpolation::Nearest => {
            for (o_h, row) in xo.chunks_exact_mut(ow).enumerate() {
                let src = &xi[nearest_index(o_h, h, oh, scale_h) * w..][..w];
                for (o_w, v) in row.iter_mut().enumerate() {
                    *v = src[nearest_index(o_w, w, ow, scale_w)];
                }
            }
        }
        Interpolation::Bilinear => {
            for (o_h, row) in xo.chunks_exact_mut(ow).enumerate() {
                let (h0, h1, a0, a1) = linear_index(o_h, h, scale_h);
                let (r0, r1) = (&xi[h0 * w..][..w], &xi[h1 * w..][..w]);
                for (o_w, v) in row.iter_mut().enumerate() {
                    let (w0, w1, b0, b1) = linear_index(o_w, w, scale_w);
                    *v = a0 * (b0 * r0[w0] + b1 * r0[w1]) + a1 * (b0 * r1[w0] + b1 * r1[w1]);
                }
            }
        }
    })
}
