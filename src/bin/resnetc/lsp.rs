//! `resnetc lsp`: connects the library's language server to stdin/stdout.

use std::process::ExitCode;

/// Serves until the client sends `shutdown` and `exit`; a protocol error is a
/// usage error (exit code 2).
pub(crate) fn lsp() -> ExitCode {
    let (connection, io_threads) = lsp_server::Connection::stdio();
    let served = resnetc::lsp::serve(&connection);
    drop(connection);
    let joined = io_threads.join();
    if let Err(e) = served {
        return crate::usage_error(&e.to_string());
    }
    if let Err(e) = joined {
        return crate::usage_error(&format!("language server I/O: {e}"));
    }
    ExitCode::SUCCESS
}
