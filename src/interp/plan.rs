//! Turning a checked graph into an executable plan, and executing it.

use ndarray::{Array1, Array2, Array4, ArrayD, ArrayViewD, Ix2, Ix4, IxDyn};

use super::{Forward, RunError, Weights};
use crate::ir::{Activation, CheckedModel, Graph, NodeId, Op};
use crate::runtime::kernels as k;

/// What to compute for one node.
enum Step {
    /// A model input (its index).
    Input(usize),
    /// Computed as part of a later step (folded or fused away).
    Fused,
    Conv {
        weight: Array4<f32>,
        bias: Option<Array1<f32>>,
        params: k::Conv2dParams,
        /// The weights packed for the direct kernels, when they are
        /// preferred (`PackedConv2d::preferred`); otherwise `conv2d` runs.
        packed: Option<k::PackedConv2d>,
    },
    /// `y = x·scale + shift` per channel.
    BatchNorm {
        gamma: Array1<f32>,
        beta: Array1<f32>,
        mean: Array1<f32>,
        var: Array1<f32>,
        eps: f32,
    },
    Activation(Activation),
    MaxPool(k::MaxPool2dParams),
    AvgPool(k::AvgPool2dParams),
    GlobalAvgPool,
    Flatten,
    Dense {
        weight: Array2<f32>,
        bias: Option<Array1<f32>>,
        activation: k::Activation,
    },
    Softmax,
    Identity,
    Add,
    Concat,
    Mul,
    PadChannels {
        before: usize,
        after: usize,
    },
    Upsample {
        size: (usize, usize),
        mode: k::Interpolation,
    },
    ConvTranspose {
        weight: Array4<f32>,
        bias: Option<Array1<f32>>,
        params: k::ConvTranspose2dParams,
    },
}

/// A model ready to run: weights folded, buffers planned.
pub struct Interpreter {
    graph: Graph,
    steps: Vec<Step>,
    /// The node each step reads (after fusion, a fused step reads the first
    /// node of its chain's inputs).
    reads: Vec<Vec<NodeId>>,
    /// For each node, the index of the last step that reads it.
    last_use: Vec<usize>,
}

fn tensor1(w: &Weights, name: &str) -> Result<Array1<f32>, RunError> {
    let t = w
        .get(name)
        .ok_or_else(|| RunError::MissingWeight(name.into()))?;
    Ok(Array1::from_vec(t.data.clone()))
}

