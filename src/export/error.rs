//! Why a model could not be exported to ONNX.

/// An export failure. Every variant but [`ExportError::Internal`] is a
/// problem of the caller's input (the opset or the weights).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The requested opset is outside the supported range.
    #[error(
        "opset {opset} is not supported: resnetc exports opsets {min} to {max} (default {default})\n  help: pass `--opset {default}`, or a value from {min} to {max}"
    )]
    Opset {
        /// The requested opset.
        opset: i64,
        /// The lowest supported opset.
        min: i64,
        /// The highest supported opset.
        max: i64,
        /// The default opset.
        default: i64,
    },
    /// The weights lack a parameter of the model.
    #[error(
        "the weights have no tensor `{name}` (shape {expected:?}), which layer `{layer}` needs\n  help: load the weights with `WeightsFile::load` or `interp::init`, which check every tensor"
    )]
    MissingWeight {
        /// The parameter name.
        name: String,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// The layer that owns it.
        layer: String,
    },
    /// A weight whose shape or length does not match the model.
    #[error(
        "tensor `{name}` has shape {found:?} ({len} values), but layer `{layer}` needs shape {expected:?}"
    )]
    WeightShape {
        /// The parameter name.
        name: String,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// Its shape in the weights.
        found: Vec<usize>,
        /// Its number of values.
        len: usize,
        /// The layer that owns it.
        layer: String,
    },
    /// Two ONNX values would get the same name.
    #[error(
        "the ONNX value name `{name}` would be used twice ({what})\n  help: rename the output or the layer in the .rn file"
    )]
    NameClash {
        /// The name.
        name: String,
        /// What the second use is.
        what: String,
    },
    /// The model is too large for one protobuf message (2 GiB).
    #[error(
        "the ONNX model would take {bytes} bytes, more than the 2 GiB a single protobuf message can hold (resnetc does not write external data files)"
    )]
    TooLarge {
        /// The encoded size.
        bytes: u64,
    },
    /// An inconsistency in the checked graph.
    #[error("internal error while exporting layer `{layer}`: {reason} (this is a bug in resnetc)")]
    Internal {
        /// The layer being exported.
        layer: String,
        /// What was inconsistent.
        reason: String,
    },
}
