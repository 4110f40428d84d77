//! How each op scales a spatial size: the one per-op table of the size
//! analysis. A new op adds its arm to [`scale`] (the match is exhaustive, so
//! the compiler points here).

use crate::ir::{Graph, Op};

/// What an op does to the size `n` of one spatial dimension (height or width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// The size passes through unchanged (activations, batch norm, joins).
    /// An op with several inputs under `Keep` requires their sizes to be
    /// equal (`+`, `concat` of feature maps).
    Keep,
    /// `floor((n + a) / s) + b` for some constants: a window with stride `s`
    /// (convolution, pooling; `pad: same` is `ceil(n / s)`).
    Window(Window),
    /// `n · u`, exactly (flatten multiplies the height by channels × width).
    Up(usize),
    /// The output no longer depends on `n` (global pooling, dense).
    Ends,
    /// The size of another tensor (`upsample(size: like(t))`): the analysis
    /// reads it from that node.
    Like(crate::ir::NodeId),
    /// `n · mul + add`, if at least 1 (a transposed convolution:
    /// `(n − 1)·stride − 2·pad + dilation·(kernel − 1) + output_pad + 1`).
    Affine {
        /// The stride.
        mul: usize,
        /// Everything else, possibly negative.
        add: i128,
    },
    /// Element-wise with broadcasting (`*`): along the dimension, every
    /// operand has the largest operand's size or 1, and the output has the
    /// largest size.
    Broadcast,
}

/// A convolution's or pooling's window along one dimension, with the
/// padding resolved for the size the graph was checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Zeros before.
    pub pad_before: usize,
    /// Zeros after.
    pub pad_after: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Dilation.
    pub dilation: usize,
    /// PyTorch's `ceil_mode`.
    pub ceil: bool,
}

impl Scale {
    /// The output size for input size `n` (`None`: the window does not
    /// fit), by the checker's own window rule. `Ends` gives `n` unchanged:
    /// its output does not depend on the varied size.
    pub fn apply(&self, n: usize) -> Option<usize> {
        match self {
            Scale::Keep | Scale::Ends | Scale::Broadcast | Scale::Like(_) => Some(n),
            Scale::Window(w) => crate::check::window_out(
                n,
                w.pad_before,
                w.pad_after,
                w.kernel,
                w.stride,
                w.dilation,
                w.ceil,
            ),
            Scale::Up(u) => n.checked_mul(*u),
            Scale::Affine { mul, add } => {
                let v = (n as i128).checked_mul(*mul as i128)?.checked_add(*add)?;
                usize::try_from(v).ok().filter(|&v| v >= 1)
            }
        }
    }
}

/// The scale of `op` along dimension `dim` (0 height, 1 width), given its
/// first input's shape (C×H×W) where it needs one.
pub fn scale(op: &Op, dim: usize, input: Option<&[usize]>) -> Scale {
    match op {
        Op::Input
        | Op::BatchNorm(_)
        | Op::Activation(_)
        | Op::Softmax
        | Op::Dropout { .. }
        | Op::Identity
        | Op::PadChannels { .. }
        | Op::Add => Scale::Keep,
        Op::Mul => Scale::Broadcast,
        // Channels are joined; the spatial sizes must agree. Flat tensors'
        // feature counts add up, which no later rule constrains.
        Op::Concat => match input {
            Some([_, _, _]) => Scale::Keep,
            _ => Scale::Ends,
        },
        Op::Conv(c) => Scale::Window(Window {
            pad_before: c.padding[dim],
            pad_after: c.padding[dim + 2],
            kernel: c.kernel[dim],
            stride: c.stride[dim],
            dilation: c.dilation[dim],
            ceil: false,
        }),
        Op::MaxPool(p) | Op::AvgPool(p) => Scale::Window(Window {
            pad_before: p.padding[dim],
            pad_after: p.padding[dim + 2],
            kernel: p.kernel[dim],
            stride: p.stride[dim],
            dilation: p.dilation[dim],
            ceil: p.ceil_mode,
        }),
        Op::GlobalAvgPool | Op::Dense(_) => Scale::Ends,
        // A scale multiplies; `like(t)` follows t; a size `[h, w]` is fixed.
        Op::Upsample(u) => match (u.scale, u.like) {
            (Some(f), _) => Scale::Up(f),
            (None, Some(t)) => Scale::Like(t),
            (None, None) => Scale::Ends,
        },
        Op::ConvTranspose(c) => {
            let (s, p, d, k, o) = (
                c.stride[dim] as i128,
                c.padding[dim] as i128,
                c.dilation[dim] as i128,
                c.kernel[dim] as i128,
                c.output_padding[dim] as i128,
            );
            Scale::Affine {
                mul: c.stride[dim],
                add: -s - 2 * p + d * (k - 1) + o + 1,
            }
        }
        // C×H×W → C·H·W: the varied dimension times the other two.
        Op::Flatten => match input {
            Some([c, h, w]) => Scale::Up(c.saturating_mul(if dim == 0 { *w } else { *h })),
            // Flattening a flat tensor keeps its size.
            _ => Scale::Keep,
        },
    }
}

