//! `resnetc`: the command-line front end.
//!
//! The only place that prints or chooses an exit code: 0 success, 1 errors in
//! the model or its data (weights, inputs), 2 usage errors or an unreadable
//! model file, 141 a closed standard output.

// Standard output only through `stdout` (a closed pipe is not a panic).
#![deny(clippy::print_stdout)]

#[macro_use]
mod stdout;

mod bench;
mod emit;
mod export;
mod fmt;
mod grad;
mod gradflow;
mod graph;
mod lsp;
mod man;
mod memory;
mod run;
mod sizes;
mod train;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use codespan_reporting::term::{Styles, StylesWriter};
use resnetc::diag::Code;
use resnetc::report::Summary;
use resnetc::{CheckOptions, Diagnostic, SourceMap};

/// Compile a `.rn` residual-network description: check every shape and print
/// a summary of the model.
#[derive(Parser, Debug)]
#[command(name = "resnetc", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    summary: SummaryArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the reference of every op and built-in function (Markdown).
    Ops,
    /// Explain a diagnostic code, e.g. `resnetc explain E0200`; without a code, list them all.
    Explain {
        /// The code (E0001, W0001, ...); omit it to list every code.
        code: Option<String>,
    },
    /// Run a model on the CPU: on an .npy batch, images, or a seeded random batch.
    Run(run::RunArgs),
    /// Write deterministic initial weights (torchvision's initialisation) as safetensors.
    Init(run::InitArgs),
    /// Check a weights file against a model (reads only its header).
    Check(run::CheckArgs),
    /// Time the interpreter's forward pass on a batch (median of repeated runs) and report its memory.
    Bench(bench::BenchArgs),
    /// Emit specialised Rust source for a model (depends only on `resnetc::runtime`).
    Emit(emit::EmitArgs),
    /// Draw the checked graph: DOT on stdout, or a .dot/.svg/.png file (SVG and PNG through Graphviz).
    Graph(graph::GraphArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(man::CompletionsArgs),
    /// Print the manual page, resnetc(1), as roff.
    Man(man::ManArgs),
    /// Format `.rn` files in the canonical layout (in place, or `--check` with a diff).
    Fmt(fmt::FmtArgs),
    /// Export a model and its weights as ONNX (symbolic batch N, opset 17 by default).
    Export(export::ExportArgs),
    /// Run the language server on stdin/stdout (for editors: diagnostics, hover, definitions).
    Lsp,
    /// State which input heights and widths a model accepts, as a formula.
    Sizes(sizes::SizesArgs),
    /// Gradients of the mean cross-entropy over a batch, in training mode, as safetensors.
    Grad(grad::GradArgs),
    /// The gradient norm reaching each block at initialisation, for one or more models (table, SVG chart).
    Gradflow(gradflow::GradflowArgs),
    /// Train a classifier with SGD on the bundled digits or an .npy pair (held-out split, checkpoints, chart).
    Train(train::TrainArgs),
}

