//! Hover: a tensor name's shape, a parameter's values, a layer's op, arguments, output shape and
//! parameter count, a block call's instances, an op's or built-in's summary.
//!
//! Shapes come from the checked graph, so they are shown when the document
//! compiles. A layer or tensor inside a block that is instantiated several
//! times has one value per instance: the hover says how many and lists the
//! distinct ones.

use std::fmt::Write;

use super::analysis::Analysis;
use super::resolve::{self, LocalKind, Target};
use crate::ir::{ArgValue, Graph, Node, op_args};
use crate::span::{FileId, Span};
use crate::syntax::ast::Item;

/// At most this many distinct variants or instance names are listed.
const MAX_LISTED: usize = 8;

/// The hover at byte `offset` of `file` of the analysis (its document, or a
/// file it imports): the span it applies to and Markdown.
pub(crate) fn hover(a: &Analysis, file: FileId, offset: usize) -> Option<(Span, String)> {
    let graph = a.model.as_ref().map(|m| m.graph());
    let hit = resolve::at(&a.program, file, offset);
    if let (Some(hit), Some(g)) = (&hit, graph)
        && let Target::Local {
            decl,
            kind: LocalKind::Input | LocalKind::Assign,
        } = hit.target
        && let Some(text) = tensor(g, &hit.name, decl)
    {
        return Some((hit.span, text));
    }
    if let Some(hit) = &hit
        && let Target::Local {
            decl,
            kind: LocalKind::Param,
        } = hit.target
    {
        return Some((hit.span, parameter(a, graph, &hit.name, decl)?));
    }
    if let Some(g) = graph {
        if let Some(found) = layers(g, file, offset) {
            return Some(found);
        }
        if let Some(found) = instances(g, file, offset) {
            return Some(found);
        }
    }
    let hit = hit?;
    let text = match hit.target {
        Target::Op(spec) => format!(
            "**{}** (op): {}\n\n{}",
            spec.name, spec.summary, spec.shape_rule
        ),
        Target::Builtin(b) => format!("`{}` (built-in): {}", b.signature, b.doc),
        Target::Block(_) => format!("block `{}`", hit.name),
        Target::Model(_) => format!("model `{}`", hit.name),
        Target::Local { .. } => return None,
    };
    Some((hit.span, text))
}

