//! The depthwise strategy of [`super::PackedConv2d`]: `groups` = input
//! channels `c`, output channels `o = m·c` (channel multiplier `m ≥ 1`), so
//! output channel `oc` reads only input channel `oc / m`.
//!
//! Unlike the dense strategies it works on the NCHW tensors themselves: a
//! depthwise layer does so little arithmetic per value (`kh·kw`
//! multiply-adds) that reordering the input to a channel-blocked layout and
//! the results back cost more than the convolution (measured with
//! `benches/grouped_conv.rs`). Each of up to 64 tasks takes a run of
//! (image, input channel) pairs and copies each channel in turn into the
//! task's slot of the caller's scratch as a zero-padded *plane*, split into `sh·sw` polyphase sub-planes (sub-plane `(rp, cp)`,
//! row `i`, column `q` holds padded row `i·sh + rp`, column `q·sw + cp`), each
//! `hq × wq` (`⌈Hp/sh⌉ × ⌈Wp/sw⌉`). Output pixel `(y, q)` of tap `(ki, kj)`
//! then reads sub-plane `(ki·dh mod sh, kj·dw mod sw)` at
//! `(y + ⌊ki·dh/sh⌋)·wq + q + ⌊kj·dw/sw⌋`: with output rows `wq` wide (the
//! columns past `ow` computed and dropped) every tap reads one contiguous
//! run `t + offset` of the flat output index `t = y·wq + q`, whatever the
//! stride, dilation and padding. A microkernel (`depthwise_x86.rs`, or the
//! portable loop below) accumulates runs of the flat output over the taps
//! (`acc[t] += plane[offset + t] · w[tap]`, vectorised along `t`, the
//! accumulators in registers); the fused epilogue then writes each output
//! row's first `ow` values.
//!
//! Each output value is the bias plus the taps in row-major order (zeros of
//! the padding included), whatever the run length or the thread count.

use rayon::prelude::*;

use super::{ConvIsa, Skip, epilogue};
use crate::runtime::kernels::activation::Activation;

/// The longest run of flat output values a microkernel accumulates at once
/// (AVX-512: 8 registers of 16); every run length divides it.
pub(crate) const MAX_RUN: usize = 128;

/// Most tasks of one call, each with its own slot of scratch reused for
/// its channels one after another (so that the slot stays in cache).
const TASKS: usize = 64;

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
    /// Padded rows (`top + h + bottom`).
    pub hp: usize,
    /// Padded columns (`left + w + right`).
    pub wp: usize,
}

/// Where one task's plane and flat output are in its scratch slot, and how
/// the taps step through the plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planes {
    /// Rows of a sub-plane (`⌈Hp/sh⌉`).
    pub hq: usize,
    /// Columns of a sub-plane (`⌈Wp/sw⌉`), also the flat output's row width.
    pub wq: usize,
    /// Floats of the plane: `sh·sw·hq·wq`, then `wq + MAX_RUN` zeros that
    /// the last run may read past the last sub-plane.
    pub plane: usize,
    /// Floats of the flat output (`oh·wq` rounded up to [`MAX_RUN`]).
    pub flat: usize,
}

impl DwShape {
    /// The plane geometry, or `None` when a size overflows `usize`.
    pub fn planes(&self) -> Option<Planes> {
        let (sh, sw) = self.stride;
        let (hq, wq) = (self.hp.div_ceil(sh), self.wp.div_ceil(sw));
        let plane = sh
            .checked_mul(sw)?
            .checked_mul(hq)?
            .checked_mul(wq)?
            .checked_add(wq)?
            .checked_add(MAX_RUN)?;
        let flat = self.oh.checked_mul(wq)?.checked_next_multiple_of(MAX_RUN)?;
        Some(Planes {
            hq,
            wq,
            plane,
            flat,
        })
    }

