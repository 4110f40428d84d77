//! Which nodes run as one kernel call: the fusion rule, in one place.
//!
//! A convolution absorbs a batch norm that is its only reader (the norm is
//! folded into the weights and bias) and then a ReLU / ReLU6 that is the only
//! reader of the result (applied in the kernel's epilogue); a dense layer
//! absorbs a ReLU that is its only reader. A node is only absorbed when the
//! value it reads is not a model output (that value must stay visible) and
//! when it belongs to the same block instance as the node it joins: the code
//! generator emits one function per block, so a chain never crosses a block
//! boundary, and the interpreter follows the same rule to compute exactly the
//! same operations.

use crate::ir::{Activation, Graph, NodeId, Op};

/// One kernel call: a node and the nodes fused into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The node that starts the chain (the one whose inputs the call reads).
    pub head: NodeId,
    /// A batch norm folded into a convolution's weights.
    pub batch_norm: Option<NodeId>,
    /// A ReLU / ReLU6 applied in the epilogue.
    pub activation: Option<NodeId>,
}

impl Layer {
    /// The chain's nodes, in order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> {
        std::iter::once(self.head)
            .chain(self.batch_norm)
            .chain(self.activation)
    }

    /// The node whose value the call produces.
    pub fn last(&self) -> NodeId {
        self.activation.or(self.batch_norm).unwrap_or(self.head)
    }
}

/// For each node of `g`: `Some(layer)` if it starts a kernel call (a node
/// that is not fused into anything is a layer of its own), `None` if it is
/// fused into an earlier node's layer.
pub fn layers(g: &Graph) -> Vec<Option<Layer>> {
    let n = g.nodes.len();
    let mut readers = vec![0usize; n];
    let mut only_reader = vec![None; n];
    for (i, node) in g.nodes.iter().enumerate() {
        for inp in &node.inputs {
            readers[inp.0 as usize] += 1;
            only_reader[inp.0 as usize] = Some(i);
        }
    }
    let mut is_output = vec![false; n];
    for o in &g.outputs {
        is_output[o.node.0 as usize] = true;
    }
    // The only reader of node i, if it may absorb i's value.
    let absorber = |i: usize| -> Option<usize> {
        let j = only_reader[i]?;
        (readers[i] == 1 && !is_output[i] && g.nodes[j].instance == g.nodes[i].instance)
            .then_some(j)
    };
    let is_relu = |j: usize, relu6: bool| match g.nodes[j].op {
        Op::Activation(Activation::Relu) => true,
        Op::Activation(Activation::Relu6) => relu6,
        _ => false,
    };
    let mut out: Vec<Option<Layer>> = Vec::with_capacity(n);
    let mut fused = vec![false; n];
    for (i, node) in g.nodes.iter().enumerate() {
        if fused[i] {
            out.push(None);
            continue;
        }
        let mut layer = Layer {
            head: NodeId(i as u32),
            batch_norm: None,
            activation: None,
        };
        match node.op {
            Op::Conv(_) => {
                if let Some(j) = absorber(i)
                    && matches!(g.nodes[j].op, Op::BatchNorm(_))
                {
                    layer.batch_norm = Some(NodeId(j as u32));
                }
                let last = layer.last().0 as usize;
                if let Some(j) = absorber(last)
                    && is_relu(j, true)
                {
                    layer.activation = Some(NodeId(j as u32));
                }
            }
            Op::Dense(_) => {
                if let Some(j) = absorber(i)
                    && is_relu(j, false)
                {
                    layer.activation = Some(NodeId(j as u32));
                }
            }
            _ => {}
        }
        for f in layer.nodes().skip(1) {
            fused[f.0 as usize] = true;
        }
        out.push(Some(layer));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers of `src` as node names: `head+bn+act`, one per layer.
    fn layer_names(src: &str) -> Vec<String> {
        let c = crate::compile_source("m.rn", src, &Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let g = c.model.graph();
        layers(g)
            .into_iter()
            .flatten()
            .filter(|l| !matches!(g.node(l.head).op, Op::Input))
            .map(|l| {
                l.nodes()
                    .map(|n| g.node(n).name.clone())
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect()
    }

    #[test]
    fn conv_bn_relu_and_dense_relu_fuse() {
        let src = "model m {\n  input x: [3, 8, 8]\n  x -> c: conv(4, 3) -> b: bn -> r: relu6 -> flatten -> d: dense(2) -> s: relu\n}\n";
        assert_eq!(layer_names(src), ["c+b+r", "flatten", "d+s"]);
    }

    #[test]
    fn a_chain_never_crosses_a_block_boundary() {
        let src = "block proj(c) {\n  input x\n  x -> conv(c, 3, pad: 1)\n}\nmodel m {\n  input x: [3, 8, 8]\n  x -> p: proj(8) -> b: bn -> r: relu\n}\n";
        // The bn stays a layer of its own (only a conv absorbs a bn).
        assert_eq!(layer_names(src), ["p.conv", "b", "r"]);
    }

    #[test]
    fn a_value_read_twice_or_output_is_not_absorbed() {
        let twice = "model m {\n  input x: [3, 8, 8]\n  y = x -> c: conv(3, 1)\n  y + y\n}\n";
        assert_eq!(layer_names(twice)[0], "c");
        let out = "model m {\n  input x: [3, 8, 8]\n  y = x -> c: conv(3, 1)\n  z = y -> relu\n  output y, z\n}\n";
        assert_eq!(layer_names(out)[0], "c");
        // dense absorbs relu only, not relu6.
        let d6 = "model m {\n  input x: [4]\n  x -> d: dense(2) -> r: relu6\n}\n";
        assert_eq!(layer_names(d6), ["d", "r"]);
    }
}
