//! `resnetc emit`: the Rust back end on the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use resnetc::codegen::{EmitOptions, emit as emit_rust};

use crate::{ModelSource, usage_error};

/// `resnetc emit`.
#[derive(Args, Debug)]
pub struct EmitArgs {
    #[command(flatten)]
    source: ModelSource,
    /// Write the Rust source here (atomically) instead of to stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Embed these safetensors weights with `include_bytes!` (path as the generated file sees it).
    #[arg(long, value_name = "PATH")]
    embed_weights: Option<PathBuf>,
    /// Run the 3×3 stride-1 convolutions with at least 32 input and output
    /// channels on maps of at least 8×8 with Winograd F(4×4, 3×3), as `run
    /// --winograd` does (the same results as it, within 1e-4 of the
    /// default's). Off by default.
    #[arg(long)]
    winograd: bool,
}

/// Compiles the model and writes its Rust source.
pub fn emit(args: &EmitArgs) -> ExitCode {
    let compiled = match args.source.compile() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let source_name = header_name(&args.source.file);
    let code = match emit_rust(
        &compiled.model,
        &compiled.sources,
        &EmitOptions {
            source_name,
            embed_weights: args.embed_weights.clone(),
            winograd: args.winograd,
        },
    ) {
        Ok(code) => code,
        Err(e) => {
            // An internal error (a bug in resnetc), as `export` reports one.
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match &args.output {
        Some(path) => match resnetc::atomic::write(path, code.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => usage_error(&format!("cannot write `{}`: {e}", path.display())),
        },
        None => {
            crate::stdout::write_bytes(code.as_bytes());
            ExitCode::SUCCESS
        }
    }
}

/// The model file as the header names it: as given when relative, else its file name.
fn header_name(file: &Path) -> String {
    if file.is_absolute() {
        file.file_name().map_or_else(
            || file.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        )
    } else {
        file.display().to_string()
    }
}
