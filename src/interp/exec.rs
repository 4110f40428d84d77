//! Running the interpreter's plan: the buffers of one pass, the workspace
//! kept between passes, and one `_into` kernel call per step.

use ndarray::{ArrayViewD, ArrayViewMutD, Ix2, Ix4, IxDyn};

use super::RunError;
use crate::ir::Activation;
use crate::runtime::kernels as k;

/// Floats of padding so that the workspace can start on a 64-byte boundary.
const ALIGN_PAD: usize = 16;

/// A buffer of the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Buf {
    /// The model's `k`-th input.
    Input(usize),
    /// Slot `s` of the workspace.
    Slot(usize),
    /// The model's `k`-th output.
    Output(usize),
}

/// Where a value lives, and its shape without the batch.
#[derive(Clone, Debug)]
pub(super) struct Place {
    /// The buffer.
    pub buf: Buf,
    /// The value's shape without the batch (a buffer holds values of several
    /// shapes: a flatten of a computed value is a reshape).
    pub shape: Vec<usize>,
}

/// What one step runs, with its weights ready (batch norms folded into
/// convolutions, fused activations as epilogues).
pub(super) enum Kernel {
    /// A convolution: packed for the direct kernels where they are preferred
    /// (`PackedConv2d::preferred_for`; generated code packs the same ones), else
    /// im2col + GEMM. The weights are held once, in one form. With a fused
    /// residual add (`residual`), the step reads the skip as its second
    /// value, or (in place) finds it in its output.
    Conv {
        /// The weights in the form the kernel reads.
        weights: ConvWeights,
        /// Whether a residual add is fused into the epilogue.
        residual: bool,
    },
    /// A batch norm on its running statistics.
    BatchNorm {
        gamma: ndarray::Array1<f32>,
        beta: ndarray::Array1<f32>,
        mean: ndarray::Array1<f32>,
        var: ndarray::Array1<f32>,
        eps: f32,
    },
    /// An element-wise activation (in place when the step says so).
    Activation(Activation),
    /// Max pooling.
    MaxPool(k::MaxPool2dParams),
    /// Average pooling.
    AvgPool(k::AvgPool2dParams),
    /// Global average pooling.
    GlobalAvgPool,
    /// A flatten that copies (of a model input; others are reshapes).
    Flatten,
    /// A dense layer, its weights packed and its activation fused.
    Dense(k::PackedDense),
    /// Softmax over dimension 1.
    Softmax,
    /// A sum (accumulated into its first operand when in place).
    Add,
    /// Channel concatenation.
    Concat,
    /// Element-wise product.
    Mul,
    /// Zero channels before and after.
    PadChannels { before: usize, after: usize },
    /// Upsampling.
    Upsample {
        size: (usize, usize),
        mode: k::Interpolation,
    },
    /// A transposed convolution.
    ConvTranspose {
        weight: ndarray::Array4<f32>,
        bias: Option<ndarray::Array1<f32>>,
        params: k::ConvTranspose2dParams,
    },
}

/// A convolution's weights (batch norm folded in) in the form its kernel reads.
pub(super) enum ConvWeights {
    /// For `conv2d_into` (im2col + GEMM): grouped, depthwise and 1×1 convs.
    Plain {
        weight: ndarray::Array4<f32>,
        bias: Option<ndarray::Array1<f32>>,
        params: k::Conv2dParams,
    },
    /// Prepacked for the blocked direct kernels (its params inside).
    Packed(k::PackedConv2d),
    /// Transformed for Winograd F(4×4, 3×3) (`RunOptions::winograd`).
    Winograd(k::WinogradConv2d),
}

impl Kernel {
    /// A short name of what the kernel computes (`resnetc bench --profile`).
    pub fn label(&self) -> &'static str {
        match self {
            Kernel::Conv {
                residual: false, ..
            } => "conv",
            Kernel::Conv { residual: true, .. } => "conv+add",
            Kernel::BatchNorm { .. } => "bn",
            Kernel::Activation(a) => match a {
                Activation::Relu => "relu",
                Activation::Relu6 => "relu6",
                Activation::Sigmoid => "sigmoid",
                Activation::Tanh => "tanh",
                Activation::Gelu => "gelu",
                Activation::LeakyRelu { .. } => "leaky_relu",
            },
            Kernel::MaxPool(_) => "maxpool",
            Kernel::AvgPool(_) => "avgpool",
            Kernel::GlobalAvgPool => "global_avgpool",
            Kernel::Flatten => "flatten",
            Kernel::Dense(_) => "dense",
            Kernel::Softmax => "softmax",
            Kernel::Add => "add",
            Kernel::Concat => "concat",
            Kernel::Mul => "mul",
            Kernel::PadChannels { .. } => "pad_channels",
            Kernel::Upsample { .. } => "upsample",
            Kernel::ConvTranspose { .. } => "conv_transpose",
        }
    }
}

