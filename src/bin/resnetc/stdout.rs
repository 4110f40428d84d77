//! Standard output for the command line: a reader that went away ends the
//! command quietly, as it ends other Unix tools.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe (`resnetc train … |
//! head -1`) is an error, and `println!` panics on it. Everything the
//! commands print to standard output goes through [`write`] (the
//! [`outln!`] and [`out!`] macros) or [`write_bytes`] instead.

use std::io::{self, Write};
use std::process;

/// The exit status after a closed pipe: 128 + SIGPIPE, what a shell reports
/// for a program that a closed pipe stopped.
pub const CLOSED_PIPE_STATUS: i32 = 141;

/// Writes `args` to standard output and flushes it; see [`write_bytes`].
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        fail(&e);
    }
}

/// Writes `bytes` to standard output and flushes it. A closed pipe ends the
/// process at once with [`CLOSED_PIPE_STATUS`] and no message; any other
/// write error ends it with status 2 and says so. (Output files are written
/// atomically before anything is printed about them, so ending here leaves
/// nothing half-written.)
pub fn write_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        fail(&e);
    }
}

fn fail(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        process::exit(CLOSED_PIPE_STATUS);
    }
    eprintln!("error: cannot write standard output: {e}");
    process::exit(2)
}

/// `println!` through [`write`].
macro_rules! outln {
    () => {
        $crate::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}
