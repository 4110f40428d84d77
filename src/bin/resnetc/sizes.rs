//! `resnetc sizes`: the input heights and widths a model accepts, and the
//! nearest valid sizes for an `--input` it rejects.

use std::process::ExitCode;

use resnetc::CheckOptions;
use resnetc::sizes::{self, DimSizes, InputSizes};

/// Arguments of `resnetc sizes`.
#[derive(clap::Args, Debug)]
pub(crate) struct SizesArgs {
    #[command(flatten)]
    source: crate::ModelSource,
}

/// Prints the valid sizes of every C×H×W input: exit 0, 1 if the model does
/// not compile at its declared sizes, 2 for usage errors.
pub(crate) fn sizes(args: &SizesArgs) -> ExitCode {
    let options = match crate::check_options(&args.source.model, &args.source.input) {
        Ok(o) => o,
        Err(code) => return code,
    };
    // Report the model's own diagnostics (and exit code) the usual way first.
    if let Err(code) = crate::compile_reporting(
        &args.source.file,
        &options,
        crate::MessageFormat::Human,
        crate::Color::Auto,
        true,
    ) {
        return code;
    }
    match sizes::of_file(&args.source.file, &options) {
        Ok(s) => {
            if s.inputs.is_empty() {
                outln!("{}: no input has a height and width (C×H×W)", s.model);
            }
            for i in &s.inputs {
                out!("{}", describe(i));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The formula line and the least size, period and residues of each dimension.
fn describe(i: &InputSizes) -> String {
    let shape: Vec<String> = i.shape.iter().map(usize::to_string).collect();
    let mut out = format!("{} ({}): {}\n", i.input, shape.join("×"), formulas(i));
    for (d, s) in [("H", &i.height), ("W", &i.width)] {
        out += &match s {
            DimSizes::Periodic {
                least,
                period,
                residues,
            } => {
                let r: Vec<String> = residues.iter().map(usize::to_string).collect();
                format!(
                    "  {d}: least {least}, period {period}, residues {{{}}} (proven for every size)\n",
                    r.join(", ")
                )
            }
            DimSizes::Checked {
                valid,
                checked_up_to,
            } => format!(
                "  {d}: {} valid sizes in 1..={checked_up_to}, found by compiling each (the model's sizes are not periodic: no formula is proven beyond)\n",
                valid.len()
            ),
        };
    }
    out
}

fn formulas(i: &InputSizes) -> String {
    format!("{}, {}", i.height.formula("H"), i.width.formula("W"))
}

/// The summary's line: `Input sizes: x: H ≥ 29, W ≥ 29`; `None` for a
/// model without a C×H×W input, or (with a warning on stderr) if the
/// analysis fails: the summary itself is still printed.
pub(crate) fn summary_line(file: &std::path::Path, options: &CheckOptions) -> Option<String> {
    let s = match sizes::of_file(file, options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: cannot compute the valid input sizes: {e}");
            return None;
        }
    };
    if s.inputs.is_empty() {
        return None;
    }
    let lines: Vec<String> = s.inputs.iter().map(InputSizes::line).collect();
    Some(format!("Input sizes: {}\n", lines.join("; ")))
}

/// For an `--input` the model rejects: a help line with the nearest valid
/// sizes (computed from the model's declared sizes), if any dimension given
/// is invalid.
pub(crate) fn input_help(file: &std::path::Path, options: &CheckOptions) -> Option<String> {
    if options.input_shapes.is_empty() {
        return None;
    }
    let declared = CheckOptions {
        model: options.model.clone(),
        input_shapes: Vec::new(),
    };
    let s = sizes::of_file(file, &declared).ok()?;
    let mut help = Vec::new();
    for (k, i) in s.inputs.iter().enumerate() {
        // The override that applies to this input, as the checker picks it.
        let given = options
            .input_shapes
            .iter()
            .find(|(n, _)| n.as_deref() == Some(i.input.as_str()))
            .or_else(|| {
                options
                    .input_shapes
                    .iter()
                    .filter(|(n, _)| n.is_none())
                    .nth(k)
            });
        let Some((_, [c, h, w])) = given.map(|(n, s)| (n, s.as_slice())) else {
            continue;
        };
        let pick = |d: &DimSizes, n: usize| -> (usize, String) {
            match d.nearest(n) {
                (Some(a), Some(b)) if a == b => (a, String::new()),
                (below, above) => {
                    let near: Vec<String> = below
                        .into_iter()
                        .chain(above)
                        .map(|m| m.to_string())
                        .collect();
                    let best = match (below, above) {
                        (Some(a), Some(b)) => {
                            if n - a <= b - n {
                                a
                            } else {
                                b
                            }
                        }
                        (Some(a), None) => a,
                        (None, Some(b)) => b,
                        (None, None) => n,
                    };
                    (best, format!("{n} → {}", near.join(" or ")))
                }
            }
        };
        let (bh, th) = pick(&i.height, *h);
        let (bw, tw) = pick(&i.width, *w);
        if th.is_empty() && tw.is_empty() {
            continue;
        }
        let changes: Vec<String> = [("H", th), ("W", tw)]
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(d, t)| format!("{d} {t}"))
            .collect();
        help.push(format!(
            "help: `{}` accepts {}; nearest valid sizes: {}; try `--input {}={c}x{bh}x{bw}`",
            i.input,
            formulas(i),
            changes.join(", "),
            i.input
        ));
    }
    (!help.is_empty()).then(|| help.join("\n"))
}
