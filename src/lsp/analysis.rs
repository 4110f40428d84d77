//! One document, compiled: its program (syntax trees of it and its imports),
//! the checked model when it compiles, and every diagnostic.

use std::path::PathBuf;

use lsp_types::Url;

use crate::check::{self, CheckOptions};
use crate::diag::{Code, Diagnostic};
use crate::ir::CheckedModel;
use crate::span::{FileId, Span};
use crate::syntax::{self, Program, ast};

/// The compiler's view of one open document.
#[derive(Debug)]
pub(crate) struct Analysis {
    /// The document's URI (file 0 of `program`).
    pub uri: Url,
    /// The document and the files it imports, parsed.
    pub program: Program,
    /// The checked model, when the document compiles.
    pub model: Option<CheckedModel>,
    /// Errors and warnings, in every file of the program.
    pub diagnostics: Vec<Diagnostic>,
}

/// The document is always file 0: `syntax::load_with_text` and
/// `Program::from_source` both add the main file first.
pub(crate) const DOCUMENT: FileId = FileId(0);

impl Analysis {
    /// Compiles `text` as the document at `uri`. A `file:` document's imports
    /// resolve relative to its path, read from disk; any other document
    /// (`untitled:`) is compiled alone.
    pub fn new(uri: Url, text: &str) -> Analysis {
        let path: Option<PathBuf> = if uri.scheme() == "file" {
            uri.to_file_path().ok()
        } else {
            None
        };
        let (program, syntax_errors) = match &path {
            Some(p) => syntax::load_with_text(p, text),
            None => syntax::Program::from_source(uri.as_str(), text),
        };
        let mut diagnostics: Vec<Diagnostic> = syntax_errors
            .iter()
            .map(syntax::SyntaxError::to_diagnostic)
            .collect();
        let mut model = None;
        if diagnostics.is_empty() {
            match check::check(&program, &CheckOptions::default()) {
                Ok(c) => {
                    model = Some(c.model);
                    diagnostics = c.warnings;
                }
                Err(d) => diagnostics = d,
            }
        }
        if let Some(span) = library_span(&program) {
            diagnostics.retain(|d| {
                d.code != Code::E0108 || d.primary.as_ref().map(|l| l.span) != Some(span)
            });
        }
        Analysis {
            uri,
            program,
            model,
            diagnostics,
        }
    }

    /// The URI of a file of the program.
    pub fn uri_of(&self, file: FileId) -> Option<Url> {
        if file == DOCUMENT {
            return Some(self.uri.clone());
        }
        let path = self.program.paths.get(file.0 as usize)?;
        let path = path.canonicalize().unwrap_or_else(|_| path.clone());
        Url::from_file_path(path).ok()
    }
}

/// The span of what makes the document a library, if it is one: a file with
/// blocks but no model (the start of the file), or whose first model has a
/// parameter without a default (that model's name), like
/// `examples/lib/resnet.rn`. Such a file cannot be compiled on its own, and
/// in an editor that is no error: the checker's E0108 there is dropped.
fn library_span(program: &Program) -> Option<Span> {
    let (_, module) = program.modules.first()?;
    let first_model = module.items.iter().find_map(|i| match i {
        ast::Item::Model(m) => Some(m),
        _ => None,
    });
    match first_model {
        None => module
            .items
            .iter()
            .any(|i| matches!(i, ast::Item::Block(_)))
            .then(|| Span::new(DOCUMENT, 0, 0)),
        Some(m) => match &m.kind {
            ast::ModelKind::Body { params, .. } if params.iter().any(|p| p.default.is_none()) => {
                Some(m.name.span)
            }
            _ => None,
        },
    }
}
