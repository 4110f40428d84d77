//! The checked graph as an ONNX `GraphProto`: one ONNX node per layer (a
//! few for decomposed ops), values named after layers, initializers after
//! parameters.

use std::collections::HashSet;

use super::proto::{GraphProto, NodeProto, TensorProto, ValueInfoProto};
use super::values::{
    attr_float, attr_int, attr_ints, attr_string, node, tensor, tensor_i64, value_info,
    value_info_i64,
};
use super::{ExportError, ExportOptions, GELU_OPSET};
use crate::interp::{Tensor, Weights};
use crate::ir::ops::BatchNormParams;
use crate::ir::{Activation, CheckedModel, Graph, Node, Op, Param, ParamKind, UpsampleMode};
use crate::runtime::kernels as k;

/// The graph being built, with every value name used so far.
struct Builder<'a> {
    weights: &'a Weights,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    value_info: Vec<ValueInfoProto>,
    names: HashSet<String>,
}

impl<'a> Builder<'a> {
    /// Claims a value name; a second use is an error.
    fn claim(&mut self, name: &str, what: impl FnOnce() -> String) -> Result<(), ExportError> {
        if self.names.insert(name.to_string()) {
            Ok(())
        } else {
            Err(ExportError::NameClash {
                name: name.to_string(),
                what: what(),
            })
        }
    }

    /// The parameter of `nd` of this kind, and its weights.
    fn param<'n>(
        &self,
        nd: &'n Node,
        kind: ParamKind,
    ) -> Result<(&'n Param, &'a Tensor), ExportError> {
        let p = nd
            .params
            .iter()
            .find(|p| p.kind == kind)
            .ok_or_else(|| ExportError::Internal {
                layer: nd.name.clone(),
                reason: format!("the layer has no parameter of kind {kind:?}"),
            })?;
        let t = self
            .weights
            .get(&p.name)
            .ok_or_else(|| ExportError::MissingWeight {
                name: p.name.clone(),
                expected: p.shape.clone(),
                layer: nd.name.clone(),
            })?;
        let len: usize = p.shape.iter().product();
        if t.shape != p.shape || t.data.len() != len {
            return Err(ExportError::WeightShape {
                name: p.name.clone(),
                expected: p.shape.clone(),
                found: t.shape.clone(),
                len: t.data.len(),
                layer: nd.name.clone(),
            });
        }
        Ok((p, t))
    }

    /// Adds an f32 initializer.
    fn initializer(
        &mut self,
        name: &str,
        dims: &[usize],
        data: &[f32],
        layer: &str,
    ) -> Result<(), ExportError> {
        self.claim(name, || format!("an initializer of layer `{layer}`"))?;
        self.initializers.push(tensor(name, dims, data));
        Ok(())
    }

    /// Adds the parameter of `nd` of this kind as an initializer; returns its name.
    fn param_initializer(&mut self, nd: &Node, kind: ParamKind) -> Result<String, ExportError> {
        let (p, t) = self.param(nd, kind)?;
        self.initializer(&p.name, &p.shape, &t.data, &nd.name)?;
        Ok(p.name.clone())
    }

    /// Adds a scalar constant `{layer}/{what}`; returns its name.
    fn scalar(&mut self, layer: &str, what: &str, v: f32) -> Result<String, ExportError> {
        let name = format!("{layer}/{what}");
        self.initializer(&name, &[], &[v], layer)?;
        Ok(name)
    }

    /// Adds an int64 vector constant `{layer}/{what}`; returns its name.
    fn ints(&mut self, layer: &str, what: &str, v: &[i64]) -> Result<String, ExportError> {
        let name = format!("{layer}/{what}");
        self.claim(&name, || format!("an initializer of layer `{layer}`"))?;
        self.initializers.push(tensor_i64(&name, v));
        Ok(name)
    }

    /// Adds the int64 vector `N, C, h, w` of `upsample` layer `nd` applied to
    /// `x` (`Shape` → `Slice` → `Concat` with the constant `[h, w]`): the
    /// `sizes` input of `Resize`, exact whatever the batch.
    fn resize_sizes(&mut self, nd: &Node, x: &str, hw: [usize; 2]) -> Result<String, ExportError> {
        let name = |what: &str| format!("{}/{what}", nd.name);
        let consts = [
            ("starts", vec![0]),
            ("ends", vec![2]),
            ("hw", vec![hw[0] as i64, hw[1] as i64]),
        ];
        for (what, data) in &consts {
            let n = name(what);
            self.claim(&n, || format!("an initializer of layer `{}`", nd.name))?;
            self.initializers.push(tensor_i64(&n, data));
        }
        let steps = [
            ("shape", "Shape", vec![x.to_string()], 4, Vec::new()),
            (
                "batch_channels",
                "Slice",
                vec![name("shape"), name("starts"), name("ends")],
                2,
                Vec::new(),
            ),
            (
                "sizes",
                "Concat",
                vec![name("batch_channels"), name("hw")],
                4,
                vec![attr_int("axis", 0)],
            ),
        ];
        for (what, op_type, inputs, len, attrs) in steps {
            let n = name(what);
            self.claim(&n, || format!("a step of layer `{}`", nd.name))?;
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            self.nodes.push(node(&n, op_type, &refs, &n, attrs));
            self.value_info.push(value_info_i64(&n, len));
        }
        Ok(name("sizes"))
    }

    /// Adds an intermediate value of a decomposition (with its shape) and the node computing it.
    fn helper(
        &mut self,
        nd: &Node,
        step: &str,
        op_type: &str,
        inputs: &[&str],
    ) -> Result<String, ExportError> {
        let name = format!("{}/{step}", nd.name);
        self.claim(&name, || format!("a step of layer `{}`", nd.name))?;
        self.nodes
            .push(node(&name, op_type, inputs, &name, Vec::new()));
        self.value_info.push(value_info(&name, &nd.shape.0));
        Ok(name)
    }
}

