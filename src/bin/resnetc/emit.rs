//! `resnetc emit`: the Rust back end on the command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use resnetc::codegen::{EmitOptions, emit as emit_rust};

use crate::{compile_for_command, usage_error};

/// `resnetc emit`.
#[derive(Args, Debug)]
pub struct EmitArgs {
    /// The `.rn` file (named as given in the generated header).
    file: PathBuf,
    /// The model to emit (default: the first model of FILE).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Override an input shape (without the batch): `3x32x32`, or `x=3x32x32`. Repeatable.
    #[arg(long, value_name = "SHAPE")]
    input: Vec<String>,
    /// Write the Rust source here (atomically) instead of to stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Embed these safetensors weights with `include_bytes!` (path as the generated file sees it).
    #[arg(long, value_name = "PATH")]
    embed_weights: Option<PathBuf>,
}

/// Compiles the model and writes its Rust source.
pub fn emit(args: &EmitArgs) -> ExitCode {
    let compiled = match compile_for_command(&args.file, &args.model, &args.input) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let source_name = header_name(&args.file);
    let code = emit_rust(
        &compiled.model,
        &compiled.sources,
        &EmitOptions {
            source_name,
            embed_weights: args.embed_weights.clone(),
        },
    );
    match &args.output {
        Some(path) => match resnetc::atomic::write(path, code.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => usage_error(&format!("cannot write `{}`: {e}", path.display())),
        },
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(code.as_bytes()).and_then(|()| out.flush());
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
