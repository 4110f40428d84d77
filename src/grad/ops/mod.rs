//! One forward and one backward rule per op of the IR.
//!
//! [`forward`] and [`backward`] match on [`Op`] exhaustively: a new op does
//! not compile until it has both rules. Each rule's arithmetic lives in its
//! own small file; this file only unpacks nodes, parameters and shapes.

mod activation;
pub mod batchnorm;
mod conv;
mod conv_transpose;
mod dense;
mod dropout;
mod pool;
mod softmax;
mod structure;
mod upsample;

use ndarray::{Array1, ArrayD, ArrayView2, ArrayView4, ArrayViewD, Ix1, Ix2, Ix4};
use rand_chacha::ChaCha8Rng;

use super::error::{GradError, internal};
use super::params::ParamSet;
use super::real::Real;
use crate::ir::{Node, Op};

/// What a rule keeps from the forward pass for the backward pass (besides
/// the node's inputs and output, which the tape keeps).
pub(crate) enum Saved<T> {
    /// Nothing more.
    Nothing,
    /// Batch norm's normalised input and inverse standard deviations.
    BatchNorm(batchnorm::BatchNormSaved<T>),
    /// Max pooling's winners.
    MaxPool(Vec<Option<usize>>),
    /// Dropout's mask (already scaled).
    Dropout(ArrayD<T>),
}

/// What a forward rule may read and change besides its inputs.
pub(crate) struct Context<'a, T> {
    /// The parameters.
    pub(crate) params: &'a ParamSet<T>,
    /// Dropout's random numbers; `None`: dropout is the identity.
    pub(crate) dropout: Option<&'a mut ChaCha8Rng>,
    /// Updated running statistics, `(name, value)`.
    pub(crate) running: &'a mut Vec<(String, ArrayD<T>)>,
}

/// The gradients a backward rule returns.
pub(crate) struct NodeGrads<T> {
    /// One per input of the node, in order.
    pub(crate) inputs: Vec<ArrayD<T>>,
    /// `(parameter name, gradient)` for each trainable parameter.
    pub(crate) params: Vec<(String, ArrayD<T>)>,
}

fn one<'a, 'b, T>(
    node: &Node,
    inputs: &'a [ArrayViewD<'b, T>],
) -> Result<&'a ArrayViewD<'b, T>, GradError> {
    match inputs {
        [x] => Ok(x),
        _ => Err(internal(format!(
            "`{}` has {} inputs, expected one",
            node.name,
            inputs.len()
        ))),
    }
}

fn d4<'a, T>(a: &ArrayViewD<'a, T>) -> Result<ArrayView4<'a, T>, GradError> {
    a.clone().into_dimensionality::<Ix4>().map_err(internal)
}

fn d2<'a, T>(a: &ArrayViewD<'a, T>) -> Result<ArrayView2<'a, T>, GradError> {
    a.clone().into_dimensionality::<Ix2>().map_err(internal)
}

fn param<'a, T: Real>(
    params: &'a ParamSet<T>,
    node: &Node,
    suffix: &str,
) -> Result<&'a ArrayD<T>, GradError> {
    params.get(&format!("{}.{suffix}", node.name))
}

fn vector<T: Real>(
    params: &ParamSet<T>,
    node: &Node,
    suffix: &str,
) -> Result<Array1<T>, GradError> {
    param(params, node, suffix)?
        .clone()
        .into_dimensionality::<Ix1>()
        .map_err(internal)
}

/// The output's height and width (from the checked shape).
fn out_hw(node: &Node) -> Result<(usize, usize), GradError> {
    match node.shape.0.as_slice() {
        [_, h, w] => Ok((*h, *w)),
        other => Err(internal(format!(
            "`{}` has shape {other:?}, expected C×H×W",
            node.name
        ))),
    }
}

