//! Winograd F(4×4, 3×3) convolution for 3×3, stride-1 layers (optional).
//!
//! [`WinogradConv2d`] transforms each 3×3 filter once into a 6×6 one,
//! `U = G g Gᵀ` (see [`transform`] for the matrices), stored as 36
//! row-major `o × c` matrices `U[ξ]`. A call cuts the output into 4×4
//! tiles (a 6×6 input tile each, stride 4, zeros outside the input) and
//! processes them in *units* of whole tile rows of one image:
//!
//! 1. input transform, `V = Bᵀ d B` per tile and input channel, into
//!    `V[c][ξ][tile]` (parallel over input channels);
//! 2. 36 independent products `M[ξ] = U[ξ] · V[ξ]` (`o × c` by
//!    `c × tiles`, parallel over ξ) by a register-blocked microkernel
//!    (AVX2+FMA or portable, chosen once at construction) on `U[ξ]`
//!    packed at construction in blocks of 6 output channels;
//! 3. output transform `Y = Aᵀ M A` per tile and output channel, cropped
//!    to the output, with the fused epilogue `y = act(conv(x) + b + skip)`
//!    (parallel over output channels).
//!
//! This trades the 9 multiply-adds per output and input channel of a direct
//! 3×3 convolution for 36/16 = 2.25 (in the products), at the price of
//! three transforms and a larger rounding error, which the tests measure
//! against an `f64` reference.
//!
//! Reproducibility: every value of `M` is summed over the input channels
//! in increasing order from zero, by the same microkernel wherever its tile
//! lies, and threads split a unit only across independent values (input
//! channels, ξ, output channels), so every output value is computed by the
//! same operations in the same order whatever the thread count. Units run
//! one after the other and share one scratch area (`V` and `M` of one
//! unit), sized so that it stays in the caches; a unit holds whole images
//! when an image has few tiles, so that small maps still make long products.

mod avx2;
mod block;
mod portable;
mod transform;

use ndarray::{Array4, ArrayView1, ArrayView4, ArrayViewMut4, Axis, s};
use rayon::prelude::*;

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::conv::{Conv2dParams, bias_padded, conv2d_output_hw};
use crate::runtime::kernels::direct::{ConvIsa, Residual};
use crate::runtime::kernels::error::{KernelError, check_out_shape, param_err, shape_err};
use crate::runtime::kernels::thread_buffer::with_scratch;
use block::{Block, LANES, MR, NV};
use transform::{InSeg, MAX_COLS, TILE_OUT, XI};

/// The floats of `V` and `M` one unit aims at (4 MiB: one product `U[ξ]·V[ξ]`
/// then works on a 36th of that, within a core's L2 cache).
const UNIT_FLOATS: usize = 1 << 20;

/// A dense 3×3, stride-1 convolution computed with the Winograd
/// F(4×4, 3×3) algorithm, its filters transformed once, bias and
/// activation fused.
#[derive(Debug, Clone)]
pub struct WinogradConv2d {
    o: usize,
    c: usize,
    params: Conv2dParams,
    /// `U[ξ]`, 36 matrices `o × c`, each in blocks of [`MR`] output
    /// channels: `[ξ][o / MR][c][MR]`, zeros past `o`.
    u: Vec<f32>,
    bias: Vec<f32>,
    isa: ConvIsa,
}

/// How a call cuts its tiles into units.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// Output size.
    oh: usize,
    /// Output width.
    ow: usize,
    /// Tile rows of one image.
    th: usize,
    /// Tiles per row of one image.
    tw: usize,
    /// Images per unit (more than one only when a unit holds whole images).
    images: usize,
    /// Tile rows per unit.
    rows: usize,
    /// Tiles per unit segment (a tile row is cut into segments of at most
    /// [`MAX_COLS`] tiles).
    cols: usize,
}

impl WinogradConv2d {
    /// Whether [`WinogradConv2d::new`] accepts a convolution with this
    /// kernel size and these parameters: 3×3, stride 1, dilation 1, one
    /// group (any padding, any activation).
    pub fn supports(kernel_hw: (usize, usize), params: &Conv2dParams) -> bool {
        kernel_hw == (3, 3)
            && params.stride == (1, 1)
            && params.dilation == (1, 1)
            && params.groups == 1
    }

