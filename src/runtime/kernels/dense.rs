//! Fully-connected layer `y = x · Wᵀ + b` via GEMM.

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::error::{KernelError, shape_err};
use crate::runtime::kernels::matmul::{Mat, matmul};

/// Dense / linear layer (PyTorch `nn.Linear`): `y = x · Wᵀ + b`, then
/// `activation`.
///
/// * `x`: `[N, F]`
/// * `weight`: `[O, F]` (PyTorch layout)
/// * `bias`: optional `[O]`
///
/// Returns `[N, O]`. Errors if `F` or the bias length disagree.
pub fn dense(
    x: ArrayView2<'_, f32>,
    weight: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    activation: Activation,
) -> Result<Array2<f32>, KernelError> {
    let (n, f) = x.dim();
    let (o, wf) = weight.dim();
    if wf != f {
        return shape_err(format!(
            "dense: input has {f} features, weight expects {wf}"
        ));
    }
    if let Some(b) = &bias
        && b.len() != o
    {
        return shape_err(format!(
            "dense: bias has {} elements, expected {o}",
            b.len()
        ));
    }
    let xc = x.as_standard_layout();
    let wc = weight.as_standard_layout();
    let xs = xc
        .as_slice()
        .ok_or_else(|| KernelError::Shape("dense: input not contiguous".into()))?;
    let ws = wc
        .as_slice()
        .ok_or_else(|| KernelError::Shape("dense: weight not contiguous".into()))?;
    let mut out = vec![0.0f32; n * o];
    // rhs = Wᵀ ([F, O]): element (k, j) = W[j, k] at j·F + k.
    let rhs = Mat {
        data: ws,
        rows: f,
        cols: o,
        rs: 1,
        cs: f,
    };
    let parallel = n * o * f >= 1 << 20;
    matmul(&mut out, Mat::row_major(xs, n, f), rhs, parallel);
    if bias.is_some() || activation != Activation::None {
        for row in out.chunks_mut(o.max(1)) {
            for (j, v) in row.iter_mut().enumerate() {
                let b = bias.as_ref().map_or(0.0, |b| b[j]);
                *v = activation.apply(*v + b);
            }
        }
    }
    Array2::from_shape_vec((n, o), out).map_err(|e| KernelError::Shape(format!("dense: {e}")))
}
