//! `resnetc bench`: times the interpreter on a random batch.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use ndarray::{ArrayD, IxDyn};
use resnetc::interp::{self, Interpreter};
use resnetc::runtime::kernels::peak::fma_peak;

use crate::usage_error;

/// `resnetc bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The `.rn` file.
    file: std::path::PathBuf,
    /// The model (default: the first of FILE).
    #[arg(long)]
    model: Option<String>,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch: u64,
    /// Timed forward passes (after one warm-up pass).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100000))]
    repeat: u64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=256))]
    threads: u64,
    /// Skip the probe of the machine's FMA peak (about 0.3 s); the
    /// `peak_gflops` and `of_peak` fields are then left out.
    #[arg(long)]
    no_peak: bool,
    /// Also time every step of the plan (a layer with what is fused into
    /// it) and print one `layer=… op=… ms=…` line per step, the median over
    /// the timed passes, in execution order.
    #[arg(long)]
    profile: bool,
    /// Run the 3×3 stride-1 convolutions with at least 32 input and output
    /// channels on maps of at least 8×8 with Winograd F(4×4, 3×3): fewer
    /// multiplications, results within 1e-4 of the direct kernel's but not
    /// the same bits. Off by default.
    #[arg(long)]
    winograd: bool,
}

/// Prints `median_ms=… min_ms=… batch=… threads=…` for the forward pass,
/// its memory (the interpreter's workspace for the batch, its weights, and
/// the process's peak resident set: `VmHWM`, where the system says it), the
/// GFLOP/s it reached (two per multiply-add of the model's summary) and,
/// unless `--no-peak`, the fraction of the machine's f32 FMA peak measured
/// on as many threads (`runtime::kernels::peak`).
pub fn bench(args: &BenchArgs) -> ExitCode {
    let compiled = match crate::compile_for_command(&args.file, &args.model, &[]) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Weights and a batch that do not fit in memory: an error, not an abort.
    let g = compiled.model.graph();
    let inputs_per_sample: u128 = g
        .inputs
        .iter()
        .map(|i| u128::from(compiled.model.costs().nodes[i.node.0 as usize].output_elements))
        .sum();
    let batch = args.batch as usize;
    if let Err(e) =
        interp::memory::check_activations(&compiled.model, batch, inputs_per_sample * batch as u128)
    {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    let weights = match interp::try_init(&compiled.model, 0) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // The weights move into the interpreter: in memory once.
    let options = interp::RunOptions {
        winograd: args.winograd,
    };
    let net = match Interpreter::with_options(&compiled.model, weights, &options) {
        Ok(n) => n,
        Err(e) => return usage_error(&e.to_string()),
    };
    let inputs: Vec<ArrayD<f32>> = g
        .inputs
        .iter()
        .map(|i| {
            let mut shape = vec![args.batch as usize];
            shape.extend(&g.node(i.node).shape.0);
            ArrayD::from_elem(IxDyn(&shape), 0.5)
        })
        .collect();
    let views = interp::views(&inputs);
    let measured = interp::with_threads(args.threads as usize, || {
        let mut times = Vec::new();
        for k in 0..=args.repeat {
            let t = Instant::now();
            net.forward(&views)?;
            if k > 0 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        // Per-step times come from passes of their own, after the timed
        // ones, so that reading the clock between steps does not count.
        let mut steps: Vec<Vec<interp::StepTime>> = Vec::new();
        if args.profile {
            for _ in 0..args.repeat {
                steps.push(net.forward_profiled(&views)?.1);
            }
        }
        let peak = (!args.no_peak).then(|| fma_peak(Duration::from_millis(100)));
        Ok::<_, interp::RunError>((times, steps, peak, rayon::current_num_threads()))
    });
    let (mut times, steps, peak, threads) = match measured {
        Ok(t) => t,
        Err(e) => return usage_error(&e.to_string()),
    };
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    // Two floating-point operations per multiply-add, for the whole batch.
    let flops = 2.0 * compiled.model.costs().mult_adds as f64 * args.batch as f64;
    let gflops = flops / (median * 1e-3) / 1e9;
    // The workspace the passes used: slots and convolution scratch for this
    // batch and thread count (it fitted, or the pass would have failed).
    let workspace = match net.workspace_bytes(batch, threads) {
        Ok(Some(b)) => b,
        // The passes made this workspace, so its size is known.
        Ok(None) => {
            return usage_error(
                "internal error: the workspace the passes used has no size in usize floats; \
                 this is a bug in resnetc",
            );
        }
        Err(e) => return usage_error(&e.to_string()),
    };
    // The process's peak resident memory (Linux), read after the passes.
    let peak_rss = peak_rss_bytes().map_or_else(|| "unknown".to_string(), |b| b.to_string());
    let mut line = format!(
        "model={} batch={} threads={} median_ms={:.3} min_ms={:.3} runs={} gflops={:.2} \
         workspace_bytes={} weights_bytes={} peak_rss_bytes={peak_rss}",
        g.name,
        args.batch,
        threads,
        median,
        times[0],
        times.len(),
        gflops,
        workspace,
        net.weights_bytes(),
    );
    if let Some(p) = peak {
        line.push_str(&format!(
            " peak_gflops={:.2} peak_isa={} of_peak={:.1}%",
            p.gflops,
            p.isa.name(),
            100.0 * gflops / p.gflops
        ));
    }
    outln!("{line}");
    print_profile(&steps);
    ExitCode::SUCCESS
}

/// One line per step of the plan: its median time over the profiled passes.
fn print_profile(passes: &[Vec<interp::StepTime>]) {
    let Some(first) = passes.first() else {
        return;
    };
    for (k, step) in first.iter().enumerate() {
        let mut ms: Vec<f64> = passes
            .iter()
            .filter_map(|p| p.get(k))
            .map(|s| s.time.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        outln!(
            "layer={} op={} ms={:.4}",
            step.layer,
            step.kernel,
            ms[ms.len() / 2]
        );
    }
}

/// The process's peak resident set in bytes: `VmHWM` of `/proc/self/status`
/// (Linux), `None` elsewhere.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}
