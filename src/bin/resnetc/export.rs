//! `resnetc export`: the model and its weights as an ONNX file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use resnetc::export::{self, DEFAULT_OPSET, ExportOptions};

use crate::run::{Failure, WeightArgs, load_weights};
use crate::{ModelSource, usage_error};

/// `resnetc export`.
#[derive(Args, Debug)]
#[command(
    after_help = "Without --weights, the model gets the deterministic initial weights of `resnetc init --seed 0` (another seed with --seed)."
)]
pub struct ExportArgs {
    #[command(flatten)]
    source: ModelSource,
    #[command(flatten)]
    weights: WeightArgs,
    /// The ONNX file to write (atomically).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// The ai.onnx opset, 13 to 25 (IR version 8 up to opset 18, then the lowest IR version that allows the opset: 9 for 19–20, 10 for 21–22, 11–13 for 23–25).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_OPSET, allow_negative_numbers = true)]
    opset: i64,
    /// Fold each batch norm into the conv before it (where the conv's only reader is the batch norm).
    #[arg(long)]
    fold_bn: bool,
}

/// Compiles the model, loads or initialises its weights and writes the ONNX file.
pub fn export(args: &ExportArgs) -> ExitCode {
    if let Err(e) = export::check_opset(args.opset) {
        return usage_error(&e.to_string());
    }
    let compiled = match args.source.compile() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let weights = match load_weights(&compiled, &args.weights, None) {
        Ok(w) => w,
        Err(Failure(code)) => return code,
    };
    let options = ExportOptions {
        opset: args.opset,
        fold_bn: args.fold_bn,
    };
    let bytes = match export::export(&compiled.model, &weights, &options) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = resnetc::atomic::write(&args.output, &bytes) {
        return usage_error(&format!("cannot write `{}`: {e}", args.output.display()));
    }
    let g = compiled.model.graph();
    outln!(
        "wrote model `{}` to {} (opset {}, {} bytes, {} parameters{})",
        g.name,
        args.output.display(),
        args.opset,
        resnetc::report::group(bytes.len() as u64),
        resnetc::report::group(compiled.model.costs().total_params),
        match &args.weights.weights {
            Some(_) => String::new(),
            None => format!(
                ", initial weights of seed {}: pass --weights for trained ones",
                args.weights.seed
            ),
        }
    );
    ExitCode::SUCCESS
}
