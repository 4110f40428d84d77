//! ONNX export: a [`CheckedModel`] and its weights as an ONNX `ModelProto`.
//!
//! ```no_run
//! use resnetc::export::{ExportOptions, export};
//! let compiled = resnetc::compile_file("examples/resnet18.rn".as_ref(), &Default::default())?;
//! let weights = resnetc::interp::init(&compiled.model, 0);
//! let bytes = export(&compiled.model, &weights, &ExportOptions::default())?;
//! resnetc::atomic::write("resnet18.onnx".as_ref(), &bytes)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The graph keeps the `.rn` model's structure one node per layer: node names
//! are the layer names, values are named after the layer that computes them
//! (outputs after the model's output names, inputs after its inputs), and
//! initializers after the parameters (torchvision's `state_dict` names), as
//! little-endian f32 `raw_data`. Every input, output and intermediate value
//! has its shape with a symbolic batch dimension `N`. Constants an op needs
//! (ReLU6's bounds, GELU's decomposition) are initializers named
//! `{layer}/{what}`; helper nodes of a decomposition are `{layer}/{step}`,
//! with the layer's own name on the node that produces its value.
//!
//! Ops: `conv` → `Conv` (explicit `pads`), `bn` → `BatchNormalization` (or
//! folded into the preceding conv with [`ExportOptions::fold_bn`] where that
//! conv's only reader is the batch norm), `relu6` → `Clip` with min/max
//! inputs, `gelu` → `Gelu` from opset 20, else `0.5·x·(1 + Erf(x/√2))`,
//! `maxpool`/`avgpool` → `MaxPool`/`AveragePool` (PyTorch's `ceil_mode` and
//! `count_include_pad`), `dense` → `Gemm` (`transB = 1`: the weight is
//! `[out, in]`), `softmax` → `Softmax` over axis 1 (opset ≥ 13 semantics),
//! `dropout` → `Identity`, `add` → `Add` (two inputs) or `Sum`, `concat` →
//! `Concat` on axis 1.

mod error;
mod lower;
mod values;

pub use error::ExportError;

use prost::Message;

use crate::interp::Weights;
use crate::ir::CheckedModel;

/// The ONNX protobuf messages, generated from the vendored
/// `third_party/onnx/onnx.proto` (onnx 1.23.2) by `prost-build` + `protox`
/// (`cargo run -p onnx-proto`, in `tools/onnx-proto`).
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod proto {
    include!("onnx.rs");
}

/// The opset written by default: accepted by onnxruntime ≥ 1.13, Triton and Netron.
pub const DEFAULT_OPSET: i64 = 17;
/// The lowest opset resnetc exports (`Softmax` over one axis needs opset 13).
pub const MIN_OPSET: i64 = 13;
/// The highest opset resnetc exports.
pub const MAX_OPSET: i64 = 25;
/// The opset from which `gelu` is exported as the native `Gelu` op.
pub const GELU_OPSET: i64 = 20;

/// The IR version a model of this opset is written with: 8 up to opset 18
/// (the default), then the lowest IR version that allows the opset
/// (9 for 19–20, 10 for 21–22, 11 for 23, 12 for 24, 13 for 25).
pub fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=18 => 8,
        19..=20 => 9,
        21..=22 => 10,
        23 => 11,
        24 => 12,
        _ => 13,
    }
}

/// How to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The `ai.onnx` opset, [`MIN_OPSET`] to [`MAX_OPSET`].
    pub opset: i64,
    /// Fold each batch norm into the conv before it when the batch norm is
    /// that conv's only reader (no `BatchNormalization` node for it).
    pub fold_bn: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            opset: DEFAULT_OPSET,
            fold_bn: false,
        }
    }
}

/// Checks that `opset` is one resnetc exports.
pub fn check_opset(opset: i64) -> Result<(), ExportError> {
    if (MIN_OPSET..=MAX_OPSET).contains(&opset) {
        Ok(())
    } else {
        Err(ExportError::Opset {
            opset,
            min: MIN_OPSET,
            max: MAX_OPSET,
            default: DEFAULT_OPSET,
        })
    }
}

/// The model as an ONNX `ModelProto` message.
///
/// `weights` must hold every parameter of the model with its shape (as
/// [`crate::interp::WeightsFile::load`] and [`crate::interp::init`] return them).
pub fn to_model_proto(
    model: &CheckedModel,
    weights: &Weights,
    options: &ExportOptions,
) -> Result<proto::ModelProto, ExportError> {
    check_opset(options.opset)?;
    let graph = lower::lower(model, weights, options)?;
    Ok(proto::ModelProto {
        ir_version: Some(ir_version(options.opset)),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(options.opset),
        }],
        producer_name: Some("resnetc".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        ..Default::default()
    })
}

/// The model as the bytes of an ONNX file (`.onnx`); [`ExportError::TooLarge`]
/// at 2 GiB or more, which protobuf readers refuse.
pub fn export(
    model: &CheckedModel,
    weights: &Weights,
    options: &ExportOptions,
) -> Result<Vec<u8>, ExportError> {
    let proto = to_model_proto(model, weights, options)?;
    let bytes = proto.encoded_len();
    // Protobuf parsers (onnx, onnxruntime) refuse messages of 2 GiB or more.
    if bytes >= i32::MAX as usize {
        return Err(ExportError::TooLarge {
            bytes: bytes as u64,
        });
    }
    Ok(proto.encode_to_vec())
}
