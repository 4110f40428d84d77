//! The pointwise (1×1, unpadded, one group) strategy of
//! [`super::PackedConv2d`].
//!
//! A 1×1 convolution on NCHW is, per image, the product
//! `Y_n[o × hw] = W[o × c] · X_n[c × hw]`; over a batch it is one product
//! over the batch's *flattened pixels* `q = image·hw + p` (`0..n·hw`), so
//! that on small maps (ResNet's 7×7 layers) the cache blocks and the
//! microkernels' tiles of `NR` pixels run across image boundaries instead
//! of ending each image in a near-empty tile. The input's rows are read
//! from the NCHW tensor (no whole-tensor reorder; blocks are packed as
//! below), the weights are packed once in panels of [`MR`] output channels
//! (`[⌈o/MR⌉][c][MR]`, zero rows past `o`), and the microkernels write the
//! NCHW output rows directly. A strided convolution first copies the pixels
//! it reads into the caller's scratch (`[n][c][oh·ow]`), then runs the same
//! product.
//!
//! Cache blocking (the order of BLIS, the weights packed once): a work
//! unit runs over blocks of at most [`NC`] flattened pixels, within one
//! over blocks of at most [`MC`] output channels, then over chunks of at
//! most [`KC`] input channels. Each chunk's block of input pixels is packed
//! into a per-thread buffer as tiles of `NR` pixels (`[tile][kc][NR]`, each
//! tile's pixels gathered from the images they lie in; read once from
//! memory, then from cache), and every panel of [`MR`] output channels (its
//! weights in L1) runs across the block's pixel tiles. A tile whose pixels
//! lie in one image writes that image's output rows directly; one that
//! spans images runs on a small temporary `[MR][NR]` output (and skip):
//! the partial sums and residual values it reads are copied in, its valid
//! values copied out. The first chunk starts from the bias, later chunks
//! add onto the partial sums in the output, and the last one adds the
//! residual, when there is one, then applies the activation before its
//! store: the bits of the convolution and the add run apart, in place or
//! not (a residual in place over several chunks is copied aside, block by
//! block across image boundaries, before the first chunk overwrites it).
//! Each output value is accumulated in one fixed order (bias, the channels
//! in order, the skip), whatever the thread count, the batch, and whether
//! its tile spans images: a batch gives each image the bits it has alone.
//!
//! Threading: one rayon fork-join per call over (output-channel range ×
//! flattened pixel range) units, about four per thread, the pixel ranges
//! whole tiles (at least four tiles each when there are that many); at
//! batch 1 the flattened pixels are the image's. A unit's output is a
//! [`Region`]: the unit's rows of the end of its first image, of whole
//! images, and of the start of its last image, split off the output with
//! safe views.

pub(in crate::runtime::kernels) mod avx2;
pub(in crate::runtime::kernels) mod avx512;
pub(in crate::runtime::kernels) mod portable;
pub(in crate::runtime::kernels) mod tile;

use std::ops::Range;

