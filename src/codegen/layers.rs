//! The code of one body (a block type or the model): its fields, its
//! kernel-parameter consts, its loading code and its `forward` lines.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::names::{Namer, screaming, snake};
use super::prelude::Helper;
use super::text::{call, comment_line, float};
use crate::ir::{Activation, Graph, Op, UpsampleMode};
use crate::lower::Layer;
use crate::lower::blocks::{Body, Structure, relative};
use crate::lower::buffers::{Plan, StepKind, Storage};
use crate::span::{SourceMap, Span};

/// Indentation of statements in an impl's fn body.
const BODY: usize = 8;
/// Indentation of field initialisers in `Self { … }` inside an impl's fn.
const INIT: usize = 12;

/// What the emitter needs to know besides the body.
pub(crate) struct Ctx<'a> {
    pub g: &'a Graph,
    pub st: &'a Structure,
    pub sources: &'a SourceMap,
    /// The Rust type name of each block type.
    pub type_names: &'a [String],
    /// Whether eligible convolutions run Winograd ([`super::EmitOptions::winograd`]).
    pub winograd: bool,
}

/// The generated pieces of one body.
#[derive(Default)]
pub(crate) struct BodyCode {
    /// `(name, type, doc)`.
    pub fields: Vec<(String, String, String)>,
    /// `(name, type, value)`.
    pub consts: Vec<(String, String, String)>,
    /// The lines of `Self { … }` field initialisers (relative indentation).
    pub load: Vec<String>,
    /// The lines of `forward_into` after the argument checks.
    pub forward: Vec<String>,
    /// The workspace's slots: their lengths in `f32` per sample.
    pub slots: Vec<usize>,
    /// The block types it calls (their scratch follows its slots in `ws`).
    pub children: Vec<usize>,
    /// The helpers its code calls.
    pub helpers: BTreeSet<Helper>,
    /// The parameters (inputs, by position) its code reads: an input that
    /// only dead or aliasing layers read is never named.
    pub params_read: BTreeSet<usize>,
}

/// The Rust type of a tensor of `rank` dimensions (batch included).
pub(crate) fn array(rank: usize) -> String {
    match rank {
        1..=6 => format!("Array{rank}<f32>"),
        _ => "ArrayD<f32>".to_string(),
    }
}

/// The Rust view type of a tensor of `rank` dimensions (batch included).
pub(crate) fn view(rank: usize) -> String {
    match rank {
        1..=6 => format!("ArrayView{rank}<'_, f32>"),
        _ => "ArrayViewD<'_, f32>".to_string(),
    }
}

/// The Rust mutable view type of a tensor of `rank` dimensions (batch included).
pub(crate) fn view_mut(rank: usize) -> String {
    match rank {
        1..=6 => format!("ArrayViewMut{rank}<'_, f32>"),
        _ => "ArrayViewMutD<'_, f32>".to_string(),
    }
}

fn dims(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(usize::to_string).collect();
    format!("[{}]", v.join(", "))
}

fn pad(p: [usize; 4]) -> String {
    dims(&p)
}

/// How the body's values are named in generated code.
struct Places<'a> {
    g: &'a Graph,
    plan: &'a Plan,
    params: &'a [String],
    outs: &'a [String],
    out_shapes: Vec<Vec<usize>>,
    /// The helpers the expressions handed out call.
    used: RefCell<BTreeSet<Helper>>,
    /// The parameters the expressions handed out read.
    params_read: RefCell<BTreeSet<usize>>,
}

