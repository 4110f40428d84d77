//! `resnetc train`: SGD on the bundled digits or an `.npy` pair, with a
//! held-out split, a progress bar, a checkpoint after every epoch and an
//! optional loss/accuracy chart.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use resnetc::grad::{self, ChartFormat, ParamSet};
use resnetc::interp;
use resnetc::train::{self, Dataset, Event, Schedule, TrainConfig, TrainError};

use crate::run::{Failure, check_output, data_error, finish};

/// The learning-rate schedule.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScheduleArg {
    /// Cosine annealing to 0 over the run, per step.
    Cosine,
    /// ÷10 after 50% and after 75% of the steps.
    Step,
    /// The base rate throughout.
    Constant,
}

/// `resnetc train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The `.rn` file.
    file: PathBuf,
    /// The model (default: the first model of FILE).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// `digits` (bundled: 1,797 8×8 images, 10 classes) or `X.npy,Y.npy`
    /// (f32 inputs in the model's input shape, int64/int32 labels).
    #[arg(long, value_name = "digits|X.npy,Y.npy")]
    data: String,
    /// Use only the first N samples of the data.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(3..))]
    limit: Option<u64>,
    /// Passes over the training split.
    #[arg(long, default_value_t = TrainConfig::default().epochs as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    epochs: u64,
    /// Samples per step.
    #[arg(long, default_value_t = TrainConfig::default().batch as u64, value_parser = clap::value_parser!(u64).range(2..=65_536))]
    batch: u64,
    /// Base learning rate.
    #[arg(long, default_value_t = TrainConfig::default().lr, value_parser = positive)]
    lr: f64,
    /// SGD momentum (0: none).
    #[arg(long, default_value_t = TrainConfig::default().momentum, value_parser = fraction)]
    momentum: f64,
    /// L2 weight decay on convolution and dense weights (not biases, not batch norm).
    #[arg(long, default_value_t = TrainConfig::default().weight_decay, value_parser = fraction)]
    weight_decay: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    schedule: ScheduleArg,
    /// Percentage of the data held out for testing.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(1..=90))]
    test_percent: u8,
    /// Seed of the initial weights (as `resnetc init`), the split, the shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (0: one per core). Results are reproducible for a seed and thread count.
    #[arg(long, default_value_t = 0)]
    threads: u16,
    /// The safetensors file to write after every epoch (atomically): every
    /// parameter and running statistic, for `resnetc run --weights`.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Also write the loss and accuracy per epoch as a chart: SVG or PNG,
    /// by the file's extension.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<PathBuf>,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a number in [0, 1)")),
    }
}

/// A usage or I/O error: exit 2.
fn io_failure(e: impl std::fmt::Display) -> Failure {
    eprintln!("error: {e}");
    Failure(ExitCode::from(2))
}

/// Errors of the data, the model or the run (exit 1), except unreadable
/// files (exit 2).
fn train_failure(e: TrainError) -> Failure {
    match e {
        TrainError::Npy(interp::io::DataError::Io { .. }) | TrainError::Write(_) => io_failure(e),
        other => data_error(other),
    }
}

/// `resnetc train`.
pub fn train(args: &TrainArgs) -> ExitCode {
    finish(interp::with_threads(args.threads as usize, || {
        train_inner(args)
    }))
}

fn load_data(args: &TrainArgs) -> Result<Dataset, Failure> {
    let data = if args.data == "digits" {
        train::digits().map_err(train_failure)?
    } else if let Some((x, y)) = args.data.split_once(',') {
        train::from_npy(Path::new(x), Path::new(y)).map_err(train_failure)?
    } else {
        return Err(io_failure(format!(
            "--data `{}`: expected `digits` or two .npy files `X.npy,Y.npy` (inputs, labels)",
            args.data
        )));
    };
    match args.limit {
        Some(n) => data
            .take(usize::try_from(n).unwrap_or(usize::MAX))
            .map_err(train_failure),
        None => Ok(data),
    }
}

