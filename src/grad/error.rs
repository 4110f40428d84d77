//! [`GradError`]: why gradients could not be computed.

/// Why a training-mode forward pass, a backward pass or a loss failed.
#[derive(Debug, thiserror::Error)]
pub enum GradError {
    /// A parameter of the model has no tensor.
    #[error(
        "no tensor for parameter `{0}`: load the weights with WeightsFile::load or interp::init"
    )]
    MissingParam(String),
    /// A parameter's tensor has another shape than the model's.
    #[error("parameter `{name}` has shape {found:?}, but the model needs {expected:?}")]
    ParamShape {
        /// The parameter.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The tensor's shape.
        found: Vec<usize>,
    },
    /// The number of inputs differs from the model's.
    #[error("model `{model}` takes {expected} input(s), but {found} were given")]
    InputCount {
        /// The model.
        model: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// An input of the wrong shape.
    #[error("input `{name}` must have shape N×{expected:?} with N ≥ 1, but has shape {found:?}")]
    InputShape {
        /// The input's name.
        name: String,
        /// Its shape without the batch.
        expected: Vec<usize>,
        /// The given shape.
        found: Vec<usize>,
    },
    /// Batch norm in training mode needs more than one value per channel.
    #[error(
        "layer `{layer}`: batch norm in training mode needs more than one value per channel, but the batch gives {values}\n  help: use a batch of at least 2 samples"
    )]
    BatchTooSmall {
        /// The batch-norm layer.
        layer: String,
        /// Values per channel (batch × height × width).
        values: usize,
    },
    /// The loss needs one output of shape N×classes.
    #[error(
        "the cross-entropy loss needs a model with one output of shape N×classes, but model `{model}` has {found}\n  help: end the model with `-> flatten -> dense(classes)`"
    )]
    NotLogits {
        /// The model.
        model: String,
        /// What it has instead.
        found: String,
    },
    /// The labels do not fit the batch or the classes.
    #[error("{0}")]
    Labels(String),
    /// An internal inconsistency.
    #[error("internal error: {0} (this is a bug in resnetc)")]
    Internal(String),
}

/// An internal error (a bug in resnetc, never the user's input).
pub(crate) fn internal(what: impl std::fmt::Display) -> GradError {
    GradError::Internal(what.to_string())
}
