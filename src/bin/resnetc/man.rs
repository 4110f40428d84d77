//! `resnetc man` and `resnetc completions`: the manual page (clap_mangen)
//! and shell completion scripts (clap_complete), both from the clap
//! definition of the command line, so they cannot drift from it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::{Cli, usage_error};

/// `resnetc completions`.
#[derive(Args, Debug)]
#[command(after_long_help = COMPLETIONS_HELP)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

const COMPLETIONS_HELP: &str = "\
Install (one of):
  bash:  resnetc completions bash > ~/.local/share/bash-completion/completions/resnetc
  zsh:   resnetc completions zsh > ~/.zfunc/_resnetc   (with `fpath+=~/.zfunc` before `compinit`)
  fish:  resnetc completions fish > ~/.config/fish/completions/resnetc.fish
  PowerShell: resnetc completions powershell >> $PROFILE";

/// `resnetc man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write the page here (atomically) instead of to stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "resnetc", &mut script);
    crate::stdout::write_bytes(&script);
    ExitCode::SUCCESS
}

/// Writes the manual page.
pub fn man(args: &ManArgs) -> ExitCode {
    let page = match page() {
        Ok(p) => p,
        Err(e) => return usage_error(&format!("cannot render the manual page: {e}")),
    };
    match &args.output {
        Some(path) => match resnetc::atomic::write(path, &page) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => usage_error(&format!("cannot write `{}`: {e}", path.display())),
        },
        None => {
            crate::stdout::write_bytes(&page);
            ExitCode::SUCCESS
        }
    }
}

/// resnetc(1): clap_mangen's title, name, synopsis, description and options,
/// then a COMMANDS section with every subcommand's usage and options, and
/// the exit status.
fn page() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("resnetc {}", sub.get_name());
        roff.control("SS", [name.as_str()]);
        if let Some(about) = sub.get_about() {
            roff.text([roman(about.to_string())]);
        }
        roff.control("PP", []);
        roff.text(synopsis(&name, sub));
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            roff.control("TP", []);
            roff.text(arg_heading(arg));
            if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
                roff.text([roman(help.to_string())]);
            }
            let values = arg.get_possible_values();
            if !values.is_empty() {
                let names: Vec<&str> = values.iter().map(|v| v.get_name()).collect();
                roff.control("br", []);
                roff.text([roman(format!("Values: {}.", names.join(", ")))]);
            }
        }
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "Success (warnings allowed)."),
        ("1", "Errors in the model or its data (weights, inputs)."),
        ("2", "Usage or I/O errors, or a missing external tool."),
        (
            "141",
            "Standard output was closed before everything was written (as by a SIGPIPE).",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(code)]);
        roff.text([roman(meaning)]);
    }
    roff.to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    let text = String::from_utf8(page).map_err(std::io::Error::other)?;
    Ok(ascii_roff(&text).into_bytes())
}

/// Non-ASCII characters (`×` in shapes) as groff's `\[uXXXX]` escapes:
/// troff reads its input as Latin-1 unless preconv runs first, and warns
/// about UTF-8 bytes; the escapes read the same in groff and mandoc.
fn ascii_roff(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// `resnetc graph [OPTIONS] FILE`, the names bold and the placeholders italic.
fn synopsis(name: &str, sub: &clap::Command) -> Vec<clap_mangen::roff::Inline> {
    let mut line = vec![bold(name)];
    let options = sub
        .get_arguments()
        .any(|a| !a.is_positional() && !a.is_hide_set());
    if options {
        line.push(roman(" [OPTIONS]"));
    }
    for arg in sub.get_positionals().filter(|a| !a.is_hide_set()) {
        line.push(roman(" "));
        let value = arg.get_id().as_str().to_uppercase();
        if arg.is_required_set() {
            line.push(italic(value));
        } else {
            line.push(roman("["));
            line.push(italic(value));
            line.push(roman("]"));
        }
    }
    line
}

/// `-o, --output FILE` or `SHELL`.
fn arg_heading(arg: &clap::Arg) -> Vec<clap_mangen::roff::Inline> {
    let value = arg
        .get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    if arg.is_positional() {
        return vec![italic(value)];
    }
    let mut out = Vec::new();
    if let Some(short) = arg.get_short() {
        out.push(bold(format!("-{short}")));
        if arg.get_long().is_some() {
            out.push(roman(", "));
        }
    }
    if let Some(long) = arg.get_long() {
        out.push(bold(format!("--{long}")));
    }
    if arg.get_action().takes_values() {
        out.push(roman(" "));
        out.push(italic(value));
    }
    out
}
