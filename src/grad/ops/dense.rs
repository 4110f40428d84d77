//! Dense layers: `y = x·Wᵀ + b` with `W` of shape `[out, in]` (PyTorch's `Linear`),
//! the products through [`Real::matmul`] (the runtime's GEMM in f32).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::grad::Real;

/// `y = x·Wᵀ + b`.
pub(crate) fn forward<T: Real>(
    x: ArrayView2<'_, T>,
    weight: ArrayView2<'_, T>,
    bias: Option<ArrayView1<'_, T>>,
) -> Array2<T> {
    let mut y = T::matmul(x, weight.t());
    if let Some(b) = bias {
        y += &b;
    }
    y
}

/// Gradients with respect to the input, the weight and the bias.
pub(crate) fn backward<T: Real>(
    x: ArrayView2<'_, T>,
    weight: ArrayView2<'_, T>,
    has_bias: bool,
    dy: ArrayView2<'_, T>,
) -> (Array2<T>, Array2<T>, Option<Array1<T>>) {
    let dx = T::matmul(dy, weight);
    let dw = T::matmul(dy.t(), x);
    let db = has_bias.then(|| dy.sum_axis(Axis(0)));
    (dx, dw, db)
}
