//! The code of one body (a block type or the model): its fields, its
//! kernel-parameter consts, its loading code and its `forward` lines.

use std::collections::HashMap;

use super::blocks::{Body, Item, Structure, relative};
use super::names::{Namer, screaming, snake};
use super::text::{call, comment_line, float};
use crate::ir::{Activation, Graph, Op};
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
    /// The lines of `forward` after the input checks.
    pub forward: Vec<String>,
}

#[derive(Clone)]
struct Val {
    name: String,
    param: bool,
}

impl Val {
    fn arg(&self) -> String {
        if self.param {
            self.name.clone()
        } else {
            format!("{}.view()", self.name)
        }
    }
}

/// One statement with the locals it reads.
struct Stmt {
    lines: Vec<String>,
    reads: Vec<String>,
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

fn dims(d: &[usize]) -> String {
    let v: Vec<String> = d.iter().map(usize::to_string).collect();
    format!("[{}]", v.join(", "))
}

fn pad(p: [usize; 4]) -> String {
    dims(&p)
}

/// Emits `body`, whose external inputs are named `params` (the model's
/// inputs at the top level). `scope` is the instance whose code this is.
pub(crate) fn emit_body(
    cx: &Ctx<'_>,
    scope: Option<usize>,
    body: &Body,
    params: &[String],
) -> BodyCode {
    let g = cx.g;
    let scope_name = scope.map(|s| g.instances[s].name.as_str());
    let rel = |name: &str| relative(name, scope_name).to_string();
    let mut code = BodyCode::default();
    let mut fields = Namer::default();
    let mut consts = Namer::with_reserved(&["INPUT", "OUTPUT"]);
    let mut reserved: Vec<&str> = vec!["self", "k", "l", "at", "block"];
    reserved.extend(params.iter().map(String::as_str));
    let mut locals = Namer::with_reserved(&reserved);
    let mut vals: HashMap<usize, Val> = HashMap::new();
    for (k, &x) in body.inputs.iter().enumerate() {
        vals.insert(
            x,
            Val {
                name: params[k].clone(),
                param: true,
            },
        );
    }
    if scope.is_none() {
        for (k, inp) in g.inputs.iter().enumerate() {
            vals.insert(
                inp.node.0 as usize,
                Val {
                    name: params[k].clone(),
                    param: true,
                },
            );
        }
    }
    let mut local_name = |node: usize, base: &str| -> String {
        let base = if base.starts_with("op_") {
            format!("v_{base}")
        } else {
            base.to_string()
        };
        let dead = cx.st.consumers[node].is_empty() && !cx.st.is_output[node];
        if dead {
            locals.fresh(&format!("_{base}"))
        } else {
            locals.fresh(&base)
        }
    };
    let mut stmts: Vec<Stmt> = Vec::new();
    for item in &body.items {
        match item {
            Item::Layer(chain) => {
                let head = chain[0];
                let last = chain[chain.len() - 1];
                let node = &g.nodes[head];
                let mut lines = comments(cx, chain.iter().map(|&i| g.nodes[i].span));
                let ins: Vec<Val> = node
                    .inputs
                    .iter()
                    .filter_map(|x| vals.get(&(x.0 as usize)).cloned())
                    .collect();
                let reads: Vec<String> = ins
                    .iter()
                    .filter(|v| !v.param)
                    .map(|v| v.name.clone())
                    .collect();
                let x = ins.first().map(Val::arg).unwrap_or_default();
                let r = rel(&node.name);
                let layer = format!("{r:?}");
                let op_call: Option<(&str, Vec<String>, &str)> = match &node.op {
                    Op::Input => None,
                    Op::Dropout { .. } | Op::Identity => {
                        if let Some(v) = ins.first() {
                            vals.insert(last, v.clone());
                        }
                        if !lines.is_empty() {
                            if let Some(l) = lines.last_mut() {
                                l.push_str(" (identity)");
                            }
                            stmts.push(Stmt {
                                lines,
                                reads: Vec::new(),
                            });
                        }
                        continue;
                    }
                    Op::Conv(c) => {
                        let f = fields.fresh(&snake(&r));
                        let k = consts.fresh(&screaming(&r));
                        let act = match chain.last().map(|&j| &g.nodes[j].op) {
                            Some(Op::Activation(Activation::Relu)) => "Relu",
                            Some(Op::Activation(Activation::Relu6)) => "Relu6",
                            _ => "None",
                        };
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
                        let bn = chain.get(1).and_then(|&j| match &g.nodes[j].op {
                            Op::BatchNorm(b) => {
                                Some((format!("{:?}", rel(&g.nodes[j].name)), float(b.eps as f32)))
                            }
                            _ => None,
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
                        let load = match bn {
                            // The common case (torchvision): no conv bias, a batch norm folded in.
                            Some((bn, eps)) if !c.bias => {
                                args.extend([bn, eps]);
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
                        code.load
                            .extend(call(INIT, &format!("{f}: "), load, &args, ","));
                        Some((
                            "op_conv",
                            vec![format!("&self.{f}"), x, format!("&Self::{k}")],
                            "?;",
                        ))
                    }
                    Op::Dense(d) => {
                        let f = fields.fresh(&snake(&r));
                        code.fields.push((f.clone(), "Dense".into(), r.clone()));
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
                            ],
                            ",",
                        ));
                        let act = if chain.len() > 1 { "Relu" } else { "None" };
                        Some((
                            "op_dense",
                            vec![format!("&self.{f}"), x, format!("k::Activation::{act}")],
                            "?;",
                        ))
                    }
                    Op::BatchNorm(b) => {
                        let f = fields.fresh(&snake(&r));
                        code.fields.push((f.clone(), "BatchNorm".into(), r.clone()));
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
                        Some(("op_batchnorm", vec![format!("&self.{f}"), x], "?;"))
                    }
                    Op::Activation(a) => Some(match a {
                        Activation::Relu => ("k::relu", vec![x], ";"),
                        Activation::Relu6 => ("k::relu6", vec![x], ";"),
                        Activation::Sigmoid => ("k::sigmoid", vec![x], ";"),
                        Activation::Tanh => ("k::tanh", vec![x], ";"),
                        Activation::Gelu => ("k::gelu", vec![x], ";"),
                        Activation::LeakyRelu { slope } => {
                            ("k::leaky_relu", vec![x, float(*slope as f32)], ";")
                        }
                    }),
                    Op::MaxPool(p) => {
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
                        Some(("op_max_pool", vec![x, format!("&Self::{k}"), layer], "?;"))
                    }
                    Op::AvgPool(p) => {
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
                        Some(("op_avg_pool", vec![x, format!("&Self::{k}"), layer], "?;"))
                    }
                    Op::GlobalAvgPool => Some(("op_global_avg_pool", vec![x, layer], "?;")),
                    Op::Flatten => Some(("op_flatten", vec![x, layer], "?;")),
                    Op::Softmax => Some(("op_softmax", vec![x, layer], "?;")),
                    Op::Add | Op::Concat => {
                        let list: Vec<String> = ins.iter().map(Val::arg).collect();
                        let f = match (&node.op, node.shape.0.len()) {
                            (Op::Add, _) => "op_add",
                            (_, 3) => "op_concat_channels",
                            _ => "op_concat_features",
                        };
                        Some((f, vec![format!("&[{}]", list.join(", ")), layer], "?;"))
                    }
                };
                let Some((callee, args, tail)) = op_call else {
                    continue;
                };
                let v = local_name(last, &snake(&rel(&g.nodes[last].name)));
                lines.extend(call(BODY, &format!("let {v} = "), callee, &args, tail));
                vals.insert(
                    last,
                    Val {
                        name: v,
                        param: false,
                    },
                );
                stmts.push(Stmt { lines, reads });
            }
            Item::Child(c) => {
                let c = *c;
                let cb = &cx.st.bodies[c];
                let ty = &cx.type_names[cx.st.type_of[c].unwrap_or(0)];
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
                let mut lines = comments(cx, [g.instances[c].span].into_iter());
                let ins: Vec<Val> = cb
                    .inputs
                    .iter()
                    .filter_map(|x| vals.get(x).cloned())
                    .collect();
                let reads = ins
                    .iter()
                    .filter(|v| !v.param)
                    .map(|v| v.name.clone())
                    .collect();
                let mut args = vec![format!("&self.{f}")];
                args.extend(ins.iter().map(Val::arg));
                let outs: Vec<String> = if cb.outputs.len() == 1 {
                    vec![local_name(cb.outputs[0], &snake(&r))]
                } else {
                    cb.outputs
                        .iter()
                        .enumerate()
                        .map(|(k, &o)| local_name(o, &format!("{}_{k}", snake(&r))))
                        .collect()
                };
                let lhs = if outs.len() == 1 {
                    format!("let {} = ", outs[0])
                } else {
                    format!("let ({}) = ", outs.join(", "))
                };
                lines.extend(call(BODY, &lhs, &format!("{ty}::forward"), &args, "?;"));
                for (&o, name) in cb.outputs.iter().zip(outs) {
                    vals.insert(o, Val { name, param: false });
                }
                stmts.push(Stmt { lines, reads });
            }
            Item::Loop(cs) => {
                let first = cs[0];
                let lastc = cs[cs.len() - 1];
                let ty = &cx.type_names[cx.st.type_of[first].unwrap_or(0)];
                let full = &g.instances[first].name;
                let (prefix, a) = full.rsplit_once('.').unwrap_or((full, "0"));
                let b = g.instances[lastc]
                    .name
                    .rsplit_once('.')
                    .map_or("0", |x| x.1);
                let rp = rel(prefix);
                let siblings = g
                    .instances
                    .iter()
                    .filter(|i| {
                        i.parent.map(|p| p.0 as usize) == scope
                            && i.name.rsplit_once('.').map(|x| x.0) == Some(prefix)
                    })
                    .count();
                let base = if siblings == cs.len() {
                    snake(&rp)
                } else {
                    snake(&format!("{rp}_{a}_to_{b}"))
                };
                let f = fields.fresh(&base);
                code.fields
                    .push((f.clone(), format!("Vec<{ty}>"), format!("{rp}.{a}..={b}")));
                let end: usize = b.parse::<usize>().unwrap_or(0) + 1;
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
                let mut lines = comments(cx, [g.instances[first].span].into_iter());
                let cb = &cx.st.bodies[first];
                let ins: Vec<Val> = cb
                    .inputs
                    .iter()
                    .filter_map(|x| vals.get(x).cloned())
                    .collect();
                let reads = ins
                    .iter()
                    .filter(|v| !v.param)
                    .map(|v| v.name.clone())
                    .collect();
                let out = cx.st.bodies[lastc].outputs[0];
                let v = local_name(out, &f);
                let mut args = vec![format!("&self.{f}[0]")];
                args.extend(ins.iter().map(Val::arg));
                lines.extend(call(
                    BODY,
                    &format!("let mut {v} = "),
                    &format!("{ty}::forward"),
                    &args,
                    "?;",
                ));
                lines.push(format!("for block in &self.{f}[1..] {{"));
                lines.extend(
                    call(
                        BODY + 4,
                        &format!("{v} = "),
                        &format!("{ty}::forward"),
                        &["block".into(), format!("{v}.view()")],
                        "?;",
                    )
                    .into_iter()
                    .map(|l| format!("    {l}")),
                );
                lines.push("}".into());
                vals.insert(
                    out,
                    Val {
                        name: v,
                        param: false,
                    },
                );
                stmts.push(Stmt { lines, reads });
            }
        }
    }
    // Free each intermediate tensor right after its last reader.
    let outputs: Vec<Val> = body
        .outputs
        .iter()
        .filter_map(|o| vals.get(o).cloned())
        .collect();
    let mut last_read: HashMap<&str, usize> = HashMap::new();
    for (i, s) in stmts.iter().enumerate() {
        for r in &s.reads {
            last_read.insert(r.as_str(), i);
        }
    }
    let mut frees: Vec<Vec<&str>> = vec![Vec::new(); stmts.len()];
    for (name, &i) in &last_read {
        if !outputs.iter().any(|o| o.name == *name) && i + 1 < stmts.len() {
            frees[i].push(name);
        }
    }
    let mut last_comment = String::new();
    for (s, mut f) in stmts.iter().zip(frees) {
        for l in &s.lines {
            // One comment for consecutive layers of the same source line.
            if l.starts_with("// ") {
                if *l == last_comment {
                    continue;
                }
                last_comment = l.clone();
            }
            code.forward.push(l.clone());
        }
        f.sort_unstable();
        for name in f {
            code.forward.push(format!("drop({name});"));
        }
    }
    let mut ret: Vec<String> = Vec::new();
    for (k, o) in outputs.iter().enumerate() {
        ret.push(if o.param {
            format!("{}.to_owned()", o.name)
        } else if outputs[k + 1..].iter().any(|p| p.name == o.name) {
            format!("{}.clone()", o.name)
        } else {
            o.name.clone()
        });
    }
    if ret.len() == 1 {
        code.forward.push(format!("Ok({})", ret[0]));
    } else {
        code.forward
            .extend(call(BODY, "", "Ok", &[format!("({})", ret.join(", "))], ""));
    }
    code
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
