//! Validity of a size by the size maps alone: the checked graph's window
//! rules and joins evaluated on one varied dimension, without elaborating the
//! program again.
//!
//! This equals the checker's verdict when the graph's structure and padding
//! do not depend on the input size (no `height(x)`, `width(x)` or
//! `pad: same`, see [`super::queries`]): the only checks that depend on a
//! spatial size are then a window fitting (the checker's own `window_out`,
//! through [`Scale::apply`]) and the operands of a join having equal sizes.
//! `tests/suite/sizes.rs` compares it with full compilation on every example.

use super::scale::{Scale, scale};
use crate::ir::{Graph, Op};

/// Whether the graph accepts size `n` in dimension `dim` (0 height, 1 width)
/// of input number `input`, the other sizes as checked.
pub fn valid(graph: &Graph, input: usize, dim: usize, n: usize) -> bool {
    let Some(source) = graph.inputs.get(input).map(|i| i.node.0 as usize) else {
        return false;
    };
    // The varied quantity of each node that depends on `n`: its size along
    // `dim` (C×H×W), or its feature count once flattened.
    let mut size: Vec<Option<usize>> = vec![None; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        if i == source {
            size[i] = Some(n);
            continue;
        }
        // `upsample(size: like(t))` has t's size, whatever its input's
        // (the pooling branch of ASPP: a constant input, a varying size).
        if let Op::Upsample(u) = &node.op
            && u.scale.is_none()
            && let Some(t) = u.like
        {
            size[i] = size[t.0 as usize];
            continue;
        }
        if node.op == Op::Input || node.inputs.iter().all(|j| size[j.0 as usize].is_none()) {
            continue;
        }
        let first = graph.node(node.inputs[0]).shape.0.as_slice();
        let s = scale(&node.op, dim, Some(first));
        if s == Scale::Ends {
            continue;
        }

        // Operands of a join must agree (an operand that does not depend
        // on `n` keeps its checked size).
        let values: Vec<usize> = node
            .inputs
            .iter()
            .map(|j| {
                size[j.0 as usize].unwrap_or_else(|| {
                    let shape = &graph.node(*j).shape.0;
                    match shape.as_slice() {
                        [_, h, w] => [*h, *w][dim],
                        other => other.iter().product(),
                    }
                })
            })
            .collect();
        // A join's operands agree; under broadcasting, each has the
        // largest size or 1.
        let joined = if s == Scale::Broadcast {
            let largest = values.iter().copied().max().unwrap_or(n);
            if values.iter().any(|&v| v != largest && v != 1) {
                return false;
            }
            largest
        } else {
            if values.iter().any(|v| *v != values[0]) {
                return false;
            }
            values[0]
        };
        match s.apply(joined) {
            Some(v) => size[i] = Some(v),
            None => return false,
        }
    }
    true
}
