//! Flatten `[N, d1, d2, …]` to `[N, d1·d2·…]` (a reshape).

use ndarray::{Array2, ArrayView, ArrayViewMut2, Dimension};

use crate::runtime::kernels::error::{KernelError, check_out_shape, shape_err};

/// Output shape `[N, d1·d2·…]` of [`flatten`] for an input of shape `shape`.
fn flatten_shape(shape: &[usize]) -> Result<[usize; 2], KernelError> {
    let Some((&n, rest)) = shape.split_first() else {
        return shape_err("flatten: input must have at least 1 dimension");
    };
    Ok([n, rest.iter().product()])
}

/// Flattens all axes after the first (PyTorch `torch.flatten(x, 1)`), in
/// C order, into a new standard-layout array (always a copy).
///
/// Errors if `x` has no axes. Allocating wrapper around [`flatten_into`].
pub fn flatten<D: Dimension>(x: ArrayView<'_, f32, D>) -> Result<Array2<f32>, KernelError> {
    let mut out = Array2::zeros(flatten_shape(x.shape())?);
    flatten_into(x, out.view_mut())?;
    Ok(out)
}

/// Copies `x` (`[N, d1, d2, …]`, any layout) into `out` (`[N, d1·d2·…]`, any
/// layout) in logical C order; every element of `out` is overwritten and
/// nothing is allocated.
///
/// Errors if `x` has no axes or `out` does not have shape `[N, d1·d2·…]`.
pub fn flatten_into<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    mut out: ArrayViewMut2<'_, f32>,
) -> Result<(), KernelError> {
    let shape = flatten_shape(x.shape())?;
    check_out_shape("flatten", &shape, out.shape())?;
    match (x.as_slice(), out.as_slice_mut()) {
        (Some(src), Some(dst)) => dst.copy_from_slice(src),
        _ => out.iter_mut().zip(x.iter()).for_each(|(o, &v)| *o = v),
    }
    Ok(())
}