/// The readers of each node.
fn consumers(g: &Graph) -> Vec<Vec<usize>> {
    let mut c = vec![Vec::new(); g.nodes.len()];
    for (i, nd) in g.nodes.iter().enumerate() {
        for inp in &nd.inputs {
            c[inp.0 as usize].push(i);
        }
    }
    c
}

/// Lowers the checked graph.
pub(super) fn lower(
    model: &CheckedModel,
    weights: &Weights,
    options: &ExportOptions,
) -> Result<GraphProto, ExportError> {
    let g = model.graph();
    let n = g.nodes.len();
    let readers = consumers(g);
    let is_output: Vec<bool> = (0..n)
        .map(|i| g.outputs.iter().any(|o| o.node.0 as usize == i))
        .collect();

    // Value names: layer names; inputs and outputs by their model names.
    let mut value: Vec<String> = g.nodes.iter().map(|nd| nd.name.clone()).collect();
    for input in &g.inputs {
        value[input.node.0 as usize] = input.name.clone();
    }
    let mut renamed = vec![false; n];
    // Outputs that need an Identity node: (output name, node).
    let mut output_copies: Vec<(String, usize)> = Vec::new();
    for o in &g.outputs {
        let i = o.node.0 as usize;
        let is_input = matches!(g.nodes[i].op, Op::Input);
        if is_input && value[i] == o.name {
            continue; // the graph output is the graph input itself
        }
        let used_elsewhere = value
            .iter()
            .enumerate()
            .any(|(j, v)| j != i && *v == o.name);
        if !renamed[i] && !is_input && !used_elsewhere {
            value[i] = o.name.clone();
            renamed[i] = true;
        } else {
            output_copies.push((o.name.clone(), i));
        }
    }

    let mut b = Builder {
        weights,
        nodes: Vec::with_capacity(n),
        initializers: Vec::new(),
        value_info: Vec::new(),
        names: HashSet::new(),
    };
    let mut inputs = Vec::with_capacity(g.inputs.len());
    for input in &g.inputs {
        b.claim(&input.name, || "a model input".into())?;
        inputs.push(value_info(&input.name, &g.node(input.node).shape.0));
    }

    let mut skip = vec![false; n];
    for (i, nd) in g.nodes.iter().enumerate() {
        if skip[i] || matches!(nd.op, Op::Input) {
            continue;
        }
        let ins: Vec<&str> = nd
            .inputs
            .iter()
            .map(|id| value[id.0 as usize].as_str())
            .collect();
        // A conv may compute a following batch norm's value instead of its own.
        let mut out_node = i;
        let internal = |reason: &str| ExportError::Internal {
            layer: nd.name.clone(),
            reason: reason.to_string(),
        };
        let one = || -> Result<&str, ExportError> {
            match ins.as_slice() {
                [x] => Ok(*x),
                _ => Err(internal(&format!(
                    "the layer has {} inputs, expected one",
                    ins.len()
                ))),
            }
        };
        let onnx = |op_type: &str, inputs: &[&str], attrs| {
            (
                op_type.to_string(),
                inputs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                attrs,
            )
        };
        let (op_type, node_inputs, attrs): (String, Vec<String>, Vec<_>) = match &nd.op {
            Op::Input => continue,
            Op::Conv(c) => {
                let x = one()?;
                let attrs = vec![
                    attr_ints("kernel_shape", &c.kernel),
                    attr_ints("strides", &c.stride),
                    attr_ints("pads", &c.padding),
                    attr_ints("dilations", &c.dilation),
                    attr_int("group", c.groups as i64),
                ];
                let fold = match readers[i].as_slice() {
                    [j] if options.fold_bn && !is_output[i] => match &g.nodes[*j].op {
                        Op::BatchNorm(bn) => Some((*j, bn)),
                        _ => None,
                    },
                    _ => None,
                };
                match fold {
                    Some((j, bn)) => {
                        let (w, bias) = folded(&b, nd, &g.nodes[j], bn, c.bias)?;
                        let (wp, _) = b.param(nd, ParamKind::Weight)?;
                        let w_name = wp.name.clone();
                        let b_name = format!("{}.bias", nd.name);
                        b.initializer(&w_name, &wp.shape, &w, &nd.name)?;
                        b.initializer(&b_name, &[c.out_channels], &bias, &nd.name)?;
                        skip[j] = true;
                        out_node = j;
                        onnx("Conv", &[x, &w_name, &b_name], attrs)
                    }
                    None => {
                        let w_name = b.param_initializer(nd, ParamKind::Weight)?;
                        let mut v = vec![x.to_string(), w_name];
                        if c.bias {
                            v.push(b.param_initializer(nd, ParamKind::Bias)?);
                        }
                        ("Conv".to_string(), v, attrs)
                    }
                }
            }
            Op::BatchNorm(bn) => {
                let x = one()?.to_string();
                let mut v = vec![x];
                for s in [
                    ParamKind::Gamma,
                    ParamKind::Beta,
                    ParamKind::RunningMean,
                    ParamKind::RunningVar,
                ] {
                    v.push(b.param_initializer(nd, s)?);
                }
                (
                    "BatchNormalization".to_string(),
                    v,
                    vec![attr_float("epsilon", bn.eps as f32)],
                )
            }
            Op::Activation(a) => {
                let x = one()?;
                match a {
                    Activation::Relu => onnx("Relu", &[x], Vec::new()),
                    Activation::Relu6 => {
                        let lo = b.scalar(&nd.name, "min", 0.0)?;
                        let hi = b.scalar(&nd.name, "max", 6.0)?;
                        onnx("Clip", &[x, &lo, &hi], Vec::new())
                    }
                    Activation::Sigmoid => onnx("Sigmoid", &[x], Vec::new()),
                    Activation::Tanh => onnx("Tanh", &[x], Vec::new()),
                    Activation::LeakyRelu { slope } => {
                        onnx("LeakyRelu", &[x], vec![attr_float("alpha", *slope as f32)])
                    }
                    Activation::Gelu if options.opset >= GELU_OPSET => {
                        onnx("Gelu", &[x], Vec::new())
                    }
                    Activation::Gelu => {
                        // 0.5·x·(1 + erf(x/√2)), in the interpreter's order.
                        let c = b.scalar(&nd.name, "inv_sqrt2", std::f32::consts::FRAC_1_SQRT_2)?;
                        let one_c = b.scalar(&nd.name, "one", 1.0)?;
                        let half = b.scalar(&nd.name, "half", 0.5)?;
                        let scaled = b.helper(nd, "scaled", "Mul", &[x, &c])?;
                        let erf = b.helper(nd, "erf", "Erf", &[&scaled])?;
                        let cdf = b.helper(nd, "one_plus_erf", "Add", &[&erf, &one_c])?;
                        let hx = b.helper(nd, "half_x", "Mul", &[x, &half])?;
                        onnx("Mul", &[&hx, &cdf], Vec::new())
                    }
                }
            }
            Op::MaxPool(p) => onnx(
                "MaxPool",
                &[one()?],
                vec![
                    attr_ints("kernel_shape", &p.kernel),
                    attr_ints("strides", &p.stride),
                    attr_ints("pads", &p.padding),
                    attr_ints("dilations", &p.dilation),
                    attr_int("ceil_mode", i64::from(p.ceil_mode)),
                ],
            ),
            Op::AvgPool(p) => {
                if p.dilation != [1, 1] {
                    return Err(internal("average pooling with a dilation other than 1"));
                }
                onnx(
                    "AveragePool",
                    &[one()?],
                    vec![
                        attr_ints("kernel_shape", &p.kernel),
                        attr_ints("strides", &p.stride),
                        attr_ints("pads", &p.padding),
                        attr_int("ceil_mode", i64::from(p.ceil_mode)),
                        attr_int("count_include_pad", i64::from(p.count_include_pad)),
                    ],
                )
            }
            Op::ConvTranspose(c) => {
                let x = one()?.to_string();
                let mut v = vec![x, b.param_initializer(nd, ParamKind::Weight)?];
                if c.bias {
                    v.push(b.param_initializer(nd, ParamKind::Bias)?);
                }
                let [ph, pw] = c.padding;
                (
                    "ConvTranspose".to_string(),
                    v,
                    vec![
                        attr_ints("kernel_shape", &c.kernel),
                        attr_ints("strides", &c.stride),
                        attr_ints("pads", &[ph, pw, ph, pw]),
                        attr_ints("output_padding", &c.output_padding),
                        attr_ints("dilations", &c.dilation),
                        attr_int("group", c.groups as i64),
                    ],
                )
            }
            Op::Upsample(u) => {
                let x = one()?.to_string();
                let sizes = b.resize_sizes(nd, &x, u.size)?;
                // PyTorch's legacy nearest is ONNX's asymmetric + floor;
                // bilinear with align_corners=False is half_pixel.
                let attrs = match u.mode {
                    UpsampleMode::Nearest => vec![
                        attr_string("mode", "nearest"),
                        attr_string("coordinate_transformation_mode", "asymmetric"),
                        attr_string("nearest_mode", "floor"),
                    ],
                    UpsampleMode::Bilinear => vec![
                        attr_string("mode", "linear"),
                        attr_string("coordinate_transformation_mode", "half_pixel"),
                    ],
                };
                (
                    "Resize".to_string(),
                    vec![x, String::new(), String::new(), sizes],
                    attrs,
                )
            }
            Op::GlobalAvgPool => onnx("GlobalAveragePool", &[one()?], Vec::new()),
            Op::Flatten => onnx("Flatten", &[one()?], vec![attr_int("axis", 1)]),
            Op::Dense(d) => {
                let x = one()?.to_string();
                let mut v = vec![x, b.param_initializer(nd, ParamKind::Weight)?];
                if d.bias {
                    v.push(b.param_initializer(nd, ParamKind::Bias)?);
                }
                ("Gemm".to_string(), v, vec![attr_int("transB", 1)])
            }
            Op::Softmax => onnx("Softmax", &[one()?], vec![attr_int("axis", 1)]),
            Op::Dropout { .. } | Op::Identity => onnx("Identity", &[one()?], Vec::new()),
            Op::Add => match ins.len() {
                2 => onnx("Add", &ins, Vec::new()),
                3.. => onnx("Sum", &ins, Vec::new()),
                _ => return Err(internal("an add with fewer than two inputs")),
            },
            // Numpy broadcasting, of which resnetc's size-1 rule is a case.
            Op::Mul => match ins.as_slice() {
                [a, c] => onnx("Mul", &[a, c], Vec::new()),
                _ => return Err(internal("a mul without exactly two inputs")),
            },
            Op::PadChannels { before, after } => {
                let x = one()?;
                // `pads`: the begins of every axis (N, C, …), then the ends.
                let rank = nd.shape.0.len() + 1;
                let mut pads = vec![0i64; 2 * rank];
                let as_i64 = |v: usize| {
                    i64::try_from(v).map_err(|_| internal("a channel padding beyond 2^63"))
                };
                pads[1] = as_i64(*before)?;
                pads[rank + 1] = as_i64(*after)?;
                let pads = b.ints(&nd.name, "pads", &pads)?;
                onnx("Pad", &[x, &pads], Vec::new()) // mode "constant", value 0: the defaults
            }
            Op::Concat => {
                if ins.is_empty() {
                    return Err(internal("a concat without inputs"));
                }
                onnx("Concat", &ins, vec![attr_int("axis", 1)])
            }
        };
        let out = value[out_node].clone();
        b.claim(&out, || format!("the output of layer `{}`", nd.name))?;
        let refs: Vec<&str> = node_inputs.iter().map(String::as_str).collect();
        b.nodes.push(node(&nd.name, &op_type, &refs, &out, attrs));
        if !renamed[out_node] {
            b.value_info
                .push(value_info(&out, &g.nodes[out_node].shape.0));
        }
    }

    for (name, i) in &output_copies {
        b.claim(name, || "a model output".into())?;
        b.nodes.push(node(
            name,
            "Identity",
            &[value[*i].as_str()],
            name,
            Vec::new(),
        ));
    }
    let outputs = g
        .outputs
        .iter()
        .map(|o| value_info(&o.name, &g.node(o.node).shape.0))
        .collect();

    Ok(GraphProto {
        name: Some(g.name.clone()),
        node: b.nodes,
        initializer: b.initializers,
        input: inputs,
        output: outputs,
        value_info: b.value_info,
        doc_string: Some(format!("model `{}`, exported by resnetc", g.name)),
        ..Default::default()
    })
}

