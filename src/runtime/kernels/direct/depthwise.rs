//! The depthwise strategy of [`super::PackedConv2d`]: `groups` = input
//! channels `c`, output channels `o = m·c` (channel multiplier `m ≥ 1`), so
//! output channel `oc` reads only input channel `oc / m`.
//!
//! Unlike the dense strategies it works on the NCHW tensors themselves: a
//! depthwise layer does so little arithmetic per value (`kh·kw`
//! multiply-adds) that reordering the input to a channel-blocked layout and
//! the results back costs more than the convolution (measured with
//! `benches/grouped_conv.rs`). Each task takes one image's input channel:
//! it copies the channel into its slot of the caller's scratch as a
//! *plane* (`h` rows, each split into `sw` column phases of `wq = ⌈Wp/sw⌉`
//! values, phase `r` holding padded columns `r, r + sw, …`, zeros in the
//! left and right padding), so that for every stride each tap reads a
//! contiguous run of the plane. Then for each of its `m` output channels and
//! output rows it accumulates runs of [`RUN`] output pixels over the taps
//! (`acc[x] += plane[row][phase][x + offset] · w[tap]`, vectorised along
//! the row) and writes them through the fused epilogue.
//!
//! Rows of the padding above and below are skipped (their products are
//! zeros). Each output value is the bias plus the taps in row-major order,
//! whatever the run length or the thread count; the AVX-512 and AVX2+FMA
//! versions are the same code compiled for those features (fused
//! multiply-adds), the portable one multiplies and adds.

use rayon::prelude::*;

use super::{ConvIsa, Skip, epilogue};
use crate::runtime::kernels::activation::Activation;

/// Output pixels accumulated at once (8 AVX2 / 4 AVX-512 registers).
const RUN: usize = 64;

/// The shape of one depthwise call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DwShape {
    /// Images.
    pub n: usize,
    /// Input channels (= groups).
    pub c: usize,
    /// Channel multiplier: output channels per input channel.
    pub m: usize,
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Stride (rows, columns).
    pub stride: (usize, usize),
    /// Dilation (rows, columns).
    pub dilation: (usize, usize),
    /// Rows of zeros above.
    pub top: usize,
    /// Columns of zeros to the left.
    pub left: usize,
    /// Padded columns (`left + w + right`).
    pub wp: usize,
}

impl DwShape {
    /// Columns of one phase of a plane row (`⌈Wp/sw⌉`).
    fn wq(&self) -> usize {
        self.wp.div_ceil(self.stride.1)
    }

    /// Floats of one channel's plane (`h·sw·wq`), or `None` on overflow.
    fn plane(&self) -> Option<usize> {
        self.h
            .checked_mul(self.stride.1)?
            .checked_mul(self.wq())
    }

    /// Floats of scratch for the whole batch, or `None` on overflow.
    pub fn scratch_len(&self) -> Option<usize> {
        self.plane()?.checked_mul(self.c)?.checked_mul(self.n)
    }
}

/// The operands of one depthwise call.
pub(crate) struct DwArgs<'a> {
    /// The shape.
    pub s: DwShape,
    /// The NCHW input (`n·c·h·w`).
    pub x: &'a [f32],
    /// Weights, OIHW (`o·kh·kw`).
    pub weight: &'a [f32],
    /// Bias (at least `o` values).
    pub bias: &'a [f32],
    /// The residual, NCHW like the output, if one is added.
    pub skip: Option<&'a [f32]>,
    /// Whether the output holds the residual on entry.
    pub in_place: bool,
    /// The activation.
    pub act: Activation,
}

/// Computes the whole call into `out` (NCHW, `n·m·c·oh·ow`), one rayon
/// task per image and input channel (grouped into at least a few per
/// thread), each using its own plane of `scratch`.
///
/// # Panics
/// When the slices do not match the shape or `isa` is not supported (a bug
/// in resnetc: the driver checked both).
pub(crate) fn run(isa: ConvIsa, a: &DwArgs<'_>, out: &mut [f32], scratch: &mut [f32]) {
    let s = a.s;
    let (plane, Some(total)) = (s.plane().unwrap_or(0), s.scratch_len()) else {
        panic!("depthwise conv: scratch size overflows (a bug in resnetc)");
    };
    let per = s.m * s.oh * s.ow;
    let o = s.m * s.c;
    assert!(
        isa.is_supported()
            && plane > 0
            && scratch.len() >= total
            && out.len() == s.n * s.c * per
            && a.x.len() == s.n * s.c * s.h * s.w
            && a.weight.len() == o * s.kh * s.kw
            && a.bias.len() >= o
            && a.skip.is_none_or(|k| k.len() == out.len())
            && s.ow <= s.wq(),
        "depthwise conv: inconsistent call {s:?} (a bug in resnetc)"
    );
    let tasks = s.n * s.c;
    let min_len = tasks.div_ceil(8 * rayon::current_num_threads().max(1));
    out.par_chunks_mut(per)
        .zip(scratch[..total].par_chunks_mut(plane))
        .enumerate()
        .with_min_len(min_len.max(1))
        .for_each(|(i, (out, pl))| channel(isa, a, i, out, pl));
}

