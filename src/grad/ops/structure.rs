//! Ops that only move or scale values: concatenation along channels and the
//! split that is its gradient, the broadcasting product and the sum that
//! undoes a broadcast, zero channels and their removal. (Add, flatten and
//! identity need no helper: see `ops::backward`.)

use ndarray::{ArrayD, ArrayViewD, Axis, Slice};

use crate::grad::Real;
use crate::grad::error::{GradError, internal};

/// The inputs joined along axis 1.
pub(crate) fn concat<T: Real>(inputs: &[ArrayViewD<'_, T>]) -> Result<ArrayD<T>, GradError> {
    ndarray::concatenate(Axis(1), inputs).map_err(internal)
}

/// `dy` split along axis 1 into pieces of `channels` each (the gradient of [`concat`]).
pub(crate) fn split<T: Real>(dy: ArrayViewD<'_, T>, channels: &[usize]) -> Vec<ArrayD<T>> {
    let mut start = 0;
    channels
        .iter()
        .map(|&c| {
            let part = dy
                .slice_axis(Axis(1), Slice::from(start..start + c))
                .to_owned();
            start += c;
            part
        })
        .collect()
}

/// The shape `a` and `b` broadcast to: in every dimension equal, or 1 on
/// one side (the checker's rule for `*`).
fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, GradError> {
    if a.len() != b.len() {
        return Err(internal(format!("mul of shapes {a:?} and {b:?}")));
    }
    a.iter()
        .zip(b)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(internal(format!("mul of shapes {a:?} and {b:?}"))),
        })
        .collect()
}

/// `a · b`, element-wise, size-1 dimensions broadcast.
pub(crate) fn mul<T: Real>(
    a: &ArrayViewD<'_, T>,
    b: &ArrayViewD<'_, T>,
) -> Result<ArrayD<T>, GradError> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let (Some(a), Some(b)) = (a.broadcast(shape.clone()), b.broadcast(shape)) else {
        return Err(internal("mul operands do not broadcast"));
    };
    Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| x * y))
}

/// `x` summed over the dimensions where `shape` has 1 and `x` does not:
/// the gradient of a broadcast back to the operand's shape.
pub(crate) fn sum_to<T: Real>(x: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, GradError> {
    if x.ndim() != shape.len() {
        return Err(internal(format!("sum of {:?} to {shape:?}", x.shape())));
    }
    let mut out = x.clone();
    for (k, &d) in shape.iter().enumerate() {
        if d == 1 && out.shape()[k] != 1 {
            out = out.sum_axis(Axis(k)).insert_axis(Axis(k));
        }
    }
    if out.shape() != shape {
        return Err(internal(format!("sum of {:?} to {shape:?}", x.shape())));
    }
    Ok(out)
}

/// `x` with `before` and `after` zero channels around its own (axis 1).
pub(crate) fn pad_channels<T: Real>(
    x: &ArrayViewD<'_, T>,
    before: usize,
    after: usize,
) -> Result<ArrayD<T>, GradError> {
    let mut shape = x.shape().to_vec();
    let c = *shape
        .get(1)
        .ok_or_else(|| internal("pad_channels of a tensor without channels"))?;
    shape[1] = before + c + after;
    let mut y = ArrayD::zeros(shape);
    y.slice_axis_mut(Axis(1), Slice::from(before..before + c))
        .assign(x);
    Ok(y)
}

/// The gradient of [`pad_channels`]: `dy`'s channels `before .. before + c`.
pub(crate) fn unpad_channels<T: Real>(
    dy: ArrayViewD<'_, T>,
    before: usize,
    c: usize,
) -> Result<ArrayD<T>, GradError> {
    if dy.shape().get(1).is_none_or(|&n| n < before + c) {
        return Err(internal("pad_channels gradient of the wrong width"));
    }
    Ok(dy
        .slice_axis(Axis(1), Slice::from(before..before + c))
        .to_owned())
}
