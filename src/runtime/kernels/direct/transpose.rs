//! The epilogue's reorder: a tile's results, pixel-major with 16 channels
//! per pixel (`[pn][16]`), transposed to channel-major rows (`[16][stride]`)
//! that the epilogue then writes to the NCHW output with contiguous loops.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::ConvIsa;
use super::tile::BLOCK;

/// `dst[c·stride + p] = src[p·16 + c]` for `p < pn`, `c < 16`.
///
/// # Panics
/// If `src` has fewer than `pn·16` or `dst` fewer than `15·stride + pn`
/// elements, or `pn > stride` (a bug in resnetc).
pub(crate) fn transpose(isa: ConvIsa, src: &[f32], dst: &mut [f32], pn: usize, stride: usize) {
    assert!(
        pn <= stride && src.len() >= pn * BLOCK && dst.len() >= (BLOCK - 1) * stride + pn,
        "direct conv: bad epilogue transpose (a bug in resnetc)"
    );
    let done = match isa {
        #[cfg(target_arch = "x86_64")]
        ConvIsa::Avx512 | ConvIsa::Avx2Fma if std::is_x86_feature_detected!("avx2") => {
            // SAFETY: the CPU has AVX (checked just above: AVX2 implies it);
            // the kernel reads `src[p·16 + c]` and writes `dst[c·stride + p]`
            // only for `p < pn8 ≤ pn`, `c < 16`, in bounds by the assertion.
            let pn8 = pn / 8 * 8;
            unsafe { transpose_avx(src, dst, pn8, stride) };
            pn8
        }
        _ => 0,
    };
    for p in done..pn {
        for c in 0..BLOCK {
            dst[c * stride + p] = src[p * BLOCK + c];
        }
    }
}

/// 8×8 register transposes for the first `pn8` (a multiple of 8) pixels.
///
/// # Safety
/// The CPU supports AVX; `src` has `pn8·16` and `dst` `15·stride + pn8`
/// elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_avx(src: &[f32], dst: &mut [f32], pn8: usize, stride: usize) {
    let s = src.as_ptr();
    let d = dst.as_mut_ptr();
    for p0 in (0..pn8).step_by(8) {
        for c0 in [0, 8] {
            // SAFETY: rows p0..p0+8 < pn8, channels c0..c0+8 ≤ 16 and the
            // destination rows c0..c0+8 at columns p0..p0+8 are within the
            // caller's bounds.
            unsafe {
                macro_rules! r {
                    ($i:expr) => {
                        _mm256_loadu_ps(s.add((p0 + $i) * BLOCK + c0))
                    };
                }
                let (r0, r1, r2, r3) = (r!(0), r!(1), r!(2), r!(3));
                let (r4, r5, r6, r7) = (r!(4), r!(5), r!(6), r!(7));
                let t0 = _mm256_unpacklo_ps(r0, r1);
                let t1 = _mm256_unpackhi_ps(r0, r1);
                let t2 = _mm256_unpacklo_ps(r2, r3);
                let t3 = _mm256_unpackhi_ps(r2, r3);
                let t4 = _mm256_unpacklo_ps(r4, r5);
                let t5 = _mm256_unpackhi_ps(r4, r5);
                let t6 = _mm256_unpacklo_ps(r6, r7);
                let t7 = _mm256_unpackhi_ps(r6, r7);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                macro_rules! w {
                    ($c:expr, $v:expr) => {
                        _mm256_storeu_ps(d.add((c0 + $c) * stride + p0), $v)
                    };
                }
                w!(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                w!(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                w!(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                w!(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                w!(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                w!(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                w!(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                w!(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
            }
        }
    }
}
