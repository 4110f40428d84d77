//! Standard output for the command line: a reader that went away ends the
//! command quietly, as it ends other Unix tools.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe (`resnetc train … |
//! head -1`) is an error, and `println!` panics on it. Everything the
//! commands print to standard output goes through [`write`] (the
//! [`outln!`] and [`out!`] macros) or [`write_bytes`] instead; `main.rs`
//! denies `clippy::print_stdout`, so a `println!` in the command line fails
//! the lint run of `.ci/run`.

use std::io::{self, Write};
use std::process;

/// The exit status after a closed pipe: 128 + SIGPIPE, what a shell reports
/// for a program that a closed pipe stopped.
pub const CLOSED_PIPE_STATUS: i32 = 141;

/// Writes `args` to standard output and flushes it; see [`write_bytes`].
pub fn write(args: std::fmt::Arguments<'_>) {
    with_stdout(|out| out.write_fmt(args));
}

/// Writes `bytes` to standard output and flushes it. A closed pipe ends the
/// process at once with [`CLOSED_PIPE_STATUS`] and no message; any other
/// write error ends it with status 2 and says so. (Output files are written
/// atomically before anything is printed about them, so ending here leaves
/// nothing half-written.)
pub fn write_bytes(bytes: &[u8]) {
    with_stdout(|out| out.write_all(bytes));
}

/// Runs `write` on the locked standard output, flushes, and ends the
/// process on an error as [`write_bytes`] says.
fn with_stdout(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    let mut out = io::stdout().lock();
    let Err(e) = write(&mut out).and_then(|()| out.flush()) else {
        return;
    };
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
