//! The front end: reading `.rn` files into syntax trees.
//!
//! [`parse_module`] parses one file's text; [`load`] reads a file and,
//! recursively, the files it imports, into a [`Program`].

pub mod ast;
#[cfg(test)]
pub(crate) mod coverage;
mod error;
mod parser;

use std::path::{Path, PathBuf};

pub use error::SyntaxError;
pub use parser::{MAX_NESTING, parse_module};

use crate::span::{FileId, SourceMap, Span};

/// All files of a compilation, parsed.
#[derive(Debug, Default)]
pub struct Program {
    /// The source texts (for diagnostics).
    pub sources: SourceMap,
    /// The parsed files; the first one is the main file, imports follow.
    pub modules: Vec<(FileId, ast::Module)>,
    /// Every file read from disk, in order (for `cargo:rerun-if-changed`).
    pub paths: Vec<PathBuf>,
}

impl Program {
    /// Parses one in-memory source text (no imports are followed).
    pub fn from_source(name: &str, text: &str) -> (Program, Vec<SyntaxError>) {
        let mut p = Program::default();
        let id = p.sources.add(name, text);
        let (m, errors) = parse_module(id, text);
        p.modules.push((id, m));
        (p, errors)
    }
}

/// Reads `path` and every file it imports (each once), and parses them.
///
/// Returns the program and all syntax errors found; an I/O error on the main
/// file is returned as `Err` (the caller reports it as a usage error).
pub fn load(path: &Path) -> std::io::Result<(Program, Vec<SyntaxError>)> {
    let bytes = std::fs::read(path)?;
    Ok(load_main(path, bytes))
}

/// Parses `text` as the contents of the file at `path` (an editor's unsaved
/// buffer, say) and reads the files it imports from disk, relative to `path`.
pub fn load_with_text(path: &Path, text: &str) -> (Program, Vec<SyntaxError>) {
    load_main(path, text.as_bytes().to_vec())
}

fn load_main(path: &Path, bytes: Vec<u8>) -> (Program, Vec<SyntaxError>) {
    let mut program = Program::default();
    let mut errors = Vec::new();
    let name = path.display().to_string();
    add_file(&mut program, &mut errors, path, &name, bytes);
    // Follow imports breadth-first; modules grows as we go.
    let mut next = 0;
    while next < program.modules.len() {
        let (file, imports) = {
            let (file, module) = &program.modules[next];
            let imports: Vec<(String, Span)> = module
                .items
                .iter()
                .filter_map(|it| match it {
                    ast::Item::Import(imp) => Some((imp.path.clone(), imp.span)),
                    _ => None,
                })
                .collect();
            (*file, imports)
        };
        let base = program.paths[file.0 as usize]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for (rel, span) in imports {
            let target = base.join(&rel);
            if program.paths.iter().any(|p| same_file(p, &target)) {
                continue;
            }
            match std::fs::read(&target) {
                Ok(bytes) => {
                    let name = target.display().to_string();
                    add_file(&mut program, &mut errors, &target, &name, bytes);
                }
                Err(e) => errors.push(SyntaxError::Import {
                    path: target.display().to_string(),
                    reason: e.to_string(),
                    span,
                }),
            }
        }
        next += 1;
    }
    (program, errors)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn add_file(
    program: &mut Program,
    errors: &mut Vec<SyntaxError>,
    path: &Path,
    name: &str,
    bytes: Vec<u8>,
) {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let id = program.sources.add(name, text);
            program.paths.push(path.to_path_buf());
            program.modules.push((id, ast::Module::default()));
            errors.push(SyntaxError::NotUtf8 {
                offset,
                span: Span::new(id, offset, offset),
            });
            return;
        }
    };
    let id = program.sources.add(name, text);
    program.paths.push(path.to_path_buf());
    let (module, errs) = parse_module(id, &program.sources.get(id).text);
    errors.extend(errs);
    program.modules.push((id, module));
}
