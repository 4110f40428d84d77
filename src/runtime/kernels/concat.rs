//! Concatenation along axis 1 (channels of NCHW, features of `N × F`).

use ndarray::{Array4, ArrayView, ArrayView4, ArrayViewMut, Axis, RemoveAxis, Slice};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Validates the inputs of a concatenation along axis 1 and returns the
/// total size of that axis. `kernel` names the caller in messages.
fn concat_axis1_len<D: RemoveAxis>(
    kernel: &str,
    inputs: &[ArrayView<'_, f32, D>],
) -> Result<usize, KernelError> {
    let Some(first) = inputs.first() else {
        return shape_err(format!("{kernel}: needs at least one input"));
    };
    if first.ndim() < 2 {
        return shape_err(format!(
            "{kernel}: inputs need at least 2 dimensions, input 0 has shape {:?}",
            first.shape()
        ));
    }
    let mut total = 0usize;
    for (i, x) in inputs.iter().enumerate() {
        let same_rest = x.ndim() == first.ndim()
            && x.shape()
                .iter()
                .zip(first.shape())
                .enumerate()
                .all(|(k, (a, b))| k == 1 || a == b);
        if !same_rest {
            let expected: Vec<String> = first
                .shape()
                .iter()
                .enumerate()
                .map(|(k, d)| if k == 1 { "_".into() } else { d.to_string() })
                .collect();
            return shape_err(format!(
                "{kernel}: input {i} has shape {:?}, expected [{}]",
                x.shape(),
                expected.join(", ")
            ));
        }
        total = total.checked_add(x.len_of(Axis(1))).ok_or_else(|| {
            KernelError::Shape(format!("{kernel}: concatenated axis 1 overflows"))
        })?;
    }
    Ok(total)
}

/// Concatenates NCHW tensors along axis 1 (channels).
///
/// Errors if `inputs` is empty or `N`, `H`, `W` differ between inputs.
/// Allocating wrapper around [`concat_into`].
pub fn concat_channels(inputs: &[ArrayView4<'_, f32>]) -> Result<Array4<f32>, KernelError> {
    let total = concat_axis1_len("concat_channels", inputs)?;
    let (n, _, h, w) = inputs[0].dim();
    let mut out = Array4::zeros((n, total, h, w));
    concat_into(inputs, out.view_mut())?;
    Ok(out)
}

/// Concatenates arrays (`>= 1`, at least 2-D, equal in every axis but 1)
/// along axis 1 into `out` (any layout, every element overwritten; allocates
/// nothing).
///
/// Errors if `inputs` is empty, the shapes disagree outside axis 1, or `out`
/// does not have the concatenated shape.
pub fn concat_into<D: RemoveAxis>(
    inputs: &[ArrayView<'_, f32, D>],
    mut out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    let total = concat_axis1_len("concat", inputs)?;
    let first = inputs[0].shape();
    let out_ok = out.ndim() == first.len()
        && out
            .shape()
            .iter()
            .zip(first)
            .enumerate()
            .all(|(k, (&a, &b))| if k == 1 { a == total } else { a == b });
    if !out_ok {
        let mut expected = first.to_vec();
        expected[1] = total;
        return shape_err(format!(
            "concat: out has shape {:?}, expected {expected:?}",
            out.shape()
        ));
    }
    let mut start = 0;
    for x in inputs {
        let len = x.len_of(Axis(1));
        out.slice_axis_mut(Axis(1), Slice::from(start..start + len))
            .assign(x);
        start += len;
    }
    Ok(())
}