/// Greatest common divisor.
pub(crate) fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Least common multiple, `None` on overflow.
pub(crate) fn lcm(a: u128, b: u128) -> Option<u128> {
    if a == 0 || b == 0 {
        return Some(a.max(b));
    }
    (a / gcd(a, b)).checked_mul(b)
}

/// What the graph's shape rules imply for one spatial dimension of one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rates {
    /// The lcm, over every path from the input, of the product of the
    /// strides along it: the period of the set of valid sizes.
    pub period: u128,
    /// Whether every join (`+`, `concat`, any op with several inputs) joins
    /// operands that grow at the same rate (`up / down` along their paths).
    /// If not, the valid sizes are not periodic.
    pub joins_agree: bool,
}

/// The [`Rates`] of dimension `dim` of the graph's input `input` (its index
/// in `graph.inputs`); `None` if a product overflows 128 bits.
pub fn rates(graph: &Graph, input: usize, dim: usize) -> Option<Rates> {
    let source = graph.inputs.get(input)?.node;
    // Per node: does it depend on the varied size, the lcm of the stride
    // products of its paths, and its rate up/down (reduced).
    #[derive(Clone, Copy)]
    struct At {
        depends: bool,
        lcm: u128,
        rate: (u128, u128),
    }
    let constant = At {
        depends: false,
        lcm: 1,
        rate: (0, 1),
    };
    let mut at = vec![constant; graph.nodes.len()];
    let mut period = 1u128;
    let mut joins_agree = true;
    for (i, node) in graph.nodes.iter().enumerate() {
        if node.op == Op::Input {
            if i == source.0 as usize {
                at[i] = At {
                    depends: true,
                    lcm: 1,
                    rate: (1, 1),
                };
            }
            continue;
        }
        // `upsample(size: like(t))` follows t, whatever its input.
        if let Op::Upsample(u) = &node.op
            && u.scale.is_none()
            && let Some(t) = u.like
        {
            at[i] = at[t.0 as usize];
            continue;
        }
        let all: Vec<At> = node.inputs.iter().map(|n| at[n.0 as usize]).collect();
        if !all.iter().any(|a| a.depends) {
            continue;
        }
        let input_shape = node
            .inputs
            .first()
            .map(|n| graph.node(*n).shape.0.as_slice());
        let sc = scale(&node.op, dim, input_shape);
        // Under broadcasting a constant operand (a gate of size 1) does not
        // constrain the others' rate.
        let ins: Vec<At> = if sc == Scale::Broadcast {
            all.iter().copied().filter(|a| a.depends).collect()
        } else {
            all
        };
        // Operands must agree on their rate (a constant operand has rate 0).
        if let Some(first) = ins.first()
            && ins
                .iter()
                .any(|a| a.rate.0.checked_mul(first.rate.1) != first.rate.0.checked_mul(a.rate.1))
        {
            joins_agree = false;
        }
        let mut l = 1u128;
        for a in ins.iter().filter(|a| a.depends) {
            l = lcm(l, a.lcm)?;
        }
        let rate = ins.iter().find(|a| a.depends).map_or((0, 1), |a| a.rate);
        let here = match sc {
            Scale::Keep | Scale::Broadcast => At {
                depends: true,
                lcm: l,
                rate,
            },
            Scale::Window(w) => {
                let s = w.stride.max(1) as u128;
                At {
                    depends: true,
                    lcm: l.checked_mul(s)?,
                    rate: reduce(rate.0, rate.1.checked_mul(s)?),
                }
            }
            Scale::Up(u) | Scale::Affine { mul: u, .. } => At {
                depends: true,
                lcm: l,
                rate: reduce(rate.0.checked_mul(u as u128)?, rate.1),
            },
            Scale::Ends => constant,
            Scale::Like(t) => at[t.0 as usize],
        };
        if here.depends {
            period = lcm(period, here.lcm)?;
        }
        at[i] = here;
    }
    Some(Rates {
        period,
        joins_agree,
    })
}

fn reduce(num: u128, den: u128) -> (u128, u128) {
    let g = gcd(num, den).max(1);
    (num / g, den / g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcm_and_gcd() {
        assert_eq!(gcd(12, 18), 6);
        assert_eq!(lcm(4, 6), Some(12));
        assert_eq!(lcm(u128::MAX, 2), None);
    }

    #[test]
    fn resnet18_period_is_32() {
        let c = crate::compile_file("examples/resnet18.rn".as_ref(), &Default::default())
            .expect("resnet18 compiles");
        let r = rates(c.model.graph(), 0, 0).expect("no overflow");
        assert_eq!(r.period, 32);
        assert!(r.joins_agree);
    }
}
