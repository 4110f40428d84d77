//! The AVX2 + FMA product microkernel: [`MR`] = 6 output channels × up to
//! 2 vectors of 8 tiles = 12 `ymm` accumulators; per input channel, two
//! vector loads of `V` and six broadcasts of `U`.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::block::{Block, LANES, MR};

/// Computes one block.
///
/// # Panics
/// If the CPU lacks AVX2 or FMA (the driver only selects this path after
/// `is_x86_feature_detected!` said yes), or on an inconsistent block.
#[cfg(target_arch = "x86_64")]
pub(crate) fn block(b: &mut Block<'_>) {
    assert!(
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
        "winograd: AVX2+FMA kernel selected on a CPU without it (a bug in resnetc)"
    );
    b.check();
    // SAFETY: the CPU has AVX2 and FMA (asserted above), and `b.check()`
    // bounded every index the kernel forms: `u` up to `c·MR`, `v` up to
    // `(c−1)·vs + nv·8`, `m` up to `(rows−1)·ms + nv·8`.
    unsafe {
        if b.nv == 2 {
            kernel::<2>(b);
        } else {
            kernel::<1>(b);
        }
    }
}

/// Not an x86-64 CPU: never selected.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn block(_b: &mut Block<'_>) {
    panic!("winograd: AVX2 kernel selected on a non-x86 CPU (a bug in resnetc)");
}

/// One block of `NV` vectors of tiles.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `b` passed [`Block::check`] with
/// `b.nv == NV`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel<const NV: usize>(b: &mut Block<'_>) {
    let up = b.u.as_ptr();
    let vp = b.v.as_ptr();
    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
    for ci in 0..b.c {
        let mut x = [_mm256_setzero_ps(); NV];
        for (k, xk) in x.iter_mut().enumerate() {
            // SAFETY: `ci·vs + k·8 + 7 < v.len()` (caller contract).
            *xk = unsafe { _mm256_loadu_ps(vp.add(ci * b.vs + k * LANES)) };
        }
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: `ci·MR + r < c·MR ≤ u.len()` (caller contract).
            let s = unsafe { _mm256_broadcast_ss(&*up.add(ci * MR + r)) };
            for (ak, xk) in a.iter_mut().zip(x) {
                *ak = _mm256_fmadd_ps(s, xk, *ak);
            }
        }
    }
    let mp = b.m.as_mut_ptr();
    for (r, a) in acc.iter().take(b.rows).enumerate() {
        for (k, ak) in a.iter().enumerate() {
            // SAFETY: `r·ms + k·8 + 7 < m.len()` for `r < rows`
            // (caller contract).
            unsafe { _mm256_storeu_ps(mp.add(r * b.ms + k * LANES), *ak) };
        }
    }
}