/// One step of the plan, resolved to buffers.
pub(super) struct Exec {
    /// The layer's name (for errors).
    pub name: String,
    /// What it runs.
    pub kernel: Kernel,
    /// The values it reads, in argument order; for a step computed in place,
    /// without the value it overwrites.
    pub reads: Vec<Place>,
    /// Where its value goes.
    pub out: Place,
    /// Whether it overwrites its input in `out` (an activation or an add).
    pub in_place: bool,
}

/// The workspace: the slots (`batch × len` floats) and the convolutions'
/// scratch, made once per batch size and thread count.
pub(super) struct Workspace {
    /// The batch it is made for.
    pub batch: usize,
    /// The rayon thread count it is made for (the scratch depends on it).
    pub threads: usize,
    /// The floats (with room to start on a 64-byte boundary).
    pub data: Vec<f32>,
}

impl Workspace {
    /// A workspace of `len` floats for `batch` samples on `threads`
    /// threads, allocated fallibly.
    pub fn new(batch: usize, threads: usize, len: usize) -> Option<Workspace> {
        let mut data = Vec::new();
        data.try_reserve_exact(len.checked_add(ALIGN_PAD)?).ok()?;
        data.resize(len + ALIGN_PAD, 0.0);
        Some(Workspace {
            batch,
            threads,
            data,
        })
    }

    /// Its floats (slots and scratch), the alignment padding left out.
    pub fn floats(&self) -> usize {
        self.data.len() - ALIGN_PAD
    }

    /// The aligned part of the floats.
    pub fn aligned(&mut self) -> &mut [f32] {
        let skip = self.data.as_ptr().align_offset(64).min(self.data.len());
        &mut self.data[skip..]
    }
}

/// The buffers of one pass: the inputs (read-only), the workspace's slots
/// and the outputs.
pub(super) struct Buffers<'a> {
    /// The batch.
    pub batch: usize,
    /// Each input's elements, in standard layout.
    pub inputs: Vec<&'a [f32]>,
    /// The slots, then the outputs (a buffer being written is taken out).
    pub owned: Vec<&'a mut [f32]>,
    /// How many of `owned` are slots.
    pub slots: usize,
}

/// `[batch, shape…]`.
fn batched(batch: usize, shape: &[usize]) -> Vec<usize> {
    let mut d = Vec::with_capacity(shape.len() + 1);
    d.push(batch);
    d.extend_from_slice(shape);
    d
}

impl<'a> Buffers<'a> {
    fn owned_index(&self, b: Buf) -> Result<usize, String> {
        match b {
            Buf::Slot(s) if s < self.slots => Ok(s),
            Buf::Output(o) if self.slots + o < self.owned.len() => Ok(self.slots + o),
            _ => Err(format!("buffer {b:?} is not writable or does not exist")),
        }
    }

    /// A view of the value at `p`.
    pub fn view(&self, p: &Place) -> Result<ArrayViewD<'_, f32>, String> {
        let data: &[f32] = match p.buf {
            Buf::Input(k) => self
                .inputs
                .get(k)
                .copied()
                .ok_or_else(|| format!("input {k} does not exist"))?,
            b => &*self.owned[self.owned_index(b)?],
        };
        let shape = batched(self.batch, &p.shape);
        let len: usize = shape.iter().product();
        data.get(..len)
            .and_then(|d| ArrayViewD::from_shape(IxDyn(&shape), d).ok())
            .ok_or_else(|| format!("buffer {:?} cannot hold shape {shape:?}", p.buf))
    }

    /// Takes buffer `b` out to write it (put it back with [`Buffers::put`]).
    pub fn take(&mut self, b: Buf) -> Result<&'a mut [f32], String> {
        let i = self.owned_index(b)?;
        Ok(std::mem::take(&mut self.owned[i]))
    }

    /// Puts back a buffer taken out.
    pub fn put(&mut self, b: Buf, data: &'a mut [f32]) -> Result<(), String> {
        let i = self.owned_index(b)?;
        self.owned[i] = data;
        Ok(())
    }
}