    /// Transforms OIHW `weight` (`[o, c, 3, 3]`) and keeps an optional bias
    /// `[o]`, for the fastest product microkernel of this CPU.
    ///
    /// Errors when [`WinogradConv2d::supports`] says no, on an empty weight,
    /// or on a bias of the wrong length.
    pub fn new(
        weight: ArrayView4<'_, f32>,
        bias: Option<ArrayView1<'_, f32>>,
        params: &Conv2dParams,
    ) -> Result<Self, KernelError> {
        Self::with_isa(weight, bias, params, ConvIsa::detect())
    }

    /// [`WinogradConv2d::new`] with a chosen microkernel; errors if this CPU
    /// does not support it. ([`ConvIsa::Avx512`] runs the AVX2+FMA product
    /// kernel: there is no AVX-512 one yet.)
    pub fn with_isa(
        weight: ArrayView4<'_, f32>,
        bias: Option<ArrayView1<'_, f32>>,
        params: &Conv2dParams,
        isa: ConvIsa,
    ) -> Result<Self, KernelError> {
        if !isa.is_supported() {
            return param_err(format!("winograd conv2d: this CPU cannot run {isa:?}"));
        }
        let (o, c, kh, kw) = weight.dim();
        if !Self::supports((kh, kw), params) {
            return param_err(format!(
                "winograd conv2d: needs a 3×3 kernel, stride 1, dilation 1 and one group; \
                 got kernel {kh}×{kw}, stride {:?}, dilation {:?}, {} groups",
                params.stride, params.dilation, params.groups
            ));
        }
        if o == 0 || c == 0 {
            return shape_err(format!(
                "winograd conv2d: empty weight {:?}",
                weight.shape()
            ));
        }
        let b = bias_padded("winograd conv2d", bias, o, o)?;
        let ob = o.div_ceil(MR);
        let len = (ob * MR)
            .checked_mul(c)
            .and_then(|v| v.checked_mul(XI))
            .ok_or_else(|| KernelError::Shape("winograd conv2d: weight too large".into()))?;
        let mut u = vec![0.0f32; len];
        for oi in 0..o {
            for ci in 0..c {
                let g: [f32; 9] = std::array::from_fn(|i| weight[[oi, ci, i / 3, i % 3]]);
                for (xi, val) in transform::filter(&g).into_iter().enumerate() {
                    u[((xi * ob + oi / MR) * c + ci) * MR + oi % MR] = val as f32;
                }
            }
        }
        Ok(WinogradConv2d {
            o,
            c,
            params: *params,
            u,
            bias: b,
            isa,
        })
    }

    /// The convolution's parameters.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// The microkernel this convolution runs.
    pub fn isa(&self) -> ConvIsa {
        self.isa
    }

    /// The `f32` values it holds: transformed filters (36 per input and
    /// output channel, output channels padded to a multiple of 6) and bias.
    pub fn len(&self) -> usize {
        self.u.len() + self.bias.len()
    }

