//! Hints that name the real mistake behind an error: the arithmetic that
//! made a size zero, the layer whose window arithmetic produced an
//! unexpected size, a gate that `*` would broadcast.

use std::collections::HashMap;

use super::error::{CheckError, CheckErrorKind as K};
use crate::ir::{Node, NodeId, Op, Shape};
use crate::span::Span;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};

/// The integer arithmetic evaluated at each place, latest value first:
/// `8 / 16 = 0` for `channels(x) / reduction`.
#[derive(Default)]
pub(crate) struct Arithmetic {
    at: HashMap<Span, (String, String)>,
    /// A parameter's declaration → where its latest value came from (the
    /// argument, or the default).
    origins: HashMap<Span, Span>,
    /// A use of a parameter → its name and declaration.
    uses: HashMap<Span, (String, Span)>,
}

impl Arithmetic {
    /// Records that `lhs op rhs` at `span` evaluated to `a op b = r`.
    pub fn record(
        &mut self,
        span: Span,
        (lhs, op, rhs): (&Expr, BinaryOp, &Expr),
        a: i64,
        b: i64,
        r: i64,
    ) {
        let text = format!(
            "{} {} {}",
            operand_source(lhs),
            op.symbol(),
            operand_source(rhs)
        );
        self.at
            .insert(span, (text, format!("{a} {} {b} = {r}", op.symbol())));
    }

    /// Records that the parameter declared at `decl` got its value from the
    /// expression at `origin`.
    pub fn origin(&mut self, decl: Span, origin: Span) {
        self.origins.insert(decl, origin);
    }

    /// Records that `name` at `at` is the parameter declared at `decl`.
    pub fn param_use(&mut self, at: Span, name: &str, decl: Span) {
        self.uses.insert(at, (name.to_string(), decl));
    }

    /// The outermost recorded arithmetic inside `span`.
    fn inside(&self, span: Span) -> Option<(String, String)> {
        self.at
            .iter()
            .filter(|(s, _)| s.file == span.file && s.start >= span.start && s.end <= span.end)
            .max_by_key(|(s, _)| (s.end - s.start, s.start))
            .map(|(_, v)| v.clone())
    }

    /// The arithmetic that gave the parameter used in `span` its value:
    /// `(name, expression, arithmetic)`.
    fn through_parameter(&self, span: Span) -> Option<(String, String, String)> {
        let (name, decl) = self
            .uses
            .iter()
            .filter(|(s, _)| s.file == span.file && s.start >= span.start && s.end <= span.end)
            .max_by_key(|(s, _)| (s.end - s.start, s.start))
            .map(|(_, v)| v.clone())?;
        let (text, arith) = self.inside(*self.origins.get(&decl)?)?;
        Some((name, text, arith))
    }

    /// Adds the arithmetic behind an invalid op argument to `e`: the
    /// outermost recorded expression inside the argument's span, and for a
    /// size that came out below 1, the `max(1, …)` that keeps it positive.
    pub fn explain(&self, mut e: CheckError) -> CheckError {
        let K::ArgValue { message, .. } = &e.kind else {
            return e;
        };
        let below_one = message.contains("must be positive, got ");
        let rounds = |arith: &str| {
            if arith.contains(" / ") {
                "integer division rounds down: "
            } else {
                ""
            }
        };
        if let Some((text, arith)) = self.inside(e.span) {
            e = e.note(format!("`{text}` is {arith}"));
            if below_one {
                e = e.help(format!(
                    "{}write `max(1, {text})` to keep at least 1",
                    rounds(&arith)
                ));
            }
        } else if let Some((name, text, arith)) = self.through_parameter(e.span) {
            e = e.note(format!("parameter `{name}` is `{text}`, which is {arith}"));
            if below_one {
                e = e.help(format!(
                    "{}write `max(1, {text})` where `{name}` gets its value, to keep at least 1",
                    rounds(&arith)
                ));
            }
        }
        e
    }
}

/// An expression as written, for simple arithmetic (`channels(x) / 16`).
pub(crate) fn source(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => v.to_string(),
        ExprKind::Bool(v) => v.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Call { callee, args } => {
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}: {}", n.name, source(&a.value)),
                    None => source(&a.value),
                })
                .collect();
            format!("{}({})", source(callee), args.join(", "))
        }
        ExprKind::Index { base, index } => format!("{}[{}]", source(base), source(index)),
        ExprKind::Unary { op, operand } => {
            let op = match op {
                UnaryOp::Neg => "-",
                UnaryOp::Not => "not ",
            };
            format!("{op}{}", operand_source(operand))
        }
        ExprKind::Binary { op, lhs, rhs, .. } => format!(
            "{} {} {}",
            operand_source(lhs),
            op.symbol(),
            operand_source(rhs)
        ),
        ExprKind::List(_) | ExprKind::If { .. } | ExprKind::Pipe { .. } => "…".into(),
    }
}

fn operand_source(e: &Expr) -> String {
    match e.kind {
        ExprKind::Binary { .. } => format!("({})", source(e)),
        _ => source(e),
    }
}

/// Whether `a * b` would broadcast the two shapes (size-1 dimensions
/// against any size, same rank), with one of them all but channels 1.
pub(crate) fn gate(a: &Shape, b: &Shape) -> bool {
    a.0.len() == b.0.len()
        && a != b
        && a.0
            .iter()
            .zip(&b.0)
            .all(|(x, y)| x == y || *x == 1 || *y == 1)
}

