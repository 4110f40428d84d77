//! Element-wise sum of `n` same-shaped tensors (residual connections).

use ndarray::{Array, ArrayView, ArrayViewMut, Dimension, Zip};

use crate::runtime::kernels::error::{KernelError, check_out_shape, shape_err};

/// Minimum number of elements before an accumulation goes parallel.
const PAR_THRESHOLD: usize = 1 << 15;

/// Checks that every array of `xs` has shape `expected`; `first_index` is
/// the position of `xs[0]` in the caller's list (for the message).
fn check_same_shapes<D: Dimension>(
    kernel: &str,
    expected: &[usize],
    xs: &[ArrayView<'_, f32, D>],
    first_index: usize,
) -> Result<(), KernelError> {
    for (i, x) in xs.iter().enumerate() {
        if x.shape() != expected {
            return shape_err(format!(
                "{kernel}: input {} has shape {:?}, expected {expected:?}",
                i + first_index,
                x.shape(),
            ));
        }
    }
    Ok(())
}

/// `acc += x` for each `x` of `others`, in order (shapes already checked).
fn accumulate<D: Dimension>(mut acc: ArrayViewMut<'_, f32, D>, others: &[ArrayView<'_, f32, D>]) {
    for x in others {
        if acc.len() >= PAR_THRESHOLD {
            Zip::from(&mut acc).and(x).par_for_each(|o, &v| *o += v);
        } else {
            Zip::from(&mut acc).and(x).for_each(|o, &v| *o += v);
        }
    }
}

/// Sums any number (`>= 1`) of arrays of identical shape.
///
/// Errors if `inputs` is empty or the shapes differ (no broadcasting).
/// Allocating wrapper around [`add_into`].
pub fn add<D: Dimension>(inputs: &[ArrayView<'_, f32, D>]) -> Result<Array<f32, D>, KernelError> {
    let Some(first) = inputs.first() else {
        return shape_err("add: needs at least one input");
    };
    let mut out = Array::zeros(first.raw_dim());
    add_into(inputs, out.view_mut())?;
    Ok(out)
}

/// Writes the sum of `inputs` (`>= 1` arrays of identical shape) into `out`
/// (any layout, every element overwritten: `out = inputs[0]`, then
/// `out += inputs[i]` in order). Allocates nothing for inputs below the
/// parallel threshold.
///
/// Errors if `inputs` is empty, the shapes differ, or `out` does not have
/// their shape.
pub fn add_into<D: Dimension>(
    inputs: &[ArrayView<'_, f32, D>],
    mut out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    let Some((first, rest)) = inputs.split_first() else {
        return shape_err("add: needs at least one input");
    };
    check_same_shapes("add", first.shape(), rest, 1)?;
    check_out_shape("add", first.shape(), out.shape())?;
    out.assign(first);
    accumulate(out, rest);
    Ok(())
}

/// In-place sum: `acc += x` for each `x` of `others`, in order (no-op if
/// `others` is empty). `acc` may have any layout. Allocates nothing for
/// inputs below the parallel threshold.
///
/// Errors if an array of `others` does not have the shape of `acc`.
pub fn add_assign<D: Dimension>(
    acc: ArrayViewMut<'_, f32, D>,
    others: &[ArrayView<'_, f32, D>],
) -> Result<(), KernelError> {
    check_same_shapes("add_assign", acc.shape(), others, 0)?;
    accumulate(acc, others);
    Ok(())
}