#[derive(clap::Args, Debug)]
struct SummaryArgs {
    /// The `.rn` file to compile.
    file: Option<PathBuf>,
    /// The model to compile (default: the first model of FILE).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
    /// Override an input shape (without the batch): `3x32x32`, or `x=3x32x32` by name. Repeatable.
    #[arg(long, value_name = "SHAPE")]
    input: Vec<String>,
    /// How to print the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// How to print diagnostics: rustc-style text, or one JSON object per line on stderr.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    message_format: MessageFormat,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// A Keras-style table with totals.
    Table,
    /// The summary as YAML.
    Yaml,
    /// The summary as JSON.
    Json,
    /// The checked graph, one line per node.
    Ir,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    memory::release_freed_memory_promptly();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Ops) => {
            out!("{}", resnetc::reference_markdown());
            ExitCode::SUCCESS
        }
        Some(Command::Explain { code: Some(code) }) => explain(&code),
        Some(Command::Explain { code: None }) => {
            for c in Code::ALL {
                outln!("{}: {}", c.as_str(), c.explain());
            }
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Init(args)) => run::init(&args),
        Some(Command::Check(args)) => run::check(&args),
        Some(Command::Bench(args)) => bench::bench(&args),
        Some(Command::Emit(args)) => emit::emit(&args),
        Some(Command::Graph(args)) => graph::graph(&args),
        Some(Command::Completions(args)) => man::completions(&args),
        Some(Command::Man(args)) => man::man(&args),
        Some(Command::Fmt(args)) => fmt::fmt(&args),
        Some(Command::Export(args)) => export::export(&args),
        Some(Command::Lsp) => lsp::lsp(),
        Some(Command::Sizes(args)) => sizes::sizes(&args),
        Some(Command::Grad(args)) => grad::grad(&args),
        Some(Command::Gradflow(args)) => gradflow::gradflow(&args),
        Some(Command::Train(args)) => train::train(&args),
        None => summary(&cli.summary),
    }
}

fn explain(code: &str) -> ExitCode {
    match Code::ALL
        .iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(code))
    {
        Some(c) => {
            outln!("{}: {}", c.as_str(), c.explain());
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("error: unknown diagnostic code `{code}` (codes look like E0200 or W0001)");
            ExitCode::from(2)
        }
    }
}

pub(crate) fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Compiles `file` and prints its diagnostics: the warnings (when `warnings`)
/// on success; on errors every diagnostic and a closing `could not compile`
/// line, with exit code 1 (2 when the file cannot be read or `--model`
/// names no model of it).
pub(crate) fn compile_reporting(
    file: &std::path::Path,
    options: &CheckOptions,
    format: MessageFormat,
    color: Color,
    warnings: bool,
) -> Result<resnetc::Compiled, ExitCode> {
    match resnetc::compile_file(file, options) {
        Ok(c) => {
            if warnings {
                report_with(&c.warnings, &c.sources, format, color);
            }
            Ok(c)
        }
        Err(resnetc::Error::Io { path, source }) => {
            Err(usage_error(&format!("cannot read `{path}`: {source}")))
        }
        Err(resnetc::Error::Compile(e)) => {
            report_with(&e.diagnostics, &e.sources, format, color);
            let errors = e.diagnostics.iter().filter(|d| d.is_error()).count();
            if matches!(format, MessageFormat::Human) {
                if let Some(help) = sizes::input_help(file, options) {
                    eprintln!("{help}");
                }
                eprintln!(
                    "error: could not compile `{}` due to {errors} previous error{}",
                    file.display(),
                    if errors == 1 { "" } else { "s" }
                );
            }
            // An unknown `--model` is a usage error, not an error in the file.
            Err(ExitCode::from(if e.is_unknown_model() { 2 } else { 1 }))
        }
    }
}

/// The model a subcommand works on: the file, `--model` and `--input`
/// (flattened into `emit`, `export` and `graph`).
#[derive(clap::Args, Debug)]
pub(crate) struct ModelSource {
    /// The `.rn` file.
    pub(crate) file: PathBuf,
    /// The model (default: the first model of FILE).
    #[arg(long, value_name = "NAME")]
    pub(crate) model: Option<String>,
    /// Override an input shape (without the batch): `3x32x32`, or `x=3x32x32`. Repeatable.
    #[arg(long, value_name = "SHAPE")]
    pub(crate) input: Vec<String>,
}

impl ModelSource {
    /// Compiles the model: human diagnostics on stderr, warnings included;
    /// on failure, the exit code to return (2 for a malformed `--input` or
    /// an unreadable file, 1 for errors in the model).
    pub(crate) fn compile(&self) -> Result<resnetc::Compiled, ExitCode> {
        compile_for_command(&self.file, &self.model, &self.input)
    }
}