impl Places<'_> {
    fn uses(&self, h: Helper) {
        self.used.borrow_mut().insert(h);
    }

    /// `[n, 64, 56, 56]`: the shape of value `v`, batch included.
    fn shape(&self, v: usize) -> String {
        let mut d = vec!["n".to_string()];
        d.extend(self.g.nodes[v].shape.0.iter().map(usize::to_string));
        format!("[{}]", d.join(", "))
    }

    /// An expression for a view of value `v`.
    fn read(&self, v: usize) -> Result<String, String> {
        Ok(match self.plan.storage(v)? {
            Storage::Param(k) => {
                self.params_read.borrow_mut().insert(k);
                self.params[k].clone()
            }
            Storage::Out(k) if self.out_shapes[k] == self.g.nodes[v].shape.0 => {
                format!("{}.view()", self.outs[k])
            }
            Storage::Out(k) => {
                self.uses(Helper::Reshaped);
                format!("reshaped({}.view(), {})?", self.outs[k], self.shape(v))
            }
            Storage::Slot(s) => {
                self.uses(Helper::Tensor);
                format!("tensor(s{s}, {})?", self.shape(v))
            }
        })
    }

    /// An expression for a mutable view of value `v`'s buffer.
    fn write(&self, v: usize) -> Result<String, String> {
        Ok(match self.plan.storage(v)? {
            // Never planned: parameters are read-only.
            Storage::Param(k) => self.params[k].clone(),
            Storage::Out(k) if self.out_shapes[k] == self.g.nodes[v].shape.0 => {
                format!("{}.view_mut()", self.outs[k])
            }
            Storage::Out(k) => {
                self.uses(Helper::ReshapedMut);
                format!(
                    "reshaped_mut({}.view_mut(), {})?",
                    self.outs[k],
                    self.shape(v)
                )
            }
            Storage::Slot(s) => {
                self.uses(Helper::TensorMut);
                format!("tensor_mut(s{s}, {})?", self.shape(v))
            }
        })
    }
}

