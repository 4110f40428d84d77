//! `resnetc run`, `resnetc init`, `resnetc check`: the interpreter's commands.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayD, Axis, IxDyn};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use resnetc::interp::io::{self, Normalize};
use resnetc::interp::{self, Interpreter, NameMap, WeightsFile};
use resnetc::{CheckOptions, Compiled};

use crate::{Color, MessageFormat, report_with};

/// The model to compile, shared by every interpreter command.
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// The `.rn` file.
    file: PathBuf,
    /// The model to run (default: the first model of FILE).
    #[arg(long, value_name = "NAME")]
    model: Option<String>,
}

/// Where the weights come from.
#[derive(Args, Debug)]
pub struct WeightArgs {
    /// A safetensors file (e.g. `safetensors.torch.save_file(model.state_dict(), path)`).
    #[arg(long, value_name = "FILE")]
    pub(crate) weights: Option<PathBuf>,
    /// A YAML map from resnetc parameter names to the file's names (and its layout).
    #[arg(long, value_name = "YAML", requires = "weights")]
    names: Option<PathBuf>,
    /// Seed of the deterministic initial weights used without --weights.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
}

/// Memory layout of 4-D tensors in .npy files.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
pub enum DataLayout {
    /// Batch, channels, height, width (PyTorch).
    Nchw,
    /// Batch, height, width, channels (Keras / TensorFlow).
    Nhwc,
}

/// `resnetc run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    weights: WeightArgs,
    /// An f32 .npy batch (N×C×H×W, or N×H×W×C with --layout nhwc); any N.
    #[arg(long, value_name = "NPY", conflicts_with = "image")]
    input: Option<PathBuf>,
    /// A PNG/JPEG image, or a folder of them (resized, centre-cropped, normalised).
    #[arg(long, value_name = "PATH")]
    image: Option<PathBuf>,
    /// Layout of 4-D .npy inputs and outputs.
    #[arg(long, value_enum, default_value_t = DataLayout::Nchw)]
    layout: DataLayout,
    /// Samples per forward pass (and the size of the random batch without input).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65536))]
    batch: u64,
    /// Write the output(s) as .npy (several outputs: FILE.<name>.npy).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024))]
    threads: u16,
    /// Print the K most likely classes of each sample: the model's first
    /// output must be N×classes (its softmax is taken unless it already sums
    /// to 1); any other output is a usage error (exit 2).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    top: Option<u64>,
    /// Image channel means, given once: `R,G,B` (e.g. `0.485,0.456,0.406`,
    /// ImageNet's, the default) or three numbers `R G B` (`--mean=-0.5,0,0.5`
    /// for a negative first value).
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', num_args = 1..=3,
          allow_negative_numbers = true, action = clap::ArgAction::Set)]
    mean: Option<Vec<f32>>,
    /// Image channel standard deviations, given once: `R,G,B` (e.g.
    /// `0.229,0.224,0.225`, ImageNet's, the default) or three numbers `R G B`;
    /// each positive.
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', num_args = 1..=3,
          action = clap::ArgAction::Set)]
    std: Option<Vec<f32>>,
    /// Feed images scaled to [0, 1] without normalisation.
    #[arg(long, conflicts_with_all = ["mean", "std"])]
    no_normalize: bool,
    /// Run the 3×3 stride-1 convolutions with at least 32 input and output
    /// channels on maps of at least 8×8 with Winograd F(4×4, 3×3): fewer
    /// multiplications, results within 1e-4 of the direct kernel's but not
    /// the same bits. Off by default.
    #[arg(long)]
    winograd: bool,
}

/// `resnetc init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The safetensors file to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Seed of the initial weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// `resnetc check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The safetensors file to check.
    #[arg(long, value_name = "FILE")]
    weights: PathBuf,
    /// A YAML name map (see `resnetc run --help`).
    #[arg(long, value_name = "YAML")]
    names: Option<PathBuf>,
}

/// A failure of a command: a message and an exit code.
pub(crate) struct Failure(pub(crate) ExitCode);

pub(crate) fn data_error(e: impl std::fmt::Display) -> Failure {
    eprintln!("error: {e}");
    Failure(ExitCode::from(1))
}

/// A usage error: the command line asks for something impossible (exit 2).
fn usage_failure(e: impl std::fmt::Display) -> Failure {
    eprintln!("error: {e}");
    Failure(ExitCode::from(2))
}

