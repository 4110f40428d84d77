//! The pointwise (1×1, unpadded, one group) strategy of
//! [`super::PackedConv2d`].
//!
//! Per image a 1×1 convolution on NCHW is the product
//! `Y[o × hw] = W[o × c] · X[c × hw]`: the input's rows are read from the
//! NCHW tensor (no whole-tensor reorder; blocks are packed as below), the
//! weights are packed once in
//! panels of [`MR`] output channels (`[⌈o/MR⌉][c][MR]`, zero rows past
//! `o`), and the microkernels write the NCHW output rows directly. A
//! strided convolution first copies the pixels it reads into the caller's
//! scratch (`[n][c][oh·ow]`), then runs the same product.
//!
//! Cache blocking (the order of BLIS, the weights packed once): a work
//! unit runs over blocks of at most [`NC`] pixels, within one over blocks
//! of at most [`MC`] output channels, then over chunks of at most [`KC`]
//! input channels. Each chunk's block of input pixels is packed into a
//! per-thread buffer as tiles of `NR` pixels (`[tile][kc][NR]`, read once
//! from memory, then from cache), and every panel of [`MR`] output
//! channels (its weights in L1) runs across the block's pixel tiles, so
//! that consecutive tiles write consecutive pixels of the same output
//! rows. The first chunk starts from the bias, later chunks add onto the
//! partial sums in the output, and the last one adds the residual, when
//! there is one, then applies the activation before its store: the bits of
//! the convolution and the add run apart, in place or not (a residual in
//! place over several chunks is copied aside before the first chunk
//! overwrites it). Each output value is accumulated in one fixed order
//! (bias, the channels in order, the skip), whatever the thread count.
//!
//! Threading: one rayon fork-join per call over (image × output-channel
//! range × pixel range) units, about four per thread.

pub(in crate::runtime::kernels) mod avx2;
pub(in crate::runtime::kernels) mod avx512;
pub(in crate::runtime::kernels) mod portable;
pub(in crate::runtime::kernels) mod tile;

use ndarray::{ArrayView4, ArrayViewMut2, ArrayViewMut4, Axis};
use rayon::prelude::*;

use super::ConvIsa;
use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::conv::{Conv2dParams, Padding2d, conv2d_output_hw};
use crate::runtime::kernels::error::{KernelError, shape_err};
use crate::runtime::kernels::thread_buffer::with_thread_buffer;
use tile::{AddEnd, MR, PwTile, Start};

/// Most input channels per chunk (the chunks of one call have equal sizes
/// but for the last).
const KC: usize = 512;
/// Most output channels per cache block (a multiple of [`MR`]).
const MC: usize = 240;
/// Most pixels per cache block (a multiple of every microkernel's tile
/// width).
const NC: usize = 128;

/// A 1×1 convolution's weights packed for the pointwise microkernels.
#[derive(Debug, Clone)]
pub(crate) struct Pointwise {
    /// Output channels.
    o: usize,
    /// Input channels.
    c: usize,
    /// Stride (rows, columns).
    stride: (usize, usize),
    /// Fused activation.
    act: Activation,
    /// The microkernel.
    isa: ConvIsa,
    /// `[⌈o/MR⌉][c][MR]`, zero past `o`.
    weights: Vec<f32>,
    /// `⌈o/MR⌉·MR` values, zero past `o`.
    bias: Vec<f32>,
}

impl Pointwise {
    /// Whether a convolution with this kernel size and these parameters
    /// runs through this strategy: 1×1, one group, no padding (any stride;
    /// dilation does not matter for a 1×1 kernel).
    pub(crate) fn qualifies(kernel_hw: (usize, usize), params: &Conv2dParams) -> bool {
        kernel_hw == (1, 1) && params.groups == 1 && params.padding == Padding2d::ZERO
    }