fn tensor_nd<D: ndarray::Dimension>(
    w: &Weights,
    name: &str,
) -> Result<ndarray::Array<f32, D>, RunError> {
    let t = w
        .get(name)
        .ok_or_else(|| RunError::MissingWeight(name.into()))?;
    ArrayD::from_shape_vec(IxDyn(&t.shape), t.data.clone())
        .ok()
        .and_then(|a| a.into_dimensionality::<D>().ok())
        .ok_or_else(|| RunError::Kernel {
            layer: name.into(),
            message: format!("weight has shape {:?}", t.shape),
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

/// The step of a fused `layer`: returned as is for a layer of one node;
/// otherwise parked at the layer's last node (which then reads the head's
/// inputs) and `Fused` returned for the head.
fn defer(
    step: Step,
    layer: crate::lower::Layer,
    pending: &mut [Option<Step>],
    reads: &mut [Vec<NodeId>],
) -> Step {
    let last = layer.last();
    if last == layer.head {
        return step;
    }
    reads[last.0 as usize] = reads[layer.head.0 as usize].clone();
    pending[last.0 as usize] = Some(step);
    Step::Fused
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
        let g = model.graph().clone();
        let n = g.nodes.len();
        // Which nodes run as one kernel call: decided once, for both back ends.
        let layers = crate::lower::layers(&g);
        let mut steps: Vec<Step> = Vec::with_capacity(n);
        let mut reads: Vec<Vec<NodeId>> = g.nodes.iter().map(|nd| nd.inputs.clone()).collect();
        // A layer's step runs at its last node, reading the head's inputs;
        // the nodes before it are `Fused`.
        let mut pending: Vec<Option<Step>> = (0..n).map(|_| None).collect();
        for (i, node) in g.nodes.iter().enumerate() {
            let Some(layer) = layers[i] else {
                steps.push(pending[i].take().unwrap_or(Step::Fused));
                continue;
            };
            let name = node.name.as_str();
            let step = match &node.op {
                Op::Input => Step::Input(
                    g.inputs
                        .iter()
                        .position(|x| x.node.0 as usize == i)
                        .ok_or_else(|| {
                            RunError::Internal(format!(
                                "input node `{name}` of model `{}` is not among the model's inputs",
                                g.name
                            ))
                        })?,
                ),
                Op::Conv(c) => {
                    let mut weight: Array4<f32> = tensor_nd(weights, &format!("{name}.weight"))?;
                    let mut bias = if c.bias {
                        Some(tensor1(weights, &format!("{name}.bias"))?)
                    } else {
                        None
                    };
                    // Fold the layer's batch norm into the kernel.
                    if let Some(j) = layer.batch_norm {
                        let Op::BatchNorm(b) = &g.node(j).op else {
                            return Err(internal_fusion(&g, j));
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
                        let (w2, b2) = k::fold_batchnorm(
                            weight.view(),
                            bias.as_ref().map(|b| b.view()),
                            &params,
                        )
                        .map_err(kernel_error(name))?;
                        weight = w2;
                        bias = Some(b2);
                    }
                    // The layer's ReLU / ReLU6 runs in the epilogue.
                    let activation = match layer.activation {
                        None => k::Activation::None,
                        Some(j) => epilogue(&g, j)?,
                    };
                    let params = k::Conv2dParams {
                        stride: (c.stride[0], c.stride[1]),
                        padding: pad(c.padding),
                        dilation: (c.dilation[0], c.dilation[1]),
                        groups: c.groups,
                        activation,
                    };
                    // Packed once here; generated code packs the same way
                    // in `from_store`, so both run the same kernel.
                    let (_, _, kh, kw) = weight.dim();
                    let packed = if k::PackedConv2d::preferred((kh, kw), &params) {
                        let b = bias.as_ref().map(|b| b.view());
                        Some(
                            k::PackedConv2d::new(weight.view(), b, &params)
                                .map_err(kernel_error(name))?,
                        )
                    } else {
                        None
                    };
                    let step = Step::Conv {
                        weight,
                        bias,
                        params,
                        packed,
                    };
                    defer(step, layer, &mut pending, &mut reads)
                }
                Op::BatchNorm(b) => Step::BatchNorm {
                    gamma: tensor1(weights, &format!("{name}.weight"))?,
                    beta: tensor1(weights, &format!("{name}.bias"))?,
                    mean: tensor1(weights, &format!("{name}.running_mean"))?,
                    var: tensor1(weights, &format!("{name}.running_var"))?,
                    eps: b.eps as f32,
                },
                Op::Activation(a) => Step::Activation(*a),
                Op::MaxPool(p) => Step::MaxPool(k::MaxPool2dParams {
                    kernel: (p.kernel[0], p.kernel[1]),
                    stride: (p.stride[0], p.stride[1]),
                    padding: pad(p.padding),
                    dilation: (p.dilation[0], p.dilation[1]),
                    ceil_mode: p.ceil_mode,
                }),
                Op::AvgPool(p) => Step::AvgPool(k::AvgPool2dParams {
                    kernel: (p.kernel[0], p.kernel[1]),
                    stride: (p.stride[0], p.stride[1]),
                    padding: pad(p.padding),
                    ceil_mode: p.ceil_mode,
                    count_include_pad: p.count_include_pad,
                    divisor_override: None,
                }),
                Op::GlobalAvgPool => Step::GlobalAvgPool,
                Op::Flatten => Step::Flatten,
                Op::Dense(d) => {
                    let weight: Array2<f32> = tensor_nd(weights, &format!("{name}.weight"))?;
                    let bias = if d.bias {
                        Some(tensor1(weights, &format!("{name}.bias"))?)
                    } else {
                        None
                    };
                    let activation = match layer.activation {
                        None => k::Activation::None,
                        Some(j) => epilogue(&g, j)?,
                    };
                    let step = Step::Dense {
                        weight,
                        bias,
                        activation,
                    };
                    defer(step, layer, &mut pending, &mut reads)
                }
                Op::Softmax => Step::Softmax,
                Op::Dropout { .. } | Op::Identity => Step::Identity,
                Op::Add => Step::Add,
                Op::Concat => Step::Concat,
                Op::Mul => Step::Mul,
                Op::PadChannels { before, after } => Step::PadChannels {
                    before: *before,
                    after: *after,
                },
                Op::Upsample(u) => Step::Upsample {
                    size: (u.size[0], u.size[1]),
                    mode: interpolation(u.mode),
                },
                Op::ConvTranspose(c) => Step::ConvTranspose {
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
            };
            steps.push(step);
        }
        let mut last_use: Vec<usize> = (0..n).collect();
        for (i, r) in reads.iter().enumerate() {
            if matches!(steps[i], Step::Fused) {
                continue;
            }
            for x in r {
                last_use[x.0 as usize] = last_use[x.0 as usize].max(i);
            }
        }
        for o in &g.outputs {
            last_use[o.node.0 as usize] = n;
        }
        Ok(Interpreter {
            graph: g,
            steps,
            reads,
            last_use,
        })
    }

    /// The model's graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Runs a forward pass on inputs of shape N×(the model's input shape).
    pub fn forward(&self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Forward, RunError> {
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
        let n = g.nodes.len();
        let mut values: Vec<Option<ArrayD<f32>>> = (0..n).map(|_| None).collect();
        let mut frees: Vec<Vec<usize>> = vec![Vec::new(); n + 1];
        for (i, &l) in self.last_use.iter().enumerate() {
            frees[l.min(n)].push(i);
        }
        let mut live = 0usize;
        let mut peak = 0usize;
        for (i, step) in self.steps.iter().enumerate() {
            if matches!(step, Step::Fused) {
                continue;
            }
            let name = &g.nodes[i].name;
            let args: Vec<&ArrayD<f32>> = self.reads[i]
                .iter()
                .filter_map(|x| values[x.0 as usize].as_ref())
                .collect();
            if args.len() != self.reads[i].len() {
                return Err(RunError::Kernel {
                    layer: name.clone(),
                    message: "an input was freed too early (a bug in resnetc's planner)".into(),
                });
            }
            let out = self.run_step(step, &args, inputs, name)?;
            live += out.len() * 4;
            peak = peak.max(live);
            values[i] = Some(out);
            for &f in &frees[i] {
                if let Some(v) = values[f].take() {
                    live -= v.len() * 4;
                }
            }
        }
        let mut outputs = Vec::new();
        for o in &g.outputs {
            let v = values[o.node.0 as usize]
                .clone()
                .ok_or_else(|| RunError::Kernel {
                    layer: o.name.clone(),
                    message: "output was not computed (a bug in resnetc's planner)".into(),
                })?;
            outputs.push((o.name.clone(), v));
        }
        Ok(Forward {
            outputs,
            peak_activation_bytes: peak,
        })
    }

    fn run_step(
        &self,
        step: &Step,
        args: &[&ArrayD<f32>],
        inputs: &[ArrayViewD<'_, f32>],
        name: &str,
    ) -> Result<ArrayD<f32>, RunError> {
        let ke = kernel_error(name);
        fn four<'a>(
            a: &'a ArrayD<f32>,
            name: &str,
        ) -> Result<ndarray::ArrayView4<'a, f32>, RunError> {
            a.view()
                .into_dimensionality::<Ix4>()
                .map_err(|e| RunError::Kernel {
                    layer: name.to_string(),
                    message: format!("expected a 4-D tensor: {e}"),
                })
        }
        let x = args.first();
        let first = || {
            x.copied().ok_or_else(|| RunError::Kernel {
                layer: name.to_string(),
                message: "missing input".into(),
            })
        };
        Ok(match step {
            Step::Input(idx) => inputs[*idx].as_standard_layout().into_owned(),
            Step::Fused => unreachable!("fused steps are skipped"),
            Step::Conv {
                packed: Some(packed),
                ..
            } => packed
                .run(four(first()?, name)?, k::Residual::None)
                .map_err(ke)?
                .into_dyn(),
            Step::Conv {
                weight,
                bias,
                params,
                packed: None,
            } => k::conv2d(
                four(first()?, name)?,
                weight.view(),
                bias.as_ref().map(|b| b.view()),
                params,
            )
            .map_err(ke)?
            .into_dyn(),
            Step::Upsample { size, mode } => k::upsample2d(four(first()?, name)?, *size, *mode)
                .map_err(ke)?
                .into_dyn(),
            Step::ConvTranspose {
                weight,
                bias,
                params,
            } => k::conv_transpose2d(
                four(first()?, name)?,
                weight.view(),
                bias.as_ref().map(|b| b.view()),
                params,
            )
            .map_err(ke)?
            .into_dyn(),
            Step::BatchNorm {
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
                k::batchnorm(first()?.view(), &p).map_err(ke)?
            }
            Step::Activation(a) => {
                let x = first()?.view();
                match a {
                    Activation::Relu => k::relu(x),
                    Activation::Relu6 => k::relu6(x),
                    Activation::Sigmoid => k::sigmoid(x),
                    Activation::Tanh => k::tanh(x),
                    Activation::Gelu => k::gelu(x),
                    Activation::LeakyRelu { slope } => k::leaky_relu(x, *slope as f32),
                }
            }
            Step::MaxPool(p) => k::max_pool2d(four(first()?, name)?, p)
                .map_err(ke)?
                .into_dyn(),
            Step::AvgPool(p) => k::avg_pool2d(four(first()?, name)?, p)
                .map_err(ke)?
                .into_dyn(),
            Step::GlobalAvgPool => k::global_avg_pool(four(first()?, name)?)
                .map_err(ke)?
                .into_dyn(),
            Step::Flatten => k::flatten(first()?.view()).map_err(ke)?.into_dyn(),
            Step::Dense {
                weight,
                bias,
                activation,
            } => {
                let x2 =
                    first()?
                        .view()
                        .into_dimensionality::<Ix2>()
                        .map_err(|e| RunError::Kernel {
                            layer: name.to_string(),
                            message: format!("expected a 2-D tensor: {e}"),
                        })?;
                k::dense(
                    x2,
                    weight.view(),
                    bias.as_ref().map(|b| b.view()),
                    *activation,
                )
                .map_err(ke)?
                .into_dyn()
            }
            Step::Softmax => k::softmax_dim1(first()?.view()).map_err(ke)?,
            Step::Identity => first()?.clone(),
            Step::Add => {
                let views: Vec<_> = args.iter().map(|a| a.view()).collect();
                k::add(&views).map_err(ke)?
            }
            Step::Mul => match args {
                [a, b] => k::mul(a.view(), b.view()).map_err(ke)?,
                _ => {
                    return Err(RunError::Kernel {
                        layer: name.to_string(),
                        message: format!(
                            "mul has {} inputs, expected two (a bug in resnetc)",
                            args.len()
                        ),
                    });
                }
            },
            Step::PadChannels { before, after } => {
                k::pad_channels(first()?.view(), *before, *after).map_err(ke)?
            }
            Step::Concat => {
                if args.iter().all(|a| a.ndim() == 4) {
                    let views = args
                        .iter()
                        .map(|a| four(a, name))
                        .collect::<Result<Vec<_>, _>>()?;
                    k::concat_channels(&views).map_err(ke)?.into_dyn()
                } else {
                    let views: Vec<_> = args.iter().map(|a| a.view()).collect();
                    ndarray::concatenate(ndarray::Axis(1), &views).map_err(|e| {
                        RunError::Kernel {
                            layer: name.to_string(),
                            message: e.to_string(),
                        }
                    })?
                }
            }
        })
    }
}
