//! Zero channels around a tensor's channels (axis 1): the option-A shortcut
//! of He et al. (PyTorch `F.pad(x, (0, 0, 0, 0, before, after))`).

use ndarray::{Array, ArrayView, ArrayViewMut, Axis, Dimension, Slice};

use crate::runtime::kernels::error::{KernelError, check_out_shape, shape_err};

/// The output shape: `x`'s with `before + after` more channels.
fn padded_shape<D: Dimension>(
    x: &ArrayView<'_, f32, D>,
    before: usize,
    after: usize,
) -> Result<D, KernelError> {
    let mut dim = x.raw_dim();
    let Some(c) = dim.slice_mut().get_mut(1) else {
        return shape_err(format!(
            "pad_channels: input {:?} has no channel axis (rank 2 or more needed)",
            x.shape()
        ));
    };
    *c = c
        .checked_add(before)
        .and_then(|v| v.checked_add(after))
        .ok_or_else(|| KernelError::Shape("pad_channels: channel count overflows".into()))?;
    Ok(dim)
}

/// `x` (`[N, C, …]`) with `before` zero channels in front and `after` behind,
/// into a new array. Allocating wrapper around [`pad_channels_into`].
///
/// Errors if `x` has rank below 2.
pub fn pad_channels<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    before: usize,
    after: usize,
) -> Result<Array<f32, D>, KernelError> {
    let mut out = Array::zeros(padded_shape(&x, before, after)?);
    pad_channels_into(x, before, after, out.view_mut())?;
    Ok(out)
}

/// Writes `x` (`[N, C, …]`, any layout) into channels `before..before + C`
/// of `out` (`[N, before + C + after, …]`, any layout) and zeros into the
/// others; every element of `out` is overwritten and nothing is allocated.
///
/// Errors if `x` has rank below 2 or `out` does not have the padded shape.
pub fn pad_channels_into<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    before: usize,
    after: usize,
    mut out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    let expected = padded_shape(&x, before, after)?;
    check_out_shape("pad_channels", expected.slice(), out.shape())?;
    let c = x.shape()[1];
    out.slice_axis_mut(Axis(1), Slice::from(..before)).fill(0.0);
    out.slice_axis_mut(Axis(1), Slice::from(before..before + c))
        .assign(&x);
    out.slice_axis_mut(Axis(1), Slice::from(before + c..))
        .fill(0.0);
    Ok(())
}