/// Emits `body`, whose external inputs are named `params` (the model's
/// inputs at the top level) and whose outputs are written to the views
/// named `outs`. `scope` is the instance whose code this is.
pub(crate) fn emit_body(
    cx: &Ctx<'_>,
    scope: Option<usize>,
    body: &Body,
    plan: &Plan,
    params: &[String],
    outs: &[String],
) -> Result<BodyCode, String> {
    let g = cx.g;
    let scope_name = scope.map(|s| g.instances[s].name.as_str());
    let rel = |name: &str| relative(name, scope_name).to_string();
    let mut code = BodyCode::default();
    let mut fields = Namer::default();
    // Layer consts share the impl with the shape consts and `WORKSPACE`.
    let mut taken = vec![
        "INPUT".to_string(),
        "OUTPUT".to_string(),
        "WORKSPACE".to_string(),
    ];
    if scope.is_none() {
        let (inputs, outputs) = super::items::port_consts(g);
        taken.extend(inputs.into_iter().chain(outputs));
    }
    let taken: Vec<&str> = taken.iter().map(String::as_str).collect();
    let mut consts = Namer::with_reserved(&taken);
    let places = Places {
        g,
        plan,
        params,
        outs,
        out_shapes: body
            .outputs
            .iter()
            .map(|&o| g.nodes[o].shape.0.clone())
            .collect(),
        used: RefCell::default(),
        params_read: RefCell::default(),
    };
    let mut lines: Vec<String> = Vec::new();
    let mut last_comment = String::new();
    // The block type of a called instance (every instance with a body has one).
    let type_of = |inst: usize| -> Result<usize, String> {
        cx.st.type_of.get(inst).copied().flatten().ok_or_else(|| {
            format!(
                "instance `{}` is called but has no block type",
                g.instances[inst].name
            )
        })
    };
    let called = |code: &mut BodyCode, t: usize| {
        if !code.children.contains(&t) {
            code.children.push(t);
        }
    };
    for step in &plan.steps {
        match &step.kind {
            StepKind::Alias(chain) => {
                // A source line of its own says what became of the layer.
                let what = match g.nodes[chain[0]].op {
                    Op::Flatten => " (a reshape)",
                    Op::Identity | Op::Dropout { .. } => " (identity)",
                    ref other => {
                        return Err(format!(
                            "layer `{}` ({other:?}) is planned as an alias of its input",
                            g.nodes[chain[0]].name
                        ));
                    }
                };
                for c in comments(cx, chain.iter().map(|&i| g.nodes[i].span)) {
                    if c != last_comment {
                        lines.push(format!("{c}{what}"));
                        last_comment = c;
                    }
                }
            }
            StepKind::Layer(chain) => {
                let node = &g.nodes[chain[0]];
                push_comments(
                    &mut lines,
                    &mut last_comment,
                    comments(cx, chain.iter().map(|&i| g.nodes[i].span)),
                );
                let v = chain[chain.len() - 1];
                // A layer in place reaches the value it overwrites through
                // `out`: reading it too would mark helpers (and inputs) used
                // that its code never calls. (Only its first occurrence:
                // `x + x` in place adds `x` once more.)
                let skip = step
                    .in_place
                    .and_then(|acc| step.reads.iter().position(|&u| u == acc));
                let reads: Vec<String> = step
                    .reads
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| Some(k) != skip)
                    .map(|(_, &x)| places.read(x))
                    .collect::<Result<_, _>>()?;
                let x = match reads.first() {
                    Some(x) => x.clone(),
                    None if skip.is_some() => String::new(),
                    None => return Err(format!("layer `{}` reads no value", node.name)),
                };
                let (fused_bn, residual, act) = epilogue(g, chain)?;
                if chain.len() > 1 && !matches!(node.op, Op::Conv(_) | Op::Dense(_))
                    || (fused_bn.is_some() || residual) && !matches!(node.op, Op::Conv(_))
                {
                    return Err(format!(
                        "layer `{}` has nodes fused into it that the generator does not emit",
                        node.name
                    ));
                }
                let out = places.write(v)?;
                let r = rel(&node.name);
                let layer = format!("{r:?}");
                let (callee, args, tail): (String, Vec<String>, String) = match &node.op {
                    Op::Input | Op::Identity | Op::Dropout { .. } => continue,
                    Op::Conv(c) => {
                        let f = fields.fresh(&snake(&r));
                        let k = consts.fresh(&screaming(&r));
                        code.consts.push((
                            k.clone(),
                            "k::Conv2dParams".into(),
                            format!(
                                "conv_params({}, {}, {}, {}, k::Activation::{act})",
                                dims(&c.stride),
                                pad(c.padding),
                                dims(&c.dilation),
                                c.groups
                            ),
                        ));
                        let bn = fused_bn.map(|(j, b)| {
                            (format!("{:?}", rel(&g.nodes[j].name)), float(b.eps as f32))
                        });
                        let shape = [
                            c.out_channels,
                            c.in_channels / c.groups.max(1),
                            c.kernel[0],
                            c.kernel[1],
                        ];
                        code.fields.push((f.clone(), "Conv".into(), r.clone()));
                        let mut args =
                            vec!["l".into(), "at".into(), format!("{r:?}"), dims(&shape)];
                        code.helpers.insert(Helper::Conv);
                        let winograd = cx.winograd
                            && crate::lower::algorithm::winograd_eligible(
                                g,
                                crate::ir::NodeId(chain[0] as u32),
                            )?;
                        let load = match bn {
                            _ if winograd => {
                                let bn = match bn {
                                    Some((bn, eps)) => format!("Some(({bn}, {eps}))"),
                                    None => "None".into(),
                                };
                                args.extend([c.bias.to_string(), bn]);
                                code.helpers.insert(Helper::ConvWinograd);
                                "Conv::winograd"
                            }
                            // The common case (torchvision): no conv bias, a batch norm folded in.
                            Some((bn, eps)) if !c.bias => {
                                args.extend([bn, eps]);
                                code.helpers.insert(Helper::ConvFolded);
                                "Conv::folded"
                            }
                            Some((bn, eps)) => {
                                args.extend(["true".into(), format!("Some(({bn}, {eps}))")]);
                                "Conv::load"
                            }
                            None => {
                                args.extend([c.bias.to_string(), "None".into()]);
                                "Conv::load"
                            }
                        };
                        // The weights are packed for the direct kernels at load.
                        args.push(format!("&Self::{k}"));
                        code.load
                            .extend(call(INIT, &format!("{f}: "), load, &args, ","));
                        let (conv, params) = (format!("&self.{f}"), format!("&Self::{k}"));
                        if !residual {
                            code.helpers.insert(Helper::ConvOp);
                            ("op_conv".into(), vec![conv, x, out, params], "?;".into())
                        } else {
                            // The skip is added in the epilogue: passed, or
                            // already in `out` when the result overwrites it.
                            code.helpers.insert(Helper::ConvResidual);
                            let skip = match (step.in_place, reads.as_slice()) {
                                (Some(_), [_]) => "k::Residual::InPlace".to_string(),
                                (None, [_, skip]) => format!("k::Residual::Add({skip})"),
                                _ => {
                                    return Err(format!(
                                        "convolution `{}` with a residual reads {} values",
                                        node.name,
                                        reads.len()
                                    ));
                                }
                            };
                            (
                                "op_conv_residual".into(),
                                vec![conv, x, skip, out, params],
                                "?;".into(),
                            )
                        }
                    }
                    Op::Dense(d) => {
                        let f = fields.fresh(&snake(&r));
                        code.fields.push((f.clone(), "Dense".into(), r.clone()));
                        code.helpers.insert(Helper::Dense);
                        code.load.extend(call(
                            INIT,
                            &format!("{f}: "),
                            "Dense::load",
                            &[
                                "l".into(),
                                "at".into(),
                                format!("{r:?}"),
                                dims(&[d.out_features, d.in_features]),
                                d.bias.to_string(),
                                format!("k::Activation::{act}"),
                            ],
                            ",",
                        ));
                        (
                            "op_dense".into(),
                            vec![format!("&self.{f}"), x, out],
                            "?;".into(),
                        )
                    }
                    Op::BatchNorm(b) => {
                        let f = fields.fresh(&snake(&r));
                        code.fields.push((f.clone(), "BatchNorm".into(), r.clone()));
                        code.helpers.insert(Helper::BatchNorm);
                        code.load.extend(call(
                            INIT,
                            &format!("{f}: "),
                            "BatchNorm::load",
                            &[
                                "l".into(),
                                "at".into(),
                                format!("{r:?}"),
                                b.channels.to_string(),
                                float(b.eps as f32),
                            ],
                            ",",
                        ));
                        (
                            "op_batchnorm".into(),
                            vec![format!("&self.{f}"), x, out],
                            "?;".into(),
                        )
                    }
                    Op::Activation(a) => {
                        let (name, extra) = match a {
                            Activation::Relu => ("relu", None),
                            Activation::Relu6 => ("relu6", None),
                            Activation::Sigmoid => ("sigmoid", None),
                            Activation::Tanh => ("tanh", None),
                            Activation::Gelu => ("gelu", None),
                            Activation::LeakyRelu { slope } => {
                                ("leaky_relu", Some(float(*slope as f32)))
                            }
                        };
                        if step.in_place.is_some() {
                            let mut args = vec![out];
                            args.extend(extra);
                            (format!("k::{name}_inplace"), args, ";".into())
                        } else {
                            code.helpers.insert(Helper::KernelError);
                            let mut args = vec![x];
                            args.extend(extra);
                            args.push(out);
                            (
                                format!("k::{name}_into"),
                                args,
                                format!(".map_err(kernel_error({layer}))?;"),
                            )
                        }
                    }
                    Op::MaxPool(p) => {
                        code.helpers.insert(Helper::MaxPool);
                        let k = consts.fresh(&screaming(&r));
                        code.consts.push((
                            k.clone(),
                            "k::MaxPool2dParams".into(),
                            format!(
                                "max_pool_params({}, {}, {}, {}, {})",
                                dims(&p.kernel),
                                dims(&p.stride),
                                pad(p.padding),
                                dims(&p.dilation),
                                p.ceil_mode
                            ),
                        ));
                        (
                            "op_max_pool".into(),
                            vec![x, out, format!("&Self::{k}"), layer],
                            "?;".into(),
                        )
                    }
                    Op::AvgPool(p) => {
                        code.helpers.insert(Helper::AvgPool);
                        let k = consts.fresh(&screaming(&r));
                        code.consts.push((
                            k.clone(),
                            "k::AvgPool2dParams".into(),
                            format!(
                                "avg_pool_params({}, {}, {}, {}, {})",
                                dims(&p.kernel),
                                dims(&p.stride),
                                pad(p.padding),
                                p.ceil_mode,
                                p.count_include_pad
                            ),
                        ));
                        (
                            "op_avg_pool".into(),
                            vec![x, out, format!("&Self::{k}"), layer],
                            "?;".into(),
                        )
                    }
                    Op::GlobalAvgPool => {
                        code.helpers.insert(Helper::GlobalAvgPool);
                        (
                            "op_global_avg_pool".into(),
                            vec![x, out, layer],
                            "?;".into(),
                        )
                    }
                    Op::Flatten => {
                        code.helpers.insert(Helper::Flatten);
                        ("op_flatten".into(), vec![x, out, layer], "?;".into())
                    }
                    Op::Softmax => {
                        code.helpers.insert(Helper::Softmax);
                        ("op_softmax".into(), vec![x, out, layer], "?;".into())
                    }
                    Op::Add => match step.in_place {
                        Some(_) => {
                            code.helpers.insert(Helper::AddAssign);
                            (
                                "op_add_assign".into(),
                                vec![out, format!("&[{}]", reads.join(", ")), layer],
                                "?;".into(),
                            )
                        }
                        None => {
                            code.helpers.insert(Helper::Add);
                            (
                                "op_add".into(),
                                vec![format!("&[{}]", reads.join(", ")), out, layer],
                                "?;".into(),
                            )
                        }
                    },
                    Op::Mul => {
                        code.helpers.insert(Helper::Mul);
                        // The checked graph gives a mul exactly two operands.
                        let mut args = reads.clone();
                        args.extend([out, layer]);
                        ("op_mul".into(), args, "?;".into())
                    }
                    Op::PadChannels { before, after } => {
                        code.helpers.insert(Helper::PadChannels);
                        (
                            "op_pad_channels".into(),
                            vec![x, before.to_string(), after.to_string(), out, layer],
                            "?;".into(),
                        )
                    }
                    Op::Upsample(u) => {
                        code.helpers.insert(Helper::Upsample);
                        let mode = match u.mode {
                            UpsampleMode::Nearest => "Nearest",
                            UpsampleMode::Bilinear => "Bilinear",
                        };
                        (
                            "op_upsample".into(),
                            vec![
                                x,
                                out,
                                dims(&u.size),
                                format!("k::Interpolation::{mode}"),
                                layer,
                            ],
                            "?;".into(),
                        )
                    }
                    Op::ConvTranspose(c) => {
                        let f = fields.fresh(&snake(&r));
                        let k = consts.fresh(&screaming(&r));
                        code.consts.push((
                            k.clone(),
                            "k::ConvTranspose2dParams".into(),
                            format!(
                                "conv_transpose_params({}, {}, {}, {}, {})",
                                dims(&c.stride),
                                dims(&c.padding),
                                dims(&c.output_padding),
                                dims(&c.dilation),
                                c.groups
                            ),
                        ));
                        let shape = [
                            c.in_channels,
                            c.out_channels / c.groups.max(1),
                            c.kernel[0],
                            c.kernel[1],
                        ];
                        code.fields
                            .push((f.clone(), "ConvTranspose".into(), r.clone()));
                        code.helpers.insert(Helper::ConvTranspose);
                        code.load.extend(call(
                            INIT,
                            &format!("{f}: "),
                            "ConvTranspose::load",
                            &[
                                "l".into(),
                                "at".into(),
                                format!("{r:?}"),
                                dims(&shape),
                                c.out_channels.to_string(),
                                c.bias.to_string(),
                            ],
                            ",",
                        ));
                        (
                            "op_conv_transpose".into(),
                            vec![format!("&self.{f}"), x, out, format!("&Self::{k}")],
                            "?;".into(),
                        )
                    }
                    Op::Concat => {
                        code.helpers.insert(Helper::Concat);
                        (
                            "op_concat".into(),
                            vec![format!("&[{}]", reads.join(", ")), out, layer],
                            "?;".into(),
                        )
                    }
                };
                lines.extend(call(BODY, "", &callee, &args, &tail));
            }
            StepKind::Child(c) => {
                let c = *c;
                let t = type_of(c)?;
                let ty = &cx.type_names[t];
                let r = rel(&g.instances[c].name);
                let f = fields.fresh(&snake(&r));
                code.fields.push((f.clone(), ty.clone(), r.clone()));
                code.load.extend(call(
                    INIT,
                    &format!("{f}: "),
                    &format!("{ty}::load"),
                    &["l".into(), format!("&scope(at, {r:?})")],
                    ",",
                ));
                code.helpers.insert(Helper::Scope);
                push_comments(
                    &mut lines,
                    &mut last_comment,
                    comments(cx, [g.instances[c].span].into_iter()),
                );
                called(&mut code, t);
                let mut args = vec![format!("&self.{f}")];
                for &x in &step.reads {
                    args.push(places.read(x)?);
                }
                for &v in &step.defs {
                    args.push(places.write(v)?);
                }
                args.push("ws".into());
                lines.extend(call(BODY, "", &format!("{ty}::forward_into"), &args, "?;"));
            }
            StepKind::Loop(cs) => {
                let first = cs[0];
                let lastc = cs[cs.len() - 1];
                let t = type_of(first)?;
                let ty = &cx.type_names[t];
                // Chained instances are consecutive unlabelled items of one
                // sequence: `prefix.a` … `prefix.b` (the checker's record).
                let item = |inst: usize| -> Result<crate::ir::SequenceItem, String> {
                    g.instances[inst].sequence.ok_or_else(|| {
                        format!(
                            "loop instance `{}` is not an item of a sequence",
                            g.instances[inst].name
                        )
                    })
                };
                let (fi, li) = (item(first)?, item(lastc)?);
                if fi.sequence != li.sequence {
                    return Err(format!(
                        "loop instances `{}` and `{}` are items of different sequences",
                        g.instances[first].name, g.instances[lastc].name
                    ));
                }
                let seq = fi.sequence;
                let prefix = g
                    .sequences
                    .get(seq.0 as usize)
                    .map(|s| s.name.as_str())
                    .ok_or_else(|| format!("sequence {} does not exist", seq.0))?;
                let (a, b) = (fi.index, li.index);
                // The items of an unlabeled repeat in a block sit directly in
                // the block's scope (`r.0`, `r.1` in instance `r`): their
                // weights are `{at}0.…`, not `{at}r.0.…`.
                let direct = scope_name == Some(prefix);
                let rp = if direct { String::new() } else { rel(prefix) };
                let siblings = g
                    .instances
                    .iter()
                    .filter(|i| i.sequence.is_some_and(|x| x.sequence == seq))
                    .count();
                let base = if direct {
                    format!("items_{a}_to_{b}")
                } else if siblings == cs.len() {
                    snake(&rp)
                } else {
                    snake(&format!("{rp}_{a}_to_{b}"))
                };
                let f = fields.fresh(&base);
                code.fields
                    .push((f.clone(), format!("Vec<{ty}>"), format!("{rp}.{a}..={b}")));
                let end = b + 1;
                if direct {
                    code.load.push(format!(
                        "{f}: ({a}..{end}).map(|i| {ty}::load(l, &format!(\"{{at}}{{i}}.\"))).collect(),"
                    ));
                } else {
                    code.helpers.insert(Helper::LoadMany);
                    code.load.extend(call(
                        INIT,
                        &format!("{f}: "),
                        "load_many",
                        &[
                            "l".into(),
                            "at".into(),
                            format!("{rp:?}"),
                            format!("{a}..{end}"),
                            format!("{ty}::load"),
                        ],
                        ",",
                    ));
                }
                push_comments(
                    &mut lines,
                    &mut last_comment,
                    comments(cx, [g.instances[first].span].into_iter()),
                );
                called(&mut code, t);
                // One scratch slot for a loop, two from three instances on
                // (the plan's decision; a missing one is a bug).
                let temp = |k: usize| -> Result<String, String> {
                    match step.temps.get(k) {
                        Some(s) => Ok(format!("s{s}")),
                        None if k >= 1 && cs.len() <= 2 => Ok("&mut []".to_string()),
                        None => Err(format!(
                            "the loop of `{}` has no scratch slot {k}",
                            g.instances[first].name
                        )),
                    }
                };
                let mut args = vec![format!("&self.{f}")];
                for &x in &step.reads {
                    args.push(places.read(x)?);
                }
                for &v in &step.defs {
                    args.push(places.write(v)?);
                }
                args.push(temp(0)?);
                args.push(temp(1)?);
                args.push("ws".into());
                args.push(format!("{ty}::forward_into"));
                lines.extend(call(BODY, "", "chain", &args, "?;"));
                code.helpers.insert(Helper::Chain);
            }
        }
    }
    // Outputs computed elsewhere are copied to their views.
    for &(k, v) in &plan.copies {
        let o = &outs[k];
        if places.out_shapes[k] == g.nodes[v].shape.0 {
            lines.push(format!("{o}.assign(&{});", places.read(v)?));
        } else {
            code.helpers.insert(Helper::Flatten);
            lines.extend(call(
                BODY,
                "",
                "op_flatten",
                &[
                    places.read(v)?,
                    format!("{o}.view_mut()"),
                    "\"output\"".into(),
                ],
                "?;",
            ));
        }
    }
    lines.push("Ok(())".into());
    if !plan.slots.is_empty() {
        code.helpers.insert(Helper::Split);
    }
    code.helpers.extend(places.used.take());
    code.params_read = places.params_read.take();
    code.slots = plan.slots.clone();
    code.forward = lines;
    Ok(code)
}

