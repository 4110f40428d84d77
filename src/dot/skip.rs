//! Which edges are skip connections (the definition is on [`skip_edges`]).

use std::collections::BTreeSet;

use crate::ir::{Graph, Node, NodeId, Op};

use super::DotError;

/// One edge of the graph: operand `operand` of node `to` is node `from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    /// The node producing the tensor.
    pub from: NodeId,
    /// The node reading it.
    pub to: NodeId,
    /// Which operand of `to` it is (0-based).
    pub operand: usize,
}

/// Every skip edge of the graph, sorted.
///
/// Two kinds of edges around an `add` or `concat` node `v` are skip edges:
///
/// 1. **Identity skips**: the edge from operand `a` when `a` is also a
///    proper ancestor of another operand `b` of `v`. The tensor `a` reaches
///    `v` directly *and* through the layers that compute `b`, so the direct
///    edge bypasses those layers (`relu(x + F(x))`, DenseNet's
///    `concat(x, new)`).
/// 2. **Projection shortcuts**: the *branch* of an operand is the chain of
///    layers it ends, walking back while a layer has exactly one input and
///    exactly one reader; its *fork* is the tensor the chain starts from.
///    When two operands of `v` have branches from the same fork, the edges
///    of the strictly shorter branch (from the fork, through its layers, into
///    `v`) are skip edges: the `downsample` of `relu(out + downsample(x))`.
///
/// Branches from different tensors joined by a concat (two model inputs)
/// have no skip edge, and neither do two branches of equal length.
pub fn skip_edges(graph: &Graph) -> Result<BTreeSet<Edge>, DotError> {
    let readers = readers(graph)?;
    let mut skips = BTreeSet::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, Op::Add | Op::Concat) {
            continue;
        }
        let to = NodeId(u32::try_from(index).map_err(|_| {
            DotError::Internal(format!("node index {index} does not fit a NodeId"))
        })?);
        for (operand, &a) in node.inputs.iter().enumerate() {
            let mut bypasses = false;
            for &b in &node.inputs {
                if b != a && is_proper_ancestor(graph, a, b)? {
                    bypasses = true;
                    break;
                }
            }
            if bypasses {
                skips.insert(Edge {
                    from: a,
                    to,
                    operand,
                });
            }
        }
        // Projection shortcuts: the shorter of two branches from one fork.
        let branches = node
            .inputs
            .iter()
            .map(|&a| branch(graph, &readers, a))
            .collect::<Result<Vec<_>, _>>()?;
        for (operand, (edges, fork)) in branches.iter().enumerate() {
            let shorter = branches
                .iter()
                .enumerate()
                .any(|(other, (e, f))| other != operand && f == fork && edges.len() < e.len());
            if shorter && !edges.is_empty() {
                skips.extend(edges.iter().copied());
                skips.insert(Edge {
                    from: node.inputs[operand],
                    to,
                    operand,
                });
            }
        }
    }
    Ok(skips)
}

/// How many nodes read each node (a model output counts as a reader).
fn readers(graph: &Graph) -> Result<Vec<usize>, DotError> {
    let mut readers = vec![0usize; graph.nodes.len()];
    let ids = graph
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter())
        .chain(graph.outputs.iter().map(|o| &o.node));
    for &id in ids {
        node(graph, id)?;
        readers[id.0 as usize] += 1;
    }
    Ok(readers)
}

/// The branch ending at operand `a`: the edges of the chain of layers with
/// one input and one reader that leads to it, and the tensor it starts from.
/// An operand read elsewhere too has an empty branch and is its own fork.
fn branch(graph: &Graph, readers: &[usize], a: NodeId) -> Result<(Vec<Edge>, NodeId), DotError> {
    let mut edges = Vec::new();
    let mut c = a;
    loop {
        let n = node(graph, c)?;
        let single = n.inputs.len() == 1 && readers[c.0 as usize] == 1;
        if !single || matches!(n.op, Op::Input) {
            return Ok((edges, c));
        }
        let input = n.inputs[0];
        if input >= c {
            return Err(DotError::Internal(format!(
                "node `{}` reads a later node: the graph is not in topological order",
                n.name
            )));
        }
        edges.push(Edge {
            from: input,
            to: c,
            operand: 0,
        });
        c = input;
    }
}

/// The node with this id, or an internal error.
pub(crate) fn node(graph: &Graph, id: NodeId) -> Result<&Node, DotError> {
    graph.nodes.get(id.0 as usize).ok_or_else(|| {
        DotError::Internal(format!(
            "node %{} is read but the graph has {} nodes",
            id.0,
            graph.nodes.len()
        ))
    })
}

/// Whether a path of one or more edges leads from `a` to `b`.
///
/// Searches backwards from `b`; nodes are in topological order, so a node
/// before `a` cannot lie on a path from `a` and is not explored.
fn is_proper_ancestor(graph: &Graph, a: NodeId, b: NodeId) -> Result<bool, DotError> {
    if b <= a {
        return Ok(false);
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec![b];
    while let Some(id) = stack.pop() {
        for &input in &node(graph, id)?.inputs {
            if input == a {
                return Ok(true);
            }
            if input > a && seen.insert(input) {
                stack.push(input);
            }
        }
    }
    Ok(false)
}
