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

/// Op arguments as `key=value` words.
pub(crate) fn op_args(op: &Op) -> String {
    match op {
        Op::Conv(c) => {
            let mut s = format!(
                "out={} kernel={} stride={} pad={}",
                c.out_channels,
                pair(c.kernel),
                pair(c.stride),
                pad(c.padding)
            );
            if c.dilation != [1, 1] {
                let _ = write!(s, " dilation={}", pair(c.dilation));
            }
            if c.groups != 1 {
                let _ = write!(s, " groups={}", c.groups);
            }
            if !c.bias {
                s.push_str(" bias=false");
            }
            s
        }
        Op::BatchNorm(b) => format!("eps={}", b.eps),
        Op::MaxPool(p) | Op::AvgPool(p) => {
            let mut s = format!(
                "kernel={} stride={} pad={}",
                pair(p.kernel),
                pair(p.stride),
                pad(p.padding)
            );
            if p.dilation != [1, 1] {
                let _ = write!(s, " dilation={}", pair(p.dilation));
            }
            if p.ceil_mode {
                s.push_str(" ceil=true");
            }
            if matches!(op, Op::AvgPool(_)) && !p.count_include_pad {
                s.push_str(" count_pad=false");
            }
            s
        }
        Op::Dense(d) => {
            if d.bias {
                format!("out={}", d.out_features)
            } else {
                format!("out={} bias=false", d.out_features)
            }
        }
        Op::Activation(super::Activation::LeakyRelu { slope }) => format!("slope={slope}"),
        Op::Dropout { p } => format!("p={p}"),
        _ => String::new(),
    }
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
