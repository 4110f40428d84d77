//! What the per-layer kernel benchmarks (`direct_conv.rs`, `grouped_conv.rs`,
//! `winograd.rs`) share: the process's CPU clock and interleaved rounds of
//! two kernels (old, new, old, new, …) with the medians of both clocks,
//! since the machine may be shared.

use std::time::Instant;

/// CPU time of all threads of this process, in seconds (0 where
/// `/proc/self/task/*/schedstat` is unavailable).
pub fn cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ns = 0u64;
    for e in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    ns as f64 * 1e-9
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The medians of interleaved rounds, in seconds.
pub struct Medians {
    /// Wall time of the old and the new kernel.
    pub wall: [f64; 2],
    /// CPU time (all threads) of the old and the new kernel.
    pub cpu: [f64; 2],
}

/// Runs `old` then `new` on `out` once each (warm-up; returns what `old`
/// wrote, to compare with what `new` leaves in `out`), then `rounds`
/// interleaved rounds of both, timed by both clocks.
pub fn interleaved<S: Clone>(
    rounds: usize,
    out: &mut S,
    mut old: impl FnMut(&mut S),
    mut new: impl FnMut(&mut S),
) -> (S, Medians) {
    old(out);
    let reference = out.clone();
    new(out);
    let mut times: [[Vec<f64>; 2]; 2] = Default::default();
    for _ in 0..rounds {
        for (k, f) in [&mut old as &mut dyn FnMut(&mut S), &mut new]
            .into_iter()
            .enumerate()
        {
            let (t, c0) = (Instant::now(), cpu_seconds());
            f(out);
            times[0][k].push(t.elapsed().as_secs_f64());
            times[1][k].push(cpu_seconds() - c0);
        }
    }
    let [[wo, wn], [co, cn]] = times;
    let m = Medians {
        wall: [median(wo), median(wn)],
        cpu: [median(co), median(cn)],
    };
    (reference, m)
}

/// The environment variable `name` as a number, if set and valid.
pub fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}
