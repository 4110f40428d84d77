//! Ops that only move values: concatenation along channels, and the split
//! that is its gradient. (Add, flatten and identity need no helper: see
//! `ops::backward`.)

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