/// Appends comment lines, skipping a repeat of the previous one (consecutive
/// layers of the same source line share one comment).
fn push_comments(lines: &mut Vec<String>, last: &mut String, comments: Vec<String>) {
    for c in comments {
        if c != *last {
            last.clone_from(&c);
            lines.push(c);
        }
    }
}

/// `// file:line: text` for each distinct source line of `spans`.
fn comments(cx: &Ctx<'_>, spans: impl Iterator<Item = Span>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in spans {
        let c = comment_line(cx.sources, s);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// A batch norm fused into a conv: its node and parameters.
type FusedNorm<'g> = Option<(usize, &'g crate::ir::ops::BatchNormParams)>;

/// The batch norm, whether a residual add, and the activation fused after
/// the head of `chain` (`[head, bn?, add?, relu|relu6?]`, as
/// [`crate::lower::layers`] builds it, read by [`Layer::of_chain`]):
/// anything else is an internal error, never an ignored node.
fn epilogue<'g>(
    g: &'g Graph,
    chain: &[usize],
) -> Result<(FusedNorm<'g>, bool, &'static str), String> {
    let layer = Layer::of_chain(g, chain)?;
    let bn = match layer.batch_norm.map(|j| (j, &g.node(j).op)) {
        None => None,
        Some((j, Op::BatchNorm(b))) => Some((j.0 as usize, b)),
        Some((j, _)) => {
            return Err(format!(
                "node `{}` is fused as a batch norm but is none",
                g.node(j).name
            ));
        }
    };
    let act = match layer.activation.map(|j| &g.node(j).op) {
        None => "None",
        Some(Op::Activation(Activation::Relu)) => "Relu",
        Some(Op::Activation(Activation::Relu6)) => "Relu6",
        Some(other) => {
            return Err(format!(
                "layer `{}` has `{other:?}` fused into it, which the generator cannot emit",
                g.node(layer.head).name
            ));
        }
    };
    Ok((bn, layer.residual.is_some(), act))
}

