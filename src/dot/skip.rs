//! Which edges are skip connections.
//!
//! A **skip edge** is an edge from operand `a` into an `add` or `concat` node
//! `v` such that `a` is also a proper ancestor of another operand `b` of `v`:
//! the tensor `a` reaches `v` directly *and* through the layers that compute
//! `b`, so the direct edge bypasses those layers (`relu(x + F(x))`,
//! DenseNet's `concat(x, new)`). Two independent branches joined by a concat
//! (two model inputs) have no skip edge, and neither does a projection
//! shortcut whose branch has layers of its own (`out + downsample(x)`): there
//! both operands are computed, and each is drawn as an ordinary branch.

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

/// Every skip edge of the graph (see the module documentation), sorted.
pub fn skip_edges(graph: &Graph) -> Result<BTreeSet<Edge>, DotError> {
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
    }
    Ok(skips)
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
