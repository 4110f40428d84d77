//! Element-wise product with size-1 broadcasting (a squeeze-and-excitation
//! gate N×C×1×1 scaling a feature map N×C×H×W).

use ndarray::{Array, ArrayView, ArrayViewMut, Dimension, Zip};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Minimum number of output elements before the product goes parallel.
const PAR_THRESHOLD: usize = 1 << 15;

/// The size of the product along one axis, if `x` and `y` broadcast there.
fn broadcast_dim(x: usize, y: usize) -> Option<usize> {
    match (x, y) {
        _ if x == y => Some(x),
        (1, y) => Some(y),
        (x, 1) => Some(x),
        _ => None,
    }
}

/// Checks that `a` and `b` broadcast to exactly `out` (allocates only to
/// format an error).
fn check_shapes(a: &[usize], b: &[usize], out: &[usize]) -> Result<(), KernelError> {
    let fits = a.len() == b.len()
        && a.len() == out.len()
        && a.iter()
            .zip(b)
            .zip(out)
            .all(|((&x, &y), &o)| broadcast_dim(x, y) == Some(o));
    if fits {
        return Ok(());
    }
    let expected: Option<Vec<usize>> = (a.len() == b.len())
        .then(|| {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| broadcast_dim(x, y))
                .collect()
        })
        .flatten();
    match expected {
        Some(e) => shape_err(format!(
            "mul: out has shape {out:?}, expected {e:?} (inputs {a:?} and {b:?})"
        )),
        None => shape_err(format!(
            "mul: inputs {a:?} and {b:?} do not broadcast (sizes must be equal or 1)"
        )),
    }
}

/// `a * b` element-wise into a new array; a size-1 axis of either input
/// broadcasts over the other's size (equal ranks).
///
/// Errors if the shapes do not broadcast. Allocating wrapper around
/// [`mul_into`].
pub fn mul<D: Dimension>(
    a: ArrayView<'_, f32, D>,
    b: ArrayView<'_, f32, D>,
) -> Result<Array<f32, D>, KernelError> {
    let mut dim = a.raw_dim();
    for (d, &y) in dim.slice_mut().iter_mut().zip(b.shape()) {
        match broadcast_dim(*d, y) {
            Some(s) => *d = s,
            None => {
                return shape_err(format!(
                    "mul: inputs {:?} and {:?} do not broadcast (sizes must be equal or 1)",
                    a.shape(),
                    b.shape()
                ));
            }
        }
    }
    let mut out = Array::zeros(dim);
    mul_into(a, b, out.view_mut())?;
    Ok(out)
}

/// Writes `a * b` into `out` (any layout, every element overwritten), a
/// size-1 axis of either input broadcasting over the other's size.
/// Allocates nothing for outputs below the parallel threshold.
///
/// Errors if the ranks differ, an axis has sizes that are neither equal nor
/// 1, or `out` does not have the broadcast shape.
pub fn mul_into<D: Dimension>(
    a: ArrayView<'_, f32, D>,
    b: ArrayView<'_, f32, D>,
    mut out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    check_shapes(a.shape(), b.shape(), out.shape())?;
    let (Some(a), Some(b)) = (a.broadcast(out.raw_dim()), b.broadcast(out.raw_dim())) else {
        return shape_err(
            "mul: broadcasting failed after the shapes were checked (a bug in resnetc)",
        );
    };
    let zip = Zip::from(&mut out).and(&a).and(&b);
    if out_len(a.shape()) >= PAR_THRESHOLD {
        zip.par_for_each(|o, &x, &y| *o = x * y);
    } else {
        zip.for_each(|o, &x, &y| *o = x * y);
    }
    Ok(())
}

fn out_len(shape: &[usize]) -> usize {
    shape.iter().product()
}
