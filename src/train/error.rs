//! [`TrainError`]: why training could not start or go on.

use crate::grad::GradError;
use crate::interp::RunError;
use crate::interp::io::DataError;

/// Why data could not be loaded or a model could not be trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// An `.npy` file could not be read.
    #[error(transparent)]
    Npy(#[from] DataError),
    /// The data does not fit the model or is malformed.
    #[error("{0}")]
    Data(String),
    /// The options cannot train (e.g. a batch of one with batch norm).
    #[error("{0}")]
    Options(String),
    /// A training step failed.
    #[error(transparent)]
    Grad(#[from] GradError),
    /// The held-out evaluation failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A checkpoint or chart could not be written.
    #[error("{0}")]
    Write(String),
    /// An internal inconsistency.
    #[error("internal error: {0} (this is a bug in resnetc)")]
    Internal(String),
}

/// An internal error (a bug in resnetc, never the user's input).
pub(crate) fn internal(what: impl std::fmt::Display) -> TrainError {
    TrainError::Internal(what.to_string())
}
