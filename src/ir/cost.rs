//! Sizes and costs of a graph — parameter counts, multiply-adds, bytes —
//! computed in one place, with checked arithmetic.
//!
//! Every figure the summary, `init` and `run` show comes from [`Costs::of`].
//! A figure that does not fit in a `u64` is an [`Overflow`] naming the node
//! where it happened (the checker turns it into a located E0205), never a
//! wrapped number.

use super::{Graph, NodeId, Op};

/// The checked product of sizes (`None` if it does not fit in a `u64`).
pub fn product<I: IntoIterator<Item = usize>>(dims: I) -> Option<u64> {
    dims.into_iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// The figures of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCost {
    /// Learned parameters (trainable and not).
    pub params: u64,
    /// Trainable parameters.
    pub trainable: u64,
    /// Conv / dense multiply-accumulates per sample (0 for other ops).
    pub macs: u64,
    /// Elements of the output per sample.
    pub output_elements: u64,
}

/// Which figure overflowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The elements of one learned tensor of the node.
    TensorElements,
    /// The node's parameter count.
    LayerParams,
    /// The node's multiply-adds per sample.
    LayerMacs,
    /// The node's output elements.
    OutputElements,
    /// The model's parameter count, or its bytes, up to the node.
    TotalParams,
    /// The model's multiply-adds per sample, up to the node.
    TotalMacs,
    /// Bytes of all activations, or of the live ones, up to the node.
    ActivationBytes,
}

impl Figure {
    /// What the figure is, for messages (`the multiply-adds of`).
    pub fn describe(self) -> &'static str {
        match self {
            Figure::TensorElements => "a learned tensor of",
            Figure::LayerParams => "the parameter count of",
            Figure::LayerMacs => "the multiply-adds per sample of",
            Figure::OutputElements => "the output of",
            Figure::TotalParams => "the model's parameters (in bytes) up to",
            Figure::TotalMacs => "the model's multiply-adds per sample up to",
            Figure::ActivationBytes => "the model's activation bytes up to",
        }
    }
}

/// A figure too large for a `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} node {} does not fit in 64 bits", figure.describe(), node.0)]
pub struct Overflow {
    /// The node where it overflowed.
    pub node: NodeId,
    /// Which figure.
    pub figure: Figure,
}

/// Every size and cost of a graph; all of them fit in a `u64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Costs {
    /// Per node, in graph order.
    pub nodes: Vec<NodeCost>,
    /// Trainable parameters.
    pub trainable_params: u64,
    /// Non-trainable parameters (batch-norm running statistics).
    pub non_trainable_params: u64,
    /// All parameters.
    pub total_params: u64,
    /// Bytes of all parameters as f32.
    pub param_bytes: u64,
    /// Conv and dense multiply-adds per sample.
    pub mult_adds: u64,
    /// Bytes of all f32 layer outputs of one forward pass, per sample.
    pub activation_bytes: u64,
    /// Peak bytes of live f32 activations per sample, freeing each after its last reader.
    pub peak_activation_bytes: u64,
}

/// Bytes of one f32.
const F32: u64 = 4;