    /// Packs the weights `w` (`[o, c]`, row-major) and the first `o` values
    /// of `bias` (zeros if shorter).
    pub(crate) fn new(
        w: &[f32],
        (o, c): (usize, usize),
        bias: &[f32],
        params: &Conv2dParams,
        isa: ConvIsa,
    ) -> Pointwise {
        let panels = o.div_ceil(MR);
        let mut weights = vec![0.0f32; panels * c * MR];
        for (oc, row) in w.chunks_exact(c).take(o).enumerate() {
            let panel = &mut weights[oc / MR * c * MR..][..c * MR];
            for (ci, &v) in row.iter().enumerate() {
                panel[ci * MR + oc % MR] = v;
            }
        }
        let mut b = vec![0.0f32; panels * MR];
        for (d, s) in b.iter_mut().zip(bias.iter().take(o)) {
            *d = *s;
        }
        Pointwise {
            o,
            c,
            stride: params.stride,
            act: params.activation,
            isa,
            weights,
            bias: b,
        }
    }

    /// The `f32` values it holds (packed weights and bias).
    pub(crate) fn len(&self) -> usize {
        self.weights.len() + self.bias.len()
    }

    /// The floats of scratch [`Pointwise::run`] needs for an input of
    /// dimensions `[n, c, h, w]`: none at stride 1, else the strided
    /// input's pixels `n·c·oh·ow`. Errors when that overflows `usize`.
    pub(crate) fn scratch_len(&self, input: [usize; 4]) -> Result<usize, KernelError> {
        if self.stride == (1, 1) {
            return Ok(0);
        }
        let [n, c, h, w] = input;
        let params = Conv2dParams {
            stride: self.stride,
            ..Conv2dParams::default()
        };
        let (oh, ow) = conv2d_output_hw((h, w), (1, 1), &params)?;
        n.checked_mul(c)
            .and_then(|v| v.checked_mul(oh))
            .and_then(|v| v.checked_mul(ow))
            .ok_or_else(|| {
                KernelError::Shape("pointwise conv: the strided input overflows usize".into())
            })
    }

