//! The AVX2 + FMA microkernel: one filter block (16 output channels, two
//! `ymm` registers) × up to 6 output pixels = 12 accumulators of the 16
//! `ymm` registers; each input value is broadcast once and multiplied into
//! both halves of the block. A tile of 1–3 pixels (a row's tail, e.g. the
//! 7th pixel of a 7-wide map) runs 4, 3 or 2 filter blocks at once, so
//! that it still has 8–12 independent accumulators: with one block it
//! would have 2–6, too few to hide the FMA latency.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{BLOCK, Tile};

/// Filter blocks run together on a tile of `np` pixels.
fn blocks_at_once(np: usize) -> usize {
    match np {
        1 => 4,
        2 => 3,
        3 => 2,
        _ => 1,
    }
}

/// Computes one tile, [`blocks_at_once`] filter blocks at a time.
///
/// # Panics
/// If the CPU lacks AVX2 or FMA (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent tile.
#[cfg(target_arch = "x86_64")]
pub(crate) fn tile(t: &mut Tile<'_>) {
    assert!(
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        "direct conv: AVX2+FMA kernel selected on a CPU without it (a bug in resnetc)"
    );
    t.check();
    let (x, g, np, bs) = (t.x, t.g, t.np, t.out_bstride);
    let mut b = 0;
    while b < t.nb {
        let k = blocks_at_once(np).min(t.nb - b);
        let w = &t.w[b * g.w_ob..];
        let bias = &t.bias[b * BLOCK..];
        let out = &mut t.out[b * bs..];
        // SAFETY: the CPU has AVX2 and FMA (asserted above). `t.check()`
        // bounded every index the kernel forms for filter blocks
        // `b..b + k` (k ≤ nb − b) of `t`: `w` starts at block `b`, so its
        // largest index is at most the checked `w_max` minus `b·w_ob`;
        // `out` starts at `b·out_bstride` and the kernel writes `np·16`
        // values at each of `k` block strides, within the checked
        // `out_end`; `bias` has `k·16` values; `x` is the checked input.
        unsafe {
            match (k, np) {
                (4, _) => block::<4, 1>(x, w, bias, out, bs, &g),
                (3, 1) => block::<3, 1>(x, w, bias, out, bs, &g),
                (3, _) => block::<3, 2>(x, w, bias, out, bs, &g),
                (2, 1) => block::<2, 1>(x, w, bias, out, bs, &g),
                (2, 2) => block::<2, 2>(x, w, bias, out, bs, &g),
                (2, _) => block::<2, 3>(x, w, bias, out, bs, &g),
                (_, 1) => block::<1, 1>(x, w, bias, out, bs, &g),
                (_, 2) => block::<1, 2>(x, w, bias, out, bs, &g),
                (_, 3) => block::<1, 3>(x, w, bias, out, bs, &g),
                (_, 4) => block::<1, 4>(x, w, bias, out, bs, &g),
                (_, 5) => block::<1, 5>(x, w, bias, out, bs, &g),
                _ => block::<1, 6>(x, w, bias, out, bs, &g),
            }
        }
        b += k;
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tile(_t: &mut Tile<'_>) {
    panic!("direct conv: AVX2 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// `NB` filter blocks × `NP` pixels; every output value accumulated in
/// the same order as with one block at a time (bias, then channel blocks,
/// kernel rows, kernel columns, channels), so the grouping changes no bits.
///
/// # Safety
/// The CPU supports AVX2 and FMA; every index formed from `g` for `NP`
/// pixels and `NB` filter blocks is in bounds of `x`, `w` (as checked by
/// [`Tile::check`]); `bias` has `NB·16` elements and `out` at least
/// `(NB − 1)·bs + NP·16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // constant indices keep `acc` in registers
unsafe fn block<const NB: usize, const NP: usize>(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
    bs: usize,
    g: &super::tile::Geo,
) {
    let xp = x.as_ptr();
    let wp = w.as_ptr();
    let zero = _mm256_setzero_ps();
    let mut acc = [[[zero; 2]; NP]; NB];
    for j in 0..NB {
        // SAFETY: `bias` has `NB·16` elements (caller contract).
        let (b0, b1) = unsafe {
            (
                _mm256_loadu_ps(bias.as_ptr().add(j * BLOCK)),
                _mm256_loadu_ps(bias.as_ptr().add(j * BLOCK + 8)),
            )
        };
        acc[j] = [[b0, b1]; NP];
    }
    for cb in 0..g.cb {
        let cn = if cb + 1 == g.cb { g.c_last } else { g.cblk };
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let xo = cb * g.x_cb + ki * g.x_row + kj * g.x_col;
                let wo = cb * g.w_cb + (ki * g.kw + kj) * g.cblk * BLOCK;
                for ci in 0..cn {
                    // SAFETY: `j·w_ob + wo + ci·16 + 15` and
                    // `xo + p·x_px + ci` are within the bounds the caller
                    // guarantees (j < NB, ci < cn ≤ cblk, p < NP, cb < g.cb,
                    // ki < kh, kj < kw).
                    unsafe {
                        if NB == 1 {
                            // One block: each value broadcast right before
                            // its two FMAs (2 weight + 12 accumulator
                            // registers leave room for one broadcast).
                            let w0 = _mm256_loadu_ps(wp.add(wo + ci * BLOCK));
                            let w1 = _mm256_loadu_ps(wp.add(wo + ci * BLOCK + 8));
                            for p in 0..NP {
                                let v = _mm256_broadcast_ss(&*xp.add(xo + p * g.x_px + ci));
                                acc[0][p][0] = _mm256_fmadd_ps(w0, v, acc[0][p][0]);
                                acc[0][p][1] = _mm256_fmadd_ps(w1, v, acc[0][p][1]);
                            }
                            continue;
                        }
                        let mut v = [zero; NP];
                        for p in 0..NP {
                            v[p] = _mm256_broadcast_ss(&*xp.add(xo + p * g.x_px + ci));
                        }
                        for j in 0..NB {
                            let wj = wp.add(j * g.w_ob + wo + ci * BLOCK);
                            let w0 = _mm256_loadu_ps(wj);
                            let w1 = _mm256_loadu_ps(wj.add(8));
                            for p in 0..NP {
                                acc[j][p][0] = _mm256_fmadd_ps(w0, v[p], acc[j][p][0]);
                                acc[j][p][1] = _mm256_fmadd_ps(w1, v[p], acc[j][p][1]);
                            }
                        }
                    }
                }
            }
        }
    }
    let op = out.as_mut_ptr();
    for j in 0..NB {
        for p in 0..NP {
            // SAFETY: `out` has at least `(NB − 1)·bs + NP·16` elements
            // (caller contract).
            unsafe {
                _mm256_storeu_ps(op.add(j * bs + p * BLOCK), acc[j][p][0]);
                _mm256_storeu_ps(op.add(j * bs + p * BLOCK + 8), acc[j][p][1]);
            }
        }
    }
}