impl Costs {
    /// Computes every figure of `g`, or the first one that overflows.
    pub fn of(g: &Graph) -> Result<Costs, Overflow> {
        let mut nodes = Vec::with_capacity(g.nodes.len());
        let (mut trainable, mut non_trainable, mut macs, mut activations) =
            (0u64, 0u64, 0u64, 0u64);
        for (i, n) in g.nodes.iter().enumerate() {
            let at = |figure| Overflow {
                node: NodeId(i as u32),
                figure,
            };
            let mut cost = NodeCost {
                params: 0,
                trainable: 0,
                macs: 0,
                output_elements: product(n.shape.0.iter().copied())
                    .ok_or(at(Figure::OutputElements))?,
            };
            for p in &n.params {
                let e = product(p.shape.iter().copied()).ok_or(at(Figure::TensorElements))?;
                cost.params = cost.params.checked_add(e).ok_or(at(Figure::LayerParams))?;
                if p.trainable {
                    cost.trainable += e; // at most `cost.params`
                }
            }
            cost.macs = n.op.macs(&n.shape.0).ok_or(at(Figure::LayerMacs))?;
            trainable = trainable
                .checked_add(cost.trainable)
                .ok_or(at(Figure::TotalParams))?;
            non_trainable = non_trainable
                .checked_add(cost.params - cost.trainable)
                .ok_or(at(Figure::TotalParams))?;
            trainable
                .checked_add(non_trainable)
                .and_then(|t| t.checked_mul(F32))
                .ok_or(at(Figure::TotalParams))?;
            macs = macs.checked_add(cost.macs).ok_or(at(Figure::TotalMacs))?;
            activations = cost
                .output_elements
                .checked_mul(F32)
                .and_then(|b| activations.checked_add(b))
                .ok_or(at(Figure::ActivationBytes))?;
            nodes.push(cost);
        }
        // Each sum below is at most a sum checked above.
        let total = trainable + non_trainable;
        let peak = peak_live(g, &nodes) * F32;
        Ok(Costs {
            nodes,
            trainable_params: trainable,
            non_trainable_params: non_trainable,
            total_params: total,
            param_bytes: total * F32,
            mult_adds: macs,
            activation_bytes: activations,
            peak_activation_bytes: peak,
        })
    }

    /// The node with the most parameters (the first of equals), if any has some.
    pub fn largest_layer(&self) -> Option<(NodeId, u64)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.params > 0)
            .max_by(|(i, a), (j, b)| a.params.cmp(&b.params).then(j.cmp(i)))
            .map(|(i, c)| (NodeId(i as u32), c.params))
    }
}

/// Peak elements of live activations, each freed after its last reader
/// (at most the sum of all outputs, which [`Costs::of`] checked).
fn peak_live(g: &Graph, nodes: &[NodeCost]) -> u64 {
    let last = g.last_uses();
    let mut frees: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len() + 1];
    for (i, &l) in last.iter().enumerate() {
        frees[l].push(i);
    }
    let (mut live, mut peak) = (0u64, 0u64);
    for (i, cost) in nodes.iter().enumerate() {
        live += cost.output_elements;
        peak = peak.max(live);
        for &f in &frees[i] {
            live -= nodes[f].output_elements;
        }
    }
    peak
}

impl Op {
    /// Multiply-accumulates per sample, counting conv and dense layers only
    /// (as torchvision's tables do); `None` if the count overflows a `u64`.
    pub fn macs(&self, out_shape: &[usize]) -> Option<u64> {
        let elems = product(out_shape.iter().copied())?;
        match self {
            Op::Conv(c) => {
                let per_output =
                    product([c.in_channels / c.groups.max(1), c.kernel[0], c.kernel[1]])?;
                elems.checked_mul(per_output)
            }
            Op::Dense(d) => elems.checked_mul(u64::try_from(d.in_features).ok()?),
            // Every input element meets out/groups × kh × kw weights.
            Op::ConvTranspose(c) => product([
                c.in_channels,
                c.in_hw[0],
                c.in_hw[1],
                c.out_channels / c.groups.max(1),
                c.kernel[0],
                c.kernel[1],
            ]),
            // Listed, not `_`: a new op must decide whether it has multiply-adds.
            Op::Input
            | Op::BatchNorm(_)
            | Op::Activation(_)
            | Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::GlobalAvgPool
            | Op::Flatten
            | Op::Softmax
            | Op::Dropout { .. }
            | Op::Add
            | Op::Concat
            | Op::Mul
            | Op::PadChannels { .. }
            | Op::Identity
            | Op::Upsample(_) => Some(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::product;

    #[test]
    fn products_are_checked() {
        assert_eq!(product([3, 224, 224]), Some(150_528));
        assert_eq!(product([]), Some(1));
        assert_eq!(product([1 << 40, 1 << 40]), None);
        assert_eq!(product([1 << 32, 1 << 31]), Some(1 << 63));
    }
}
