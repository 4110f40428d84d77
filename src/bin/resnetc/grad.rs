//! `resnetc grad`: the gradient of the mean cross-entropy over a batch, in
//! training mode, for every trainable parameter.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ndarray::ArrayD;
use resnetc::grad::{self, ParamSet, TrainOptions};
use resnetc::interp::io;
use resnetc::{CheckOptions, Compiled};

use crate::run::{Failure, WeightArgs, check_output, data_error, finish, load_weights};
use crate::{Color, MessageFormat};

/// `resnetc grad`.
#[derive(Args, Debug)]
pub struct GradArgs {
    /// The `.rn` file.
    file: PathBuf,
    /// The model (default: the first model of FILE).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    #[command(flatten)]
    weights: WeightArgs,
    /// The batch: an f32 .npy array N×C×H×W (its shape sets the model's input shape).
    #[arg(long, value_name = "NPY")]
    input: PathBuf,
    /// The class index of each sample: an int64 or int32 .npy array of N elements.
    #[arg(long, value_name = "NPY")]
    labels: PathBuf,
    /// The safetensors file to write: one f32 tensor per trainable parameter, named like it.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Apply dropout with masks drawn from this seed (default: dropout off).
    #[arg(long, value_name = "SEED")]
    dropout_seed: Option<u64>,
}

fn compile(
    args: &GradArgs,
    input_shapes: Vec<(Option<String>, Vec<usize>)>,
    warnings: bool,
) -> Result<Compiled, Failure> {
    let options = CheckOptions {
        model: args.model.clone(),
        input_shapes,
    };
    crate::compile_reporting(
        &args.file,
        &options,
        MessageFormat::Human,
        Color::Auto,
        warnings,
    )
    .map_err(Failure)
}

/// `resnetc grad`.
pub fn grad(args: &GradArgs) -> ExitCode {
    finish(grad_inner(args))
}

fn grad_inner(args: &GradArgs) -> Result<(), Failure> {
    let x = io::read_npy(&args.input).map_err(data_error)?;
    if x.ndim() < 2 || x.shape()[0] == 0 {
        return Err(data_error(format!(
            "`{}` has shape {:?}: expected a non-empty batch N×C×H×W (or N×F)\n  help: add the batch axis: np.save(path, x[None])",
            args.input.display(),
            x.shape()
        )));
    }
    let labels = grad::read_labels(&args.labels).map_err(data_error)?;
    check_output(&args.output)?;
    let declared = compile(args, Vec::new(), true)?;
    let g = declared.model.graph();
    let [input] = g.inputs.as_slice() else {
        return Err(data_error(format!(
            "--input feeds one tensor, but model `{}` has {} inputs: `resnetc grad` needs a model with one input",
            g.name,
            g.inputs.len()
        )));
    };
    // The data decides the input shape, as for `resnetc run`.
    let c = if x.shape()[1..] == g.node(input.node).shape.0[..] {
        declared
    } else {
        compile(args, vec![(None, x.shape()[1..].to_vec())], false)?
    };
    grad::check_training_memory(&c.model, x.shape()[0]).map_err(data_error)?;
    let weights = load_weights(&c, &args.weights, None)?;
    let params = ParamSet::<f32>::from_weights(&c.model, &weights).map_err(data_error)?;
    let options = TrainOptions {
        dropout_seed: args.dropout_seed,
    };
    let step =
        grad::cross_entropy_gradients(&c.model, &params, &[x], &labels, &options).map_err(|e| {
            match e {
                grad::GradError::Labels(m) => {
                    data_error(format!("`{}`: {m}", args.labels.display()))
                }
                other => data_error(other),
            }
        })?;
    let grads: &[(String, ArrayD<f32>)] = &step.gradients.params;
    let bytes = grad::to_safetensors(grads).map_err(data_error)?;
    resnetc::atomic::write(&args.output, &bytes)
        .map_err(|e| data_error(format!("cannot write `{}`: {e}", args.output.display())))?;
    let count: usize = grads.iter().map(|(_, a)| a.len()).sum();
    outln!(
        "loss {:.6} (mean cross-entropy over {} samples, training mode); wrote the gradients of {} tensors ({} parameters) to {}",
        step.loss,
        labels.len(),
        grads.len(),
        resnetc::report::group(count as u64),
        args.output.display()
    );
    Ok(())
}
