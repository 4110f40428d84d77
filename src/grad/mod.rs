//! Reverse-mode gradients over the checked graph, in training mode.
//!
//! [`Tape::forward`] runs a [`CheckedModel`] as PyTorch's `model.train()`
//! does (batch norm on the batch's statistics, running statistics updated
//! with momentum 0.1; dropout with a seeded mask, or off) and keeps every
//! value; [`Tape::backward`] walks the graph in reverse, one rule per op
//! (`ops`), summing the gradients of a tensor read twice (the skip
//! connection). [`cross_entropy_gradients`] puts it together with the fused
//! softmax + cross-entropy loss (`loss`), the mean over the batch.
//!
//! Generic over the float type ([`Real`]): f64 for the finite-difference
//! checks, f32 for training.
//!
//! ```
//! use ndarray::ArrayD;
//! use resnetc::grad::{ParamSet, TrainOptions, cross_entropy_gradients};
//! let src = "model tiny {\n  input x: [3, 8, 8]\n  x -> conv(4, 3, pad: 1) -> bn -> relu -> global_avgpool -> flatten -> dense(2)\n}\n";
//! let compiled = resnetc::compile_source("tiny.rn", src, &Default::default()).unwrap();
//! let params = ParamSet::<f64>::from_weights(&compiled.model, &resnetc::interp::init(&compiled.model, 0)).unwrap();
//! let x = ArrayD::<f64>::ones(vec![2, 3, 8, 8]);
//! let step = cross_entropy_gradients(&compiled.model, &params, &[x], &[0, 1], &TrainOptions::default()).unwrap();
//! assert_eq!(step.gradients.params[0].0, "conv.weight");
//! ```

#[cfg(feature = "charts")]
mod chart;
mod error;
mod flow;
mod flow_svg;
mod labels;
mod loss;
mod memory;
pub mod ops;
mod params;
mod real;
mod save;
mod tape;

use ndarray::{ArrayD, Ix2};

#[cfg(feature = "charts")]
pub use chart::{CHART_FONT, ChartError, ChartFormat, render_chart, svg_to_png};
pub use error::GradError;
pub use flow::{Flow, FlowRow, gradient_flow};
pub use flow_svg::flow_svg;
pub use labels::read_labels;
pub use loss::{cross_entropy, validate_labels};
pub use memory::check_training_memory;
pub use params::ParamSet;
pub use real::Real;
pub use save::to_safetensors;
pub use tape::{Gradients, Tape, TrainOptions};

use crate::ir::{CheckedModel, NodeId};
use error::internal;

/// One training step's loss and gradients.
#[derive(Debug)]
pub struct LossStep<T> {
    /// The mean cross-entropy over the batch.
    pub loss: T,
    /// The gradients of the loss.
    pub gradients: Gradients<T>,
    /// The running statistics after the step.
    pub running: Vec<(String, ArrayD<T>)>,
}

/// The model's single `N×classes` output and its number of classes (an
/// error saying what it has instead otherwise).
pub fn class_output(model: &CheckedModel) -> Result<(NodeId, usize), GradError> {
    let g = model.graph();
    match g.outputs.as_slice() {
        [one] => match g.node(one.node).shape.0.as_slice() {
            [classes] => Ok((one.node, *classes)),
            _ => Err(GradError::NotLogits {
                model: g.name.clone(),
                found: format!("output `{}` of shape {}", one.name, g.node(one.node).shape),
            }),
        },
        many => Err(GradError::NotLogits {
            model: g.name.clone(),
            found: format!("{} outputs", many.len()),
        }),
    }
}

/// The mean cross-entropy of the model's single `N×classes` output against
/// `labels` (class indices, one per sample), and its gradients, in training mode.
pub fn cross_entropy_gradients<T: Real>(
    model: &CheckedModel,
    params: &ParamSet<T>,
    inputs: &[ArrayD<T>],
    labels: &[i64],
    options: &TrainOptions,
) -> Result<LossStep<T>, GradError> {
    let (output, classes) = class_output(model)?;
    let tape = Tape::forward(model, params, inputs, options)?;
    let logits = tape
        .value(output)?
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(internal)?;
    let labels = validate_labels(labels, logits.nrows(), classes)?;
    let (loss, dlogits) = cross_entropy(logits, &labels);
    let gradients = tape.backward(vec![(output, dlogits.into_dyn())])?;
    Ok(LossStep {
        loss,
        gradients,
        running: tape.running_stats().to_vec(),
    })
}

#[cfg(test)]
mod fd_tests;
#[cfg(test)]
mod fd_tests_decoder;
#[cfg(test)]
mod torch_tests;
