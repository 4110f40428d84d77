//! The pointwise (1×1, unpadded, one group) strategy of
//! [`super::PackedConv2d`].
//!
//! Per image a 1×1 convolution on NCHW is the product
//! `Y[o × hw] = W[o × c] · X[c × hw]`: the input is read in place (one row
//! per input channel, no per-call reorder), the weights are packed once in
//! panels of [`MR`] output channels (`[⌈o/MR⌉][c][MR]`, zero rows past
//! `o`), and the microkernels write the NCHW output rows directly. A
//! strided convolution first copies the pixels it reads into the caller's
//! scratch (`[n][c][oh·ow]`), then runs the same product.
//!
//! Cache blocking: the input channels are split into chunks of at most
//! [`KC`]. The first chunk starts from the bias (plus the residual, when
//! there is one, added before any product so that `Residual::Add` and
//! `Residual::InPlace` give the same bits), later chunks add onto the
//! partial sums in the output, and the last one applies the activation
//! before its store. A work unit runs over blocks of at most [`NC`]
//! pixels (the block's input rows are read from memory once and stay in
//! cache), within one over blocks of at most [`MC`] output channels (their
//! partial sums stay in cache across the chunks), then the chunks, then
//! each tile of [`MR`] output channels (its weights in L1) across the
//! block's pixel tiles. Each output value is accumulated in one fixed
//! order (bias, skip, then the channels in order), whatever the thread
//! count.
//!
//! Threading: one rayon fork-join per call over (image × output-channel
//! range × pixel range) units, about four per thread.

mod avx2;
mod avx512;
mod portable;
mod tile;

use ndarray::{ArrayView4, ArrayViewMut2, ArrayViewMut4, Axis};
use rayon::prelude::*;

use super::ConvIsa;
use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::conv::{Conv2dParams, Padding2d, conv2d_output_hw};
use crate::runtime::kernels::error::{KernelError, shape_err};
use tile::{MR, PwTile, Start};

/// Most input channels per chunk (the chunks of one call have equal sizes
/// but for the last).
const KC: usize = 256;
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

        let unit = |ni: usize, oa: usize, pa: usize, mut v: ArrayViewMut2<'_, f32>| {
            let (on, pn) = v.dim();
            // Equal blocks (multiples of the tile sizes) not larger than
            // `MC` × `NC`.
            let mc = on.div_ceil(on.div_ceil(MC)).div_ceil(MR) * MR;
            let nc = pn.div_ceil(pn.div_ceil(NC)).div_ceil(nr) * nr;
            for pb in (0..pn).step_by(nc) {
                let pe = (pb + nc).min(pn);
                for ob in (0..on).step_by(mc) {
                    let oe = (ob + mc).min(on);
                    for c0 in (0..c).step_by(kc_max) {
                        let kc = kc_max.min(c - c0);
                        let start = match (c0, skip) {
                            (1.., _) => Start::Out,
                            (0, Some(_)) => Start::BiasSkip,
                            (0, None) if in_place => Start::BiasOut,
                            (0, None) => Start::Bias,
                        };
                        let act = (c0 + kc == c).then_some(self.act);
                        for ot in (ob..oe).step_by(MR) {
                            let oc = oa + ot;
                            for pt in (pb..pe).step_by(nr) {
                                let px = pa + pt;
                                let mut t = PwTile {
                                    x: &src[(ni * c + c0) * hw + px..],
                                    xs: hw,
                                    w: &self.weights[(oc / MR * c + c0) * MR..],
                                    kc,
                                    bias: &self.bias[oc..],
                                    y: &mut v,
                                    y0: (ot, pt),
                                    rows: MR.min(oe - ot),
                                    np: nr.min(pe - pt),
                                    skip: skip.map_or(&[], |s| &s[(ni * o + oc) * hw + px..]),
                                    ss: hw,
                                    start,
                                    act,
                                };
                                self.tile(&mut t);
                            }
                        }
                    }
                }
            }
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

    /// Computes one tile with the microkernel.
    fn tile(&self, t: &mut PwTile<'_, '_>) {
        match self.isa {
            ConvIsa::Avx512 => avx512::tile(t),
            ConvIsa::Avx2Fma => avx2::tile(t),
            ConvIsa::Portable => portable::tile(t),
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