    /// Computes `out = act(conv(x) + bias + skip)`, the skip being `skip`
    /// (standard layout, the output's shape), or `out` itself when
    /// `in_place`, or nothing. `out` has the output shape in standard
    /// layout (the caller checked both); `scratch` holds at least
    /// [`Pointwise::scratch_len`] floats.
    pub(crate) fn run(
        &self,
        x: ArrayView4<'_, f32>,
        skip: Option<&[f32]>,
        in_place: bool,
        out: ArrayViewMut4<'_, f32>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        let (n, c, h, w) = x.dim();
        let (_, o, oh, ow) = out.dim();
        if c != self.c || o != self.o || !out.is_standard_layout() {
            return shape_err(format!(
                "pointwise conv: input {:?} or output {:?} does not fit the weights \
                 (a bug in resnetc)",
                x.shape(),
                out.shape()
            ));
        }
        let hw = oh * ow;
        if n * o * hw == 0 {
            return Ok(());
        }
        let xc = x.as_standard_layout();
        let xs = xc
            .as_slice()
            .ok_or_else(|| KernelError::Shape("pointwise conv: input not contiguous".into()))?;
        let src: &[f32] = if self.stride == (1, 1) {
            xs
        } else {
            let len = self.scratch_len([n, c, h, w])?;
            let Some(dst) = scratch.get_mut(..len) else {
                return shape_err(format!(
                    "pointwise conv: scratch has {} floats, needs {len}",
                    scratch.len()
                ));
            };
            subsample(xs, (h, w), (oh, ow), self.stride, dst);
            dst
        };
        if src.len() != n * c * hw || skip.is_some_and(|s| s.len() != n * o * hw) {
            return shape_err("pointwise conv: operand sizes disagree (a bug in resnetc)");
        }
        let mut y = out
            .into_shape_with_order((n, o, hw))
            .map_err(|e| KernelError::Shape(format!("pointwise conv: {e}")))?;

        let nr = self.nr();
        let threads = rayon::current_num_threads().max(1);
        let per_image = (4 * threads).div_ceil(n);
        let (ptiles, otiles) = (hw.div_ceil(nr), o.div_ceil(MR));
        let ps = per_image.min((ptiles / 4).max(1));
        let os = per_image.div_ceil(ps).min(otiles);
        let prange = ptiles.div_ceil(ps) * nr;
        let orange = otiles.div_ceil(os) * MR;
        let kc_max = c.div_ceil(c.div_ceil(KC));

        let chunks = c.div_ceil(kc_max);
        let unit = |ni: usize, oa: usize, pa: usize, mut v: ArrayViewMut2<'_, f32>| {
            let (on, pn) = v.dim();
            // Equal blocks (multiples of the tile sizes) not larger than
            // `MC` × `NC`.
            let mc = on.div_ceil(on.div_ceil(MC)).div_ceil(MR) * MR;
            let nc = pn.div_ceil(pn.div_ceil(NC)).div_ceil(nr) * nr;
            // A residual in place over several chunks: the first chunk's
            // partial sums overwrite the skip, so the block's skip is
            // copied aside first.
            let saves = in_place && chunks > 1;
            let saved_len = if saves { mc * nc } else { 0 };
            with_thread_buffer(&PACKED, kc_max * nc + saved_len, |buf| {
                let (packed, saved) = buf.split_at_mut(kc_max * nc);
                for pb in (0..pn).step_by(nc) {
                    let pe = (pb + nc).min(pn);
                    let bw = pe - pb;
                    for ob in (0..on).step_by(mc) {
                        let oe = (ob + mc).min(on);
                        if saves {
                            for (r, row) in saved.chunks_exact_mut(bw).take(oe - ob).enumerate() {
                                row.iter_mut()
                                    .zip(v.row(ob + r).iter().skip(pb))
                                    .for_each(|(d, s)| *d = *s);
                            }
                        }
                        for c0 in (0..c).step_by(kc_max) {
                            let kc = kc_max.min(c - c0);
                            // The block's input, `[tile][kc][nr]`: each
                            // tile's channels one after another, read once
                            // from memory, then from cache for every panel
                            // of output channels.
                            self.pack_input(
                                &src[(ni * c + c0) * hw + pa..],
                                hw,
                                kc,
                                pb..pe,
                                packed,
                            );
                            let start = if c0 == 0 { Start::Bias } else { Start::Out };
                            let last = c0 + kc == c;
                            let act = last.then_some(self.act);
                            let add = match (last, skip, in_place) {
                                (false, _, _) | (true, None, false) => AddEnd::Nothing,
                                (true, Some(_), _) => AddEnd::Skip,
                                (true, None, true) if saves => AddEnd::Skip,
                                (true, None, true) => AddEnd::Out,
                            };
                            for ot in (ob..oe).step_by(MR) {
                                let oc = oa + ot;
                                for pt in (pb..pe).step_by(nr) {
                                    let px = pa + pt;
                                    let (skip, ss): (&[f32], usize) = match (add, skip) {
                                        (AddEnd::Skip, Some(s)) => {
                                            (&s[(ni * o + oc) * hw + px..], hw)
                                        }
                                        (AddEnd::Skip, None) => {
                                            (&saved[(ot - ob) * bw + pt - pb..], bw)
                                        }
                                        (AddEnd::Nothing | AddEnd::Out, _) => (&[], 0),
                                    };
                                    let mut t = PwTile {
                                        x: &packed[(pt - pb) * kc..][..kc * nr],
                                        xs: nr,
                                        w: &self.weights[(oc / MR * c + c0) * MR..],
                                        kc,
                                        bias: &self.bias[oc..],
                                        y: &mut v,
                                        y0: (ot, pt),
                                        rows: MR.min(oe - ot),
                                        np: nr.min(pe - pt),
                                        skip,
                                        ss,
                                        start,
                                        act,
                                        add,
                                    };
                                    self.tile(&mut t);
                                }
                            }
                        }
                    }
                }
            });
        };

