//! The x86 depthwise microkernels: a run of the flat output in 8 vector
//! accumulators (AVX2 + FMA: 8 × 8 = 64 values; AVX-512F: 8 × 16 = 128),
//! the bias their start value; per tap, the weight is broadcast once and
//! multiplied into 8 contiguous vectors of the plane.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::depthwise::{DwRun, DwShape, Planes};

/// Accumulator registers per run.
#[cfg(target_arch = "x86_64")]
const NACC: usize = 8;

/// Checks that every index a microkernel with run length `l` forms is in
/// bounds: whole runs, one weight per tap, and the largest tap offset plus
/// the flat output's length within the plane.
///
/// # Panics
/// On an inconsistent run (a bug in resnetc).
fn check(r: &DwRun<'_>, s: &DwShape, p: &Planes, l: usize) {
    assert!(
        r.out.len().is_multiple_of(l)
            && r.w.len() == s.kh * s.kw
            && s.max_offset(p) + r.out.len() <= r.plane.len(),
        "depthwise conv: run out of bounds (a bug in resnetc)"
    );
}

/// Computes `r` with AVX2 + FMA, 64 values at a time.
///
/// # Panics
/// If the CPU lacks AVX2 or FMA (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent run.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2(r: &mut DwRun<'_>, s: &DwShape, p: &Planes) {
    assert!(
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        "depthwise conv: AVX2+FMA kernel selected on a CPU without it (a bug in resnetc)"
    );
    check(r, s, p, NACC * 8);
    // SAFETY: the CPU has AVX2 and FMA (asserted above); `check` bounded
    // every plane index `offset + t` (t < out.len()), the weights and the
    // whole runs of `out` the kernel forms.
    unsafe { avx2_runs(r, s, p) }
}

/// # Safety
/// The CPU supports AVX2 and FMA; `r` passed [`check`] with run length 64.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_runs(r: &mut DwRun<'_>, s: &DwShape, p: &Planes) {
    const V: usize = 8;
    let (pp, op, w) = (r.plane.as_ptr(), r.out.as_mut_ptr(), r.w);
    let b = _mm256_set1_ps(r.bias);
    for t0 in (0..r.out.len()).step_by(NACC * V) {
        let mut acc = [b; NACC];
        s.for_each_tap(p, |k, off| {
            // SAFETY: `off + t0 + 63 < plane.len()` and `k < w.len()`
            // (the caller's `check`: offsets ≤ max offset, t0 + 64 ≤ out.len()).
            unsafe {
                let wv = _mm256_set1_ps(*w.get_unchecked(k));
                let src = pp.add(off + t0);
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_loadu_ps(src.add(i * V)), wv, *a);
                }
            }
        });
        for (i, a) in acc.iter().enumerate() {
            // SAFETY: `t0 + 64 ≤ out.len()` (whole runs, checked).
            unsafe { _mm256_storeu_ps(op.add(t0 + i * V), *a) };
        }
    }
}

/// Computes `r` with AVX-512F, 128 values at a time.
///
/// # Panics
/// If the CPU lacks AVX-512F (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent run.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512(r: &mut DwRun<'_>, s: &DwShape, p: &Planes) {
    assert!(
        std::is_x86_feature_detected!("avx512f"),
        "depthwise conv: AVX-512 kernel selected on a CPU without it (a bug in resnetc)"
    );
    check(r, s, p, NACC * 16);
    // SAFETY: the CPU has AVX-512F (asserted above); `check` bounded every
    // plane index `offset + t` (t < out.len()), the weights and the whole
    // runs of `out` the kernel forms.
    unsafe { avx512_runs(r, s, p) }
}

/// # Safety
/// The CPU supports AVX-512F; `r` passed [`check`] with run length 128.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512_runs(r: &mut DwRun<'_>, s: &DwShape, p: &Planes) {
    const V: usize = 16;
    let (pp, op, w) = (r.plane.as_ptr(), r.out.as_mut_ptr(), r.w);
    let b = _mm512_set1_ps(r.bias);
    for t0 in (0..r.out.len()).step_by(NACC * V) {
        let mut acc = [b; NACC];
        s.for_each_tap(p, |k, off| {
            // SAFETY: `off + t0 + 127 < plane.len()` and `k < w.len()`
            // (the caller's `check`: offsets ≤ max offset, t0 + 128 ≤ out.len()).
            unsafe {
                let wv = _mm512_set1_ps(*w.get_unchecked(k));
                let src = pp.add(off + t0);
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(_mm512_loadu_ps(src.add(i * V)), wv, *a);
                }
            }
        });
        for (i, a) in acc.iter().enumerate() {
            // SAFETY: `t0 + 128 ≤ out.len()` (whole runs, checked).
            unsafe { _mm512_storeu_ps(op.add(t0 + i * V), *a) };
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn avx2(_r: &mut DwRun<'_>, _s: &DwShape, _p: &Planes) {
    panic!("depthwise conv: AVX2 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn avx512(_r: &mut DwRun<'_>, _s: &DwShape, _p: &Planes) {
    panic!("depthwise conv: AVX-512 kernel selected on a non-x86 CPU (a bug in resnetc)");
}
