//! A probe of the machine's f32 fused-multiply-add peak: the figure that
//! `resnetc bench` divides a model's achieved GFLOP/s by.
//!
//! Every thread of the current rayon pool runs a loop of independent FMA
//! chains (more chains than the FMA latency × throughput product, so the FMA
//! units never wait) on the widest vector ISA the CPU has, chosen at run time:
//! AVX-512F (16 lanes), AVX2 + FMA (8 lanes), or a portable scalar loop
//! (`f32::mul_add`, which is not a peak figure). The loop touches no memory.

use std::time::{Duration, Instant};

/// The instruction set a probe ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FmaIsa {
    /// 512-bit vectors, 16 `f32` lanes.
    Avx512,
    /// 256-bit vectors with FMA, 8 `f32` lanes.
    Avx2Fma,
    /// Scalar `f32::mul_add` (no vector FMA detected): not a peak.
    Portable,
}

impl FmaIsa {
    /// The widest FMA instruction set of this CPU.
    pub fn detect() -> FmaIsa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return FmaIsa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return FmaIsa::Avx2Fma;
            }
        }
        FmaIsa::Portable
    }

    /// `f32` lanes per instruction.
    pub fn lanes(self) -> u64 {
        match self {
            FmaIsa::Avx512 => 16,
            FmaIsa::Avx2Fma => 8,
            FmaIsa::Portable => 1,
        }
    }

    /// A short name (`avx512f`, `avx2+fma`, `portable`).
    pub fn name(self) -> &'static str {
        match self {
            FmaIsa::Avx512 => "avx512f",
            FmaIsa::Avx2Fma => "avx2+fma",
            FmaIsa::Portable => "portable",
        }
    }
}

/// The result of [`fma_peak`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FmaPeak {
    /// The instruction set measured.
    pub isa: FmaIsa,
    /// Threads that ran the loop at once.
    pub threads: usize,
    /// Floating-point operations per second over all threads (an FMA counts
    /// two), in units of 10⁹.
    pub gflops: f64,
}

/// Independent accumulator chains per thread.
const CHAINS: usize = 12;
/// Loop iterations between two looks at the clock.
const BATCH: u64 = 1 << 16;

/// Measures the f32 FMA rate of all threads of the current rayon pool
/// running at once, each for about `duration`; the best of three runs.
pub fn fma_peak(duration: Duration) -> FmaPeak {
    let isa = FmaIsa::detect();
    let threads = rayon::current_num_threads();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let iterations: Vec<u64> = rayon::broadcast(|_| spin(isa, duration));
        let seconds = start.elapsed().as_secs_f64();
        let flops =
            iterations.iter().sum::<u64>() as f64 * (CHAINS as u64 * isa.lanes() * 2) as f64;
        best = best.max(flops / seconds / 1e9);
    }
    FmaPeak {
        isa,
        threads,
        gflops: best,
    }
}

/// Runs FMA loops on `isa` for about `duration`; returns the iterations
/// (each is [`CHAINS`] FMA instructions).
fn spin(isa: FmaIsa, duration: Duration) -> u64 {
    let start = Instant::now();
    let mut iterations = 0u64;
    let mut sink = 0.0f32;
    while start.elapsed() < duration {
        sink += run(isa, BATCH);
        iterations += BATCH;
    }
    // The sum is printed nowhere; `black_box` keeps the loops from being
    // removed as dead code.
    std::hint::black_box(sink);
    iterations
}

/// `iterations` × [`CHAINS`] FMAs on `isa`; returns a value that depends
/// on all of them.
fn run(isa: FmaIsa, iterations: u64) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx512 only after
        // `is_x86_feature_detected!("avx512f")`, so the CPU has AVX-512F.
        FmaIsa::Avx512 => unsafe { x86::fma_avx512(iterations) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned Avx2Fma only after detecting AVX2 and FMA.
        FmaIsa::Avx2Fma => unsafe { x86::fma_avx2(iterations) },
        #[cfg(not(target_arch = "x86_64"))]
        FmaIsa::Avx512 | FmaIsa::Avx2Fma => portable(iterations),
        FmaIsa::Portable => portable(iterations),
    }
}

/// Scalar chains (`f32::mul_add`).
fn portable(iterations: u64) -> f32 {
    let mut acc = [0.0f32; CHAINS];
    let (a, b) = (
        std::hint::black_box(0.999_99f32),
        std::hint::black_box(1e-7f32),
    );
    for _ in 0..iterations {
        for x in &mut acc {
            *x = x.mul_add(a, b);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::CHAINS;

    /// AVX-512F chains: 12 zmm accumulators, one FMA each per iteration.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma_avx512(iterations: u64) -> f32 {
        let a = _mm512_set1_ps(std::hint::black_box(0.999_99));
        let b = _mm512_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iterations {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        let total = acc
            .iter()
            .fold(_mm512_setzero_ps(), |s, &x| _mm512_add_ps(s, x));
        _mm512_reduce_add_ps(total)
    }

    /// AVX2 + FMA chains: 12 ymm accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma_avx2(iterations: u64) -> f32 {
        let a = _mm256_set1_ps(std::hint::black_box(0.999_99));
        let b = _mm256_set1_ps(std::hint::black_box(1e-7));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..iterations {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let total = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &x| _mm256_add_ps(s, x));
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 f32, the 32 bytes an unaligned store writes.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
        lanes.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_available_isa_computes_the_same_chains() {
        // The loops compute x ← x·a + b from 0, CHAINS × lanes times: the
        // vector paths must give the portable value times their lanes.
        let want = portable(100);
        let mut isas = vec![FmaIsa::detect()];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            isas.push(FmaIsa::Avx2Fma);
        }
        for isa in isas {
            let got = run(isa, 100);
            let lanes = isa.lanes() as f32;
            assert!(
                (got - want * lanes).abs() <= 1e-5 * (want * lanes).abs(),
                "{isa:?}: {got} vs {want} × {lanes}"
            );
        }
    }

    #[test]
    fn the_probe_reports_a_positive_rate() {
        let p = fma_peak(Duration::from_millis(5));
        assert!(p.gflops > 0.0 && p.gflops.is_finite(), "{p:?}");
        assert_eq!(p.threads, rayon::current_num_threads());
    }
}
