//! Fully-connected layer `y = x · Wᵀ + b` via GEMM.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::error::{KernelError, check_out_shape, out_slice, shape_err};
use crate::runtime::kernels::matmul::{Mat, matmul};

/// Validates the operands of [`dense`] and returns its output shape `[N, O]`.
fn dense_shape(
    x: &ArrayView2<'_, f32>,
    weight: &ArrayView2<'_, f32>,
    bias: Option<&ArrayView1<'_, f32>>,
) -> Result<[usize; 2], KernelError> {
    let (n, f) = x.dim();
    let (o, wf) = weight.dim();
    if wf != f {
        return shape_err(format!(
            "dense: input has {f} features, weight expects {wf}"
        ));
    }
    if let Some(b) = bias
        && b.len() != o
    {
        return shape_err(format!(
            "dense: bias has {} elements, expected {o}",
            b.len()
        ));
    }
    Ok([n, o])
}

/// Dense / linear layer (PyTorch `nn.Linear`): `y = x · Wᵀ + b`, then
/// `activation`.
///
/// * `x`: `[N, F]`
/// * `weight`: `[O, F]` (PyTorch layout)
/// * `bias`: optional `[O]`
///
/// Returns `[N, O]`. Errors if `F` or the bias length disagree. Allocating
/// wrapper around [`dense_into`].
pub fn dense(
    x: ArrayView2<'_, f32>,
    weight: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    activation: Activation,
) -> Result<Array2<f32>, KernelError> {
    let shape = dense_shape(&x, &weight, bias.as_ref())?;
    let mut out = Array2::zeros(shape);
    dense_into(x, weight, bias, activation, out.view_mut())?;
    Ok(out)
}

/// [`dense`] writing its `[N, O]` result into `out` (every element is
/// overwritten; allocates nothing for standard-layout inputs besides the
/// GEMM's per-thread packing buffers, which only grow).
///
/// Errors like [`dense`], and with [`KernelError::Shape`] if `out` does not
/// have shape `[N, O]` or is not in standard (C-contiguous) layout.
pub fn dense_into(
    x: ArrayView2<'_, f32>,
    weight: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    activation: Activation,
    out: ArrayViewMut2<'_, f32>,
) -> Result<(), KernelError> {
    let [n, o] = dense_shape(&x, &weight, bias.as_ref())?;
    check_out_shape("dense", &[n, o], out.shape())?;
    let out = out_slice("dense", out)?;
    let f = x.ncols();
    let xc = x.as_standard_layout();
    let wc = weight.as_standard_layout();
    let xs = xc
        .as_slice()
        .ok_or_else(|| KernelError::Shape("dense: input not contiguous".into()))?;
    let ws = wc
        .as_slice()
        .ok_or_else(|| KernelError::Shape("dense: weight not contiguous".into()))?;
    // rhs = Wᵀ ([F, O]): element (k, j) = W[j, k] at j·F + k.
    let rhs = Mat {
        data: ws,
        rows: f,
        cols: o,
        rs: 1,
        cs: f,
    };
    let parallel = n * o * f >= 1 << 20;
    // The GEMM ignores the previous contents of `out` (beta = 0).
    matmul(out, Mat::row_major(xs, n, f), rhs, parallel);
    if bias.is_some() || activation != Activation::None {
        for row in out.chunks_mut(o.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                let b = bias.as_ref().map_or(0.0, |b| b[j]);
                *v = activation.apply(*v + b);
            }
        }
    }
    Ok(())
}