/// `--mean` / `--std` as three channel values (a usage error otherwise).
fn rgb(
    option: &str,
    values: Option<&Vec<f32>>,
    positive: bool,
) -> Result<Option<[f32; 3]>, Failure> {
    let Some(v) = values else {
        return Ok(None);
    };
    let example = if positive {
        "0.229,0.224,0.225"
    } else {
        "0.485,0.456,0.406"
    };
    let Ok(rgb) = <[f32; 3]>::try_from(v.as_slice()) else {
        return Err(usage_failure(format!(
            "{option} takes three numbers, R,G,B, but got {}: write e.g. `{option} {example}`",
            v.len()
        )));
    };
    if let Some(bad) = rgb
        .iter()
        .find(|x| !x.is_finite() || (positive && **x <= 0.0))
    {
        return Err(usage_failure(format!(
            "{option} values must be finite{}, but got {bad}: write e.g. `{option} {example}`",
            if positive { " and positive" } else { "" }
        )));
    }
    Ok(Some(rgb))
}

fn compile(
    m: &ModelArgs,
    input_shapes: Vec<(Option<String>, Vec<usize>)>,
    warnings: bool,
) -> Result<Compiled, Failure> {
    let options = CheckOptions {
        model: m.model.clone(),
        input_shapes,
    };
    crate::compile_reporting(
        &m.file,
        &options,
        MessageFormat::Human,
        Color::Auto,
        warnings,
    )
    .map_err(Failure)
}

fn name_map(path: Option<&Path>) -> Result<NameMap, Failure> {
    match path {
        Some(p) => NameMap::from_file(p).map_err(data_error),
        None => Ok(NameMap::default()),
    }
}

pub(crate) fn load_weights(
    c: &Compiled,
    w: &WeightArgs,
    note: Option<&str>,
) -> Result<interp::Weights, Failure> {
    match &w.weights {
        None => interp::try_init(&c.model, w.seed).map_err(data_error),
        Some(path) => {
            let map = name_map(w.names.as_deref())?;
            let file = WeightsFile::open(path).map_err(data_error)?;
            file.load(&c.model, &map)
                .map_err(|e| weights_failure(e, c, note))
        }
    }
}

/// Reports a weights error; a mismatch as one diagnostic per problem (the
/// first [`interp::SHOWN_PROBLEMS`], then a count of the rest by kind).
fn weights_failure(e: interp::WeightsError, c: &Compiled, note: Option<&str>) -> Failure {
    match &e {
        interp::WeightsError::Mismatch { path, problems, .. } => {
            let shown = &problems[..problems.len().min(interp::SHOWN_PROBLEMS)];
            let diags: Vec<_> = shown.iter().map(|p| p.to_diagnostic(path)).collect();
            report_with(&diags, &c.sources, MessageFormat::Human, Color::Auto);
            if problems.len() > shown.len() {
                let rest = &problems[shown.len()..];
                eprintln!(
                    "… and {} more: {}\n",
                    rest.len(),
                    interp::WeightProblem::summarize(rest)
                );
            }
            eprintln!(
                "error: `{path}` does not fit model `{}`: {} problem{}",
                c.model.graph().name,
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            if let Some(n) = note {
                eprintln!("{n}");
            }
            Failure(ExitCode::from(1))
        }
        _ => data_error(e),
    }
}

/// Fails early, before any work, if `path` cannot be written: a directory, a
/// missing or read-only parent directory.
pub(crate) fn check_output(path: &Path) -> Result<(), Failure> {
    if path.is_dir() {
        return Err(data_error(format!(
            "cannot write `{}`: it is a directory; name a file, e.g. `{}`",
            path.display(),
            path.join("out.npy").display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        let why = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist: create it first"
        };
        return Err(data_error(format!(
            "cannot write `{}`: `{}` {why}",
            path.display(),
            dir.display()
        )));
    }
    // Probe: the atomic writer creates a temp file in the same directory.
    tempfile::Builder::new()
        .prefix(".resnetc-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            data_error(format!(
                "cannot write `{}`: cannot create files in `{}` ({}); choose a writable location",
                path.display(),
                dir.display(),
                e.kind()
            ))
        })
}

pub(crate) fn finish(r: Result<(), Failure>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code)) => code,
    }
}

/// `resnetc init`.
pub fn init(args: &InitArgs) -> ExitCode {
    finish((|| {
        let c = compile(&args.model, Vec::new(), true)?;
        check_output(&args.output)?;
        // The weights, each tensor's bytes and the file's bytes are in memory
        // at once while the file is encoded.
        interp::memory::check_weight_copies(
            &c.model,
            3,
            "the weights and their safetensors encoding",
        )
        .map_err(data_error)?;
        let w = interp::try_init(&c.model, args.seed).map_err(data_error)?;
        w.save(&args.output).map_err(data_error)?;
        outln!(
            "wrote {} tensors ({} parameters) of model `{}` to {}",
            w.len(),
            resnetc::report::group(c.model.costs().total_params),
            c.model.graph().name,
            args.output.display()
        );
        Ok(())
    })())
}

