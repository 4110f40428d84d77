//! `resnetc gradflow`: the gradient norm reaching each block of one or more
//! models at initialisation, as a table and a chart (SVG or PNG).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use resnetc::grad::{self, ChartFormat, Flow, ParamSet};
use resnetc::interp;

use crate::run::{Failure, check_output, data_error, finish};

/// `resnetc gradflow`.
#[derive(Args, Debug)]
pub struct GradflowArgs {
    /// The `.rn` files (the first model of each), drawn on one chart.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Override every model's input shape (without the batch), e.g. `3x32x32`.
    #[arg(long, value_name = "SHAPE")]
    input: Option<String>,
    /// Samples in the seeded random batch.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(2..=4096))]
    batch: u64,
    /// Seed of the initial weights (as `resnetc init`), the batch and its labels.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the chart: SVG or PNG, by the file's extension.
    #[arg(short, long, value_name = "FILE.svg|FILE.png")]
    output: Option<PathBuf>,
}

/// `resnetc gradflow`.
pub fn gradflow(args: &GradflowArgs) -> ExitCode {
    finish(gradflow_inner(args))
}

fn flow_of(file: &std::path::Path, args: &GradflowArgs) -> Result<Flow, Failure> {
    let c = crate::compile_for_command(file, &None, args.input.as_slice()).map_err(Failure)?;
    let g = c.model.graph();
    let [input] = g.inputs.as_slice() else {
        return Err(data_error(format!(
            "`{}`: model `{}` has {} inputs; gradflow feeds one random batch to a model with one input",
            file.display(),
            g.name,
            g.inputs.len()
        )));
    };
    let (_, classes) = grad::class_output(&c.model)
        .map_err(|e| data_error(format!("`{}`: {e}", file.display())))?;
    grad::check_training_memory(&c.model, args.batch as usize).map_err(data_error)?;
    let weights = interp::try_init(&c.model, args.seed).map_err(data_error)?;
    let params = ParamSet::<f32>::from_weights(&c.model, &weights).map_err(data_error)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed.wrapping_add(1));
    let mut shape = vec![args.batch as usize];
    shape.extend(&g.node(input.node).shape.0);
    let x = ArrayD::<f32>::from_shape_simple_fn(IxDyn(&shape), || StandardNormal.sample(&mut rng));
    let labels: Vec<i64> = (0..args.batch)
        .map(|_| rng.random_range(0..classes as i64))
        .collect();
    grad::gradient_flow(&c.model, &params, &[x], &labels).map_err(data_error)
}

fn gradflow_inner(args: &GradflowArgs) -> Result<(), Failure> {
    let output = match &args.output {
        Some(o) => {
            let Some(format) = ChartFormat::from_path(o) else {
                eprintln!(
                    "error: `{}`: gradflow writes a chart as SVG or PNG: name the file `….svg` or `….png`",
                    o.display()
                );
                return Err(Failure(ExitCode::from(2)));
            };
            check_output(o)?;
            Some((o, format))
        }
        None => None,
    };
    let flows = args
        .files
        .iter()
        .map(|f| flow_of(f, args))
        .collect::<Result<Vec<_>, _>>()?;
    outln!(
        "Gradient flow at initialisation (seed {}): the mean cross-entropy of a seeded random batch of {} (normal inputs, uniform labels)",
        args.seed,
        args.batch
    );
    for f in &flows {
        outln!("\nmodel {}: loss {:.4}", f.model, f.loss);
        outln!(
            "{:>4}  {:<16} {:>16} {:>16}",
            "#",
            "unit",
            "‖∂loss/∂output‖",
            "‖∂loss/∂weights‖"
        );
        for (i, r) in f.rows.iter().enumerate() {
            outln!(
                "{i:>4}  {:<16} {:>16.3e} {:>16.3e}",
                r.name,
                r.output_grad_norm,
                r.param_grad_norm
            );
        }
    }
    if let Some((o, format)) = output {
        let bytes = grad::render_chart(&grad::flow_svg(&flows), format).map_err(data_error)?;
        resnetc::atomic::write(o, &bytes)
            .map_err(|e| data_error(format!("cannot write `{}`: {e}", o.display())))?;
        outln!("\nwrote {}", o.display());
    }
    Ok(())
}