/// A parameter: of which block or model, and its value in each instance of
/// that block.
fn parameter(a: &Analysis, graph: Option<&Graph>, name: &str, decl: Span) -> Option<String> {
    let items = a.program.modules.iter().flat_map(|(_, m)| &m.items);
    for item in items {
        match item {
            Item::Block(b) if b.params.iter().any(|p| p.name.span == decl) => {
                let block = &b.name.name;
                let values: Vec<String> = graph
                    .map(|g| g.instances.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .filter(|i| i.block == *block)
                    // An instance binds every parameter of its block.
                    .filter_map(|i| i.arg(name).map(ArgValue::render))
                    .collect();
                return Some(match values.len() {
                    0 => format!("`{name}`: parameter of block `{block}`"),
                    1 => format!("`{name}` = {} (parameter of block `{block}`)", values[0]),
                    n => {
                        let mut out =
                            format!("`{name}`: parameter of block `{block}`, in {n} instances\n\n");
                        list(&mut out, &distinct(values.into_iter()));
                        out
                    }
                });
            }
            Item::Model(m) if m.name.span.file == decl.file => {
                if let crate::syntax::ast::ModelKind::Body { params, .. } = &m.kind
                    && params.iter().any(|p| p.name.span == decl)
                {
                    return Some(format!("`{name}`: parameter of model `{}`", m.name.name));
                }
            }
            _ => {}
        }
    }
    None
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Distinct values in first-seen order, each with how often it occurs.
fn distinct(values: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for v in values {
        match out.iter_mut().find(|(x, _)| *x == v) {
            Some((_, n)) => *n += 1,
            None => out.push((v, 1)),
        }
    }
    out
}

/// `- a (×2)` lines, at most [`MAX_LISTED`] of them.
fn list(out: &mut String, variants: &[(String, usize)]) {
    for (v, n) in variants.iter().take(MAX_LISTED) {
        if *n > 1 {
            let _ = writeln!(out, "- {v} (×{n})");
        } else {
            let _ = writeln!(out, "- {v}");
        }
    }
    if variants.len() > MAX_LISTED {
        let _ = writeln!(out, "- … and {} more", variants.len() - MAX_LISTED);
    }
}

/// A tensor name: its shape in every instantiation that bound it.
fn tensor(g: &Graph, name: &str, decl: Span) -> Option<String> {
    let shapes: Vec<String> = g
        .bindings
        .iter()
        .filter(|b| b.span == decl)
        .map(|b| g.node(b.node).shape.to_string())
        .collect();
    match shapes.len() {
        0 => None,
        1 => Some(format!("`{name}`: {}", shapes[0])),
        n => {
            let variants = distinct(shapes.into_iter());
            let mut out = format!("`{name}`: a tensor in {n} instances\n\n");
            list(&mut out, &variants);
            Some(out)
        }
    }
}

fn param_count(n: &Node) -> u64 {
    n.params
        .iter()
        .map(|p| p.shape.iter().product::<usize>() as u64)
        .sum()
}

/// One line for a layer: `conv(out=64 kernel=3 …) → N×64×56×56, 36,864 parameters`.
fn layer_line(n: &Node) -> String {
    let args = op_args(&n.op);
    let mut s = if args.is_empty() {
        format!("`{}`", n.op.name())
    } else {
        format!("`{}({args})`", n.op.name())
    };
    let _ = write!(s, " → {}", n.shape);
    let params = param_count(n);
    if params > 0 {
        let trainable: u64 = n
            .params
            .iter()
            .filter(|p| p.trainable)
            .map(|p| p.shape.iter().product::<usize>() as u64)
            .sum();
        let _ = write!(s, ", {} parameters", thousands(params));
        if trainable != params {
            let _ = write!(s, " ({} trainable)", thousands(trainable));
        }
    }
    s
}

/// The layers created by the innermost source text covering `offset`.
fn layers(g: &Graph, file: FileId, offset: usize) -> Option<(Span, String)> {
    let covering =
        |s: Span| s.file == file && (s.start as usize) <= offset && offset <= s.end as usize;
    let span = g
        .nodes
        .iter()
        .map(|n| n.span)
        .filter(|s| covering(*s))
        .min_by_key(|s| s.end - s.start)?;
    let nodes: Vec<&Node> = g.nodes.iter().filter(|n| n.span == span).collect();
    let mut out = String::new();
    if let [n] = nodes.as_slice() {
        let _ = writeln!(out, "layer `{}`: {}", n.name, layer_line(n));
    } else {
        let names: Vec<String> = nodes.iter().map(|n| format!("`{}`", n.name)).collect();
        let shown = names.len().min(MAX_LISTED);
        let _ = write!(out, "{} layers: {}", names.len(), names[..shown].join(", "));
        if names.len() > shown {
            out.push_str(", …");
        }
        out.push_str("\n\n");
        list(&mut out, &distinct(nodes.iter().map(|n| layer_line(n))));
    }
    Some((span, out))
}

/// The block instances whose call site is the innermost covering `offset`.
fn instances(g: &Graph, file: FileId, offset: usize) -> Option<(Span, String)> {
    let covering =
        |s: Span| s.file == file && (s.start as usize) <= offset && offset <= s.end as usize;
    let span = g
        .instances
        .iter()
        .map(|i| i.span)
        .filter(|s| covering(*s))
        .min_by_key(|s| s.end - s.start)?;
    let found: Vec<_> = g.instances.iter().filter(|i| i.span == span).collect();
    let mut out = String::new();
    let block = &found[0].block;
    if found.len() == 1 {
        let _ = writeln!(out, "block `{block}` instance `{}`", found[0].name);
    } else {
        let _ = writeln!(out, "block `{block}`: {} instances", found.len());
    }
    out.push('\n');
    let lines: Vec<String> = found
        .iter()
        .map(|i| format!("`{}` ({}) on {}", i.name, i.args_text(), i.input_shape))
        .collect();
    list(&mut out, &distinct(lines.into_iter()));
    Some((span, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(36_864), "36,864");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