/// Runs `node` on `inputs` in training mode.
pub(crate) fn forward<T: Real>(
    node: &Node,
    inputs: &[ArrayViewD<'_, T>],
    ctx: &mut Context<'_, T>,
) -> Result<(ArrayD<T>, Saved<T>), GradError> {
    let plain = |y: ArrayD<T>| Ok((y, Saved::Nothing));
    match &node.op {
        Op::Input => Err(internal(format!(
            "input `{}` reached an op rule",
            node.name
        ))),
        Op::Conv(p) => {
            let w = d4(&param(ctx.params, node, "weight")?.view())?;
            let b = if p.bias {
                Some(vector(ctx.params, node, "bias")?)
            } else {
                None
            };
            plain(conv::forward(d4(one(node, inputs)?)?, w, b.as_ref(), p)?.into_dyn())
        }
        Op::BatchNorm(p) => {
            let f = batchnorm::forward(
                &node.name,
                one(node, inputs)?.clone(),
                &vector(ctx.params, node, "weight")?,
                &vector(ctx.params, node, "bias")?,
                &vector(ctx.params, node, "running_mean")?,
                &vector(ctx.params, node, "running_var")?,
                p.eps,
            )?;
            ctx.running.push((
                format!("{}.running_mean", node.name),
                f.running_mean.into_dyn(),
            ));
            ctx.running.push((
                format!("{}.running_var", node.name),
                f.running_var.into_dyn(),
            ));
            Ok((f.y, Saved::BatchNorm(f.saved)))
        }
        Op::Activation(a) => plain(activation::forward(*a, one(node, inputs)?.clone())),
        Op::MaxPool(p) => {
            let (oh, ow) = out_hw(node)?;
            let (y, arg) = pool::max_forward(d4(one(node, inputs)?)?, p, oh, ow);
            Ok((y.into_dyn(), Saved::MaxPool(arg)))
        }
        Op::AvgPool(p) => {
            let (oh, ow) = out_hw(node)?;
            plain(pool::avg_forward(d4(one(node, inputs)?)?, p, oh, ow).into_dyn())
        }
        Op::GlobalAvgPool => plain(pool::global_forward(d4(one(node, inputs)?)?).into_dyn()),
        Op::Flatten => {
            let x = one(node, inputs)?;
            let n = x.shape()[0];
            plain(
                x.to_shape((n, node.shape.elements()))
                    .map_err(internal)?
                    .into_owned()
                    .into_dyn(),
            )
        }
        Op::Dense(p) => {
            let w = d2(&param(ctx.params, node, "weight")?.view())?;
            let b = if p.bias {
                Some(vector(ctx.params, node, "bias")?)
            } else {
                None
            };
            plain(
                dense::forward(d2(one(node, inputs)?)?, w, b.as_ref().map(|b| b.view())).into_dyn(),
            )
        }
        Op::Softmax => plain(softmax::forward(one(node, inputs)?.clone())),
        Op::Dropout { p } => {
            let x = one(node, inputs)?;
            match ctx.dropout.as_deref_mut() {
                Some(rng) if *p > 0.0 => {
                    let mask = dropout::mask::<T>(x.shape(), *p, rng);
                    Ok((x * &mask, Saved::Dropout(mask)))
                }
                _ => plain(x.to_owned()),
            }
        }
        Op::Add => {
            let (first, rest) = inputs
                .split_first()
                .ok_or_else(|| internal("add without inputs"))?;
            let mut y = first.to_owned();
            for x in rest {
                y += x;
            }
            plain(y)
        }
        Op::Concat => plain(structure::concat(inputs)?),
        Op::Identity => plain(one(node, inputs)?.to_owned()),
        Op::Mul => match inputs {
            [a, b] => plain(structure::mul(a, b)?),
            _ => Err(internal(format!(
                "`{}`: a mul of {} inputs",
                node.name,
                inputs.len()
            ))),
        },
        Op::PadChannels { before, after } => plain(structure::pad_channels(
            one(node, inputs)?,
            *before,
            *after,
        )?),
        Op::Upsample(u) => {
            plain(upsample::forward(d4(one(node, inputs)?)?, u.size, u.mode)?.into_dyn())
        }
        Op::ConvTranspose(p) => {
            let w = d4(&param(ctx.params, node, "weight")?.view())?;
            let b = if p.bias {
                Some(vector(ctx.params, node, "bias")?)
            } else {
                None
            };
            plain(conv_transpose::forward(d4(one(node, inputs)?)?, w, b.as_ref(), p)?.into_dyn())
        }
    }
}

/// The gradients of `node` given its output's gradient `dy`.
pub(crate) fn backward<T: Real>(
    node: &Node,
    inputs: &[ArrayViewD<'_, T>],
    y: ArrayViewD<'_, T>,
    saved: &Saved<T>,
    dy: ArrayViewD<'_, T>,
    params: &ParamSet<T>,
) -> Result<NodeGrads<T>, GradError> {
    let name = |suffix: &str| format!("{}.{suffix}", node.name);
    let only = |dx: ArrayD<T>| {
        Ok(NodeGrads {
            inputs: vec![dx],
            params: Vec::new(),
        })
    };
    match (&node.op, saved) {
        (Op::Input, _) => Ok(NodeGrads {
            inputs: Vec::new(),
            params: Vec::new(),
        }),
        (Op::Conv(p), _) => {
            let w = param(params, node, "weight")?;
            let g = conv::backward(d4(one(node, inputs)?)?, d4(&w.view())?, p.bias, p, d4(&dy)?)?;
            let mut grads = vec![(name("weight"), g.dweight.into_dyn())];
            if let Some(db) = g.dbias {
                grads.push((name("bias"), db.into_dyn()));
            }
            Ok(NodeGrads {
                inputs: vec![g.dx.into_dyn()],
                params: grads,
            })
        }
        (Op::BatchNorm(_), Saved::BatchNorm(s)) => {
            let g = batchnorm::backward(s, &vector(params, node, "weight")?, dy)?;
            Ok(NodeGrads {
                inputs: vec![g.dx],
                params: vec![
                    (name("weight"), g.dgamma.into_dyn()),
                    (name("bias"), g.dbeta.into_dyn()),
                ],
            })
        }
        (Op::Activation(a), _) => only(activation::backward(*a, one(node, inputs)?.clone(), dy)),
        (Op::MaxPool(_), Saved::MaxPool(arg)) => {
            let x = d4(one(node, inputs)?)?;
            only(pool::max_backward(d4(&dy)?, arg, x.dim().2, x.dim().3).into_dyn())
        }
        (Op::AvgPool(p), _) => {
            let x = d4(one(node, inputs)?)?;
            only(pool::avg_backward(d4(&dy)?, p, x.dim().2, x.dim().3).into_dyn())
        }
        (Op::GlobalAvgPool, _) => {
            let x = d4(one(node, inputs)?)?;
            only(pool::global_backward(d4(&dy)?, x.dim().2, x.dim().3).into_dyn())
        }
        (Op::Flatten, _) => {
            let x = one(node, inputs)?;
            only(dy.to_shape(x.raw_dim()).map_err(internal)?.into_owned())
        }
        (Op::Dense(p), _) => {
            let w = d2(&param(params, node, "weight")?.view())?;
            let (dx, dw, db) = dense::backward(d2(one(node, inputs)?)?, w, p.bias, d2(&dy)?);
            let mut grads = vec![(name("weight"), dw.into_dyn())];
            if let Some(db) = db {
                grads.push((name("bias"), db.into_dyn()));
            }
            Ok(NodeGrads {
                inputs: vec![dx.into_dyn()],
                params: grads,
            })
        }
        (Op::Softmax, _) => only(softmax::backward(y, dy)),
        (Op::Dropout { .. }, Saved::Dropout(mask)) => only(&dy * mask),
        (Op::Dropout { .. }, _) => only(dy.to_owned()),
        (Op::Add, _) => Ok(NodeGrads {
            inputs: inputs.iter().map(|_| dy.to_owned()).collect(),
            params: Vec::new(),
        }),
        (Op::Concat, _) => {
            let channels = inputs
                .iter()
                .map(|x| {
                    x.shape()
                        .get(1)
                        .copied()
                        .ok_or_else(|| internal("concat of a tensor without channels"))
                })
                .collect::<Result<Vec<usize>, _>>()?;
            Ok(NodeGrads {
                inputs: structure::split(dy, &channels),
                params: Vec::new(),
            })
        }
        (Op::Identity, _) => only(dy.to_owned()),
        (Op::Mul, _) => match inputs {
            // d(a·b)/da = b, summed over the dimensions a was broadcast along.
            [a, b] => Ok(NodeGrads {
                inputs: vec![
                    structure::sum_to(&(&dy * b), a.shape())?,
                    structure::sum_to(&(&dy * a), b.shape())?,
                ],
                params: Vec::new(),
            }),
            _ => Err(internal(format!(
                "`{}`: a mul of {} inputs",
                node.name,
                inputs.len()
            ))),
        },
        (Op::PadChannels { before, .. }, _) => {
            let c = one(node, inputs)?
                .shape()
                .get(1)
                .copied()
                .ok_or_else(|| internal("pad_channels of a tensor without channels"))?;
            only(structure::unpad_channels(dy, *before, c)?)
        }
        (Op::Upsample(u), _) => {
            let x = d4(one(node, inputs)?)?;
            only(upsample::backward(d4(&dy)?, x.dim().2, x.dim().3, u.mode)?.into_dyn())
        }
        (Op::ConvTranspose(p), _) => {
            let w = param(params, node, "weight")?;
            let g = conv_transpose::backward(
                d4(one(node, inputs)?)?,
                d4(&w.view())?,
                p.bias,
                p,
                d4(&dy)?,
            )?;
            let mut grads = vec![(name("weight"), g.dweight.into_dyn())];
            if let Some(db) = g.dbias {
                grads.push((name("bias"), db.into_dyn()));
            }
            Ok(NodeGrads {
                inputs: vec![g.dx.into_dyn()],
                params: grads,
            })
        }
        (Op::BatchNorm(_) | Op::MaxPool(_), _) => Err(internal(format!(
            "`{}` lost what its forward pass saved",
            node.name
        ))),
    }
}
