//! Concatenation along the channel axis.

use ndarray::{Array4, ArrayView4, Axis};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Concatenates NCHW tensors along axis 1 (channels).
///
/// Errors if `inputs` is empty or `N`, `H`, `W` differ between inputs.
pub fn concat_channels(inputs: &[ArrayView4<'_, f32>]) -> Result<Array4<f32>, KernelError> {
    let Some(first) = inputs.first() else {
        return shape_err("concat_channels: needs at least one input");
    };
    let (n, _, h, w) = first.dim();
    for (i, x) in inputs.iter().enumerate() {
        let (xn, _, xh, xw) = x.dim();
        if (xn, xh, xw) != (n, h, w) {
            return shape_err(format!(
                "concat_channels: input {i} has shape {:?}, expected [{n}, _, {h}, {w}]",
                x.shape()
            ));
        }
    }
    let mut out = ndarray::concatenate(Axis(1), inputs)
        .map_err(|e| KernelError::Shape(format!("concat_channels: {e}")))?;
    if !out.is_standard_layout() {
        out = out.as_standard_layout().into_owned();
    }
    Ok(out)
}
