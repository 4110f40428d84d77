//! Error type shared by all kernels.

use std::fmt;

/// Error returned by a kernel when its inputs are inconsistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// Tensor shapes do not agree with each other or with the parameters.
    Shape(String),
    /// A parameter is out of range (zero stride, zero groups, …).
    Param(String),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Shape(m) => write!(f, "shape error: {m}"),
            KernelError::Param(m) => write!(f, "parameter error: {m}"),
        }
    }
}

impl std::error::Error for KernelError {}

/// Shorthand for building a [`KernelError::Shape`].
pub(crate) fn shape_err<T>(msg: impl Into<String>) -> Result<T, KernelError> {
    Err(KernelError::Shape(msg.into()))
}

/// Shorthand for building a [`KernelError::Param`].
pub(crate) fn param_err<T>(msg: impl Into<String>) -> Result<T, KernelError> {
    Err(KernelError::Param(msg.into()))
}

/// Checks that a caller-provided output buffer has the `expected` shape
/// (formats a message only on mismatch, so the success path allocates nothing).
pub(crate) fn check_out_shape(
    kernel: &str,
    expected: &[usize],
    found: &[usize],
) -> Result<(), KernelError> {
    if expected == found {
        Ok(())
    } else {
        shape_err(format!(
            "{kernel}: out has shape {found:?}, expected {expected:?}"
        ))
    }
}

/// The data of a caller-provided output buffer as one mutable slice, or a
/// [`KernelError::Shape`] if it is not in standard (C-contiguous) layout.
pub(crate) fn out_slice<'a, D: ndarray::Dimension>(
    kernel: &str,
    out: ndarray::ArrayViewMut<'a, f32, D>,
) -> Result<&'a mut [f32], KernelError> {
    if !out.is_standard_layout() {
        return shape_err(format!(
            "{kernel}: out (shape {:?}, strides {:?}) is not in standard (C-contiguous) layout",
            out.shape(),
            out.strides()
        ));
    }
    out.into_slice().ok_or_else(|| {
        KernelError::Shape(format!(
            "{kernel}: out is not in standard (C-contiguous) layout"
        ))
    })
}
