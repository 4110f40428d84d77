//! The AVX2 + FMA pointwise microkernel: 6 output channels × 16 pixels in
//! 12 `ymm` accumulators (8 pixels when at most 8 are left: 6
//! accumulators). Per input channel it loads the pixels (two vectors) and
//! broadcasts each of the 6 weights once. Pixel tails use masked loads and
//! stores (`vmaskmovps`), which never touch the masked-out lanes.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::tile::{AddEnd, MR, PwTile, Start};
use crate::runtime::kernels::activation::Activation;

/// Pixels per tile.
pub(crate) const NR: usize = 16;

/// Computes one tile.
///
/// # Panics
/// If the CPU lacks AVX2 or FMA (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent tile.
#[cfg(target_arch = "x86_64")]
pub(crate) fn tile(t: &mut PwTile<'_, '_>) {
    assert!(
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        "pointwise conv: AVX2+FMA kernel selected on a CPU without it (a bug in resnetc)"
    );
    t.check(NR);
    // SAFETY: the CPU has AVX2 and FMA (asserted above); `t.check(NR)`
    // bounded every index the kernel forms (see `PwTile::check`): each
    // variant reads and writes pixels `< np` only (masked when
    // `np` is not 8 or 16 = the variant's full width).
    unsafe {
        match t.np {
            NR => kernel::<2, false>(t),
            9.. => kernel::<2, true>(t),
            8 => kernel::<1, false>(t),
            _ => kernel::<1, true>(t),
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tile(_t: &mut PwTile<'_, '_>) {
    panic!("pointwise conv: AVX2 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// `MR` rows × `NV` vectors of 8 pixels; `MASKED` when `np < NV·8`.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `t` passed [`PwTile::check`] for `NR`
/// pixels, `t.np ≤ NV·8`, and `t.np == NV·8` unless `MASKED`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // constant indices keep `acc` in registers
unsafe fn kernel<const NV: usize, const MASKED: bool>(t: &mut PwTile<'_, '_>) {
    let (np, xs, ss, ys, kc, rows) = (t.np, t.xs, t.ss, t.ys(), t.kc, t.rows);
    let xp = t.x.as_ptr();
    let wp = t.w.as_ptr();
    let sp = t.skip.as_ptr();
    // SAFETY: `y0` is inside `y` (checked), so the offset stays in its
    // allocation.
    let yp = unsafe { t.y.as_mut_ptr().add(t.y0.0 * ys + t.y0.1) };
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let mut mask = [_mm256_setzero_si256(); NV];
    for (v, m) in mask.iter_mut().enumerate() {
        *m = _mm256_cmpgt_epi32(_mm256_set1_epi32(np as i32 - 8 * v as i32), lanes);
    }
    // Loads vector `v` of the row at `p` (pixels `< np` only when masked).
    macro_rules! load {
        ($p:expr, $v:expr) => {
            if MASKED {
                _mm256_maskload_ps($p.add(8 * $v), mask[$v])
            } else {
                _mm256_loadu_ps($p.add(8 * $v))
            }
        };
    }
    let zero = _mm256_setzero_ps();
    let six = _mm256_set1_ps(6.0);
    let mut acc = [[zero; NV]; MR];
    // Loops over constant bounds with constant indices, so that the
    // accumulators stay in registers.
    for r in 0..MR {
        let b = _mm256_set1_ps(t.bias[r]);
        for v in 0..NV {
            // SAFETY: rows `< rows`, pixels `< np` of the output are in
            // bounds (checked).
            acc[r][v] = match t.start {
                Start::Bias => b,
                Start::Out if r < rows => unsafe { load!(yp.add(r * ys), v) },
                Start::Out => zero,
            };
        }
    }
    let mut xr = xp;
    let mut wr = wp;
    for _ in 0..kc {
        // SAFETY: `xr` is input channel `ci < kc`, read at pixels `< np`
        // (checked); `wr` points to `w[ci·MR..][..MR]` (checked). Both move
        // on by one channel after the last use, staying within one past
        // the end of their slices.
        unsafe {
            let mut xv = [zero; NV];
            for v in 0..NV {
                xv[v] = load!(xr, v);
            }
            for r in 0..MR {
                let wb = _mm256_broadcast_ss(&*wr.add(r));
                for v in 0..NV {
                    acc[r][v] = _mm256_fmadd_ps(wb, xv[v], acc[r][v]);
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
            // SAFETY: row `r < rows`, pixels `< np` of the skip and the
            // output are in bounds (checked).
            let sum = unsafe {
                match t.add {
                    AddEnd::Nothing => acc[r][v],
                    AddEnd::Skip => _mm256_add_ps(acc[r][v], load!(sp.add(r * ss), v)),
                    AddEnd::Out => _mm256_add_ps(acc[r][v], load!(yp.add(r * ys), v)),
                }
            };
            let a = match t.act {
                None | Some(Activation::None) => sum,
                Some(Activation::Relu) => _mm256_max_ps(zero, sum),
                Some(Activation::Relu6) => _mm256_min_ps(six, _mm256_max_ps(zero, sum)),
            };
            // SAFETY: row `r < rows`, pixels `< np` of the output (checked).
            unsafe {
                let p = yp.add(r * ys + 8 * v);
                if MASKED {
                    _mm256_maskstore_ps(p, mask[v], a);
                } else {
                    _mm256_storeu_ps(p, a);
                }
            }
        }
    }
}
