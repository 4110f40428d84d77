//! Spatial upsampling (PyTorch's `F.interpolate(…, align_corners=False)`,
//! as `runtime::kernels::upsample`), forward and backward.
//!
//! Both modes are linear in the input: every output pixel is a fixed
//! weighted sum of at most four input pixels. The forward pass gathers with
//! those weights; the backward pass scatters the output's gradient back with
//! the same weights (summed where several outputs read one input).

use ndarray::{Array4, ArrayView4};

use crate::grad::Real;
use crate::grad::error::{GradError, internal};
use crate::ir::UpsampleMode;
use crate::runtime::kernels::upsample::nearest_index;

/// The input pixels one output index reads along one axis, with weights:
/// `[(index, weight); 2]` (a nearest read has weight 0 on its second tap).
type Taps<T> = [(usize, T); 2];

/// PyTorch's bilinear source taps of output index `o` (`align_corners=False`,
/// computed in `T` as PyTorch's CPU kernel computes in the tensor's
/// accumulation type): source coordinate `max((o + ½)·in/out − ½, 0)`.
fn linear_taps<T: Real>(o: usize, input: usize, output: usize) -> Taps<T> {
    let scale = T::from_f64(input as f64) / T::from_f64(output as f64);
    let half = T::from_f64(0.5);
    let mut src = scale * (T::from_f64(o as f64) + half) - half;
    if src < T::zero() {
        src = T::zero();
    }
    // `src` is non-negative, so the cast truncates to ⌊src⌋.
    let i0 = (src.to_f64() as usize).min(input - 1);
    let i1 = if i0 < input - 1 { i0 + 1 } else { i0 };
    let l1 = src - T::from_f64(i0 as f64);
    [(i0, T::one() - l1), (i1, l1)]
}

/// The taps of every output index along one axis.
fn axis_taps<T: Real>(
    mode: UpsampleMode,
    input: usize,
    output: usize,
) -> Result<Vec<Taps<T>>, GradError> {
    if input == 0 || output == 0 {
        return Err(internal(format!(
            "upsample of an empty axis ({input} → {output})"
        )));
    }
    Ok((0..output)
        .map(|o| match mode {
            UpsampleMode::Nearest => {
                let scale = input as f32 / output as f32;
                [
                    (nearest_index(o, input, output, scale), T::one()),
                    (0, T::zero()),
                ]
            }
            UpsampleMode::Bilinear => linear_taps(o, input, output),
        })
        .collect())
}

/// `x` (`[N, C, H, W]`) resized to `size` (`[OH, OW]`).
pub(crate) fn forward<T: Real>(
    x: ArrayView4<'_, T>,
    size: [usize; 2],
    mode: UpsampleMode,
) -> Result<Array4<T>, GradError> {
    let (n, c, h, w) = x.dim();
    let [oh, ow] = size;
    let rows = axis_taps::<T>(mode, h, oh)?;
    let cols = axis_taps::<T>(mode, w, ow)?;
    let mut y = Array4::<T>::zeros((n, c, oh, ow));
    for b in 0..n {
        for ch in 0..c {
            for (oy, row) in rows.iter().enumerate() {
                for (ox, col) in cols.iter().enumerate() {
                    let mut v = T::zero();
                    for &(iy, a) in row {
                        for &(ix, bw) in col {
                            v += a * bw * x[[b, ch, iy, ix]];
                        }
                    }
                    y[[b, ch, oy, ox]] = v;
                }
            }
        }
    }
    Ok(y)
}

/// The input's gradient (`[N, C, h, w]`) given the output's gradient `dy`.
pub(crate) fn backward<T: Real>(
    dy: ArrayView4<'_, T>,
    h: usize,
    w: usize,
    mode: UpsampleMode,
) -> Result<Array4<T>, GradError> {
    let (n, c, oh, ow) = dy.dim();
    let rows = axis_taps::<T>(mode, h, oh)?;
    let cols = axis_taps::<T>(mode, w, ow)?;
    let mut dx = Array4::<T>::zeros((n, c, h, w));
    for b in 0..n {
        for ch in 0..c {
            for (oy, row) in rows.iter().enumerate() {
                for (ox, col) in cols.iter().enumerate() {
                    let g = dy[[b, ch, oy, ox]];
                    for &(iy, a) in row {
                        for &(ix, bw) in col {
                            dx[[b, ch, iy, ix]] += a * bw * g;
                        }
                    }
                }
            }
        }
    }
    Ok(dx)
}
