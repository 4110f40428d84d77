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
        if is_library(&program) {
            diagnostics.retain(|d| !is_no_model(d));
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

/// A file that defines blocks but no model (like `examples/lib/resnet.rn`):
/// it is checked for syntax and definitions, and "this file defines no
/// model" is not an error in an editor.
fn is_library(program: &Program) -> bool {
    program.modules.first().is_some_and(|(_, m)| {
        !m.items.iter().any(|i| matches!(i, ast::Item::Model(_)))
            && m.items.iter().any(|i| matches!(i, ast::Item::Block(_)))
    })
}

/// The checker's "this file defines no model" error (E0108 at the start of the main file).
fn is_no_model(d: &Diagnostic) -> bool {
    d.code == Code::E0108 && d.primary.as_ref().map(|l| l.span) == Some(Span::new(DOCUMENT, 0, 0))
}