fn train_inner(args: &TrainArgs) -> Result<(), Failure> {
    let plot_format = match &args.plot {
        Some(p) => {
            let Some(format) = ChartFormat::from_path(p) else {
                return Err(io_failure(format!(
                    "`{}`: --plot writes SVG or PNG: name the file `….svg` or `….png`",
                    p.display()
                )));
            };
            check_output(p)?;
            Some((p, format))
        }
        None => None,
    };
    check_output(&args.output)?;
    let data = load_data(args)?;
    let c = crate::compile_for_command(&args.file, &args.model, &[]).map_err(Failure)?;
    let g = c.model.graph();
    let [input] = g.inputs.as_slice() else {
        return Err(data_error(format!(
            "model `{}` has {} inputs; `resnetc train` trains a classifier with one input",
            g.name,
            g.inputs.len()
        )));
    };
    let expected = &g.node(input.node).shape.0;
    if data.sample_shape() != expected.as_slice() {
        return Err(data_error(format!(
            "the data's samples have shape {:?}, but model `{}` takes input `{}` of shape {:?}\n  help: reshape the inputs to N×{:?}, or change the model's `input` line",
            data.sample_shape(),
            g.name,
            input.name,
            expected,
            expected
        )));
    }
    let (_, classes) = grad::class_output(&c.model).map_err(data_error)?;
    if let Some((i, &l)) = data
        .y
        .iter()
        .enumerate()
        .find(|(_, l)| usize::try_from(**l).map_or(true, |l| l >= classes))
    {
        return Err(data_error(format!(
            "label {l} of sample {i} is not a class of model `{}`, which has {classes} classes (0..={})",
            g.name,
            classes - 1
        )));
    }
    grad::check_training_memory(&c.model, args.batch as usize).map_err(data_error)?;
    let (train_set, test_set) = data
        .split(args.test_percent, args.seed)
        .map_err(train_failure)?;
    let weights = interp::try_init(&c.model, args.seed).map_err(data_error)?;
    let mut params = ParamSet::<f32>::from_weights(&c.model, &weights).map_err(data_error)?;
    let config = TrainConfig {
        epochs: args.epochs as usize,
        batch: args.batch as usize,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        schedule: match args.schedule {
            ScheduleArg::Cosine => Schedule::Cosine,
            ScheduleArg::Step => Schedule::Step,
            ScheduleArg::Constant => Schedule::Constant,
        },
        seed: args.seed,
    };
    outln!(
        "training {} on {} ({} samples for training, {} held out), {} epochs of batch {}, lr {} ({:?}), momentum {}, weight decay {}, seed {}",
        g.name,
        if args.data == "digits" {
            "digits"
        } else {
            args.data.as_str()
        },
        train_set.len(),
        test_set.len(),
        config.epochs,
        config.batch,
        config.lr,
        args.schedule,
        config.momentum,
        config.weight_decay,
        config.seed
    );
    let start = Instant::now();
    let bar = ProgressBar::hidden();
    let style =
        ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} steps  {msg}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    let model = &c.model;
    let output = &args.output;
    let mut on = |event: Event<'_>| -> Result<(), TrainError> {
        match event {
            Event::Step {
                epoch,
                done,
                steps,
                loss,
                accuracy,
            } => {
                if done == 1 {
                    bar.reset();
                    bar.set_style(style.clone());
                    bar.set_length(steps as u64);
                    bar.set_prefix(format!("{epoch}/{}", config.epochs));
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                bar.set_message(format!("loss {loss:.4}  acc {:.1}%", accuracy * 100.0));
                bar.set_position(done as u64);
            }
            Event::Epoch { report: r, params } => {
                bar.finish_and_clear();
                let w = train::to_weights(model, params)?;
                let bytes = w.to_safetensors().map_err(TrainError::Data)?;
                resnetc::atomic::write(output, &bytes).map_err(|e| {
                    TrainError::Write(format!("cannot write `{}`: {e}", output.display()))
                })?;
                outln!(
                    "epoch {:>3}/{}  lr {:.4}  train loss {:.4}  train acc {:5.1}%  held-out loss {:.4}  held-out acc {:5.1}%  ({:.1} s)",
                    r.epoch,
                    config.epochs,
                    r.lr,
                    r.train_loss,
                    r.train_accuracy * 100.0,
                    r.test_loss,
                    r.test_accuracy * 100.0,
                    start.elapsed().as_secs_f64()
                );
            }
        }
        Ok(())
    };
    let reports = train::train(model, &mut params, &train_set, &test_set, &config, &mut on)
        .map_err(train_failure)?;
    if let Some((p, format)) = plot_format {
        let bytes = grad::render_chart(&train::curve_svg(&g.name, &reports), format)
            .map_err(|e| io_failure(format!("cannot write `{}`: {e}", p.display())))?;
        resnetc::atomic::write(p, &bytes)
            .map_err(|e| io_failure(format!("cannot write `{}`: {e}", p.display())))?;
        outln!("wrote {}", p.display());
    }
    if let Some(last) = reports.last() {
        outln!(
            "held-out accuracy {:.2}% after {} epochs in {:.1} s; wrote {}",
            last.test_accuracy * 100.0,
            last.epoch,
            start.elapsed().as_secs_f64(),
            args.output.display()
        );
    }
    Ok(())
}