/// Image `i / c`, input channel `i % c`: its plane, then its `m` output
/// channels, with the microkernel of `isa`.
fn channel(isa: ConvIsa, a: &DwArgs<'_>, i: usize, out: &mut [f32], pl: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `run` asserted that the CPU supports `isa` (AVX-512F).
        ConvIsa::Avx512 => unsafe { channel_avx512(a, i, out, pl) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `run` asserted that the CPU supports `isa` (AVX2 + FMA).
        ConvIsa::Avx2Fma => unsafe { channel_avx2(a, i, out, pl) },
        _ => channel_generic::<false>(a, i, out, pl),
    }
}

/// [`channel_generic`] compiled for AVX-512F, with fused multiply-adds.
///
/// # Safety
/// The CPU supports AVX-512F (and so FMA).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn channel_avx512(a: &DwArgs<'_>, i: usize, out: &mut [f32], pl: &mut [f32]) {
    channel_generic::<true>(a, i, out, pl)
}

/// [`channel_generic`] compiled for AVX2, with fused multiply-adds.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn channel_avx2(a: &DwArgs<'_>, i: usize, out: &mut [f32], pl: &mut [f32]) {
    channel_generic::<true>(a, i, out, pl)
}

/// One task (see [`channel`]); `FMA` selects `mul_add` (only where the
/// target has fused multiply-add, else it would be a library call).
#[inline(always)]
fn channel_generic<const FMA: bool>(a: &DwArgs<'_>, i: usize, out: &mut [f32], pl: &mut [f32]) {
    let s = &a.s;
    let (ni, ci) = (i / s.c, i % s.c);
    let (sw, wq) = (s.stride.1, s.wq());
    let x = &a.x[i * s.h * s.w..][..s.h * s.w];
    // The plane: row `iy`, phase `r`, column `q` is padded column `q·sw + r`.
    for (iy, xr) in x.chunks_exact(s.w).enumerate() {
        for r in 0..sw {
            let dst = &mut pl[(iy * sw + r) * wq..][..wq];
            if sw == 1 {
                let (l, rest) = dst.split_at_mut(s.left);
                l.fill(0.0);
                let (mid, right) = rest.split_at_mut(s.w);
                mid.copy_from_slice(xr);
                right.fill(0.0);
            } else {
                for (q, d) in dst.iter_mut().enumerate() {
                    let col = q * sw + r;
                    *d = match col.checked_sub(s.left) {
                        Some(ix) if ix < s.w => xr[ix],
                        _ => 0.0,
                    };
                }
            }
        }
    }
    let pl: &[f32] = pl;
    let (sh, dh, dw) = (s.stride.0, s.dilation.0, s.dilation.1);
    let o = s.m * s.c;
    for j in 0..s.m {
        let oc = ci * s.m + j;
        let w = &a.weight[oc * s.kh * s.kw..][..s.kh * s.kw];
        let bias = a.bias[oc];
        for y in 0..s.oh {
            // Kernel rows that fall inside the input, and their input rows.
            let rows = (0..s.kh).filter_map(|ki| {
                let iy = (y * sh + ki * dh).checked_sub(s.top)?;
                (iy < s.h).then_some((ki, iy))
            });
            let orow = &mut out[(j * s.oh + y) * s.ow..][..s.ow];
            let skip_row = a
                .skip
                .map(|k| &k[((ni * o + oc) * s.oh + y) * s.ow..][..s.ow]);
            let mut x0 = 0;
            while x0 < s.ow {
                let len = RUN.min(s.ow - x0);
                let mut acc = [bias; RUN];
                for (ki, iy) in rows.clone() {
                    for kj in 0..s.kw {
                        let off = kj * dw;
                        let src = &pl[(iy * sw + off % sw) * wq + off / sw + x0..];
                        let wv = w[ki * s.kw + kj];
                        if len == RUN {
                            fma_run::<FMA, RUN>(&mut acc, &src[..RUN], wv);
                        } else {
                            fma_tail::<FMA>(&mut acc[..len], &src[..len], wv);
                        }
                    }
                }
                let skip = match skip_row {
                    Some(k) => Skip::Add(&k[x0..x0 + len]),
                    None if a.in_place => Skip::InPlace,
                    None => Skip::None,
                };
                epilogue(&mut orow[x0..x0 + len], &acc[..len], skip, a.act);
                x0 += len;
            }
        }
    }
}

/// `acc[i] += src[i] · w` over a whole run (fixed length, so it unrolls
/// into registers).
#[inline(always)]
fn fma_run<const FMA: bool, const L: usize>(acc: &mut [f32; L], src: &[f32], w: f32) {
    let src: &[f32; L] = src
        .try_into()
        .unwrap_or_else(|_| unreachable!("a run is RUN values"));
    for (a, s) in acc.iter_mut().zip(src) {
        *a = if FMA { s.mul_add(w, *a) } else { *a + *s * w };
    }
}

/// `acc[i] += src[i] · w` over a run's tail (`src` as long as `acc`).
#[inline(always)]
fn fma_tail<const FMA: bool>(acc: &mut [f32], src: &[f32], w: f32) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a = if FMA { s.mul_add(w, *a) } else { *a + *s * w };
    }
}