/// Compiles `file` with `--model` and `--input` flags, as [`ModelSource::compile`].
pub(crate) fn compile_for_command(
    file: &std::path::Path,
    model: &Option<String>,
    inputs: &[String],
) -> Result<resnetc::Compiled, ExitCode> {
    let options = check_options(model, inputs)?;
    compile_reporting(file, &options, MessageFormat::Human, Color::Auto, true)
}

/// The checker's options from `--model` and `--input SHAPE` flags (a usage
/// error for a malformed shape).
pub(crate) fn check_options(
    model: &Option<String>,
    inputs: &[String],
) -> Result<CheckOptions, ExitCode> {
    let input_shapes = inputs
        .iter()
        .map(|s| parse_input_shape(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| usage_error(&e))?;
    Ok(CheckOptions {
        model: model.clone(),
        input_shapes,
    })
}

/// Parses `3x32x32` or `name=3x32x32`.
pub(crate) fn parse_input_shape(s: &str) -> Result<(Option<String>, Vec<usize>), String> {
    let (name, dims) = match s.split_once('=') {
        Some((n, d)) => (Some(n.trim().to_string()), d),
        None => (None, s),
    };
    let dims: Result<Vec<usize>, _> = dims
        .split(['x', 'X', '×', ','])
        .map(|d| d.trim().parse::<usize>())
        .collect();
    match dims {
        Ok(d)
            if !d.is_empty()
                && d.iter()
                    .all(|&x| x > 0 && (x as u64) <= resnetc::check::MAX_ELEMENTS) =>
        {
            Ok((name, d))
        }
        _ => Err(format!(
            "invalid --input `{s}`: expected positive sizes separated by `x`, like `3x224x224` or `x=3x224x224`"
        )),
    }
}

fn summary(args: &SummaryArgs) -> ExitCode {
    let Some(file) = &args.file else {
        return usage_error(
            "no input file\n\nUsage: resnetc [OPTIONS] <FILE>\n\nFor more information, try '--help'.",
        );
    };
    let options = match check_options(&args.model, &args.input) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let compiled = match compile_reporting(file, &options, args.message_format, args.color, true) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let summary = Summary::new(&compiled.model);
    let text = match args.format {
        Format::Table => {
            summary.render() + &sizes::summary_line(file, &options).unwrap_or_default()
        }
        Format::Ir => compiled.model.graph().dump(&compiled.sources),
        Format::Json => match serde_json::to_string_pretty(&summary) {
            Ok(s) => s + "\n",
            Err(e) => return usage_error(&format!("cannot serialise the summary: {e}")),
        },
        Format::Yaml => match serde_yaml::to_string(&summary) {
            Ok(s) => s,
            Err(e) => return usage_error(&format!("cannot serialise the summary: {e}")),
        },
    };
    crate::stdout::write_bytes(text.as_bytes());
    ExitCode::SUCCESS
}

/// Prints diagnostics to stderr in the chosen format.
pub(crate) fn report_with(
    diagnostics: &[Diagnostic],
    sources: &SourceMap,
    format: MessageFormat,
    color: Color,
) {
    match format {
        MessageFormat::Json => {
            let mut err = std::io::stderr().lock();
            for d in diagnostics {
                let _ = writeln!(err, "{}", d.to_json(sources));
            }
        }
        MessageFormat::Human => {
            let choice = match color {
                Color::Always => ColorChoice::Always,
                Color::Never => ColorChoice::Never,
                Color::Auto if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
                    ColorChoice::Auto
                }
                Color::Auto => ColorChoice::Never,
            };
            let stream = StandardStream::stderr(choice);
            let styles = Styles::default();
            let mut lock = stream.lock();
            let mut writer = StylesWriter::new(&mut lock, &styles);
            for d in diagnostics {
                if d.render_styled(sources, &mut writer).is_err() {
                    eprint!("{}", d.render(sources));
                }
            }
        }
    }
}