use ndarray::{ArrayView4, ArrayViewMut2, ArrayViewMut3, ArrayViewMut4, Axis, s};
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
/// Most pixels per tile of any microkernel (the temporary output of a
/// tile that spans images holds `MR × MAX_NR` values).
const MAX_NR: usize = avx512::NR;
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

        // Work units over the batch's flattened pixels `q = image·hw + p`:
        // ranges of whole tiles (at least four when there are that many)
        // times ranges of whole panels, about four units per thread.
        let nr = self.nr();
        let threads = rayon::current_num_threads().max(1);
        let total = n * hw;
        let (ptiles, otiles) = (total.div_ceil(nr), o.div_ceil(MR));
        let ps = (4 * threads).min((ptiles / 4).max(1));
        let os = (4 * threads).div_ceil(ps).min(otiles);
        let prange = ptiles.div_ceil(ps) * nr;
        let orange = otiles.div_ceil(os) * MR;
        let kc_max = c.div_ceil(c.div_ceil(KC));

        let chunks = c.div_ceil(kc_max);
        let unit = |mut reg: Region<'_>, oa: usize| {
            let on = reg.rows();
            let (qa, qe) = (reg.q.start, reg.q.end);
            let pn = qe - qa;
            // Equal blocks (multiples of the tile sizes) not larger than
            // `MC` × `NC`.
            let mc = on.div_ceil(on.div_ceil(MC)).div_ceil(MR) * MR;
            let nc = pn.div_ceil(pn.div_ceil(NC)).div_ceil(nr) * nr;
            // A residual in place over several chunks: the first chunk's
            // partial sums overwrite the skip, so the block's skip is
            // copied aside first (`[row][pixel of the block]`).
            let saves = in_place && chunks > 1;
            let saved_len = if saves { mc * nc } else { 0 };
            with_thread_buffer(&PACKED, kc_max * nc + saved_len, |buf| {
                let (packed, saved) = buf.split_at_mut(kc_max * nc);
                for pb in (qa..qe).step_by(nc) {
                    let pe = (pb + nc).min(qe);
                    let bw = pe - pb;
                    for ob in (0..on).step_by(mc) {
                        let oe = (ob + mc).min(on);
                        if saves {
                            for (s, len) in segments(pb..pe, hw) {
                                let v = reg.pixels(s, len);
                                for (r, row) in v.outer_iter().skip(ob).take(oe - ob).enumerate() {
                                    saved[r * bw + s - pb..][..len]
                                        .iter_mut()
                                        .zip(row)
                                        .for_each(|(d, s)| *d = *s);
                                }
                            }
                        }
                        for c0 in (0..c).step_by(kc_max) {
                            let kc = kc_max.min(c - c0);
                            // The block's input, `[tile][kc][nr]`: each
                            // tile's channels one after another (its pixels
                            // gathered from the images they lie in), read
                            // once from memory, then from cache for every
                            // panel of output channels.
                            self.pack_input(src, (c, hw), c0..c0 + kc, pb..pe, packed);
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
                                let rows = MR.min(oe - ot);
                                for pt in (pb..pe).step_by(nr) {
                                    let np = nr.min(pe - pt);
                                    let x = &packed[(pt - pb) * kc..][..kc * nr];
                                    let w = &self.weights[(oc / MR * c + c0) * MR..];
                                    let bias = &self.bias[oc..];
                                    let saved_at = (ot - ob) * bw + pt - pb;
                                    let (ni, p) = (pt / hw, pt % hw);
                                    // The microkernel on this tile, writing
                                    // `y` from `y0` with the residual
                                    // operand `skip` (rows `ss` apart).
                                    let run =
                                        |y: &mut ArrayViewMut2<'_, f32>,
                                         y0: (usize, usize),
                                         skip: &[f32],
                                         ss: usize| {
                                            self.tile(&mut PwTile {
                                                x,
                                                xs: nr,
                                                w,
                                                kc,
                                                bias,
                                                y,
                                                y0,
                                                rows,
                                                np,
                                                skip,
                                                ss,
                                                start,
                                                act,
                                                add,
                                            })
                                        };
                                    if p + np <= hw {
                                        // The tile's pixels lie in one
                                        // image: straight to its rows.
                                        let (skip, ss): (&[f32], usize) = match (add, skip) {
                                            (AddEnd::Skip, Some(s)) => {
                                                (&s[(ni * o + oc) * hw + p..], hw)
                                            }
                                            (AddEnd::Skip, None) => (&saved[saved_at..], bw),
                                            (AddEnd::Nothing | AddEnd::Out, _) => (&[], 0),
                                        };
                                        let (mut y, col) = reg.image(pt, np);
                                        run(&mut y, (ot, col), skip, ss);
                                        continue;
                                    }
                                    // The tile spans images: it runs on a
                                    // temporary `[MR][nr]` output (and
                                    // skip), the values it reads copied in
                                    // and its valid values copied out.
                                    let span = pt..pt + np;
                                    let mut tmp = [0.0f32; MR * MAX_NR];
                                    let mut tmp_skip = [0.0f32; MR * MAX_NR];
                                    if start == Start::Out || add == AddEnd::Out {
                                        for (s, len) in segments(span.clone(), hw) {
                                            let v = reg.pixels(s, len);
                                            for r in 0..rows {
                                                tmp[r * nr + s - pt..][..len]
                                                    .iter_mut()
                                                    .zip(v.row(ot + r))
                                                    .for_each(|(d, s)| *d = *s);
                                            }
                                        }
                                    }
                                    if let (AddEnd::Skip, Some(sk)) = (add, skip) {
                                        for (s, len) in segments(span.clone(), hw) {
                                            let (si, sp) = (s / hw, s % hw);
                                            for r in 0..rows {
                                                tmp_skip[r * nr + s - pt..][..len].copy_from_slice(
                                                    &sk[(si * o + oc + r) * hw + sp..][..len],
                                                );
                                            }
                                        }
                                    }
                                    let (skip, ss): (&[f32], usize) = match (add, skip) {
                                        (AddEnd::Skip, Some(_)) => (&tmp_skip, nr),
                                        (AddEnd::Skip, None) => (&saved[saved_at..], bw),
                                        (AddEnd::Nothing | AddEnd::Out, _) => (&[], 0),
                                    };
                                    let mut y = ArrayViewMut2::from_shape((MR, nr), &mut tmp[..MR * nr])
                                        .expect("pointwise conv: a temporary tile of MR × NR (a bug in resnetc)");
                                    run(&mut y, (0, 0), skip, ss);
                                    for (s, len) in segments(span, hw) {
                                        let mut v = reg.pixels(s, len);
                                        for r in 0..rows {
                                            v.row_mut(ot + r)
                                                .iter_mut()
                                                .zip(&tmp[r * nr + s - pt..][..len])
                                                .for_each(|(d, s)| *d = *s);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            });
        };

        let punits = total.div_ceil(prange);
        y.axis_chunks_iter_mut(Axis(1), orange)
            .into_par_iter()
            .enumerate()
            .for_each(|(oi, v)| {
                for_units(Region::whole(v), 0..punits, prange, &|reg| {
                    unit(reg, oi * orange)
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

    /// Packs the flattened pixels `pixels` of input channels `chans` of
    /// the input `x` (`[n][c][hw]`) for the microkernel (see
    /// [`pack_flat`]).
    fn pack_input(
        &self,
        x: &[f32],
        dims: (usize, usize),
        chans: Range<usize>,
        pixels: Range<usize>,
        dst: &mut [f32],
    ) {
        match self.isa {
            ConvIsa::Avx512 => pack_flat::<{ avx512::NR }>(x, dims, chans, pixels, dst),
            ConvIsa::Avx2Fma => pack_flat::<{ avx2::NR }>(x, dims, chans, pixels, dst),
            ConvIsa::Portable => pack_flat::<{ portable::NR }>(x, dims, chans, pixels, dst),
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

/// Packs the flattened pixels `pixels` (`q = image·hw + p`) of input
/// channels `chans` of `x` (`[n][c][hw]`, `dims` = `(c, hw)`) into `dst`
/// as tiles of `NR` pixels, `dst[(t·kc + i)·NR + j]` = channel
/// `chans.start + i` of pixel `pixels.start + t·NR + j`, `kc` =
/// `chans.len()`. A tile whose pixels lie in one image is packed by
/// [`pack_tiles`]; one that spans images gathers each image's part. A
/// last, partial tile fills only its valid pixels (the microkernels read
/// no others).
fn pack_flat<const NR: usize>(
    x: &[f32],
    (c, hw): (usize, usize),
    chans: Range<usize>,
    pixels: Range<usize>,
    dst: &mut [f32],
) {
    let kc = chans.len();
    for (t, q0) in pixels.clone().step_by(NR).enumerate() {
        let np = NR.min(pixels.end - q0);
        let tile = &mut dst[t * kc * NR..][..kc * NR];
        let (ni, p) = (q0 / hw, q0 % hw);
        if p + np <= hw {
            pack_tiles::<NR>(&x[(ni * c + chans.start) * hw..], hw, kc, p..p + np, tile);
            continue;
        }
        for (s, len) in segments(q0..q0 + np, hw) {
            let (si, sp, j) = (s / hw, s % hw, s - q0);
            for (i, d) in tile.chunks_exact_mut(NR).enumerate() {
                d[j..j + len].copy_from_slice(&x[(si * c + chans.start + i) * hw + sp..][..len]);
            }
        }
    }
}

/// The pieces of the flattened pixels `q` that lie in one image each, in
/// order: `(first pixel, length)`, `hw` pixels per image.
fn segments(q: Range<usize>, hw: usize) -> impl Iterator<Item = (usize, usize)> {
    let end = q.end;
    let piece = move |s: usize| (s < end).then(|| (s, (hw - s % hw).min(end - s)));
    std::iter::successors(piece(q.start), move |&(s, len)| piece(s + len))
}

/// Runs `f` on each unit's output region: units `units` of `prange`
/// flattened pixels each (the last one shorter) out of `reg`, which covers
/// exactly them, split in halves recursively under `rayon::join`.
fn for_units<'a, F>(reg: Region<'a>, units: Range<usize>, prange: usize, f: &F)
where
    F: Fn(Region<'a>) + Sync,
{
    if units.len() <= 1 {
        f(reg);
        return;
    }
    let mid = units.start + units.len() / 2;
    let (left, right) = reg.split(mid * prange);
    rayon::join(
        || for_units(left, units.start..mid, prange, f),
        || for_units(right, mid..units.end, prange, f),
    );
}

/// Part of a work unit's output: `v` is `[images][rows][pixels]`, the
/// pixels `p0..` of images `i0..` of the unit's output rows. A part with
/// several images holds them whole (`p0 = 0`, all `hw` pixels), so a part's
/// pixels are a contiguous range of the flattened pixels.
struct Part<'a> {
    /// First image.
    i0: usize,
    /// First pixel within each image.
    p0: usize,
    /// The values, `[images][rows][pixels]`, pixels contiguous.
    v: ArrayViewMut3<'a, f32>,
}

impl<'a> Part<'a> {
    /// Its first flattened pixel.
    fn first(&self, hw: usize) -> usize {
        self.i0 * hw + self.p0
    }

    /// One past its last flattened pixel (it holds at least one image).
    fn end(&self, hw: usize) -> usize {
        let (k, _, w) = self.v.dim();
        (self.i0 + k - 1) * hw + self.p0 + w
    }

    /// Splits it at the flattened pixel `q`, strictly inside it, into the
    /// parts before (at most two) and from `q` (at most two).
    #[allow(clippy::type_complexity)]
    fn split(self, q: usize, hw: usize) -> ([Option<Part<'a>>; 2], [Option<Part<'a>>; 2]) {
        let (k, _, w) = self.v.dim();
        let (i0, p0) = (self.i0, self.p0);
        assert!(
            (k == 1 || (p0 == 0 && w == hw)) && self.first(hw) < q && q < self.end(hw),
            "pointwise conv: bad split of an output part (a bug in resnetc)"
        );
        let (j, p) = (q / hw - i0, q % hw);
        let (before, from) = self.v.split_at(Axis(0), j);
        let before = (j > 0).then_some(Part { i0, p0, v: before });
        if p == p0 {
            let from = Part {
                i0: i0 + j,
                p0,
                v: from,
            };
            return ([before, None], [Some(from), None]);
        }
        let (mid, after) = from.split_at(Axis(0), 1);
        let (m1, m2) = mid.split_at(Axis(2), p - p0);
        let after = (k > j + 1).then_some(Part {
            i0: i0 + j + 1,
            p0,
            v: after,
        });
        (
            [
                before,
                Some(Part {
                    i0: i0 + j,
                    p0,
                    v: m1,
                }),
            ],
            [
                Some(Part {
                    i0: i0 + j,
                    p0: p,
                    v: m2,
                }),
                after,
            ],
        )
    }
}

/// A work unit's output: its output rows × the flattened pixels `q`, as at
/// most three [`Part`]s in order (the end of the first image, whole images,
/// the start of the last), each image in one part.
struct Region<'a> {
    /// Pixels per image.
    hw: usize,
    /// The flattened pixels it covers.
    q: Range<usize>,
    /// The parts, in order; `None` after the last.
    parts: [Option<Part<'a>>; 3],
}

impl<'a> Region<'a> {
    /// All the pixels of `v` (`[images][rows][hw]`).
    fn whole(v: ArrayViewMut3<'a, f32>) -> Region<'a> {
        let (n, _, hw) = v.dim();
        Region {
            hw,
            q: 0..n * hw,
            parts: [Some(Part { i0: 0, p0: 0, v }), None, None],
        }
    }

    /// Output rows.
    ///
    /// # Panics
    /// On a region without parts (a bug in resnetc: units cover at least
    /// one pixel).
    fn rows(&self) -> usize {
        let Some(p) = &self.parts[0] else {
            panic!("pointwise conv: an empty output region (a bug in resnetc)");
        };
        p.v.dim().1
    }

    /// Splits it at the flattened pixel `q`, strictly inside it.
    fn split(self, q: usize) -> (Region<'a>, Region<'a>) {
        let hw = self.hw;
        assert!(
            self.q.start < q && q < self.q.end,
            "pointwise conv: split at {q} outside {:?} (a bug in resnetc)",
            self.q
        );
        let mut left = Region {
            hw,
            q: self.q.start..q,
            parts: [None, None, None],
        };
        let mut right = Region {
            hw,
            q: q..self.q.end,
            parts: [None, None, None],
        };
        for part in self.parts.into_iter().flatten() {
            if part.end(hw) <= q {
                left.push(part);
            } else if part.first(hw) >= q {
                right.push(part);
            } else {
                let (l, r) = part.split(q, hw);
                l.into_iter().flatten().for_each(|p| left.push(p));
                r.into_iter().flatten().for_each(|p| right.push(p));
            }
        }
        (left, right)
    }

    /// Appends `part` after its last part.
    fn push(&mut self, part: Part<'a>) {
        let slot = self.parts.iter_mut().find(|s| s.is_none());
        let Some(slot) = slot else {
            panic!("pointwise conv: an output region of more than three parts (a bug in resnetc)");
        };
        *slot = Some(part);
    }

    /// The rows of the image of flattened pixel `q` (`[rows][pixels of its
    /// part]`) and `q`'s column in it, which holds `np` pixels from `q`.
    fn image(&mut self, q: usize, np: usize) -> (ArrayViewMut2<'_, f32>, usize) {
        let hw = self.hw;
        let (ni, p) = (q / hw, q % hw);
        for part in self.parts.iter_mut().flatten() {
            let (k, _, w) = part.v.dim();
            if (part.i0..part.i0 + k).contains(&ni) && p >= part.p0 && p + np <= part.p0 + w {
                return (part.v.index_axis_mut(Axis(0), ni - part.i0), p - part.p0);
            }
        }
        panic!(
            "pointwise conv: pixels {q}..{} outside the unit's output {:?} (a bug in resnetc)",
            q + np,
            self.q
        );
    }

    /// `[rows][len]`: the `len` flattened pixels from `q`, in one image.
    fn pixels(&mut self, q: usize, len: usize) -> ArrayViewMut2<'_, f32> {
        let (v, col) = self.image(q, len);
        v.slice_move(s![.., col..col + len])
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
