//! The pipeline in a page: read, parse, check, validate (`ir::validate`).

use std::path::Path;

pub use crate::check::{CheckOptions, Checked};
pub use crate::diag::Diagnostic;
pub use crate::ir::CheckedModel;
pub use crate::span::SourceMap;
use crate::{check, syntax};

/// A successfully compiled model, with its sources and any warnings.
#[derive(Debug)]
pub struct Compiled {
    /// The checked model.
    pub model: CheckedModel,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
    /// The sources (for rendering warnings).
    pub sources: SourceMap,
    /// Every file read (main file first).
    pub paths: Vec<std::path::PathBuf>,
}

/// A failed compilation: the diagnostics and the sources they point into.
#[derive(Debug)]
pub struct CompileError {
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// The sources.
    pub sources: SourceMap,
    /// The `model` option names no model of the program.
    unknown_model: bool,
}

impl CompileError {
    /// Whether compilation failed because [`CheckOptions::model`] (`--model`)
    /// names no model of the program: a mistake in the options, not in the
    /// source (the command line exits 2 for it).
    pub fn is_unknown_model(&self) -> bool {
        self.unknown_model
    }

    /// All diagnostics rendered as text.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.sources))
            .collect()
    }
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for CompileError {}

/// Why a file could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The main file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The program has errors.
    #[error("{0}")]
    Compile(#[from] CompileError),
}

fn finish(
    program: syntax::Program,
    syntax_errors: Vec<syntax::SyntaxError>,
    options: &CheckOptions,
) -> Result<Compiled, CompileError> {
    if !syntax_errors.is_empty() {
        return Err(CompileError {
            diagnostics: syntax_errors
                .iter()
                .map(syntax::SyntaxError::to_diagnostic)
                .collect(),
            sources: program.sources,
            unknown_model: false,
        });
    }
    match check::check(&program, options) {
        Ok(c) => match crate::ir::validate::validate(c.model.graph()) {
            Ok(()) => Ok(Compiled {
                model: c.model,
                warnings: c.warnings,
                sources: program.sources,
                paths: program.paths,
            }),
            Err(e) => Err(CompileError {
                diagnostics: vec![internal_error(&e)],
                sources: program.sources,
                unknown_model: false,
            }),
        },
        Err(diagnostics) => Err(CompileError {
            diagnostics,
            unknown_model: options
                .model
                .as_deref()
                .is_some_and(|m| !check::defines_model(&program, m)),
            sources: program.sources,
        }),
    }
}

/// The diagnostic of a graph that fails [`crate::ir::validate`]: E0900, an
/// internal error naming the model ("this is a bug in resnetc").
fn internal_error(e: &crate::ir::validate::InvalidGraph) -> Diagnostic {
    Diagnostic::error(crate::diag::Code::E0900, e.to_string())
}

/// Parses and checks a `.rn` file and the files it imports (then validates
/// the graph: a broken invariant is E0900, a bug in resnetc).
pub fn compile_file(path: &Path, options: &CheckOptions) -> Result<Compiled, Error> {
    let (program, errors) = syntax::load(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(finish(program, errors, options)?)
}

/// Parses and checks in-memory source text (imports are not followed), then
/// validates the graph as [`compile_file`] does.
pub fn compile_source(
    name: &str,
    text: &str,
    options: &CheckOptions,
) -> Result<Compiled, CompileError> {
    let (program, errors) = syntax::Program::from_source(name, text);
    finish(program, errors, options)
}

/// The language reference of `docs/ops.md` (`resnetc ops`): every op of the
/// op table, then the built-in functions.
pub fn reference_markdown() -> String {
    crate::ir::ops::reference_markdown() + &crate::check::builtins::reference_markdown()
}

#[cfg(test)]
mod tests {
    use crate::ir::validate::{InvalidGraph, Violation};

    /// A graph that breaks an invariant becomes E0900, an error that names
    /// the model and says it is a bug in resnetc.
    #[test]
    fn an_invalid_graph_is_an_internal_error() {
        let d = super::internal_error(&InvalidGraph {
            model: "tiny".into(),
            violation: Violation::DuplicateName {
                what: "output",
                name: "y".into(),
            },
        });
        assert!(d.is_error());
        assert_eq!(d.code, crate::diag::Code::E0900);
        assert!(d.message.contains("model `tiny`"), "{}", d.message);
        assert!(
            d.message.contains("this is a bug in resnetc"),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("two outputs are named `y`"),
            "{}",
            d.message
        );
    }
}
