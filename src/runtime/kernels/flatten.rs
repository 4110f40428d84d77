//! Flatten `[N, d1, d2, …]` to `[N, d1·d2·…]` (a reshape).

use ndarray::{Array2, ArrayView, Dimension};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Flattens all axes after the first (PyTorch `torch.flatten(x, 1)`), in
/// C order. A reshape of contiguous data; non-contiguous views are copied.
///
/// Errors if `x` has no axes.
pub fn flatten<D: Dimension>(x: ArrayView<'_, f32, D>) -> Result<Array2<f32>, KernelError> {
    let Some((&n, rest)) = x.shape().split_first() else {
        return shape_err("flatten: input must have at least 1 dimension");
    };
    let f: usize = rest.iter().product();
    x.as_standard_layout()
        .into_owned()
        .into_shape_with_order((n, f))
        .map_err(|e| KernelError::Shape(format!("flatten: {e}")))
}
