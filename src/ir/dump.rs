//! A stable textual dump of a checked graph, one line per node.

use std::fmt::Write;

use super::{Graph, Op};
use crate::span::SourceMap;

fn pair(p: [usize; 2]) -> String {
    if p[0] == p[1] {
        p[0].to_string()
    } else {
        format!("{}x{}", p[0], p[1])
    }
}

fn pad(p: [usize; 4]) -> String {
    if p.iter().all(|&x| x == p[0]) {
        p[0].to_string()
    } else {
        format!("[{},{},{},{}]", p[0], p[1], p[2], p[3])
    }
}

/// Op arguments as `key=value` words, separated by spaces (the IR dump).
pub(crate) fn op_args(op: &Op) -> String {
    op_arg_words(op).join(" ")
}

/// Op arguments as `key=value` words (`out=64`, `kernel=3`, ...): the IR
/// dump joins them with spaces, the graph picture with commas.
pub(crate) fn op_arg_words(op: &Op) -> Vec<String> {
    let mut w = Vec::new();
    match op {
        Op::Conv(c) => {
            w.push(format!("out={}", c.out_channels));
            w.push(format!("kernel={}", pair(c.kernel)));
            w.push(format!("stride={}", pair(c.stride)));
            w.push(format!("pad={}", pad(c.padding)));
            if c.dilation != [1, 1] {
                w.push(format!("dilation={}", pair(c.dilation)));
            }
            if c.groups != 1 {
                w.push(format!("groups={}", c.groups));
            }
            if !c.bias {
                w.push("bias=false".to_string());
            }
        }
        Op::ConvTranspose(c) => {
            w.push(format!("out={}", c.out_channels));
            w.push(format!("kernel={}", pair(c.kernel)));
            w.push(format!("stride={}", pair(c.stride)));
            w.push(format!("pad={}", pair(c.padding)));
            if c.output_padding != [0, 0] {
                w.push(format!("output_pad={}", pair(c.output_padding)));
            }
            if c.dilation != [1, 1] {
                w.push(format!("dilation={}", pair(c.dilation)));
            }
            if c.groups != 1 {
                w.push(format!("groups={}", c.groups));
            }
            if !c.bias {
                w.push("bias=false".to_string());
            }
        }
        Op::Upsample(u) => {
            match u.scale {
                Some(s) => w.push(format!("scale={s}")),
                None => w.push(format!("size={}x{}", u.size[0], u.size[1])),
            }
            w.push(format!("mode={}", u.mode.name()));
        }
        Op::BatchNorm(b) => w.push(format!("eps={}", b.eps)),
        Op::MaxPool(p) | Op::AvgPool(p) => {
            w.push(format!("kernel={}", pair(p.kernel)));
            w.push(format!("stride={}", pair(p.stride)));
            w.push(format!("pad={}", pad(p.padding)));
            if p.dilation != [1, 1] {
                w.push(format!("dilation={}", pair(p.dilation)));
            }
            if p.ceil_mode {
                w.push("ceil=true".to_string());
            }
            if matches!(op, Op::AvgPool(_)) && !p.count_include_pad {
                w.push("count_pad=false".to_string());
            }
        }
        Op::Dense(d) => {
            w.push(format!("out={}", d.out_features));
            if !d.bias {
                w.push("bias=false".to_string());
            }
        }
        Op::Activation(super::Activation::LeakyRelu { slope }) => w.push(format!("slope={slope}")),
        Op::Dropout { p } => w.push(format!("p={p}")),
        Op::PadChannels { before, after } => {
            w.push(format!("before={before}"));
            w.push(format!("after={after}"));
        }
        _ => {}
    }
    w
}

pub(crate) fn dump(g: &Graph, sources: &SourceMap) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "model {}", g.name);
    for (i, n) in g.nodes.iter().enumerate() {
        let inputs: Vec<String> = n.inputs.iter().map(|x| format!("%{}", x.0)).collect();
        let args = op_args(&n.op);
        let line = sources.line(n.span);
        let _ = writeln!(
            out,
            "%{i} {} = {}({}){}{} : {}  # line {line}",
            n.name,
            n.op.name(),
            inputs.join(", "),
            if args.is_empty() { "" } else { " " },
            args,
            n.shape,
        );
    }
    for o in &g.outputs {
        let _ = writeln!(out, "output {} = %{}", o.name, o.node.0);
    }
    out
}
