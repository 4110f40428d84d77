//! Go to definition: a block or model name → its definition (in whichever
//! file of the program), a tensor or parameter → its `input` declaration,
//! assignment or parameter in scope.

use lsp_types::Location;

use super::analysis::{Analysis, DOCUMENT};
use super::position::range;
use super::resolve::{self, Target};

/// Where the name at byte `offset` of the document is defined.
pub(crate) fn definition(a: &Analysis, offset: usize) -> Option<Location> {
    let hit = resolve::at(&a.program, DOCUMENT, offset)?;
    let span = match hit.target {
        Target::Local { decl, .. } => decl,
        Target::Block(s) | Target::Model(s) => s,
        Target::Op(_) | Target::Builtin(_) => return None,
    };
    let uri = a.uri_of(span.file)?;
    Some(Location::new(
        uri,
        range(a.program.sources.get(span.file), span),
    ))
}
