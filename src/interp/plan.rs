//! Preparing a checked model to run: the plan of [`crate::lower`] with
//! every block instance inlined, its buffers resolved, and one kernel per
//! step with its weights ready (batch norms folded into convolutions in f32
//! by the runtime's `fold_batchnorm`, ReLU / ReLU6 as epilogues); then
//! running it on a workspace allocated once per batch size.

use std::sync::{Mutex, PoisonError};

use ndarray::{Array1, Array2, Array4, ArrayD, ArrayViewD, IxDyn};

use super::exec::{self, Buf, Buffers, ConvWeights, Exec, Kernel, Place, Workspace};
use super::memory::OutOfMemory;
use super::{Forward, RunError, Weights};
use crate::ir::{Activation, CheckedModel, Graph, NodeId, Op};
use crate::lower::buffers::{StepKind, Storage};
use crate::runtime::kernels as k;

/// How long one step of the interpreter's plan took
/// ([`Interpreter::forward_profiled`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StepTime {
    /// The layer (the head of a fused chain: `layer1.0.conv1` for its conv,
    /// batch norm and ReLU).
    pub layer: String,
    /// The kernel it ran (`conv`, `add`, `relu`, …).
    pub kernel: &'static str,
    /// The wall time of the kernel call.
    pub time: std::time::Duration,
}

/// How the interpreter runs a model (the defaults: what `resnetc run` does).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Run the 3×3 stride-1 convolutions that
    /// [`crate::lower::algorithm::winograd_eligible`] accepts with Winograd F(4×4, 3×3)
    /// (`--winograd`) instead of the direct kernel: fewer multiplications,
    /// results within the kernels' tolerance but not the same bits.
    pub winograd: bool,
}

/// A model ready to run: weights folded, buffers planned.
///
/// The plan is [`crate::lower`]'s, made by the same planner as the generated
/// code's (one body with every block instance inlined): the same layers, the
/// same element-wise ops computed in place, values packed into the slots of
/// one workspace by liveness. [`Interpreter::forward`] allocates that
/// workspace once per batch size (and keeps it for the next pass of the same
/// batch size) and the outputs it returns; the layers allocate nothing but
/// what the kernels themselves use (the conv's per-thread im2col buffer,
/// the GEMM's per-thread packing buffers).
pub struct Interpreter {
    graph: Graph,
    /// The steps that run code (aliases need none), in order.
    steps: Vec<Exec>,
    /// Outputs not computed in place: `(output index, where the value is)`.
    copies: Vec<(usize, Place)>,
    /// The length of each slot, in `f32` per sample.
    slots: Vec<usize>,
    /// Their sum: the workspace, in `f32` per sample.
    workspace_len: usize,
    /// The bytes of the weights the steps hold.
    weights_bytes: u64,
    /// The node with the most elements (named when the workspace does not fit).
    widest: (String, u64),
    /// The workspace of the last pass, kept for the next one of its batch size.
    workspace: Mutex<Option<Workspace>>,
}

/// Where the kernels' weights come from.
enum Source<'w> {
    /// Borrowed weights: each tensor is copied.
    Borrowed(&'w Weights),
    /// Owned weights: each tensor is moved out (the model's weights are then
    /// held once, by the kernels).
    Owned(Weights),
}

impl Source<'_> {
    /// The tensor named `name`.
    fn tensor(&mut self, name: &str) -> Result<super::Tensor, RunError> {
        let t = match self {
            Source::Borrowed(w) => w.get(name).cloned(),
            Source::Owned(w) => w.remove(name),
        };
        t.ok_or_else(|| RunError::MissingWeight(name.into()))
    }
}

fn tensor1(w: &mut Source<'_>, name: &str) -> Result<Array1<f32>, RunError> {
    Ok(Array1::from_vec(w.tensor(name)?.data))
}

