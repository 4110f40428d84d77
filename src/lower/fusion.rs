//! Which nodes run as one kernel call: the fusion rule, in one place.
//!
//! A convolution absorbs a batch norm that is its only reader (the norm is
//! folded into the weights and bias), then either a ReLU / ReLU6 or a
//! two-operand residual `add` that is the only reader of the result, and
//! after the add a ReLU / ReLU6 that is its only reader (all applied in the
//! kernel's epilogue: `act(conv(x) + b + skip)`, the skip buffer becoming the
//! output when the skip dies there, as `lower::buffers` decides). The add's
//! other operand, the skip, must be computed before the convolution starts:
//! of a block's two branches, the add joins the one computed last (the
//! projection shortcut of a downsampling block, else the main branch). A
//! dense layer absorbs a ReLU that is its only reader. A node is only absorbed when the
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
    /// A residual add applied in the epilogue, after the batch norm and
    /// before the activation (convolutions only).
    pub residual: Option<Residual>,
    /// A ReLU / ReLU6 applied in the epilogue.
    pub activation: Option<NodeId>,
}

/// A two-operand `add` fused into the convolution that computes one operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Residual {
    /// The add node.
    pub add: NodeId,
    /// Its other operand, computed before the convolution.
    pub skip: NodeId,
}