/// `resnetc check`.
pub fn check(args: &CheckArgs) -> ExitCode {
    finish((|| {
        let c = compile(&args.model, Vec::new(), true)?;
        let map = name_map(args.names.as_deref())?;
        let file = WeightsFile::open(&args.weights).map_err(data_error)?;
        file.check(&c.model, &map)
            .map_err(|e| weights_failure(e, &c, None))?;
        let n = c.model.graph().params().count();
        outln!(
            "ok: `{}` provides all {n} tensors of model `{}` with the right shapes",
            args.weights.display(),
            c.model.graph().name
        );
        Ok(())
    })())
}

/// The model's single 4-D input shape, for images.
fn image_input(c: &Compiled) -> Result<(usize, usize), Failure> {
    let g = c.model.graph();
    match g.inputs.as_slice() {
        [one] => match g.node(one.node).shape.0.as_slice() {
            [3, h, w] => Ok((*h, *w)),
            other => Err(data_error(format!(
                "--image needs a model whose input is 3×H×W, but `{}` is {:?}",
                one.name, other
            ))),
        },
        _ => Err(data_error("--image needs a model with exactly one input")),
    }
}

fn image_files(path: &Path) -> Result<Vec<PathBuf>, Failure> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| usage_failure(format!("cannot list `{}`: {e}", path.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(usage_failure(format!(
            "no .png or .jpg files in `{}`",
            path.display()
        )));
    }
    Ok(files)
}

/// `resnetc run`.
pub fn run(args: &RunArgs) -> ExitCode {
    finish(interp::with_threads(args.threads as usize, || {
        run_inner(args)
    }))
}