        y.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(ni, mut im)| {
                im.axis_chunks_iter_mut(Axis(0), orange)
                    .into_par_iter()
                    .enumerate()
                    .for_each(|(oi, mut ov)| {
                        ov.axis_chunks_iter_mut(Axis(1), prange)
                            .into_par_iter()
                            .enumerate()
                            .for_each(|(pi, v)| unit(ni, oi * orange, pi * prange, v));
                    });
            });
        Ok(())
    }

    /// Pixels per tile of the microkernel.
    fn nr(&self) -> usize {
        match self.isa {
            ConvIsa::Avx512 => avx512::NR,
            ConvIsa::Avx2Fma => avx2::NR,
            ConvIsa::Portable => portable::NR,
        }
    }

    /// Packs pixels `pixels` of `kc` input rows for the microkernel (see
    /// [`pack_tiles`]).
    fn pack_input(
        &self,
        x: &[f32],
        xs: usize,
        kc: usize,
        pixels: std::ops::Range<usize>,
        dst: &mut [f32],
    ) {
        match self.isa {
            ConvIsa::Avx512 => pack_tiles::<{ avx512::NR }>(x, xs, kc, pixels, dst),
            ConvIsa::Avx2Fma => pack_tiles::<{ avx2::NR }>(x, xs, kc, pixels, dst),
            ConvIsa::Portable => pack_tiles::<{ portable::NR }>(x, xs, kc, pixels, dst),
        }
    }

    /// Computes one tile with the microkernel.
    fn tile(&self, t: &mut PwTile<'_, '_>) {
        match self.isa {
            ConvIsa::Avx512 => avx512::tile(t),
            ConvIsa::Avx2Fma => avx2::tile(t),
            ConvIsa::Portable => portable::tile(t),
        }
    }
}

thread_local! {
    /// The packed input block of the pointwise units this thread runs (and
    /// a block's skip, for a residual in place over several chunks), kept
    /// between calls (it only grows, to at most `KC · NC + MC · NC`
    /// floats), so that a forward pass does not allocate.
    static PACKED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Packs pixels `pixels` of `kc` input rows (`x[ci·xs + p]`) into `dst`
/// as tiles of `NR` pixels, `dst[(t·kc + ci)·NR + j]` = pixel
/// `pixels.start + t·NR + j` of row `ci`. A last, partial tile fills only
/// its valid pixels (the microkernels read no others). Full tiles copy a
/// fixed-size array, a few vector moves.
pub(in crate::runtime::kernels) fn pack_tiles<const NR: usize>(
    x: &[f32],
    xs: usize,
    kc: usize,
    pixels: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    for (t, p0) in pixels.clone().step_by(NR).enumerate() {
        let np = NR.min(pixels.end - p0);
        let tile = &mut dst[t * kc * NR..][..kc * NR];
        for (ci, d) in tile.chunks_exact_mut(NR).enumerate() {
            let s = &x[ci * xs + p0..][..np];
            if let (Ok(d), Ok(s)) = (
                <&mut [f32; NR]>::try_from(&mut *d),
                <&[f32; NR]>::try_from(s),
            ) {
                *d = *s;
            } else {
                d[..np].copy_from_slice(s);
            }
        }
    }
}

/// Copies the pixels a strided 1×1 convolution reads:
/// `dst[i][oy·ow + ox] = x[i][oy·sh·w + ox·sw]` for every image and
/// channel `i` (`dst` holds exactly that many rows of `oh·ow`). One rayon
/// task per row.
fn subsample(
    x: &[f32],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    (sh, sw): (usize, usize),
    dst: &mut [f32],
) {
    dst.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(d, s)| {
            for (oy, drow) in d.chunks_exact_mut(ow).enumerate() {
                let srow = &s[oy * sh * w..];
                for (ox, v) in drow.iter_mut().enumerate() {
                    *v = srow[ox * sw];
                }
            }
        });
}
