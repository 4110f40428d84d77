//! Element-wise sum of `n` same-shaped tensors (residual connections).

use ndarray::{Array, ArrayView, Dimension, Zip};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Sums any number (`>= 1`) of arrays of identical shape.
///
/// Errors if `inputs` is empty or the shapes differ (no broadcasting).
pub fn add<D: Dimension>(inputs: &[ArrayView<'_, f32, D>]) -> Result<Array<f32, D>, KernelError> {
    let Some((first, rest)) = inputs.split_first() else {
        return shape_err("add: needs at least one input");
    };
    for (i, x) in rest.iter().enumerate() {
        if x.shape() != first.shape() {
            return shape_err(format!(
                "add: input {} has shape {:?}, expected {:?}",
                i + 1,
                x.shape(),
                first.shape()
            ));
        }
    }
    let mut out = first.as_standard_layout().into_owned();
    for x in rest {
        if out.len() >= 1 << 15 {
            Zip::from(&mut out).and(x).par_for_each(|o, &v| *o += v);
        } else {
            Zip::from(&mut out).and(x).for_each(|o, &v| *o += v);
        }
    }
    Ok(out)
}