    /// Whether it holds no values (never, for a convolution with weights).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Output shape `[n, o, oh, ow]` for an input of shape `[n, c, h, w]`.
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4], KernelError> {
        let [n, c, h, w] = input;
        if c != self.c {
            return shape_err(format!(
                "winograd conv2d: input has {c} channels, the weight expects {}",
                self.c
            ));
        }
        let pad = self.params.padding;
        let padded = |v: usize, a: usize, b: usize| v.checked_add(a).and_then(|v| v.checked_add(b));
        if padded(h, pad.top, pad.bottom).is_none() || padded(w, pad.left, pad.right).is_none() {
            return shape_err("winograd conv2d: the padded input overflows usize");
        }
        let (oh, ow) = conv2d_output_hw((h, w), (3, 3), &self.params)?;
        Ok([n, self.o, oh, ow])
    }

    /// The units of a call on an input of dimensions `input`, and the
    /// floats of scratch they need (`V` and `M` of one unit); an error when
    /// the shapes do not make a convolution or the size overflows `usize`.
    fn plan(&self, input: [usize; 4]) -> Result<(Plan, usize), KernelError> {
        let [n, _, oh, ow] = self.output_shape(input)?;
        let th = oh.div_ceil(TILE_OUT);
        let tw = ow.div_ceil(TILE_OUT);
        let overflow = || KernelError::Shape("winograd conv2d: scratch overflows usize".into());
        let per_tile = self
            .c
            .checked_add(self.o)
            .and_then(|v| v.checked_mul(XI))
            .ok_or_else(overflow)?;
        let target = (UNIT_FLOATS / per_tile).max(1);
        let per_image = th.checked_mul(tw).ok_or_else(overflow)?;
        let (images, rows, cols) = if tw <= MAX_COLS && per_image <= target {
            ((target / per_image).clamp(1, n.max(1)), th, tw)
        } else {
            let cols = tw.min(MAX_COLS);
            (1, (target / cols).clamp(1, th), cols)
        };
        let need = per_tile
            .checked_mul(padded_tiles(images * rows * cols))
            .ok_or_else(overflow)?;
        Ok((
            Plan {
                oh,
                ow,
                th,
                tw,
                images,
                rows,
                cols,
            },
            need,
        ))
    }

    /// The floats of scratch [`WinogradConv2d::run_in_scratch`] needs for
    /// an input of dimensions `input` (`[N, C, H, W]`): the transformed
    /// input and the products of one unit of tiles (about 4 MiB at most,
    /// more only when one tile row segment of 16 tiles needs more). `None` when
    /// the shapes do not make a convolution or the size overflows `usize`.
    pub fn scratch_len(&self, input: [usize; 4]) -> Option<usize> {
        self.plan(input).ok().map(|(_, need)| need)
    }

    /// Allocating form of [`WinogradConv2d::run_into`].
    pub fn run(
        &self,
        x: ArrayView4<'_, f32>,
        residual: Residual<'_>,
    ) -> Result<Array4<f32>, KernelError> {
        let shape = self.output_shape(x.dim().into())?;
        if matches!(residual, Residual::InPlace) {
            return param_err("winograd conv2d: Residual::InPlace needs run_into");
        }
        let mut out = Array4::zeros(shape);
        self.run_into(x, residual, out.view_mut())?;
        Ok(out)
    }

    /// Computes `out = act(conv(x) + bias [+ skip])` with this thread's
    /// scratch buffer (which only grows).
    ///
    /// `out` must have the output shape and standard layout; every element
    /// is overwritten. Errors on shape mismatches.
    pub fn run_into(
        &self,
        x: ArrayView4<'_, f32>,
        residual: Residual<'_>,
        out: ArrayViewMut4<'_, f32>,
    ) -> Result<(), KernelError> {
        let (_, need) = self.plan(x.dim().into())?;
        with_scratch(need, |scratch| {
            self.run_in_scratch(x, residual, out, scratch)
        })
    }

    /// [`WinogradConv2d::run_into`] with caller-owned scratch of at least
    /// [`WinogradConv2d::scratch_len`] floats: for a caller that plans its
    /// memory. Errors with [`KernelError::Shape`] if `scratch` is too short.
    pub fn run_in_scratch(
        &self,
        x: ArrayView4<'_, f32>,
        residual: Residual<'_>,
        mut out: ArrayViewMut4<'_, f32>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        let shape = self.output_shape(x.dim().into())?;
        check_out_shape("winograd conv2d", &shape, out.shape())?;
        if !out.is_standard_layout() {
            return shape_err("winograd conv2d: out is not in standard (C-contiguous) layout");
        }
        let (plan, need) = self.plan(x.dim().into())?;
        let Some(scratch) = scratch.get_mut(..need) else {
            return shape_err(format!(
                "winograd conv2d: scratch has {} floats, needs {need}",
                scratch.len()
            ));
        };
        let skip_view = match residual {
            Residual::Add(s) => {
                check_out_shape("winograd conv2d (residual)", &shape, s.shape())?;
                Some(s)
            }
            Residual::None | Residual::InPlace => None,
        };
        let skip = skip_view.as_ref().map(|s| s.as_standard_layout());
        let skip_s: Option<&[f32]> = match &skip {
            Some(s) => Some(s.as_slice().ok_or_else(|| {
                KernelError::Shape("winograd conv2d: residual not contiguous".into())
            })?),
            None => None,
        };
        let in_place = matches!(residual, Residual::InPlace);
        if out.is_empty() {
            return Ok(());
        }
        let xc = x.as_standard_layout();
        let xs = xc
            .as_slice()
            .ok_or_else(|| KernelError::Shape("winograd conv2d: input not contiguous".into()))?;
        let skip = match skip_s {
            Some(s) => Skip::Add(s),
            None if in_place => Skip::InPlace,
            None => Skip::None,
        };
        let [_, c, h, w] = <[usize; 4]>::from(x.dim());
        for (bi, mut bv) in out.axis_chunks_iter_mut(Axis(0), plan.images).enumerate() {
            for (ri, mut rv) in bv
                .axis_chunks_iter_mut(Axis(2), plan.rows * TILE_OUT)
                .enumerate()
            {
                for (si, sv) in rv
                    .axis_chunks_iter_mut(Axis(3), plan.cols * TILE_OUT)
                    .enumerate()
                {
                    let unit = Unit {
                        n0: bi * plan.images,
                        images: sv.shape()[0],
                        ty0: ri * plan.rows,
                        tx0: si * plan.cols,
                        rows: plan.rows.min(plan.th - ri * plan.rows),
                        cols: plan.cols.min(plan.tw - si * plan.cols),
                        c,
                        h,
                        w,
                    };
                    self.unit(xs, &unit, &plan, sv, skip, scratch);
                }
            }
        }
        Ok(())
    }

    /// Computes one unit of tiles into `out` (the unit's output,
    /// `[images, o, ≤ 4·rows, ≤ 4·cols]`); `xs` is the whole input batch.
    fn unit(
        &self,
        xs: &[f32],
        u: &Unit,
        plan: &Plan,
        mut out: ArrayViewMut4<'_, f32>,
        skip: Skip<'_>,
        scratch: &mut [f32],
    ) {
        let (o, c) = (self.o, self.c);
        let t = u.images * u.rows * u.cols;
        // Tiles with a multiple of the vector width: the products' rows.
        let tp = padded_tiles(t);
        let (v, m) = scratch.split_at_mut(XI * c * tp);
        let m = &mut m[..XI * o * tp];
        let pad = self.params.padding;
        let hw = u.h * u.w;
        // 1. V[c][ξ][tile], parallel over input channels; the tiles of a
        //    unit are numbered image by image, row by row.
        v.par_chunks_mut(XI * tp).enumerate().for_each(|(ci, vc)| {
            for i in 0..u.images {
                let plane = &xs[((u.n0 + i) * u.c + ci) * hw..][..hw];
                for r in 0..u.rows {
                    let seg = InSeg {
                        h: u.h,
                        w: u.w,
                        y0: ((u.ty0 + r) * TILE_OUT) as isize - pad.top as isize,
                        x0: (u.tx0 * TILE_OUT) as isize - pad.left as isize,
                        cols: u.cols,
                    };
                    let t0 = (i * u.rows + r) * u.cols;
                    transform::input_segment(plane, &seg, &mut vc[t0..], tp);
                }
            }
            // Zeros in the padding tiles (whose products are never read).
            for row in vc.chunks_exact_mut(tp) {
                row[t..].fill(0.0);
            }
        });
        // 2. M[ξ] = U[ξ]·V[ξ], parallel over ξ.
        let v: &[f32] = v;
        let ob = o.div_ceil(MR);
        m.par_chunks_mut(o * tp).enumerate().for_each(|(xi, mx)| {
            for bi in 0..ob {
                let ub = &self.u[(xi * ob + bi) * c * MR..][..c * MR];
                for t0 in (0..tp).step_by(NV * LANES) {
                    let mut blk = Block {
                        u: ub,
                        v: &v[xi * tp + t0..],
                        vs: XI * tp,
                        c,
                        m: &mut mx[bi * MR * tp + t0..],
                        ms: tp,
                        rows: MR.min(o - bi * MR),
                        nv: NV.min((tp - t0) / LANES),
                    };
                    match self.isa {
                        ConvIsa::Avx512 | ConvIsa::Avx2Fma => avx2::block(&mut blk),
                        ConvIsa::Portable => portable::block(&mut blk),
                    }
                }
            }
        });
        // 3. Y = Aᵀ M A + epilogue, parallel over output channels.
        let m: &[f32] = m;
        let act = self.params.activation;
        out.axis_iter_mut(Axis(1))
            .into_par_iter()
            .enumerate()
            .for_each(|(oc, mut ov)| {
                let mut y: transform::OutSeg = [[[0.0f32; MAX_COLS]; TILE_OUT]; TILE_OUT];
                let (oh_u, ow_u) = (ov.shape()[1], ov.shape()[2]);
                for i in 0..u.images {
                    for r in 0..u.rows {
                        let t0 = (i * u.rows + r) * u.cols;
                        transform::output_segment(&m[oc * tp + t0..], o * tp, u.cols, &mut y);
                        for (a, ya) in y.iter().enumerate() {
                            let ly = r * TILE_OUT + a;
                            if ly >= oh_u {
                                break;
                            }
                            let mut dst = ov.slice_mut(s![i, ly, ..]);
                            let Some(dst) = dst.as_slice_mut() else {
                                unreachable!("rows of a standard-layout array are contiguous")
                            };
                            let oy = u.ty0 * TILE_OUT + ly;
                            let ox = u.tx0 * TILE_OUT;
                            let sk = match skip {
                                Skip::Add(s) => Skip::Add(
                                    &s[(((u.n0 + i) * o + oc) * plan.oh + oy) * plan.ow + ox..]
                                        [..ow_u],
                                ),
                                other => other,
                            };
                            epilogue(dst, ya, self.bias[oc], sk, act);
                        }
                    }
                }
            });
    }
}