#[cfg(test)]
mod tests {
    use super::epilogue;

    /// A fused chain the generator cannot emit is an error, never a node
    /// silently left out.
    #[test]
    fn epilogues_are_checked() {
        let src = "model m {
  input x: [3, 6, 6]
  x -> conv(4, 3) -> bn -> relu -> sigmoid
}
";
        let c = crate::pipeline::compile_source("m.rn", src, &Default::default())
            .unwrap_or_else(|e| panic!("{}", e.render()));
        let g = c.model.graph();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.name()).collect();
        assert_eq!(ops, ["input", "conv", "bn", "relu", "sigmoid"]);
        let (bn, residual, act) = epilogue(g, &[1, 2, 3]).expect("conv + bn + relu");
        assert_eq!(
            (bn.map(|(j, _)| j), residual, act),
            (Some(2), false, "Relu")
        );
        let (bn, residual, act) = epilogue(g, &[1]).expect("a conv alone");
        assert_eq!((bn.map(|(j, _)| j), residual, act), (None, false, "None"));
        let e = epilogue(g, &[3, 4]).expect_err("sigmoid is never fused");
        assert!(e.contains("cannot join"), "{e}");
        let e = epilogue(g, &[1, 3, 2]).expect_err("bn after the activation");
        assert!(e.contains("cannot join"), "{e}");
    }
}
