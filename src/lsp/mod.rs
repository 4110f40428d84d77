//! `resnetc lsp`: a small synchronous language server.
//!
//! Full-document sync; on every open and change the document is compiled
//! (imports resolve relative to its path, read from disk; its own text is the
//! editor's) and the compiler's diagnostics are published, with UTF-16
//! columns. Hover shows a tensor's shape and a layer's op, arguments, output
//! shape and parameter count; go-to-definition jumps to blocks, models,
//! tensors and parameters; formatting is [`crate::fmt::format_source`].
//! Built on rust-analyzer's `lsp-server` (transport) and `lsp-types`
//! (protocol types); [`serve`] runs over any [`lsp_server::Connection`], so
//! tests drive it in-process through `Connection::memory()`.

mod analysis;
mod definition;
mod diagnostics;
mod hover;
mod position;
mod resolve;
mod server;

use lsp_server::{Connection, ProtocolError};

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum LspError {
    /// The client broke the protocol (for example, no `initialize` first, or
    /// a message other than `exit` after `shutdown`).
    #[error("language server protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The connection to the client closed while the server was replying.
    #[error("the client closed the connection")]
    Disconnected,
    /// The server's capabilities could not be serialised (a bug in resnetc).
    #[error("cannot serialise the server's capabilities (this is a bug in resnetc): {0}")]
    Json(#[from] serde_json::Error),
}

/// Runs the server on `connection`: the `initialize` handshake, then requests
/// and notifications until `shutdown` and `exit` (or the client hangs up).
pub fn serve(connection: &Connection) -> Result<(), LspError> {
    let capabilities = serde_json::to_value(server::capabilities())?;
    connection.initialize(capabilities)?;
    server::Server::new(connection).run()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use lsp_types::Url;

    use super::analysis::{Analysis, DOCUMENT};
    use super::position::{offset, position};
    use super::{definition, hover};

    /// Hover and definition at every character of every example, and of every
    /// error-corpus file: no panic, and positions round-trip.
    #[test]
    fn every_position_of_every_example_and_error_file() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["examples", "examples/lib", "tests/errors"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "rn") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 50, "{}", files.len());
        let mut hovers = 0;
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let uri = Url::from_file_path(path.canonicalize().unwrap()).unwrap();
            let a = Analysis::new(uri, &text);
            let file = a.program.sources.get(DOCUMENT);
            for (i, _) in file.text.char_indices().chain([(file.text.len(), ' ')]) {
                assert_eq!(
                    offset(file, position(file, i)),
                    i,
                    "{}: {i}",
                    path.display()
                );
                hovers += usize::from(hover::hover(&a, DOCUMENT, i).is_some());
                let _ = definition::definition(&a, i);
            }
        }
        assert!(hovers > 1000, "{hovers}");
    }
}