fn tensor_nd<D: ndarray::Dimension>(
    w: &mut Source<'_>,
    name: &str,
) -> Result<ndarray::Array<f32, D>, RunError> {
    let t = w.tensor(name)?;
    let shape = t.shape.clone();
    ArrayD::from_shape_vec(IxDyn(&t.shape), t.data)
        .ok()
        .and_then(|a| a.into_dimensionality::<D>().ok())
        .ok_or_else(|| RunError::Kernel {
            layer: name.into(),
            message: format!("weight has shape {shape:?}"),
        })
}

fn pad(p: [usize; 4]) -> k::Padding2d {
    k::Padding2d {
        top: p[0],
        left: p[1],
        bottom: p[2],
        right: p[3],
    }
}

/// The runtime's name of an interpolation mode.
pub(crate) fn interpolation(m: crate::ir::UpsampleMode) -> k::Interpolation {
    match m {
        crate::ir::UpsampleMode::Nearest => k::Interpolation::Nearest,
        crate::ir::UpsampleMode::Bilinear => k::Interpolation::Bilinear,
    }
}

fn kernel_error(layer: &str) -> impl Fn(k::KernelError) -> RunError + '_ {
    move |e| RunError::Kernel {
        layer: layer.to_string(),
        message: e.to_string(),
    }
}

/// The epilogue of a layer whose activation node is `j`.
fn epilogue(g: &Graph, j: NodeId) -> Result<k::Activation, RunError> {
    match g.node(j).op {
        Op::Activation(Activation::Relu) => Ok(k::Activation::Relu),
        Op::Activation(Activation::Relu6) => Ok(k::Activation::Relu6),
        _ => Err(internal_fusion(g, j)),
    }
}

/// A fusion chain names a node that cannot be fused: a bug in `lower`.
fn internal_fusion(g: &Graph, j: NodeId) -> RunError {
    RunError::Internal(format!(
        "node `{}` of model `{}` was fused into a layer it cannot join",
        g.node(j).name,
        g.name
    ))
}

impl Interpreter {
    /// Prepares `model` with `weights` (which must hold every parameter, as
    /// [`super::WeightsFile::load`] and [`super::init`] guarantee).
    pub fn new(model: &CheckedModel, weights: &Weights) -> Result<Interpreter, RunError> {
        Interpreter::prepare(model, Source::Borrowed(weights), &RunOptions::default())
    }

    /// [`Interpreter::new`], taking the weights: their tensors move into the
    /// kernels instead of being copied, so the model's weights are in memory
    /// once.
    pub fn from_weights(model: &CheckedModel, weights: Weights) -> Result<Interpreter, RunError> {
        Interpreter::prepare(model, Source::Owned(weights), &RunOptions::default())
    }

    /// [`Interpreter::from_weights`] with `options`.
    pub fn with_options(
        model: &CheckedModel,
        weights: Weights,
        options: &RunOptions,
    ) -> Result<Interpreter, RunError> {
        Interpreter::prepare(model, Source::Owned(weights), options)
    }