/// A conv's weight and bias with the following batch norm folded in (the
/// interpreter's folding, in f64).
fn folded(
    b: &Builder<'_>,
    conv: &Node,
    bn_node: &Node,
    bn: &BatchNormParams,
    has_bias: bool,
) -> Result<(Vec<f32>, Vec<f32>), ExportError> {
    let internal = |reason: String| ExportError::Internal {
        layer: conv.name.clone(),
        reason,
    };
    let (_, w) = b.param(conv, ParamKind::Weight)?;
    let bias = if has_bias {
        Some(&b.param(conv, ParamKind::Bias)?.1.data)
    } else {
        None
    };
    let [o, i, kh, kw] = w.shape[..] else {
        return Err(internal(format!("a conv weight of rank {}", w.shape.len())));
    };
    let view = ndarray::ArrayView4::from_shape((o, i, kh, kw), &w.data)
        .map_err(|e| internal(e.to_string()))?;
    let bias_view = bias.map(|d| ndarray::ArrayView1::from(d.as_slice()));
    let gamma = &b.param(bn_node, ParamKind::Gamma)?.1.data;
    let beta = &b.param(bn_node, ParamKind::Beta)?.1.data;
    let mean = &b.param(bn_node, ParamKind::RunningMean)?.1.data;
    let var = &b.param(bn_node, ParamKind::RunningVar)?.1.data;
    let params = k::BatchNormParams {
        gamma: ndarray::ArrayView1::from(gamma.as_slice()),
        beta: ndarray::ArrayView1::from(beta.as_slice()),
        running_mean: ndarray::ArrayView1::from(mean.as_slice()),
        running_var: ndarray::ArrayView1::from(var.as_slice()),
        eps: bn.eps as f32,
    };
    let (w2, b2) =
        k::fold_batchnorm(view, bias_view, &params).map_err(|e| internal(e.to_string()))?;
    Ok((w2.iter().copied().collect(), b2.to_vec()))
}
