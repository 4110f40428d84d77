//! `resnetc graph`: a picture of the checked graph (DOT, or SVG/PNG through Graphviz).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use resnetc::dot::{DotOptions, ImageFormat, render_with_graphviz, to_dot};

use crate::{ModelSource, usage_error};

/// `resnetc graph`.
#[derive(Args, Debug)]
#[command(after_long_help = GRAPH_HELP)]
pub struct GraphArgs {
    #[command(flatten)]
    source: ModelSource,
    /// Write here (atomically) instead of DOT on stdout: `.dot`/`.gv` is DOT,
    /// `.svg` and `.png` are rendered by Graphviz's `dot`.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Draw every layer, each block instance as a (nested) cluster, instead of
    /// one box per outermost block instance.
    #[arg(long)]
    expand_blocks: bool,
}

const GRAPH_HELP: &str = "\
By default every outermost block instance is one box (`layer1.0: basic(planes=64)`
with its output shape and parameter count) and layers outside blocks are one node
each; --expand-blocks draws every layer, with each block instance as a cluster.
Layers read `name: op(args)`, their output shape and parameter count; edges carry
the shape of their tensor. Skip connections are dashed and red: an edge into an
add or concat from an operand that also feeds another of its operands (the
tensor bypasses the layers in between), and every edge of a projection shortcut
(of two single-file branches from one tensor into an add or concat, the strictly
shorter one). SVG and PNG need Graphviz (`apt-get install graphviz`, `brew
install graphviz`).

Examples:
  resnetc graph examples/resnet18.rn -o r18.svg
  resnetc graph examples/seed.rn --expand-blocks | dot -Tpng > seed.png";

/// What `-o` asks for.
enum Target {
    Dot,
    Image(ImageFormat),
}

fn target(path: &Path) -> Result<Target, String> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("dot" | "gv") => Ok(Target::Dot),
        Some("svg") => Ok(Target::Image(ImageFormat::Svg)),
        Some("png") => Ok(Target::Image(ImageFormat::Png)),
        _ => Err(format!(
            "cannot tell the format of `{}`: name the output `.dot` (or `.gv`), `.svg` or `.png`",
            path.display()
        )),
    }
}

/// Compiles the model and writes its picture.
pub fn graph(args: &GraphArgs) -> ExitCode {
    let target = match args.output.as_deref().map(target).transpose() {
        Ok(t) => t,
        Err(e) => return usage_error(&e),
    };
    let compiled = match args.source.compile() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let dot = match to_dot(
        &compiled.model,
        &DotOptions {
            expand_blocks: args.expand_blocks,
        },
    ) {
        Ok(d) => d,
        Err(e) => return usage_error(&e.to_string()),
    };
    let (Some(path), Some(target)) = (&args.output, target) else {
        crate::stdout::write_bytes(dot.as_bytes());
        return ExitCode::SUCCESS;
    };
    let bytes = match target {
        Target::Dot => dot.into_bytes(),
        Target::Image(format) => match render_with_graphviz(&dot, format) {
            Ok(b) => b,
            Err(e) => return usage_error(&e.to_string()),
        },
    };
    match resnetc::atomic::write(path, &bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(&format!("cannot write `{}`: {e}", path.display())),
    }
}