    fn prepare(
        model: &CheckedModel,
        mut weights: Source<'_>,
        options: &RunOptions,
    ) -> Result<Interpreter, RunError> {
        let g = model.graph().clone();
        let bug = |message: String| {
            RunError::Internal(format!("in the plan of model `{}`: {message}", g.name))
        };
        // The layers and buffers, decided once for both back ends.
        let plan = crate::lower::plans::inlined(&g).map_err(|e| bug(e.message))?;
        let place = |v: usize| -> Result<Place, RunError> {
            let buf = match plan.storage(v).map_err(bug)? {
                Storage::Param(k) => Buf::Input(k),
                Storage::Out(k) => Buf::Output(k),
                Storage::Slot(s) => Buf::Slot(s),
            };
            let node = g
                .nodes
                .get(v)
                .ok_or_else(|| bug(format!("value {v} is not a node")))?;
            Ok(Place {
                buf,
                shape: node.shape.0.clone(),
            })
        };
        let mut steps = Vec::with_capacity(plan.steps.len());
        let mut weights_bytes = 0u64;
        for (i, step) in plan.steps.iter().enumerate() {
            let chain = match &step.kind {
                StepKind::Alias(_) => continue,
                StepKind::Layer(chain) => chain,
                StepKind::Child(_) | StepKind::Loop(_) => {
                    return Err(bug(format!("step {i} calls a block in the inlined plan")));
                }
            };
            let (&head, &last) = chain
                .first()
                .zip(chain.last())
                .ok_or_else(|| bug(format!("step {i} is an empty layer")))?;
            let &[def] = step.defs.as_slice() else {
                return Err(bug(format!("step {i} defines {} values", step.defs.len())));
            };
            if def != last {
                return Err(bug(format!("step {i} does not define its layer's value")));
            }
            let kernel = kernel(&g, &mut weights, chain, options)?;
            weights_bytes = weights_bytes.saturating_add(kernel_weights(&kernel));
            let reads = step
                .reads
                .iter()
                .filter(|&&u| Some(u) != step.in_place)
                .map(|&u| place(u))
                .collect::<Result<Vec<_>, _>>()?;
            steps.push(Exec {
                name: g.nodes[head].name.clone(),
                kernel,
                reads,
                out: place(def)?,
                in_place: step.in_place.is_some(),
            });
        }
        let copies = plan
            .copies
            .iter()
            .map(|&(k, v)| Ok((k, place(v)?)))
            .collect::<Result<Vec<_>, RunError>>()?;
        let widest = model
            .costs()
            .nodes
            .iter()
            .enumerate()
            .max_by(|(i, a), (j, b)| a.output_elements.cmp(&b.output_elements).then(j.cmp(i)))
            .map(|(i, c)| (g.nodes[i].name.clone(), c.output_elements))
            .ok_or_else(|| bug("the model has no nodes".into()))?;
        Ok(Interpreter {
            steps,
            copies,
            workspace_len: plan.own_workspace(),
            slots: plan.slots,
            weights_bytes,
            widest,
            workspace: Mutex::new(None),
            graph: g,
        })
    }

    /// The workspace a pass on `batch` samples with `threads` rayon
    /// threads uses, in bytes: the plan's slots and the convolutions'
    /// scratch (the outputs and inputs come besides). `None` when it does
    /// not fit in `usize` floats; `Err` for an inconsistent plan (a bug).
    pub fn workspace_bytes(&self, batch: usize, threads: usize) -> Result<Option<u128>, RunError> {
        Ok(self
            .workspace_floats(batch, threads)?
            .map(|n| n as u128 * 4))
    }

    /// The floats of the workspace for `batch` and `threads`: the slots,
    /// then the largest scratch any step needs (steps run one at a time).
    fn workspace_floats(&self, batch: usize, threads: usize) -> Result<Option<usize>, RunError> {
        let mut scratch = 0usize;
        for e in &self.steps {
            match exec::scratch_len(e, batch, threads) {
                Ok(Some(n)) => scratch = scratch.max(n),
                Ok(None) => return Ok(None),
                Err(m) => {
                    return Err(RunError::Internal(format!(
                        "in the plan of model `{}`: {m}",
                        self.graph.name
                    )));
                }
            }
        }
        Ok(self
            .workspace_len
            .checked_mul(batch)
            .and_then(|slots| slots.checked_add(scratch)))
    }

    /// The bytes of the weights the interpreter holds (batch norms folded).
    pub fn weights_bytes(&self) -> u64 {
        self.weights_bytes
    }

