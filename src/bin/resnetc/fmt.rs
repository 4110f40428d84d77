//! `resnetc fmt`: rewrite `.rn` files in the canonical layout, or check them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use resnetc::SourceMap;
use resnetc::fmt::{FormatError, format_source};
use resnetc::span::{FileId, Span};
use resnetc::syntax::SyntaxError;

use crate::{Color, MessageFormat, report_with};

/// `resnetc fmt`.
#[derive(Args, Debug)]
pub struct FmtArgs {
    /// The `.rn` files to format in place; `-` reads standard input and writes standard output.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write nothing: print a unified diff for every file that is not formatted, and exit 1 if any.
    #[arg(long)]
    check: bool,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

/// What happened to one file.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Already formatted, or rewritten.
    Ok,
    /// Syntax errors, or (with `--check`) not formatted.
    Model,
    /// Unreadable or unwritable.
    Io,
}

/// Formats every file; the exit code is the worst outcome: 2 for an I/O
/// error, 1 for syntax errors or (with `--check`) a file that would change.
pub fn fmt(args: &FmtArgs) -> ExitCode {
    let mut worst = Outcome::Ok;
    for path in &args.files {
        let outcome = if path.as_os_str() == "-" {
            stdin(args)
        } else {
            file(path, args)
        };
        worst = worst.max(outcome);
    }
    match worst {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::Model => ExitCode::from(1),
        Outcome::Io => ExitCode::from(2),
    }
}

fn file(path: &Path, args: &FmtArgs) -> Outcome {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return io_error(&format!("cannot read `{name}`: {e}")),
    };
    let Some(text) = utf8(&name, bytes, args.color) else {
        return Outcome::Model;
    };
    let Some(formatted) = format(&name, &text, args.color) else {
        return Outcome::Model;
    };
    if formatted == text {
        return Outcome::Ok;
    }
    if args.check {
        print_diff(&name, &text, &formatted);
        return Outcome::Model;
    }
    // Write through a symbolic link to the file it names, keeping its permissions.
    let target = match std::fs::canonicalize(path) {
        Ok(t) => t,
        Err(e) => return io_error(&format!("cannot resolve `{name}`: {e}")),
    };
    let permissions = match std::fs::metadata(&target) {
        Ok(m) => m.permissions(),
        Err(e) => return io_error(&format!("cannot read `{name}`: {e}")),
    };
    if let Err(e) = resnetc::atomic::write(&target, formatted.as_bytes()) {
        return io_error(&format!("cannot write `{name}`: {e}"));
    }
    if let Err(e) = std::fs::set_permissions(&target, permissions) {
        return io_error(&format!("cannot restore the permissions of `{name}`: {e}"));
    }
    Outcome::Ok
}

fn stdin(args: &FmtArgs) -> Outcome {
    let name = "<stdin>";
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut bytes) {
        return io_error(&format!("cannot read standard input: {e}"));
    }
    let Some(text) = utf8(name, bytes, args.color) else {
        return Outcome::Model;
    };
    let Some(formatted) = format(name, &text, args.color) else {
        return Outcome::Model;
    };
    if args.check {
        if formatted == text {
            return Outcome::Ok;
        }
        print_diff(name, &text, &formatted);
        return Outcome::Model;
    }
    crate::stdout::write_bytes(formatted.as_bytes());
    Outcome::Ok
}

fn io_error(message: &str) -> Outcome {
    eprintln!("error: {message}");
    Outcome::Io
}

/// The text, or `None` after reporting that it is not UTF-8.
fn utf8(name: &str, bytes: Vec<u8>, color: Color) -> Option<String> {
    match String::from_utf8(bytes) {
        Ok(t) => Some(t),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let mut sources = SourceMap::default();
            let id = sources.add(name, String::from_utf8_lossy(e.as_bytes()).into_owned());
            let d = SyntaxError::NotUtf8 {
                offset,
                span: Span::new(id, offset, offset),
            }
            .to_diagnostic();
            report_with(&[d], &sources, MessageFormat::Human, color);
            None
        }
    }
}

/// The formatted text, or `None` after reporting why there is none.
fn format(name: &str, text: &str, color: Color) -> Option<String> {
    match format_source(text) {
        Ok(f) => Some(f),
        Err(FormatError::Syntax { diagnostics }) => {
            let mut sources = SourceMap::default();
            let id = sources.add(name, text);
            debug_assert_eq!(id, FileId(0), "format_source's spans are in file 0");
            report_with(&diagnostics, &sources, MessageFormat::Human, color);
            let n = diagnostics.len();
            eprintln!(
                "error: could not format `{name}` due to {n} syntax error{}; it is unchanged",
                if n == 1 { "" } else { "s" }
            );
            None
        }
        Err(e @ FormatError::Internal(_)) => {
            eprintln!("error: could not format `{name}`: {e}; it is unchanged");
            None
        }
    }
}

fn print_diff(name: &str, old: &str, new: &str) {
    let diff = similar::TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(name, &format!("{name} (formatted)"))
        .to_string();
    crate::stdout::write_bytes(text.as_bytes());
}