    /// Tasks of one call and channels per task: at most [`TASKS`] tasks of
    /// consecutive (image, channel) pairs.
    fn tasks(&self) -> (usize, usize) {
        let pairs = self.n * self.c;
        let per = pairs.div_ceil(TASKS).max(1);
        (pairs.div_ceil(per), per)
    }

    /// Floats of scratch for one call (a plane and a flat output per task),
    /// or `None` on overflow.
    pub fn scratch_len(&self) -> Option<usize> {
        let p = self.planes()?;
        p.plane.checked_add(p.flat)?.checked_mul(self.tasks().0)
    }

    /// Calls `f(k, offset)` for every tap `k` in row-major order with its
    /// plane offset (running quotients and remainders, no divisions).
    #[inline(always)]
    pub fn for_each_tap(&self, p: &Planes, mut f: impl FnMut(usize, usize)) {
        let (sh, sw) = self.stride;
        let (dh, dw) = self.dilation;
        let (a_step, rp_step, b_step, cp_step) = (dh / sh, dh % sh, dw / sw, dw % sw);
        let (mut a, mut rp) = (0, 0);
        for ki in 0..self.kh {
            let (mut b, mut cp) = (0, 0);
            for kj in 0..self.kw {
                f(ki * self.kw + kj, ((rp * sw + cp) * p.hq + a) * p.wq + b);
                (b, cp) = (b + b_step, cp + cp_step);
                if cp >= sw {
                    (b, cp) = (b + 1, cp - sw);
                }
            }
            (a, rp) = (a + a_step, rp + rp_step);
            if rp >= sh {
                (a, rp) = (a + 1, rp - sh);
            }
        }
    }