impl Layer {
    /// The chain's nodes, in order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> {
        std::iter::once(self.head)
            .chain(self.batch_norm)
            .chain(self.residual.map(|r| r.add))
            .chain(self.activation)
    }

    /// The node whose value the call produces.
    pub fn last(&self) -> NodeId {
        self.activation
            .or(self.residual.map(|r| r.add))
            .or(self.batch_norm)
            .unwrap_or(self.head)
    }

    /// The values the call reads, in argument order: the head's inputs,
    /// then the residual's skip.
    pub fn reads<'g>(&self, g: &'g Graph) -> impl Iterator<Item = NodeId> + 'g {
        let skip = self.residual.map(|r| r.skip);
        g.node(self.head).inputs.iter().copied().chain(skip)
    }

    /// The layer whose nodes, in order, are `chain` (as [`Layer::nodes`]
    /// lists them): the back ends read each node's role from here rather
    /// than re-deriving it. `Err` names a chain [`layers`] cannot have built
    /// (a bug in resnetc).
    pub fn of_chain(g: &Graph, chain: &[usize]) -> Result<Layer, String> {
        let node = |i: usize| -> Result<&crate::ir::Node, String> {
            g.nodes
                .get(i)
                .ok_or_else(|| format!("a fused chain names node {i}, which does not exist"))
        };
        let (&head, rest) = chain
            .split_first()
            .ok_or_else(|| "a fused chain with no nodes".to_string())?;
        let head_node = node(head)?;
        let is_conv = matches!(head_node.op, Op::Conv(_));
        let mut layer = Layer {
            head: NodeId(head as u32),
            batch_norm: None,
            residual: None,
            activation: None,
        };
        let bad = |j: usize| {
            let name = g.nodes.get(j).map_or("?", |n| n.name.as_str());
            format!(
                "node `{name}` is fused into layer `{}`, which it cannot join",
                head_node.name
            )
        };
        for &j in rest {
            let prev = layer.last();
            let n = node(j)?;
            if !n.inputs.contains(&prev) {
                return Err(bad(j));
            }
            match &n.op {
                Op::BatchNorm(_) if is_conv && layer.nodes().count() == 1 => {
                    layer.batch_norm = Some(NodeId(j as u32));
                }
                Op::Add if is_conv && layer.residual.is_none() && layer.activation.is_none() => {
                    let &[a, b] = n.inputs.as_slice() else {
                        return Err(bad(j));
                    };
                    let skip = if a == prev { b } else { a };
                    if skip == prev {
                        return Err(bad(j));
                    }
                    layer.residual = Some(Residual {
                        add: NodeId(j as u32),
                        skip,
                    });
                }
                Op::Activation(Activation::Relu | Activation::Relu6)
                    if layer.activation.is_none()
                        && (is_conv
                            || matches!(head_node.op, Op::Dense(_))
                                && matches!(n.op, Op::Activation(Activation::Relu))) =>
                {
                    layer.activation = Some(NodeId(j as u32));
                }
                _ => return Err(bad(j)),
            }
        }
        Ok(layer)
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
    // The skip of an add `j` that node i's value may be fused into: the
    // add's other operand, if it is computed before `head` (the node that
    // starts the layer) and has i's shape (the checker never lets `+`
    // broadcast; the kernels' epilogue relies on it).
    let residual_skip = |j: usize, i: usize, head: usize| -> Option<NodeId> {
        let node = &g.nodes[j];
        if !matches!(node.op, Op::Add) {
            return None;
        }
        let &[a, b] = node.inputs.as_slice() else {
            return None;
        };
        let skip = if a.0 as usize == i { b } else { a };
        let same_shape = g.nodes[skip.0 as usize].shape == g.nodes[i].shape;
        ((skip.0 as usize) < head && same_shape).then_some(skip)
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
            residual: None,
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
                if let Some(j) = absorber(last) {
                    if is_relu(j, true) {
                        layer.activation = Some(NodeId(j as u32));
                    } else if let Some(skip) = residual_skip(j, last, i) {
                        layer.residual = Some(Residual {
                            add: NodeId(j as u32),
                            skip,
                        });
                        if let Some(a) = absorber(j)
                            && is_relu(a, true)
                        {
                            layer.activation = Some(NodeId(a as u32));
                        }
                    }
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

    #[test]
    fn a_residual_add_joins_the_conv_of_the_branch_computed_last() {
        // Identity skip: the add (and the relu after it) join the main
        // branch's last conv + bn.
        let identity = "block b(c) {\n  input x\n  y = x -> c1: conv(c, 3, pad: 1) -> n1: bn -> r1: relu -> c2: conv(c, 3, pad: 1) -> n2: bn\n  relu(x + y)\n}\nmodel m {\n  input x: [4, 8, 8]\n  x -> blk: b(4)\n}\n";
        let names = layer_names(identity);
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[1].starts_with("blk.c2+blk.n2+"), "{names:?}");
        assert_eq!(names[1].split('+').count(), 4, "{names:?}");
        // A projection shortcut computed after the main branch: the add
        // joins the projection, whose skip (the main branch) is ready.
        let projection = "block b(c) {\n  input x\n  y = x -> c1: conv(c, 3, pad: 1) -> n1: bn\n  s = x -> p: conv(c, 1) -> pn: bn\n  relu(y + s)\n}\nmodel m {\n  input x: [4, 8, 8]\n  x -> blk: b(8)\n}\n";
        let names = layer_names(projection);
        assert_eq!(names[0], "blk.c1+blk.n1", "{names:?}");
        assert!(names[1].starts_with("blk.p+blk.pn+"), "{names:?}");
        assert_eq!(names[1].split('+').count(), 4, "{names:?}");
    }

    #[test]
    fn adds_that_cannot_join_a_conv_stay_layers() {
        // A conv whose relu is already fused: the epilogue adds before the
        // activation, so the add stays apart.
        let relu_first = "model m {\n  input x: [4, 8, 8]\n  y = x -> c: conv(4, 3, pad: 1) -> r: relu\n  x + y\n}\n";
        assert_eq!(layer_names(relu_first), ["c+r", "add"]);
        // The other operand is computed after the conv (and by no conv):
        // it would not be ready when the conv runs.
        let later = "model m {\n  input x: [4, 8, 8]\n  y = x -> c: conv(4, 3, pad: 1)\n  s = x -> r: relu\n  y + s\n}\n";
        assert_eq!(layer_names(later), ["c", "r", "add"]);
    }

    #[test]
    fn of_chain_reads_back_every_layer_and_rejects_other_chains() {
        let src = "block b(c) {\n  input x\n  y = x -> c1: conv(c, 3, pad: 1) -> n1: bn\n  s = x -> p: conv(c, 1) -> pn: bn\n  relu(y + s)\n}\nmodel m {\n  input x: [4, 8, 8]\n  x -> blk: b(8) -> flatten -> d: dense(2) -> relu\n}\n";
        let c = crate::compile_source("m.rn", src, &Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let g = c.model.graph();
        for l in layers(g).into_iter().flatten() {
            let chain: Vec<usize> = l.nodes().map(|n| n.0 as usize).collect();
            assert_eq!(Layer::of_chain(g, &chain), Ok(l));
        }
        let fused = layers(g)
            .into_iter()
            .flatten()
            .find(|l| l.residual.is_some())
            .expect("a residual layer");
        let chain: Vec<usize> = fused.nodes().map(|n| n.0 as usize).collect();
        // Out of order, or a node that is no epilogue: a bug, named.
        let mut swapped = chain.clone();
        swapped.swap(1, 2);
        let e = Layer::of_chain(g, &swapped).unwrap_err();
        assert!(e.contains("cannot join"), "{e}");
        assert!(Layer::of_chain(g, &[]).is_err());
        assert!(Layer::of_chain(g, &[usize::MAX]).is_err());
    }
}
