//! The AVX2 + FMA microkernel: one filter block (16 output channels, two
//! `ymm` registers) × up to 6 output pixels = 12 accumulators of the 16
//! `ymm` registers; each input value is broadcast once and multiplied into
//! both halves of the block.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{BLOCK, Tile};

/// Computes one tile, one filter block at a time.
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
    for b in 0..t.nb {
        let w = &t.w[b * t.g.w_ob..];
        let bias = &t.bias[b * BLOCK..(b + 1) * BLOCK];
        let out = &mut t.out[b * t.out_bstride..];
        let (x, g, np) = (t.x, t.g, t.np);
        // SAFETY: the CPU has AVX2 and FMA (asserted above). `t.check()`
        // bounded every index the kernel forms for filter block `b` of `t`:
        // `w` starts at that block, so its largest index is at most the
        // checked `w_max` minus `b·w_ob`; `out` starts at `b·out_bstride`
        // and the kernel writes `np·16` values, within the checked
        // `out_end`; `bias` has 16 values; `x` is the checked input.
        unsafe {
            match np {
                1 => block::<1>(x, w, bias, out, &g),
                2 => block::<2>(x, w, bias, out, &g),
                3 => block::<3>(x, w, bias, out, &g),
                4 => block::<4>(x, w, bias, out, &g),
                5 => block::<5>(x, w, bias, out, &g),
                _ => block::<6>(x, w, bias, out, &g),
            }
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tile(_t: &mut Tile<'_>) {
    panic!("direct conv: AVX2 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// One filter block × `NP` pixels.
///
/// # Safety
/// The CPU supports AVX2 and FMA; every index formed from `g` for `NP`
/// pixels and one filter block is in bounds of `x`, `w` (as checked by
/// [`Tile::check`]); `bias` has 16 and `out` at least `NP·16` elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block<const NP: usize>(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
    g: &super::tile::Geo,
) {
    let xp = x.as_ptr();
    let wp = w.as_ptr();
    // SAFETY: `bias` has 16 elements (caller contract).
    let (b0, b1) = unsafe {
        (
            _mm256_loadu_ps(bias.as_ptr()),
            _mm256_loadu_ps(bias.as_ptr().add(8)),
        )
    };
    let mut acc = [[b0, b1]; NP];
    for cb in 0..g.cb {
        let cn = if cb + 1 == g.cb { g.c_last } else { g.cblk };
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let xo = cb * g.x_cb + ki * g.x_row + kj * g.x_col;
                let wo = cb * g.w_cb + (ki * g.kw + kj) * g.cblk * BLOCK;
                for ci in 0..cn {
                    // SAFETY: `wo + ci·16 + 15` and `xo + p·x_px + ci` are
                    // within the bounds the caller guarantees (ci < cn ≤
                    // cblk, p < NP, cb < g.cb, ki < kh, kj < kw).
                    unsafe {
                        let w0 = _mm256_loadu_ps(wp.add(wo + ci * BLOCK));
                        let w1 = _mm256_loadu_ps(wp.add(wo + ci * BLOCK + 8));
                        for (p, a) in acc.iter_mut().enumerate() {
                            let v = _mm256_broadcast_ss(&*xp.add(xo + p * g.x_px + ci));
                            a[0] = _mm256_fmadd_ps(w0, v, a[0]);
                            a[1] = _mm256_fmadd_ps(w1, v, a[1]);
                        }
                    }
                }
            }
        }
    }
    let op = out.as_mut_ptr();
    for (p, a) in acc.iter().enumerate() {
        // SAFETY: `out` has at least `NP·16` elements (caller contract).
        unsafe {
            _mm256_storeu_ps(op.add(p * BLOCK), a[0]);
            _mm256_storeu_ps(op.add(p * BLOCK + 8), a[1]);
        }
    }
}