/// A writable view of `data` as `[batch, shape…]`.
pub(super) fn view_mut<'b>(
    data: &'b mut [f32],
    batch: usize,
    shape: &[usize],
) -> Result<ArrayViewMutD<'b, f32>, String> {
    let shape = batched(batch, shape);
    let len: usize = shape.iter().product();
    data.get_mut(..len)
        .and_then(|d| ArrayViewMutD::from_shape(IxDyn(&shape), d).ok())
        .ok_or_else(|| format!("a buffer cannot hold shape {shape:?}"))
}

fn four<'b>(x: ArrayViewD<'b, f32>, name: &str) -> Result<ndarray::ArrayView4<'b, f32>, RunError> {
    x.into_dimensionality::<Ix4>()
        .map_err(|e| RunError::Kernel {
            layer: name.to_string(),
            message: format!("expected a 4-D tensor: {e}"),
        })
}

fn four_mut<'b>(
    x: ArrayViewMutD<'b, f32>,
    name: &str,
) -> Result<ndarray::ArrayViewMut4<'b, f32>, RunError> {
    x.into_dimensionality::<Ix4>()
        .map_err(|e| RunError::Kernel {
            layer: name.to_string(),
            message: format!("expected a 4-D tensor: {e}"),
        })
}

/// The floats of scratch step `e` needs on a batch of `batch` with
/// `threads` rayon threads (convolutions: im2col matrices or the blocked
/// input; dense layers: the transposed input and output; other steps
/// none). `None` when that overflows `usize`.
///
/// `Err` says what is inconsistent in the plan (a bug in resnetc).
pub(super) fn scratch_len(e: &Exec, batch: usize, threads: usize) -> Result<Option<usize>, String> {
    let conv = match &e.kernel {
        Kernel::Conv { weights, .. } => weights,
        Kernel::Dense(dense) => return Ok(dense.scratch_len(batch)),
        // Transposed convolutions keep their matrices in the thread's
        // scratch; the other steps need none.
        Kernel::ConvTranspose { .. }
        | Kernel::BatchNorm { .. }
        | Kernel::Activation(_)
        | Kernel::MaxPool(_)
        | Kernel::AvgPool(_)
        | Kernel::GlobalAvgPool
        | Kernel::Flatten
        | Kernel::Softmax
        | Kernel::Add
        | Kernel::Concat
        | Kernel::Mul
        | Kernel::PadChannels { .. }
        | Kernel::Upsample { .. } => return Ok(Some(0)),
    };
    let Some(Place { shape, .. }) = e.reads.first() else {
        return Err(format!("convolution `{}` reads no value", e.name));
    };
    let &[c, h, w] = shape.as_slice() else {
        return Err(format!(
            "convolution `{}` reads a value of shape {shape:?}, not C×H×W",
            e.name
        ));
    };
    let input = [batch, c, h, w];
    Ok(match conv {
        ConvWeights::Plain { weight, params, .. } => {
            k::conv2d_scratch_len(input, weight.dim().into(), params, threads, e.in_place)
        }
        ConvWeights::Packed(packed) => packed.scratch_len(input),
        ConvWeights::Winograd(wino) => wino.scratch_len(input),
    })
}

