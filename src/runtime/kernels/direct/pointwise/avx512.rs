//! The AVX-512F pointwise microkernel: 6 output channels × 32 pixels in 12
//! `zmm` accumulators (16 pixels when at most 16 are left). Per input
//! channel it loads the pixels (two vectors) and broadcasts each of the 6
//! weights once. Every load and store is masked (`__mmask16`), which costs
//! nothing on full vectors and never touches masked-out lanes, so pixel
//! tails need no separate path.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{MR, PwTile, Start};
use crate::runtime::kernels::activation::Activation;

/// Pixels per tile.
pub(crate) const NR: usize = 32;

/// Computes one tile.
///
/// # Panics
/// If the CPU lacks AVX-512F (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent tile.
#[cfg(target_arch = "x86_64")]
pub(crate) fn tile(t: &mut PwTile<'_, '_>) {
    assert!(
        std::is_x86_feature_detected!("avx512f"),
        "pointwise conv: AVX-512 kernel selected on a CPU without it (a bug in resnetc)"
    );
    t.check(NR);
    // SAFETY: the CPU has AVX-512F (asserted above); `t.check(NR)` bounded
    // every index the kernel forms (see `PwTile::check`), and its masks
    // keep every load and store to pixels `< np ≤ NV·16`.
    unsafe {
        if t.np > 16 {
            kernel::<2>(t)
        } else {
            kernel::<1>(t)
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tile(_t: &mut PwTile<'_, '_>) {
    panic!("pointwise conv: AVX-512 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// `MR` rows × `NV` vectors of 16 pixels, lanes past `np` masked off.
///
/// # Safety
/// The CPU supports AVX-512F; `t` passed [`PwTile::check`] for `NR`
/// pixels and `t.np ≤ NV·16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const NV: usize>(t: &mut PwTile<'_, '_>) {
    let (np, xs, ys, kc, rows) = (t.np, t.xs, t.ys(), t.kc, t.rows);
    let xp = t.x.as_ptr();
    let wp = t.w.as_ptr();
    let sp = t.skip.as_ptr();
    // SAFETY: `y0` is inside `y` (checked), so the offset stays in its
    // allocation.
    let yp = unsafe { t.y.as_mut_ptr().add(t.y0.0 * ys + t.y0.1) };
    let mut mask: [__mmask16; NV] = [0; NV];
    for (v, m) in mask.iter_mut().enumerate() {
        let n = np.saturating_sub(16 * v).min(16);
        *m = ((1u32 << n) - 1) as __mmask16;
    }
    let zero = _mm512_setzero_ps();
    let mut acc = [[zero; NV]; MR];
    for (r, a) in acc.iter_mut().enumerate() {
        let b = _mm512_set1_ps(t.bias[r]);
        for (v, a) in a.iter_mut().enumerate() {
            let m = mask[v];
            // SAFETY: rows `< rows`, pixels `< np` of the skip and the
            // output are in bounds (checked); the mask drops the others.
            *a = unsafe {
                match t.start {
                    Start::Bias => b,
                    Start::BiasSkip if r < rows => {
                        _mm512_add_ps(b, _mm512_maskz_loadu_ps(m, sp.add(r * xs + 16 * v)))
                    }
                    Start::BiasOut if r < rows => {
                        _mm512_add_ps(b, _mm512_maskz_loadu_ps(m, yp.add(r * ys + 16 * v)))
                    }
                    Start::Out if r < rows => _mm512_maskz_loadu_ps(m, yp.add(r * ys + 16 * v)),
                    Start::BiasSkip | Start::BiasOut => b,
                    Start::Out => zero,
                }
            };
        }
    }
    for ci in 0..kc {
        let mut xv = [zero; NV];
        // SAFETY: input channel `ci < kc`, pixels `< np` through the masks
        // (checked); the weights `ci·MR + r < kc·MR` (checked).
        unsafe {
            let row = xp.add(ci * xs);
            for (v, x) in xv.iter_mut().enumerate() {
                *x = _mm512_maskz_loadu_ps(mask[v], row.add(16 * v));
            }
            for (r, a) in acc.iter_mut().enumerate() {
                let wb = _mm512_set1_ps(*wp.add(ci * MR + r));
                for (a, x) in a.iter_mut().zip(&xv) {
                    *a = _mm512_fmadd_ps(wb, *x, *a);
                }
            }
        }
    }
    // `max(0, a)` and `min(6, ·)` return their second operand for a NaN
    // and keep `-0.0`, like `Activation::apply`.
    let six = _mm512_set1_ps(6.0);
    for a in acc.iter_mut().flatten() {
        *a = match t.act {
            None | Some(Activation::None) => *a,
            Some(Activation::Relu) => _mm512_max_ps(zero, *a),
            Some(Activation::Relu6) => _mm512_min_ps(six, _mm512_max_ps(zero, *a)),
        };
    }
    for (r, a) in acc.iter().enumerate().take(rows) {
        for (v, a) in a.iter().enumerate() {
            // SAFETY: row `r < rows`, pixels `< np` through the mask (checked).
            unsafe { _mm512_mask_storeu_ps(yp.add(r * ys + 16 * v), mask[v], *a) };
        }
    }
}
