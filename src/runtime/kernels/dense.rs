//! Fully-connected layer `y = x · Wᵀ + b`: [`dense`] through a GEMM of
//! the weights as given, [`PackedDense`] with its weights packed once.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut2, ArrayViewMut4};

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::conv::{Conv2dParams, bias_padded};
use crate::runtime::kernels::direct::ConvIsa;
use crate::runtime::kernels::direct::pointwise::Pointwise;
use crate::runtime::kernels::error::{KernelError, check_out_shape, out_slice, shape_err};
use crate::runtime::kernels::matmul::{Mat, matmul};
use crate::runtime::kernels::thread_buffer::with_scratch;

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

/// A dense layer (`act(x · Wᵀ + b)`) with its weights packed once, at
/// construction, for the pointwise convolution's microkernels: the layer is
/// the 1×1 convolution of one image whose pixels are the batch's samples
/// (`Yᵀ[O × N] = W[O × F] · Xᵀ[F × N]`), so each weight is read once per
/// call whatever the batch. A call transposes the input into scratch and
/// the result back out of it, and allocates nothing with
/// [`PackedDense::run_in_scratch`] (with [`PackedDense::run_into`] the
/// scratch is the thread's, kept between calls).
#[derive(Debug, Clone)]
pub struct PackedDense {
    /// The weights as a 1×1 convolution.
    pw: Pointwise,
    /// Input features.
    f: usize,
    /// Output features.
    o: usize,
}

impl PackedDense {
    /// Packs `weight` (`[O, F]`, PyTorch layout) and an optional bias `[O]`
    /// for the fastest microkernel of this CPU, `activation` fused.
    ///
    /// Errors on an empty weight or a bias of the wrong length.
    pub fn new(
        weight: ArrayView2<'_, f32>,
        bias: Option<ArrayView1<'_, f32>>,
        activation: Activation,
    ) -> Result<Self, KernelError> {
        Self::with_isa(weight, bias, activation, ConvIsa::detect())
    }

    /// [`PackedDense::new`] with a chosen microkernel; errors if this CPU
    /// does not support it.
    pub fn with_isa(
        weight: ArrayView2<'_, f32>,
        bias: Option<ArrayView1<'_, f32>>,
        activation: Activation,
        isa: ConvIsa,
    ) -> Result<Self, KernelError> {
        if !isa.is_supported() {
            return shape_err(format!("packed dense: this CPU cannot run {isa:?}"));
        }
        let (o, f) = weight.dim();
        if o == 0 || f == 0 {
            return shape_err(format!("packed dense: empty weight {:?}", weight.shape()));
        }
        let b = bias_padded("packed dense", bias, o, o)?;
        let w = weight.as_standard_layout();
        let ws = w
            .as_slice()
            .ok_or_else(|| KernelError::Shape("packed dense: weight not contiguous".into()))?;
        let params = Conv2dParams {
            activation,
            ..Conv2dParams::default()
        };
        let pw = Pointwise::new(ws, (o, f), &b, &params, isa);
        Ok(PackedDense { pw, f, o })
    }

    /// The `f32` values it holds (packed weights and bias).
    pub fn len(&self) -> usize {
        self.pw.len()
    }

    /// Whether it holds no values (never: a weight is not empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The floats of scratch a batch of `n` needs (the transposed input and
    /// output, `n · (F + O)`); `None` when that overflows `usize`.
    pub fn scratch_len(&self, n: usize) -> Option<usize> {
        n.checked_mul(self.f.checked_add(self.o)?)
    }

    /// Computes `act(x · Wᵀ + b)` of `x` (`[N, F]`) into `out` (`[N, O]`,
    /// standard layout; every element is overwritten), with this thread's
    /// scratch.
    ///
    /// Errors if the shapes disagree with the weights or `out` is not in
    /// standard layout.
    pub fn run_into(
        &self,
        x: ArrayView2<'_, f32>,
        out: ArrayViewMut2<'_, f32>,
    ) -> Result<(), KernelError> {
        let len = self
            .scratch_len(x.nrows())
            .ok_or_else(|| KernelError::Shape("packed dense: scratch overflows usize".into()))?;
        with_scratch(len, |buf| self.run_in_scratch(x, out, buf))
    }

    /// [`PackedDense::run_into`] with the caller's `scratch` (at least
    /// [`PackedDense::scratch_len`] floats).
    pub fn run_in_scratch(
        &self,
        x: ArrayView2<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        let (n, f) = x.dim();
        if f != self.f {
            return shape_err(format!(
                "packed dense: input has {f} features, weight expects {}",
                self.f
            ));
        }
        check_out_shape("packed dense", &[n, self.o], out.shape())?;
        if !out.is_standard_layout() {
            return shape_err("packed dense: output not in standard layout");
        }
        let len = self
            .scratch_len(n)
            .ok_or_else(|| KernelError::Shape("packed dense: scratch overflows usize".into()))?;
        let Some(scratch) = scratch.get_mut(..len) else {
            return shape_err(format!(
                "packed dense: scratch has {} floats, needs {len}",
                scratch.len()
            ));
        };
        if n == 0 {
            return Ok(());
        }
        let (xt, yt) = scratch.split_at_mut(n * f);
        // Xᵀ: feature k's samples contiguous (one input row of the 1×1
        // convolution per feature).
        for (i, row) in x.outer_iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                xt[k * n + i] = v;
            }
        }
        let xt = ArrayView4::from_shape((1, f, 1, n), &*xt)
            .map_err(|e| KernelError::Shape(format!("packed dense: {e}")))?;
        let y4 = ArrayViewMut4::from_shape((1, self.o, 1, n), &mut *yt)
            .map_err(|e| KernelError::Shape(format!("packed dense: {e}")))?;
        self.pw.run(xt, None, false, y4, &mut [])?;
        for (i, mut row) in out.outer_iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = yt[j * n + i];
            }
        }
        Ok(())
    }
}
