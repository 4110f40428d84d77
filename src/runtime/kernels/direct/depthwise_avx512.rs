//! The AVX-512F depthwise microkernel: 16 channels are one `zmm` register;
//! up to 12 output pixels are accumulated at once, each tap's weight vector
//! loaded once and multiplied into every pixel's input vector.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::depthwise::{DwGeo, DwTile};
use super::tile::BLOCK;

/// Output pixels per register tile.
#[cfg(target_arch = "x86_64")]
const NP: usize = 12;

/// Computes one depthwise tile.
///
/// # Panics
/// If the CPU lacks AVX-512F (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent tile.
#[cfg(target_arch = "x86_64")]
pub(crate) fn tile(t: &mut DwTile<'_>) {
    assert!(
        std::is_x86_feature_detected!("avx512f"),
        "depthwise conv: AVX-512 kernel selected on a CPU without it (a bug in resnetc)"
    );
    t.check();
    let g = t.g;
    let taps = g.kh * g.kw * BLOCK;
    for b in 0..t.nb {
        let x = &t.x[b * g.x_cb..];
        let w = &t.w[b * taps..];
        let bias = &t.bias[b * BLOCK..];
        let out = &mut t.out[b * t.out_bstride..];
        let mut p0 = 0;
        while p0 < t.np {
            let n = NP.min(t.np - p0);
            let xs = &x[p0 * g.x_px..];
            let os = &mut out[p0 * BLOCK..];
            // SAFETY: the CPU has AVX-512F (asserted above). `t.check()`
            // bounded the largest input index of block `b`, pixel `np − 1`
            // and every tap; `xs` starts at block `b`, pixel `p0`, and the
            // kernel reads pixels `< n ≤ np − p0`, so every index stays
            // below that bound. `w` starts at block `b`'s `kh·kw·16` weights
            // (within the checked `nb·kh·kw·16`), `bias` has 16 values from
            // `b·16`, and `os` has room for `n·16` values (the checked
            // `out_end` is `(nb−1)·out_bstride + np·16`).
            unsafe {
                match n {
                    1 => pixels::<1>(xs, w, bias, os, &g),
                    2 => pixels::<2>(xs, w, bias, os, &g),
                    3 => pixels::<3>(xs, w, bias, os, &g),
                    4 => pixels::<4>(xs, w, bias, os, &g),
                    5 => pixels::<5>(xs, w, bias, os, &g),
                    6 => pixels::<6>(xs, w, bias, os, &g),
                    7 => pixels::<7>(xs, w, bias, os, &g),
                    8 => pixels::<8>(xs, w, bias, os, &g),
                    9 => pixels::<9>(xs, w, bias, os, &g),
                    10 => pixels::<10>(xs, w, bias, os, &g),
                    11 => pixels::<11>(xs, w, bias, os, &g),
                    _ => pixels::<12>(xs, w, bias, os, &g),
                }
            }
            p0 += n;
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tile(_t: &mut DwTile<'_>) {
    panic!("depthwise conv: AVX-512 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// One block of 16 channels × `N` pixels.
///
/// # Safety
/// The CPU supports AVX-512F; `x[(N−1)·x_px + (kh−1)·x_row +
/// (kw−1)·x_col + 15]`, `w[kh·kw·16 − 1]`, `bias[15]` and `out[N·16 − 1]`
/// are in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pixels<const N: usize>(x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32], g: &DwGeo) {
    let (xp, wp, op) = (x.as_ptr(), w.as_ptr(), out.as_mut_ptr());
    // SAFETY: `bias` has 16 elements (caller contract).
    let b = unsafe { _mm512_loadu_ps(bias.as_ptr()) };
    let mut acc = [b; N];
    for ki in 0..g.kh {
        for kj in 0..g.kw {
            let xo = ki * g.x_row + kj * g.x_col;
            let wo = (ki * g.kw + kj) * BLOCK;
            // SAFETY: `wo + 15 < kh·kw·16` and `xo + p·x_px + 15` is at most
            // the caller's bound on `x` (ki < kh, kj < kw, p < N).
            unsafe {
                let wv = _mm512_loadu_ps(wp.add(wo));
                for (p, a) in acc.iter_mut().enumerate() {
                    let v = _mm512_loadu_ps(xp.add(xo + p * g.x_px));
                    *a = _mm512_fmadd_ps(v, wv, *a);
                }
            }
        }
    }
    for (p, a) in acc.iter().enumerate() {
        // SAFETY: `out` has at least `N·16` elements (caller contract).
        unsafe { _mm512_storeu_ps(op.add(p * BLOCK), *a) };
    }
}