    /// The model's graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs a forward pass on inputs of shape N×(the model's input shape).
    pub fn forward(&self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Forward, RunError> {
        self.pass(inputs, None)
    }

    /// [`forward`](Self::forward), timing every step of the plan (one kernel
    /// call: a layer with what is fused into it), in execution order.
    pub fn forward_profiled(
        &self,
        inputs: &[ArrayViewD<'_, f32>],
    ) -> Result<(Forward, Vec<StepTime>), RunError> {
        let mut times = Vec::with_capacity(self.steps.len());
        let forward = self.pass(inputs, Some(&mut times))?;
        let steps = self
            .steps
            .iter()
            .zip(times)
            .map(|(e, time)| StepTime {
                layer: e.name.clone(),
                kernel: e.kernel.label(),
                time,
            })
            .collect();
        Ok((forward, steps))
    }

    /// One pass; with `times`, the duration of every step is pushed there.
    fn pass(
        &self,
        inputs: &[ArrayViewD<'_, f32>],
        mut times: Option<&mut Vec<std::time::Duration>>,
    ) -> Result<Forward, RunError> {
        let g = &self.graph;
        if inputs.len() != g.inputs.len() {
            return Err(RunError::InputCount {
                model: g.name.clone(),
                expected: g.inputs.len(),
                found: inputs.len(),
            });
        }
        for (inp, x) in g.inputs.iter().zip(inputs) {
            let expected = &g.node(inp.node).shape.0;
            if x.ndim() != expected.len() + 1
                || &x.shape()[1..] != expected.as_slice()
                || x.shape()[0] == 0
            {
                return Err(RunError::InputShape {
                    name: inp.name.clone(),
                    expected: expected.clone(),
                    found: x.shape().to_vec(),
                });
            }
        }
        let batch = inputs.first().map_or(0, |x| x.shape()[0]);
        if let Some(x) = inputs.iter().find(|x| x.shape()[0] != batch) {
            return Err(RunError::Kernel {
                layer: "input".into(),
                message: format!(
                    "the inputs have different batch sizes ({batch} and {})",
                    x.shape()[0]
                ),
            });
        }
        let bug = |message: String| {
            RunError::Internal(format!("in the plan of model `{}`: {message}", g.name))
        };
        // The inputs in standard layout (a copy only if they are not).
        let std_inputs: Vec<_> = inputs.iter().map(|x| x.as_standard_layout()).collect();
        let input_slices = std_inputs
            .iter()
            .map(|x| x.as_slice())
            .collect::<Option<Vec<&[f32]>>>()
            .ok_or_else(|| bug("an input is not contiguous in standard layout".into()))?;
        let out_shapes: Vec<Vec<usize>> = g
            .outputs
            .iter()
            .map(|o| {
                let mut d = vec![batch];
                d.extend(&g.node(o.node).shape.0);
                d
            })
            .collect();
        let oom = |what: String, values: u128| {
            RunError::OutOfMemory(OutOfMemory {
                model: g.name.clone(),
                what,
                bytes: values.saturating_mul(4),
                largest: self.widest.0.clone(),
                largest_bytes: self.widest.1.saturating_mul(4).saturating_mul(batch as u64),
                limit: None,
            })
        };
        let mut outs = out_shapes
            .iter()
            .map(|d| {
                let len: usize = d.iter().product();
                super::memory::try_filled(len, || 0.0)
                    .map_err(|_| oom(format!("the outputs of a batch of {batch}"), len as u128))
            })
            .collect::<Result<Vec<Vec<f32>>, _>>()?;
        // The workspace: kept from the last pass if it had this batch size.
        let mut kept = self
            .workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Its length is worked out (a walk over the steps) only when it is
        // made; a kept one already has it.
        let threads = rayon::current_num_threads();
        if kept
            .as_ref()
            .is_none_or(|w| w.batch != batch || w.threads != threads)
        {
            let len = self
                .workspace_floats(batch, threads)?
                .ok_or_else(|| oom(format!("the workspace of a batch of {batch}"), u128::MAX))?;
            // Free the old one first: the peak is one workspace, not two.
            *kept = None;
            *kept =
                Some(Workspace::new(batch, threads, len).ok_or_else(|| {
                    oom(format!("the workspace of a batch of {batch}"), len as u128)
                })?);
        }
        let ws = kept
            .as_mut()
            .ok_or_else(|| bug("the workspace was not made".into()))?;
        let len = ws.floats();
        let mut rest = ws.aligned();
        let mut owned: Vec<&mut [f32]> = Vec::with_capacity(self.slots.len() + outs.len());
        for &l in &self.slots {
            let (slot, tail) = rest
                .split_at_mut_checked(l * batch)
                .ok_or_else(|| bug(format!("the workspace is shorter than its slots ({len})")))?;
            owned.push(slot);
            rest = tail;
        }
        // The rest is the convolutions' scratch.
        let scratch = rest;
        owned.extend(outs.iter_mut().map(|o| o.as_mut_slice()));
        let mut bufs = Buffers {
            batch,
            inputs: input_slices,
            owned,
            slots: self.slots.len(),
        };
        for e in &self.steps {
            let w = bufs.take(e.out.buf).map_err(bug)?;
            let reads = e
                .reads
                .iter()
                .map(|p| bufs.view(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bug)?;
            let out = exec::view_mut(&mut *w, batch, &e.out.shape).map_err(bug)?;
            let start = times.is_some().then(std::time::Instant::now);
            exec::run(e, &reads, out, &mut *scratch)?;
            if let (Some(times), Some(start)) = (times.as_deref_mut(), start) {
                times.push(start.elapsed());
            }
            drop(reads);
            bufs.put(e.out.buf, w).map_err(bug)?;
        }
        // Outputs computed elsewhere (an input, or a value that is also
        // another output) are copied to theirs.
        for (k, from) in &self.copies {
            let buf = Buf::Output(*k);
            let w = bufs.take(buf).map_err(bug)?;
            let x = bufs.view(from).map_err(bug)?;
            let shape = out_shapes
                .get(*k)
                .ok_or_else(|| bug(format!("output {k} does not exist")))?;
            let mut out = exec::view_mut(&mut *w, batch, &shape[1..]).map_err(bug)?;
            if x.shape() == out.shape() {
                out.assign(&x);
            } else {
                let out = out
                    .into_dimensionality::<ndarray::Ix2>()
                    .map_err(|e| bug(format!("output {k} is not a reshape: {e}")))?;
                k::flatten_into(x, out).map_err(|e| bug(e.to_string()))?;
            }
            bufs.put(buf, w).map_err(bug)?;
        }
        drop(bufs);
        let workspace_bytes = len * 4;
        let out_bytes: usize = outs.iter().map(|o| o.len() * 4).sum();
        let in_bytes: usize = inputs.iter().map(|x| x.len() * 4).sum();
        let mut outputs = Vec::with_capacity(outs.len());
        for ((o, shape), data) in g.outputs.iter().zip(out_shapes).zip(outs) {
            let a = ArrayD::from_shape_vec(IxDyn(&shape), data)
                .map_err(|e| bug(format!("output `{}`: {e}", o.name)))?;
            outputs.push((o.name.clone(), a));
        }
        Ok(Forward {
            outputs,
            peak_activation_bytes: workspace_bytes + out_bytes + in_bytes,
        })
    }
}

/// The kernel of the layer `chain` (a head and the nodes fused into it).
fn kernel(
    g: &Graph,
    weights: &mut Source<'_>,
    chain: &[usize],
    options: &RunOptions,
) -> Result<Kernel, RunError> {
    // The nodes fused into the head, each in its role (a batch norm, a
    // residual add, a ReLU / ReLU6), as `lower` decided them.
    let layer = crate::lower::Layer::of_chain(g, chain)
        .map_err(|m| RunError::Internal(format!("in the plan of model `{}`: {m}", g.name)))?;
    let node = g.node(layer.head);
    let name = node.name.as_str();
    let batch_norm = layer.batch_norm;
    let activation = match layer.activation {
        Some(j) => epilogue(g, j)?,
        None => k::Activation::None,
    };
    let fused = |what: &str| -> Result<(), RunError> {
        match (chain.len(), what) {
            (1, _) => Ok(()),
            (_, "dense") if batch_norm.is_none() && layer.residual.is_none() => Ok(()),
            (_, "conv") => Ok(()),
            _ => Err(internal_fusion(g, NodeId(chain[1] as u32))),
        }
    };
    Ok(match &node.op {
        Op::Input | Op::Identity | Op::Dropout { .. } => {
            return Err(RunError::Internal(format!(
                "node `{name}` of model `{}` runs as a layer but computes nothing",
                g.name
            )));
        }
        Op::Conv(c) => {
            fused("conv")?;
            let mut weight: Array4<f32> = tensor_nd(weights, &format!("{name}.weight"))?;
            let mut bias = if c.bias {
                Some(tensor1(weights, &format!("{name}.bias"))?)
            } else {
                None
            };
            // Fold the layer's batch norm into the kernel.
            if let Some(j) = batch_norm {
                let Op::BatchNorm(b) = &g.node(j).op else {
                    return Err(internal_fusion(g, j));
                };
                let bn = &g.node(j).name;
                let gamma = tensor1(weights, &format!("{bn}.weight"))?;
                let beta = tensor1(weights, &format!("{bn}.bias"))?;
                let mean = tensor1(weights, &format!("{bn}.running_mean"))?;
                let var = tensor1(weights, &format!("{bn}.running_var"))?;
                let params = k::BatchNormParams {
                    gamma: gamma.view(),
                    beta: beta.view(),
                    running_mean: mean.view(),
                    running_var: var.view(),
                    eps: b.eps as f32,
                };
                let (w2, b2) =
                    k::fold_batchnorm(weight.view(), bias.as_ref().map(|b| b.view()), &params)
                        .map_err(kernel_error(name))?;
                weight = w2;
                bias = Some(b2);
            }
            let params = k::Conv2dParams {
                stride: (c.stride[0], c.stride[1]),
                padding: pad(c.padding),
                dilation: (c.dilation[0], c.dilation[1]),
                groups: c.groups,
                activation,
            };
            // Packed once here; generated code packs the same convolutions
            // in `from_store`, so both run the same kernel.
            let residual = layer.residual.is_some();
            let winograd = options.winograd
                && crate::lower::algorithm::winograd_eligible(g, layer.head).map_err(|m| {
                    RunError::Internal(format!("in the plan of model `{}`: {m}", g.name))
                })?;
            if winograd {
                let wino =
                    k::WinogradConv2d::new(weight.view(), bias.as_ref().map(|b| b.view()), &params)
                        .map_err(kernel_error(name))?;
                Kernel::Conv {
                    weights: ConvWeights::Winograd(wino),
                    residual,
                }
            } else if k::PackedConv2d::preferred_for(weight.dim().into(), &params) {
                let packed =
                    k::PackedConv2d::new(weight.view(), bias.as_ref().map(|b| b.view()), &params)
                        .map_err(kernel_error(name))?;
                Kernel::Conv {
                    weights: ConvWeights::Packed(packed),
                    residual: layer.residual.is_some(),
                }
            } else {
                Kernel::Conv {
                    weights: ConvWeights::Plain {
                        weight,
                        bias,
                        params,
                    },
                    residual: layer.residual.is_some(),
                }
            }
        }
        Op::Dense(d) => {
            fused("dense")?;
            let weight: Array2<f32> = tensor_nd(weights, &format!("{name}.weight"))?;
            let bias = if d.bias {
                Some(tensor1(weights, &format!("{name}.bias"))?)
            } else {
                None
            };
            Kernel::Dense(
                k::PackedDense::new(weight.view(), bias.as_ref().map(|b| b.view()), activation)
                    .map_err(kernel_error(name))?,
            )
        }
        op => {
            fused("")?;
            match op {
                Op::BatchNorm(b) => Kernel::BatchNorm {
                    gamma: tensor1(weights, &format!("{name}.weight"))?,
                    beta: tensor1(weights, &format!("{name}.bias"))?,
                    mean: tensor1(weights, &format!("{name}.running_mean"))?,
                    var: tensor1(weights, &format!("{name}.running_var"))?,
                    eps: b.eps as f32,
                },
                Op::Activation(a) => Kernel::Activation(*a),
                Op::MaxPool(p) => Kernel::MaxPool(k::MaxPool2dParams {
                    kernel: (p.kernel[0], p.kernel[1]),
                    stride: (p.stride[0], p.stride[1]),
                    padding: pad(p.padding),
                    dilation: (p.dilation[0], p.dilation[1]),
                    ceil_mode: p.ceil_mode,
                }),
                Op::AvgPool(p) => Kernel::AvgPool(k::AvgPool2dParams {
                    kernel: (p.kernel[0], p.kernel[1]),
                    stride: (p.stride[0], p.stride[1]),
                    padding: pad(p.padding),
                    ceil_mode: p.ceil_mode,
                    count_include_pad: p.count_include_pad,
                    divisor_override: None,
                }),
                Op::GlobalAvgPool => Kernel::GlobalAvgPool,
                Op::Flatten => Kernel::Flatten,
                Op::Softmax => Kernel::Softmax,
                Op::Add => Kernel::Add,
                Op::Concat => Kernel::Concat,
                Op::Mul => Kernel::Mul,
                Op::PadChannels { before, after } => Kernel::PadChannels {
                    before: *before,
                    after: *after,
                },
                Op::Upsample(u) => Kernel::Upsample {
                    size: (u.size[0], u.size[1]),
                    mode: interpolation(u.mode),
                },
                Op::ConvTranspose(c) => Kernel::ConvTranspose {
                    weight: tensor_nd(weights, &format!("{name}.weight"))?,
                    bias: if c.bias {
                        Some(tensor1(weights, &format!("{name}.bias"))?)
                    } else {
                        None
                    },
                    params: k::ConvTranspose2dParams {
                        stride: (c.stride[0], c.stride[1]),
                        padding: (c.padding[0], c.padding[1]),
                        output_padding: (c.output_padding[0], c.output_padding[1]),
                        dilation: (c.dilation[0], c.dilation[1]),
                        groups: c.groups,
                    },
                },
                Op::Input | Op::Identity | Op::Dropout { .. } | Op::Conv(_) | Op::Dense(_) => {
                    return Err(RunError::Internal(format!(
                        "node `{name}` of model `{}` has no kernel",
                        g.name
                    )));
                }
            }
        }
    })
}

/// The bytes of the weights a kernel holds.
fn kernel_weights(kernel: &Kernel) -> u64 {
    let n = match kernel {
        Kernel::Conv {
            weights: ConvWeights::Plain { weight, bias, .. },
            ..
        }
        | Kernel::ConvTranspose { weight, bias, .. } => {
            weight.len() + bias.as_ref().map_or(0, |b| b.len())
        }
        Kernel::Conv {
            weights: ConvWeights::Packed(packed),
            ..
        } => packed.len(),
        Kernel::Conv {
            weights: ConvWeights::Winograd(wino),
            ..
        } => wino.len(),
        Kernel::Dense(dense) => dense.len(),
        Kernel::BatchNorm {
            gamma,
            beta,
            mean,
            var,
            ..
        } => gamma.len() + beta.len() + mean.len() + var.len(),
        Kernel::Activation(_)
        | Kernel::MaxPool(_)
        | Kernel::AvgPool(_)
        | Kernel::GlobalAvgPool
        | Kernel::Flatten
        | Kernel::Softmax
        | Kernel::Add
        | Kernel::Concat
        | Kernel::Mul
        | Kernel::PadChannels { .. }
        | Kernel::Upsample { .. } => 0,
    };
    n as u64 * 4
}

#[cfg(test)]
mod tests {
    use ndarray::ArrayD;

    use super::Interpreter;

    const SRC: &str = "block basic(c) {\n  input x\n  y = x -> conv(c, 3, pad: 1) -> bn -> relu\n  relu(x + y)\n}\nmodel m {\n  input x: [4, 8, 8]\n  x -> basic(4) -> basic(4) -> global_avgpool -> flatten -> dense(3)\n}\n";

    fn prepared() -> (crate::Compiled, Interpreter) {
        let c = crate::compile_source("m.rn", SRC, &Default::default()).unwrap();
        let w = crate::interp::init(&c.model, 0);
        let net = Interpreter::new(&c.model, &w).unwrap();
        (c, net)
    }

    /// The workspace's address, if one is kept.
    fn workspace_ptr(net: &Interpreter) -> Option<(usize, *const f32)> {
        let kept = net.workspace.lock().unwrap();
        kept.as_ref().map(|w| (w.batch, w.data.as_ptr()))
    }

    #[test]
    fn the_workspace_is_made_once_per_batch_size_and_kept() {
        let (_c, net) = prepared();
        assert!(workspace_ptr(&net).is_none());
        let x2 = ArrayD::<f32>::from_elem(vec![2, 4, 8, 8], 0.5);
        let first = net.forward(&[x2.view()]).unwrap();
        let kept = workspace_ptr(&net).unwrap();
        assert_eq!(kept.0, 2);
        let again = net.forward(&[x2.view()]).unwrap();
        assert_eq!(
            workspace_ptr(&net),
            Some(kept),
            "same batch: same workspace"
        );
        assert_eq!(first.outputs[0].1, again.outputs[0].1);
        let x3 = ArrayD::<f32>::from_elem(vec![3, 4, 8, 8], 0.5);
        net.forward(&[x3.view()]).unwrap();
        assert_eq!(workspace_ptr(&net).map(|w| w.0), Some(3));
        // Its length is the plan's workspace for the batch (and the padding
        // that aligns it).
        let kept = net.workspace.lock().unwrap();
        let len = kept.as_ref().unwrap().data.len();
        let threads = rayon::current_num_threads();
        assert_eq!(
            len as u128 * 4,
            net.workspace_bytes(3, threads).unwrap().unwrap() + 16 * 4
        );
    }

    #[test]
    fn a_pass_reports_its_workspace_outputs_and_inputs() {
        let (_c, net) = prepared();
        let x = ArrayD::<f32>::from_elem(vec![5, 4, 8, 8], 0.5);
        let out = net.forward(&[x.view()]).unwrap();
        // Two blocks of 4×8×8 values: the conv's output and the block's
        // output (the add and relu run in place) live in two slots; the
        // pooled value needs a third (a reshape for flatten).
        let threads = rayon::current_num_threads();
        let workspace = |batch| net.workspace_bytes(batch, threads).unwrap().unwrap();
        assert!(workspace(1) > 0);
        assert_eq!(
            out.peak_activation_bytes as u128,
            workspace(5) + 5 * 3 * 4 + 5 * 4 * 8 * 8 * 4
        );
        // Each conv (bn folded) is held once, packed for the direct kernel
        // (its output channels padded to a block); dense weights + bias.
        use super::{Array1, Array4, k, pad};
        let params = k::Conv2dParams {
            stride: (1, 1),
            padding: pad([1, 1, 1, 1]),
            dilation: (1, 1),
            groups: 1,
            activation: k::Activation::Relu,
        };
        let w = Array4::<f32>::zeros((4, 4, 3, 3));
        let b = Array1::<f32>::zeros(4);
        let packed = k::PackedConv2d::new(w.view(), Some(b.view()), &params).unwrap();
        // The up-front memory check counts what the pass holds but the
        // convolutions' scratch (the workspace is allocated fallibly with
        // it): here the blocked, padded input of the batch.
        let scratch = packed.scratch_len([5, 4, 8, 8]).unwrap() as u128 * 4;
        assert!(scratch >= 5 * 4 * 10 * 10 * 4);
        let (c, owned) = prepared();
        let values = crate::interp::memory::pass_values(&c.model, 5).unwrap();
        assert_eq!(
            values * 4 + scratch + 5 * 4 * 8 * 8 * 4,
            out.peak_activation_bytes as u128
        );
        // Weights moved in compute the same.
        let moved = Interpreter::from_weights(&c.model, crate::interp::init(&c.model, 0)).unwrap();
        assert_eq!(moved.weights_bytes(), owned.weights_bytes());
        let again = moved.forward(&[x.view()]).unwrap();
        assert_eq!(again.outputs[0].1, out.outputs[0].1);
        assert!(packed.len() >= 4 * 4 * 9 + 4);
        // The dense layer's 3×4 weights and 3 biases, packed in a panel of
        // 6 output rows.
        let w2 = super::Array2::<f32>::zeros((3, 4));
        let dense = k::PackedDense::new(
            w2.view(),
            Some(Array1::zeros(3).view()),
            k::Activation::None,
        )
        .unwrap();
        assert_eq!(dense.len(), 6 * 4 + 6);
        assert_eq!(
            net.weights_bytes() as usize,
            (packed.len() * 2 + dense.len()) * 4
        );
    }
}