    /// The largest tap offset.
    pub fn max_offset(&self, p: &Planes) -> usize {
        let mut m = 0;
        self.for_each_tap(p, |_, off| m = m.max(off));
        m
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

/// One run of a microkernel: `out[t] = bias + Σ_k w[k] · plane[offs_k + t]`
/// for every `t < out.len()`, `offs_k` the `k`-th tap offset.
pub(crate) struct DwRun<'a> {
    /// The task's plane.
    pub plane: &'a [f32],
    /// The output channel's weights, one per tap.
    pub w: &'a [f32],
    /// The output channel's bias.
    pub bias: f32,
    /// The flat output (a multiple of the microkernel's run length).
    pub out: &'a mut [f32],
}

/// Computes the whole call into `out` (NCHW, `n·m·c·oh·ow`) in up to
/// [`TASKS`] rayon tasks of consecutive (image, input channel) pairs, each
/// with its own slot of `scratch`.
///
/// # Panics
/// When the slices do not match the shape or `isa` is not supported (a bug
/// in resnetc: the driver checked both).
pub(crate) fn run(isa: ConvIsa, a: &DwArgs<'_>, out: &mut [f32], scratch: &mut [f32]) {
    let s = a.s;
    let (Some(p), Some(total)) = (s.planes(), s.scratch_len()) else {
        panic!("depthwise conv: scratch size overflows (a bug in resnetc)");
    };
    let per = s.m * s.oh * s.ow;
    let o = s.m * s.c;
    let max_off = s.max_offset(&p);
    assert!(
        isa.is_supported()
            && scratch.len() >= total
            && out.len() == s.n * s.c * per
            && a.x.len() == s.n * s.c * s.h * s.w
            && a.weight.len() == o * s.kh * s.kw
            && a.bias.len() >= o
            && a.skip.is_none_or(|k| k.len() == out.len())
            && s.ow <= p.wq
            && s.top + s.h <= s.hp
            && s.left + s.w <= s.wp
            && max_off + p.flat <= p.plane,
        "depthwise conv: inconsistent call {s:?} (a bug in resnetc)"
    );
    let (_, chans) = s.tasks();
    out.par_chunks_mut((per * chans).max(1))
        .zip(scratch[..total].par_chunks_mut(p.plane + p.flat))
        .enumerate()
        .for_each(|(ti, (out, slot))| {
            for (k, out) in out.chunks_mut(per.max(1)).enumerate() {
                channel(isa, a, &p, ti * chans + k, out, slot);
            }
        });
}

/// Image `i / c`, input channel `i % c`: its plane, then its `m` output
/// channels.
fn channel(isa: ConvIsa, a: &DwArgs<'_>, p: &Planes, i: usize, out: &mut [f32], slot: &mut [f32]) {
    let s = &a.s;
    let (ni, ci) = (i / s.c, i % s.c);
    let (sh, sw) = s.stride;
    let (plane, flat) = slot.split_at_mut(p.plane);
    let x = &a.x[i * s.h * s.w..][..s.h * s.w];
    // Every plane value is written once: input values, zeros elsewhere.
    let subplanes = sh * sw * p.hq * p.wq;
    plane[subplanes..].fill(0.0);
    let mut xrows = x.chunks_exact(s.w);
    for pr in 0..sh * p.hq {
        let xr = if (s.top..s.top + s.h).contains(&pr) {
            xrows.next()
        } else {
            None
        };
        let (rp, i) = (pr % sh, pr / sh);
        for cp in 0..sw {
            let row = ((rp * sw + cp) * p.hq + i) * p.wq;
            let dst = &mut plane[row..row + p.wq];
            // The first input column whose padded column is in phase `cp`.
            let ix0 = (cp + sw - s.left % sw) % sw;
            let (Some(xr), true) = (xr, ix0 < s.w) else {
                dst.fill(0.0);
                continue;
            };
            let q0 = (ix0 + s.left) / sw;
            let cnt = (s.w - ix0).div_ceil(sw);
            let (head, rest) = dst.split_at_mut(q0);
            let (mid, tail) = rest.split_at_mut(cnt);
            head.fill(0.0);
            tail.fill(0.0);
            if sw == 1 {
                mid.copy_from_slice(xr);
            } else {
                for (d, v) in mid.iter_mut().zip(xr[ix0..].iter().step_by(sw)) {
                    *d = *v;
                }
            }
        }
    }
    let plane: &[f32] = plane;
    let o = s.m * s.c;
    let kk = s.kh * s.kw;
    let len = (s.oh * p.wq).next_multiple_of(run_len(isa));
    for j in 0..s.m {
        let oc = ci * s.m + j;
        let mut r = DwRun {
            plane,
            w: &a.weight[oc * kk..][..kk],
            bias: a.bias[oc],
            out: &mut flat[..len],
        };
        match isa {
            ConvIsa::Avx512 => super::depthwise_x86::avx512(&mut r, s, p),
            ConvIsa::Avx2Fma => super::depthwise_x86::avx2(&mut r, s, p),
            ConvIsa::Portable => portable(&mut r, s, p),
        }
        for y in 0..s.oh {
            let orow = &mut out[(j * s.oh + y) * s.ow..][..s.ow];
            let skip = match a.skip {
                Some(k) => Skip::Add(&k[((ni * o + oc) * s.oh + y) * s.ow..][..s.ow]),
                None if a.in_place => Skip::InPlace,
                None => Skip::None,
            };
            epilogue(orow, &flat[y * p.wq..][..s.ow], skip, a.act);
        }
    }
}

/// The run length of `isa`'s microkernel.
fn run_len(isa: ConvIsa) -> usize {
    match isa {
        ConvIsa::Avx512 => MAX_RUN,
        ConvIsa::Avx2Fma | ConvIsa::Portable => 64,
    }
}

/// The portable microkernel: plain Rust over runs of 64, multiply then add.
fn portable(r: &mut DwRun<'_>, s: &DwShape, p: &Planes) {
    const L: usize = 64;
    for (ri, run) in r.out.chunks_mut(L).enumerate() {
        let mut acc = [r.bias; L];
        s.for_each_tap(p, |k, off| {
            let src = &r.plane[off + ri * L..][..run.len()];
            for (a, x) in acc.iter_mut().zip(src) {
                *a += *x * r.w[k];
            }
        });
        run.copy_from_slice(&acc[..run.len()]);
    }
}