/// A layer on one operand's path that changed its shape, with its arithmetic.
pub(crate) struct Change {
    /// The layer.
    pub span: Span,
    /// `` `down.conv` (kernel 2, stride 3): (32 − 2) / 3 + 1 = 11 ``.
    pub text: String,
    /// Its stride (1 for layers without a window).
    pub stride: usize,
    /// Whether its window (wider than 1: a 1×1 strided projection
    /// subsamples on purpose) is smaller than its stride, so it skips input
    /// rows: the usual sign of swapped kernel and stride.
    pub skips: bool,
    /// For an uneven conv with kernel < stride: the swapped arguments and
    /// the size they give.
    pub swapped: Option<String>,
}

/// The layers that changed the shape along the first-input path from
/// `from` back to (excluding) the first node of `stop`.
pub(crate) fn path_changes(
    nodes: &[Node],
    from: NodeId,
    stop: &dyn Fn(NodeId) -> bool,
) -> Vec<Change> {
    let mut out = Vec::new();
    let mut cur = from;
    for _ in 0..10_000 {
        if stop(cur) {
            break;
        }
        let n = &nodes[cur.0 as usize];
        let Some(&input) = n.inputs.first() else {
            break;
        };
        let before = &nodes[input.0 as usize].shape;
        if *before != n.shape {
            out.push(change(n, before));
        }
        cur = input;
    }
    out
}

/// The chain of first inputs from `id` back to an input.
pub(crate) fn ancestors(nodes: &[Node], id: NodeId) -> Vec<NodeId> {
    let mut out = vec![id];
    let mut cur = id;
    while let Some(&i) = nodes[cur.0 as usize].inputs.first() {
        if out.len() > 10_000 {
            break;
        }
        out.push(i);
        cur = i;
    }
    out
}

fn change(n: &Node, before: &Shape) -> Change {
    let window = match &n.op {
        Op::Conv(c) => Some((c.kernel, c.stride, c.padding, c.dilation, false)),
        Op::MaxPool(p) | Op::AvgPool(p) => {
            Some((p.kernel, p.stride, p.padding, p.dilation, p.ceil_mode))
        }
        _ => None,
    };
    let widened = before.0.first() != n.shape.0.first();
    let c = n.shape.0.first().copied().unwrap_or(0);
    let channels = format!("{c} output channel{}", if c == 1 { "" } else { "s" });
    let plain = || {
        let what = if widened {
            format!("has {channels}")
        } else {
            "changes the shape".into()
        };
        Change {
            span: n.span,
            text: format!("`{}` {what}: {before} → {}", n.name, n.shape),
            stride: 1,
            skips: false,
            swapped: None,
        }
    };
    let (Some((k, s, p, d, ceil)), [_, h, w], [_, oh, ow]) =
        (window, before.0.as_slice(), n.shape.0.as_slice())
    else {
        return plain();
    };
    if h == oh && w == ow {
        return plain();
    }
    let (h, oh) = (*h, *oh);
    let pads = p[0] + p[2];
    let extent = d[0]
        .saturating_mul(k[0].saturating_sub(1))
        .saturating_add(1);
    let padded = if pads > 0 {
        format!("{h} + {pads}")
    } else {
        h.to_string()
    };
    let div = if ceil { "⌈/⌉" } else { "/" };
    let arithmetic = if s[0] == 1 {
        format!("{padded} − {extent} + 1 = {oh}")
    } else {
        format!("({padded} − {extent}) {div} {} + 1 = {oh}", s[0])
    };
    let dilated = if d[0] > 1 {
        format!(", dilation {}", d[0])
    } else {
        String::new()
    };
    let text = format!(
        "`{}` (kernel {}, stride {}{dilated}): {arithmetic}, {before} → {}",
        n.name, k[0], s[0], n.shape
    );
    let skips = 1 < extent && extent < s[0];
    let swapped = match &n.op {
        Op::Conv(c) if skips && c.kernel[0] < c.stride[0] => {
            let (nk, ns) = (c.stride[0], c.kernel[0]);
            let pad = (nk - 1) / 2;
            super::shapes::window_out(h, pad, pad, nk, ns, 1, false).map(|o| {
                let pad_arg = if pad > 0 {
                    format!(", pad: {pad}")
                } else {
                    String::new()
                };
                format!(
                    "did you swap the kernel and the stride of `{}`? `conv({}, {nk}, stride: {ns}{pad_arg})` gives ({h} + {} − {nk}) / {ns} + 1 = {o}",
                    n.name,
                    c.out_channels,
                    2 * pad
                )
            })
        }
        _ => None,
    };
    Change {
        span: n.span,
        text,
        stride: s[0],
        skips,
        swapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_broadcast() {
        let fm = Shape(vec![16, 32, 32]);
        assert!(gate(&fm, &Shape(vec![16, 1, 1])));
        assert!(gate(&Shape(vec![1, 1, 1]), &fm));
        assert!(!gate(&fm, &Shape(vec![8, 1, 1])));
        assert!(!gate(&fm, &fm));
        assert!(!gate(&fm, &Shape(vec![16])));
    }
}
