//! The AVX-512F pointwise microkernel: 6 output channels × 32 pixels in 12
//! `zmm` accumulators (16 pixels when at most 16 are left). Per input
//! channel it loads the pixels (two vectors) and broadcasts each of the 6
//! weights once. Every load and store is masked (`__mmask16`), which costs
//! nothing on full vectors and never touches masked-out lanes, so pixel
//! tails need no separate path.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{AddEnd, MR, PwTile, Start};
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
#[allow(clippy::needless_range_loop)] // constant indices keep `acc` in registers
unsafe fn kernel<const NV: usize>(t: &mut PwTile<'_, '_>) {
    let (np, xs, ss, ys, kc, rows) = (t.np, t.xs, t.ss, t.ys(), t.kc, t.rows);
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
    let six = _mm512_set1_ps(6.0);
    let mut acc = [[zero; NV]; MR];
    // Loops over constant bounds with constant indices, so that the
    // accumulators stay in registers.
    for r in 0..MR {
        let b = _mm512_set1_ps(t.bias[r]);
        for v in 0..NV {
            // SAFETY: rows `< rows`, pixels `< np` of the output are in
            // bounds (checked); the mask drops the others.
            acc[r][v] = match t.start {
                Start::Bias => b,
                Start::Out if r < rows => unsafe {
                    _mm512_maskz_loadu_ps(mask[v], yp.add(r * ys + 16 * v))
                },
                Start::Out => zero,
            };
        }
    }
    let mut xr = xp;
    let mut wr = wp;
    for _ in 0..kc {
        // SAFETY: `xr` is input channel `ci < kc`, read at pixels `< np`
        // through the masks (checked); `wr` points to `w[ci·MR..][..MR]`
        // (checked). Both move on by one channel after the last use,
        // staying within one past the end of their slices.
        unsafe {
            let mut xv = [zero; NV];
            for v in 0..NV {
                xv[v] = _mm512_maskz_loadu_ps(mask[v], xr.add(16 * v));
            }
            for r in 0..MR {
                let wb = _mm512_set1_ps(*wr.add(r));
                for v in 0..NV {
                    acc[r][v] = _mm512_fmadd_ps(wb, xv[v], acc[r][v]);
                }
            }
            xr = xr.wrapping_add(xs);
            wr = wr.add(MR);
        }
    }
    // `max(0, a)` and `min(6, ·)` return their second operand for a NaN
    // and keep `-0.0`, like `Activation::apply`.
    for r in 0..MR {
        if r >= rows {
            break;
        }
        for v in 0..NV {
            let m = mask[v];
            // SAFETY: row `r < rows`, pixels `< np` of the skip and the
            // output are in bounds (checked); the mask drops the others.
            let sum = unsafe {
                match t.add {
                    AddEnd::Nothing => acc[r][v],
                    AddEnd::Skip => {
                        _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m, sp.add(r * ss + 16 * v)))
                    }
                    AddEnd::Out => {
                        _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m, yp.add(r * ys + 16 * v)))
                    }
                }
            };
            let a = match t.act {
                None | Some(Activation::None) => sum,
                Some(Activation::Relu) => _mm512_max_ps(zero, sum),
                Some(Activation::Relu6) => _mm512_min_ps(six, _mm512_max_ps(zero, sum)),
            };
            // SAFETY: row `r < rows`, pixels `< np` through the mask (checked).
            unsafe { _mm512_mask_storeu_ps(yp.add(r * ys + 16 * v), mask[v], a) };
        }
    }
}
