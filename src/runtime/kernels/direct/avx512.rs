//! The AVX-512F microkernel: up to 4 filter blocks (64 output channels) ×
//! 6 output pixels in 24 `zmm` accumulators; per input channel and tap, 4
//! filter vectors are loaded and each input value is broadcast once and
//! multiplied into all 4 blocks.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{BLOCK, Geo, Tile};

/// Computes one tile.
///
/// # Panics
/// If the CPU lacks AVX-512F (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent tile.
#[cfg(target_arch = "x86_64")]
pub(crate) fn tile(t: &mut Tile<'_>) {
    assert!(
        std::is_x86_feature_detected!("avx512f"),
        "direct conv: AVX-512 kernel selected on a CPU without it (a bug in resnetc)"
    );
    t.check();
    let (x, w, bias, bs, g) = (t.x, t.w, t.bias, t.out_bstride, t.g);
    let out = &mut *t.out;
    macro_rules! go {
        ($nb:literal; $($np:literal),*) => {
            match t.np {
                $($np => block::<$nb, $np>(x, w, bias, out, bs, &g),)*
                _ => block::<$nb, 6>(x, w, bias, out, bs, &g),
            }
        };
    }
    // SAFETY: the CPU has AVX-512F (asserted above) and `t.check()` bounded
    // every index the kernel forms for `t.nb` blocks and `t.np` pixels,
    // which are the const parameters chosen here (np ≤ 6 after the check).
    unsafe {
        match t.nb {
            1 => go!(1; 1, 2, 3, 4, 5),
            2 => go!(2; 1, 2, 3, 4, 5),
            3 => go!(3; 1, 2, 3, 4, 5),
            _ => go!(4; 1, 2, 3, 4, 5),
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tile(_t: &mut Tile<'_>) {
    panic!("direct conv: AVX-512 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// `NB` filter blocks × `NP` pixels.
///
/// # Safety
/// The CPU supports AVX-512F; every index formed from `g` for `NB` blocks
/// and `NP` pixels is in bounds of `x`, `w` and `out` (as checked by
/// [`Tile::check`]); `bias` has `NB·16` elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block<const NB: usize, const NP: usize>(
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    out: &mut [f32],
    out_bstride: usize,
    g: &Geo,
) {
    let xp = x.as_ptr();
    let wp = w.as_ptr();
    let mut acc = [[_mm512_setzero_ps(); NP]; NB];
    for (b, row) in acc.iter_mut().enumerate() {
        // SAFETY: `bias` has `NB·16` elements (caller contract).
        let bv = unsafe { _mm512_loadu_ps(bias.as_ptr().add(b * BLOCK)) };
        *row = [bv; NP];
    }
    for cb in 0..g.cb {
        let cn = if cb + 1 == g.cb { g.c_last } else { g.cblk };
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let xo = cb * g.x_cb + ki * g.x_row + kj * g.x_col;
                let wo = cb * g.w_cb + (ki * g.kw + kj) * g.cblk * BLOCK;
                for ci in 0..cn {
                    // SAFETY: `b·w_ob + wo + ci·16 + 15` and
                    // `xo + p·x_px + ci` are within the bounds the caller
                    // guarantees (b < NB, p < NP, ci < cn ≤ cblk, …).
                    unsafe {
                        let mut wv = [_mm512_setzero_ps(); NB];
                        for (b, v) in wv.iter_mut().enumerate() {
                            *v = _mm512_loadu_ps(wp.add(b * g.w_ob + wo + ci * BLOCK));
                        }
                        for p in 0..NP {
                            let v = _mm512_set1_ps(*xp.add(xo + p * g.x_px + ci));
                            for (row, w) in acc.iter_mut().zip(&wv) {
                                row[p] = _mm512_fmadd_ps(*w, v, row[p]);
                            }
                        }
                    }
                }
            }
        }
    }
    let op = out.as_mut_ptr();
    for (b, row) in acc.iter().enumerate() {
        for (p, a) in row.iter().enumerate() {
            // SAFETY: `b·out_bstride + p·16 + 15` is below the caller's
            // bound on `out`.
            unsafe { _mm512_storeu_ps(op.add(b * out_bstride + p * BLOCK), *a) };
        }
    }
}