fn run_inner(args: &RunArgs) -> Result<(), Failure> {
    let normalize = (
        rgb("--mean", args.mean.as_ref(), false)?,
        rgb("--std", args.std.as_ref(), true)?,
    );
    if (normalize.0.is_some() || normalize.1.is_some()) && args.image.is_none() {
        return Err(usage_failure(
            "--mean and --std normalise images: they need --image",
        ));
    }
    // The data decides the input shape when it is given as .npy.
    let data = match &args.input {
        Some(p) => {
            let a = io::read_npy(p).map_err(data_error)?;
            let a = if args.layout == DataLayout::Nhwc {
                io::nhwc_to_nchw(a)
            } else {
                a
            };
            if a.ndim() < 2 {
                return Err(data_error(format!(
                    "`{}` has shape [{}]: expected a batch N×C×H×W (or N×F)\n  help: add the batch axis: np.save(path, x[None])",
                    p.display(),
                    shape_string(a.shape())
                )));
            }
            if a.shape()[0] == 0 {
                return Err(data_error(format!(
                    "`{}` has shape {}: the batch is empty (N = 0); give at least one sample",
                    p.display(),
                    shape_string(a.shape())
                )));
            }
            Some((p, a))
        }
        None => None,
    };
    if let Some(o) = &args.output {
        check_output(o)?;
    }
    let declared = compile(&args.model, Vec::new(), true)?;
    // The data decides the input shape: recompile if it differs from the declared one.
    let (c, note) = match &data {
        None => (declared, None),
        Some((p, a)) => {
            let g = declared.model.graph();
            let [input] = g.inputs.as_slice() else {
                return Err(data_error(format!(
                    "--input feeds one tensor, but model `{}` has {} inputs ({}); run it without --input for a random batch",
                    g.name,
                    g.inputs.len(),
                    g.inputs
                        .iter()
                        .map(|i| format!("`{}`", i.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let want = g.node(input.node).shape.0.clone();
            if a.shape()[1..] == want[..] {
                (declared, None)
            } else {
                let note = input_note(p, a.shape(), &input.name, &want, args.layout);
                match compile(&args.model, vec![(None, a.shape()[1..].to_vec())], false) {
                    Ok(c) => (c, Some(note)),
                    Err(f) => {
                        eprintln!("{note}");
                        return Err(f);
                    }
                }
            }
        }
    };
    let data = data.map(|(_, a)| a);
    let g = c.model.graph();
    if args.top.is_some() {
        class_output(&c)?;
    }
    if args.weights.weights.is_none() && (args.image.is_some() || args.top.is_some()) {
        eprintln!(
            "warning: no --weights: the weights are random (seed {}), so the predictions mean nothing; pass --weights FILE",
            args.weights.seed
        );
    }
    // Memory for a chunk's activations and the inputs resnetc makes itself
    // (random or decoded): checked before anything is allocated.
    let per_sample: u128 = g
        .inputs
        .iter()
        .map(|i| u128::from(c.model.costs().nodes[i.node.0 as usize].output_elements))
        .sum();
    let made = match (&data, &args.image) {
        (Some(_), _) => 0,
        (None, Some(path)) => image_files(path)?.len() as u128,
        (None, None) => u128::from(args.batch),
    };
    interp::memory::check_activations(&c.model, args.batch as usize, per_sample * made)
        .map_err(data_error)?;
    let weights = load_weights(&c, &args.weights, note.as_deref())?;
    let options = interp::RunOptions {
        winograd: args.winograd,
    };
    let net = Interpreter::with_options(&c.model, weights, &options).map_err(data_error)?;

    let (inputs, labels): (Vec<ArrayD<f32>>, Vec<String>) = match (&data, &args.image) {
        (Some(a), _) => {
            if g.inputs.len() != 1 {
                return Err(data_error(format!(
                    "--input feeds one tensor, but model `{}` has {} inputs",
                    g.name,
                    g.inputs.len()
                )));
            }
            (vec![a.clone()], Vec::new())
        }
        (None, Some(path)) => {
            let (h, w) = image_input(&c)?;
            let normalize = match (args.no_normalize, normalize) {
                (true, _) => None,
                (false, (mean, std)) => Some(Normalize {
                    mean: mean.unwrap_or(Normalize::IMAGENET.mean),
                    std: std.unwrap_or(Normalize::IMAGENET.std),
                }),
            };
            let files = image_files(path)?;
            let mut batch = ArrayD::<f32>::zeros(IxDyn(&[files.len(), 3, h, w]));
            for (k, f) in files.iter().enumerate() {
                // A file that is not a readable PNG/JPEG is an I/O error (exit 2).
                let img = io::load_image(f, h, w, normalize).map_err(usage_failure)?;
                batch.index_axis_mut(Axis(0), k).assign(&img.into_dyn());
            }
            (
                vec![batch],
                files.iter().map(|f| f.display().to_string()).collect(),
            )
        }
        (None, None) => {
            // A seeded random batch: the built-in default.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.weights.seed.wrapping_add(1));
            let inputs = g
                .inputs
                .iter()
                .map(|i| {
                    let mut shape = vec![args.batch as usize];
                    shape.extend(&g.node(i.node).shape.0);
                    // At most 65536 × 2^40 values, and checked by `check_activations`.
                    let n = resnetc::ir::cost::product(shape.iter().copied())
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| {
                            data_error(
                                "the random batch's size overflows: this is a bug in resnetc",
                            )
                        })?;
                    let data: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
                    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(data_error)
                })
                .collect::<Result<Vec<_>, _>>()?;
            eprintln!(
                "no --input or --image: running a random batch (seed {})",
                args.weights.seed + 1
            );
            (inputs, Vec::new())
        }
    };

    // Run in chunks of --batch samples.
    let total = inputs[0].shape()[0];
    let chunk = (args.batch as usize).max(1);
    let bar = if total > chunk {
        let b = ProgressBar::new(total as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} samples, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut outputs: Vec<(String, Vec<ArrayD<f32>>)> = g
        .outputs
        .iter()
        .map(|o| (o.name.clone(), Vec::new()))
        .collect();
    let mut times = Vec::new();
    let mut peak = 0;
    let mut start = 0;
    while start < total {
        let end = (start + chunk).min(total);
        let views: Vec<_> = inputs
            .iter()
            .map(|a| a.slice_axis(Axis(0), ndarray::Slice::from(start..end)))
            .collect();
        let t = Instant::now();
        let out = net.forward(&views).map_err(data_error)?;
        times.push(t.elapsed().as_secs_f64());
        peak = peak.max(out.peak_activation_bytes);
        for ((_, acc), (_, y)) in outputs.iter_mut().zip(out.outputs) {
            acc.push(y);
        }
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    let outputs: Vec<(String, ArrayD<f32>)> = outputs
        .into_iter()
        .map(|(n, parts)| {
            let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
            ndarray::concatenate(Axis(0), &views)
                .map(|a| (n, a))
                .map_err(data_error)
        })
        .collect::<Result<_, _>>()?;

    for (name, y) in &outputs {
        let first: Vec<String> = y.iter().take(6).map(|v| format!("{v:.6}")).collect();
        outln!(
            "{name}: {}  [{}{}]",
            shape_string(y.shape()),
            first.join(", "),
            if y.len() > 6 { ", …" } else { "" }
        );
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    outln!(
        "time: {:.2} ms per batch of {} (median of {} batch{}), peak activations {:.2} MiB",
        median * 1e3,
        chunk.min(total),
        times.len(),
        if times.len() == 1 { "" } else { "es" },
        peak as f64 / (1024.0 * 1024.0)
    );
    if let Some(k) = args.top {
        let Some((_, y)) = outputs.first() else {
            return Err(data_error(
                "the model has no output: this is a bug in resnetc",
            ));
        };
        print_top(y, usize::try_from(k).unwrap_or(usize::MAX), &labels)?;
    }
    if let Some(path) = &args.output {
        for (name, y) in &outputs {
            let target = if outputs.len() == 1 {
                path.clone()
            } else {
                let stem = path.with_extension("");
                PathBuf::from(format!("{}.{name}.npy", stem.display()))
            };
            let y = if args.layout == DataLayout::Nhwc {
                io::nchw_to_nhwc(y.clone())
            } else {
                y.clone()
            };
            io::write_npy(&target, &y).map_err(data_error)?;
            eprintln!("wrote {} ({})", target.display(), shape_string(y.shape()));
        }
    }
    Ok(())
}

/// Explains that an .npy batch (`shape`, NCHW) changed the input's shape,
/// and how to fix it.
fn input_note(
    path: &Path,
    shape: &[usize],
    input: &str,
    declared: &[usize],
    layout: DataLayout,
) -> String {
    let file_shape = match (shape, layout) {
        (&[n, c, h, w], DataLayout::Nhwc) => vec![n, h, w, c],
        _ => shape.to_vec(),
    };
    let mut note = format!(
        "note: `{}` has shape {}, so input `{input}` was taken as N×{} instead of the declared N×{}\n  help: give an array of shape N×{}",
        path.display(),
        shape_string(&file_shape),
        shape_string(&shape[1..]),
        shape_string(declared),
        shape_string(declared),
    );
    if let [_, c, h, w] = *shape {
        // The file read in the other layout: C×H×W if it were NHWC (or NCHW).
        let (other, hint) = match layout {
            DataLayout::Nchw => ([w, c, h], "the file looks N×H×W×C: add `--layout nhwc`"),
            DataLayout::Nhwc => ([h, w, c], "the file looks N×C×H×W: drop `--layout nhwc`"),
        };
        if other[..] == *declared {
            note.push_str(&format!(" ({hint})"));
        }
    }
    note
}

fn shape_string(s: &[usize]) -> String {
    s.iter().map(usize::to_string).collect::<Vec<_>>().join("×")
}

/// `--top` needs the model's first output to be a class vector (N×classes):
/// anything else is a usage error (exit 2), found before any work is done.
fn class_output(c: &Compiled) -> Result<(), Failure> {
    let g = c.model.graph();
    let Some(first) = g.outputs.first() else {
        return Err(usage_failure(format!(
            "--top needs a model with an output, but `{}` has none",
            g.name
        )));
    };
    let shape = &g.node(first.node).shape;
    if shape.0.len() == 1 {
        return Ok(());
    }
    Err(usage_failure(format!(
        "--top ranks classes, so the model's first output must be N×classes, but output `{}` of `{}` is {shape}\n  help: end the model with `-> global_avgpool -> flatten -> dense(classes)`, or drop --top",
        first.name, g.name
    )))
}

/// Prints the `k` most likely classes of each row of an N×classes output.
fn print_top(y: &ArrayD<f32>, k: usize, labels: &[String]) -> Result<(), Failure> {
    if y.ndim() != 2 {
        return Err(data_error(format!(
            "--top: the first output is {}, not N×classes: this is a bug in resnetc (`class_output` checks it)",
            shape_string(y.shape())
        )));
    }
    for (i, row) in y.axis_iter(Axis(0)).enumerate() {
        // Probabilities: the row itself if it already is a distribution, else its softmax.
        let sum: f32 = row.sum();
        let is_prob = row.iter().all(|&v| (0.0..=1.0).contains(&v)) && (sum - 1.0).abs() < 1e-3;
        let probs: Vec<f32> = if is_prob {
            row.iter().copied().collect()
        } else {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = row.iter().map(|&v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        };
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
        let name = labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("sample {i}"));
        let top: Vec<String> = order
            .iter()
            .take(k)
            .map(|&c| format!("{c}: {:.4}", probs[c]))
            .collect();
        outln!("{name}: {}", top.join(", "));
    }
    Ok(())
}
