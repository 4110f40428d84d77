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