/// Runs step `e`, reading `reads`, writing `out` (when `e.in_place`, `out`
/// already holds the operand it overwrites); convolutions keep their im2col
/// matrices or blocked input in `scratch` (at least [`scratch_len`] floats).
pub(super) fn run(
    e: &Exec,
    reads: &[ArrayViewD<'_, f32>],
    out: ArrayViewMutD<'_, f32>,
    scratch: &mut [f32],
) -> Result<(), RunError> {
    let name = e.name.as_str();
    let ke = |err: k::KernelError| RunError::Kernel {
        layer: name.to_string(),
        message: err.to_string(),
    };
    let first = || -> Result<ArrayViewD<'_, f32>, RunError> {
        reads
            .first()
            .map(|x| x.view())
            .ok_or_else(|| RunError::Internal(format!("layer `{name}` has no input in the plan")))
    };
    match &e.kernel {
        Kernel::Conv { weights, residual } => {
            let residual = match (*residual, e.in_place, reads) {
                (false, false, [_]) => k::Residual::None,
                (true, true, [_]) => k::Residual::InPlace,
                (true, false, [_, skip]) => k::Residual::Add(four(skip.view(), name)?),
                _ => {
                    return Err(RunError::Internal(format!(
                        "convolution `{name}` reads {} values in the plan (residual {residual}, \
                         in place {})",
                        reads.len(),
                        e.in_place
                    )));
                }
            };
            let (x, out) = (four(first()?, name)?, four_mut(out, name)?);
            match weights {
                ConvWeights::Plain {
                    weight,
                    bias,
                    params,
                } => k::conv2d_into_with_scratch(
                    x,
                    weight.view(),
                    bias.as_ref().map(|b| b.view()),
                    params,
                    residual,
                    out,
                    scratch,
                ),
                ConvWeights::Packed(packed) => packed.run_in_scratch(x, residual, out, scratch),
                ConvWeights::Winograd(wino) => wino.run_in_scratch(x, residual, out, scratch),
            }
            .map_err(ke)
        }
        Kernel::ConvTranspose {
            weight,
            bias,
            params,
        } => k::conv_transpose2d_into(
            four(first()?, name)?,
            weight.view(),
            bias.as_ref().map(|b| b.view()),
            params,
            four_mut(out, name)?,
        )
        .map_err(ke),
        Kernel::BatchNorm {
            gamma,
            beta,
            mean,
            var,
            eps,
        } => {
            let p = k::BatchNormParams {
                gamma: gamma.view(),
                beta: beta.view(),
                running_mean: mean.view(),
                running_var: var.view(),
                eps: *eps,
            };
            k::batchnorm_into(first()?, &p, out).map_err(ke)
        }
        Kernel::Activation(a) if e.in_place => {
            match a {
                Activation::Relu => k::relu_inplace(out),
                Activation::Relu6 => k::relu6_inplace(out),
                Activation::Sigmoid => k::sigmoid_inplace(out),
                Activation::Tanh => k::tanh_inplace(out),
                Activation::Gelu => k::gelu_inplace(out),
                Activation::LeakyRelu { slope } => k::leaky_relu_inplace(out, *slope as f32),
            }
            Ok(())
        }
        Kernel::Activation(a) => {
            let x = first()?;
            match a {
                Activation::Relu => k::relu_into(x, out),
                Activation::Relu6 => k::relu6_into(x, out),
                Activation::Sigmoid => k::sigmoid_into(x, out),
                Activation::Tanh => k::tanh_into(x, out),
                Activation::Gelu => k::gelu_into(x, out),
                Activation::LeakyRelu { slope } => k::leaky_relu_into(x, *slope as f32, out),
            }
            .map_err(ke)
        }
        Kernel::MaxPool(p) => {
            k::max_pool2d_into(four(first()?, name)?, p, four_mut(out, name)?).map_err(ke)
        }
        Kernel::AvgPool(p) => {
            k::avg_pool2d_into(four(first()?, name)?, p, four_mut(out, name)?).map_err(ke)
        }
        Kernel::GlobalAvgPool => {
            k::global_avg_pool_into(four(first()?, name)?, four_mut(out, name)?).map_err(ke)
        }
        Kernel::Flatten => {
            let out = out
                .into_dimensionality::<Ix2>()
                .map_err(|err| RunError::Kernel {
                    layer: name.to_string(),
                    message: format!("expected a 2-D output: {err}"),
                })?;
            k::flatten_into(first()?, out).map_err(ke)
        }
        Kernel::Dense(dense) => {
            let two = |err: ndarray::ShapeError| RunError::Kernel {
                layer: name.to_string(),
                message: format!("expected a 2-D tensor: {err}"),
            };
            dense
                .run_in_scratch(
                    first()?.into_dimensionality::<Ix2>().map_err(two)?,
                    out.into_dimensionality::<Ix2>().map_err(two)?,
                    scratch,
                )
                .map_err(ke)
        }
        Kernel::Softmax => k::softmax_dim1_into(first()?, out).map_err(ke),
        Kernel::Add if e.in_place => k::add_assign(out, reads).map_err(ke),
        Kernel::Add => k::add_into(reads, out).map_err(ke),
        Kernel::Concat => k::concat_into(reads, out).map_err(ke),
        Kernel::Mul => match reads {
            [a, b] => k::mul_into(a.view(), b.view(), out).map_err(ke),
            _ => Err(RunError::Internal(format!(
                "mul `{name}` has {} inputs in the plan, expected two",
                reads.len()
            ))),
        },
        Kernel::PadChannels { before, after } => {
            k::pad_channels_into(first()?, *before, *after, out).map_err(ke)
        }
        Kernel::Upsample { size, mode } => {
            k::upsample2d_into(four(first()?, name)?, *size, *mode, four_mut(out, name)?)
                .map_err(ke)
        }
    }
}