/// `t` tiles rounded up to a whole number of vectors.
fn padded_tiles(t: usize) -> usize {
    t.div_ceil(LANES) * LANES
}

/// One unit of tiles: in each of `images` images from `n0`, `rows` tile
/// rows from `ty0` and `cols` tiles from `tx0`. The input has `c` channels
/// of `h × w`.
#[derive(Debug, Clone, Copy)]
struct Unit {
    n0: usize,
    images: usize,
    ty0: usize,
    tx0: usize,
    rows: usize,
    cols: usize,
    c: usize,
    h: usize,
    w: usize,
}

/// The residual operand of the epilogue.
#[derive(Clone, Copy)]
enum Skip<'a> {
    /// No residual.
    None,
    /// Add these values (the whole tensor, or one output row's values).
    Add(&'a [f32]),
    /// Add the values already in the output.
    InPlace,
}

/// `dst[x] = act(src(x) + bias + skip[x])` for one output row, where
/// `src(4m + b) = ya[b][m]` (the de-interleaved row of an output segment);
/// the activation and residual form are chosen outside the loop.
fn epilogue(
    dst: &mut [f32],
    ya: &[[f32; MAX_COLS]; TILE_OUT],
    bias: f32,
    skip: Skip<'_>,
    act: Activation,
) {
    fn go(
        dst: &mut [f32],
        ya: &[[f32; MAX_COLS]; TILE_OUT],
        bias: f32,
        skip: Skip<'_>,
        f: impl Fn(f32) -> f32,
    ) {
        let src = |x: usize| ya[x % TILE_OUT][x / TILE_OUT] + bias;
        match skip {
            Skip::None => dst.iter_mut().enumerate().for_each(|(x, d)| *d = f(src(x))),
            Skip::Add(sk) => dst
                .iter_mut()
                .zip(sk)
                .enumerate()
                .for_each(|(x, (d, s))| *d = f(src(x) + *s)),
            Skip::InPlace => dst
                .iter_mut()
                .enumerate()
                .for_each(|(x, d)| *d = f(src(x) + *d)),
        }
    }
    match act {
        Activation::None => go(dst, ya, bias, skip, |v| v),
        Activation::Relu => go(dst, ya, bias, skip, |v| Activation::Relu.apply(v)),
        Activation::Relu6 => go(dst, ya, bias, skip, |v| Activation::Relu6.apply(v)),
    }
}
