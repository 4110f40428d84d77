//! Blocked direct convolution with prepacked weights.
//!
//! [`PackedConv2d`] reorders OIHW weights once into blocks of 16 output
//! channels. Each call reorders the NCHW input into a zero-padded
//! channel-blocked scratch buffer (`[n][⌈c/16⌉][h+pads][w+pads][16]`, or
//! NHWC when there are fewer than 16 channels, as for a network's stem), so
//! that the microkernels need no bounds tests for padding, then computes
//! tiles of up to 64 output channels × 6 output pixels of one output row
//! (broadcast-FMA into register accumulators) and writes them to the NCHW
//! output through a fused epilogue: bias (the accumulators' start value),
//! an optional residual tensor, then the activation:
//! `y = act(conv(x) + b + skip)`.
//!
//! The microkernel (AVX-512F, AVX2+FMA or portable Rust) is chosen once,
//! when the weights are packed ([`ConvIsa::detect`]). Every output value is
//! accumulated in the same order whatever the thread count, so results are
//! reproducible bit for bit on one machine and microkernel.
//!
//! Grouped convolutions are strategies of the same type: depthwise ones
//! (`groups` = input channels, `o = m·c` for a channel multiplier `m ≥ 1`)
//! run a kernel of their own directly on the NCHW tensors, vectorised along
//! output rows, with the same fused epilogue (`depthwise.rs`); other grouped
//! ones run the dense microkernels with each block of 16 output channels
//! reading only the input channel blocks of its groups, zeros packed where
//! a channel is outside its group (`grouped.rs`).
//!
//! Threading: one rayon task tree per layer over (image × 64 output
//! channels × output rows) units, plus the input reorder, split per image
//! and channel block. Nothing is allocated per call besides the per-thread
//! scratch of the caller's thread, which only grows.
//!
//! A 1×1 convolution without padding is packed for a second strategy, the
//! pointwise kernel (`pointwise/`): a GEMM per image that reads the NCHW
//! input in place and writes the NCHW output directly, with the weights
//! packed once in panels of 6 output channels, input channels split into
//! chunks accumulated in the output, and the same fused epilogue. Its
//! scratch is empty at stride 1 (a strided 1×1 copies the pixels it reads
//! there first).

mod avx2;
mod avx512;
mod depthwise;
mod depthwise_x86;
mod grouped;
mod layout;
pub(in crate::runtime::kernels) mod pointwise;
mod portable;
mod tile;
mod transpose;

use ndarray::{Array4, ArrayView1, ArrayView4, ArrayViewMut4, Axis, s};
use rayon::prelude::*;

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::conv::{Conv2dParams, bias_padded, conv2d_output_hw};
use crate::runtime::kernels::error::{KernelError, check_out_shape, param_err, shape_err};
use crate::runtime::kernels::thread_buffer::with_scratch;
use layout::Padded;
use pointwise::Pointwise;
use tile::{BLOCK, Geo, MAX_NB, MAX_NP, Tile};

/// Output pixels of one row computed before the epilogue writes them out.
const CHUNK: usize = 16 * MAX_NP;

/// Which microkernel a [`PackedConv2d`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConvIsa {
    /// AVX-512F: 4 filter blocks × 6 pixels in 24 `zmm` accumulators.
    Avx512,
    /// AVX2 + FMA: 1 filter block × 6 pixels in 12 `ymm` accumulators.
    Avx2Fma,
    /// Plain Rust (any CPU).
    Portable,
}

impl ConvIsa {
    /// Every microkernel, fastest first.
    pub const ALL: [ConvIsa; 3] = [ConvIsa::Avx512, ConvIsa::Avx2Fma, ConvIsa::Portable];

    /// Whether this CPU can run the microkernel.
    pub fn is_supported(self) -> bool {
        match self {
            ConvIsa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            ConvIsa::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            ConvIsa::Avx2Fma => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            ConvIsa::Avx512 | ConvIsa::Avx2Fma => false,
        }
    }

    /// The fastest microkernel this CPU supports.
    pub fn detect() -> ConvIsa {
        if ConvIsa::Avx512.is_supported() {
            ConvIsa::Avx512
        } else if ConvIsa::Avx2Fma.is_supported() {
            ConvIsa::Avx2Fma
        } else {
            ConvIsa::Portable
        }
    }

    /// Computes one tile with this microkernel.
    fn tile(self, t: &mut Tile<'_>) {
        match self {
            ConvIsa::Avx512 => avx512::tile(t),
            ConvIsa::Avx2Fma => avx2::tile(t),
            ConvIsa::Portable => portable::tile(t),
        }
    }
}

/// A residual operand of [`PackedConv2d::run_into`].
#[derive(Debug, Clone, Copy)]
pub enum Residual<'a> {
    /// `y = act(conv(x) + b)`.
    None,
    /// `y = act(conv(x) + b + skip)`; `skip` has the output's shape.
    Add(ArrayView4<'a, f32>),
    /// `out` holds the skip on entry: `out = act(conv(x) + b + out)`.
    InPlace,
}

/// A batch of inputs in the padded, channel-blocked scratch layout.
struct PaddedInput {
    /// Images.
    n: usize,
    /// One image's layout.
    p: Padded,
}

impl PaddedInput {
    /// Its floats.
    fn len(&self) -> usize {
        self.n * self.p.cb * self.p.plane()
    }
}

/// How a [`PackedConv2d`] computes its tiles (its weights are packed for it).
#[derive(Debug, Clone)]
enum Kind {
    /// One group: the dense microkernels over every input channel block.
    Dense,
    /// Grouped: the dense microkernels over each output block's groups.
    Grouped(grouped::Grouped),
    /// Depthwise (groups = input channels, `m` output channels per input
    /// channel): the depthwise kernels on NCHW; weights kept OIHW.
    Depthwise {
        /// Channel multiplier.
        m: usize,
    },
    /// A 1×1, unpadded, one-group convolution: the pointwise GEMM on NCHW,
    /// with its own packed weights and bias (`weights` and `bias` of the
    /// [`PackedConv2d`] are then empty).
    Pointwise(Box<Pointwise>),
}

/// A 2-D convolution (dense, grouped or depthwise) with its weights packed
/// for the blocked direct kernels, bias folded in, activation fused.
#[derive(Debug, Clone)]
pub struct PackedConv2d {
    kind: Kind,
    o: usize,
    c: usize,
    kh: usize,
    kw: usize,
    cblk: usize,
    params: Conv2dParams,
    weights: Vec<f32>,
    bias: Vec<f32>,
    isa: ConvIsa,
}

impl PackedConv2d {
    /// Whether [`PackedConv2d::new`] accepts convolutions with these
    /// parameters: any group count of at least one (dense, grouped and
    /// depthwise convolutions).
    pub fn supports(params: &Conv2dParams) -> bool {
        params.groups >= 1
    }

    /// Whether resnetc runs a one-group convolution with this kernel size
    /// and these parameters through [`PackedConv2d`] rather than
    /// [`crate::runtime::kernels::conv2d_into`]: one group, and a kernel
    /// larger than 1×1 (the blocked direct kernel) or an unpadded 1×1
    /// kernel at any stride (the pointwise kernel). Measured with
    /// `benches/direct_conv.rs` (2 threads, AVX2+FMA, interleaved rounds):
    /// the direct kernel is faster on 3×3 and 7×7 layers; the pointwise
    /// kernel, which packs each block of input pixels once and runs every
    /// output channel over it, was 1.08× (batch 1) and 1.05× (batch 8) the
    /// im2col + GEMM path over ResNet-50's 1×1 layers, and it packs no
    /// weights per call. A padded 1×1 convolution stays on im2col + GEMM
    /// (the direct kernel's two layout conversions would cost about as much
    /// as its arithmetic). For any group count, see
    /// [`PackedConv2d::preferred_for`].
    pub fn preferred(kernel_hw: (usize, usize), params: &Conv2dParams) -> bool {
        params.groups == 1
            && (kernel_hw.0 * kernel_hw.1 > 1 || Pointwise::qualifies(kernel_hw, params))
    }

    /// Whether resnetc runs a convolution with a weight of dimensions
    /// `weight` (`[o, c/groups, kh, kw]`) and these parameters through
    /// [`PackedConv2d`] rather than [`crate::runtime::kernels::conv2d_into`]
    /// (measured with `benches/grouped_conv.rs`, AVX2, 2 threads):
    /// - one group: [`PackedConv2d::preferred`];
    /// - depthwise (one input channel per group, any channel multiplier), a
    ///   kernel larger than 1×1: faster on every MobileNet-v2 layer (the
    ///   depthwise layers together 1.7× at batch 1, 1.9× at batch 8);
    /// - other grouped convolutions with a kernel larger than 1×1: only when
    ///   the groups' input and output widths are multiples of 32 (ResNeXt-50's
    ///   last stage: 1.2–1.7×). At 16 channels per group the two paths are
    ///   even at batch 8 (0.7–1.1×, faster at batch 1); narrower groups
    ///   (ResNeXt-50's 4 and 8) run block-diagonal dense blocks, 4× and 2×
    ///   the multiply-adds, and are slower (0.5–0.8×).
    pub fn preferred_for(weight: [usize; 4], params: &Conv2dParams) -> bool {
        let [o, cg, kh, kw] = weight;
        let g = params.groups;
        if g <= 1 || o % g != 0 {
            return g == 1 && Self::preferred((kh, kw), params);
        }
        let og = o / g;
        kh * kw > 1 && (cg == 1 || (cg.is_multiple_of(2 * BLOCK) && og.is_multiple_of(2 * BLOCK)))
    }

    /// Packs OIHW `weight` (`[o, c/groups, kh, kw]`) and an optional bias
    /// `[o]` for the fastest microkernel of this CPU.
    ///
    /// Errors on zero groups or `o`
    /// not divisible by them, a zero stride or dilation, an empty weight, or
    /// a bias of the wrong length.
    pub fn new(
        weight: ArrayView4<'_, f32>,
        bias: Option<ArrayView1<'_, f32>>,
        params: &Conv2dParams,
    ) -> Result<Self, KernelError> {
        Self::with_isa(weight, bias, params, ConvIsa::detect())
    }

    /// [`PackedConv2d::new`] with a chosen microkernel; errors if this CPU
    /// does not support it.
    pub fn with_isa(
        weight: ArrayView4<'_, f32>,
        bias: Option<ArrayView1<'_, f32>>,
        params: &Conv2dParams,
        isa: ConvIsa,
    ) -> Result<Self, KernelError> {
        if !isa.is_supported() {
            return param_err(format!("packed conv2d: this CPU cannot run {isa:?}"));
        }
        if !Self::supports(params) {
            return param_err("packed conv2d: groups must be >= 1");
        }
        if params.stride.0 == 0 || params.stride.1 == 0 {
            return param_err("packed conv2d: stride must be >= 1");
        }
        if params.dilation.0 == 0 || params.dilation.1 == 0 {
            return param_err("packed conv2d: dilation must be >= 1");
        }
        let (o, cg, kh, kw) = weight.dim();
        if o == 0 || cg == 0 || kh == 0 || kw == 0 {
            return shape_err(format!("packed conv2d: empty weight {:?}", weight.shape()));
        }
        let groups = params.groups;
        if o % groups != 0 {
            return shape_err(format!(
                "packed conv2d: {o} output channels are not divisible by {groups} groups"
            ));
        }
        let Some(c) = cg.checked_mul(groups) else {
            return shape_err("packed conv2d: input channels overflow usize");
        };
        let mut b = bias_padded("packed conv2d", bias, o, o.div_ceil(BLOCK) * BLOCK)?;
        let w = weight.as_standard_layout();
        let ws = w
            .as_slice()
            .ok_or_else(|| KernelError::Shape("packed conv2d: weight not contiguous".into()))?;
        // Depthwise reads whole 16-channel vectors, so its blocks are 16 wide.
        let (kind, cblk, weights) = if Pointwise::qualifies((kh, kw), params) {
            let pw = Pointwise::new(ws, (o, c), &b, params, isa);
            b = Vec::new();
            (Kind::Pointwise(Box::new(pw)), c.min(BLOCK), Vec::new())
        } else if groups == 1 {
            let cblk = c.min(BLOCK);
            let packed = layout::pack_weights(ws, (o, c, kh, kw), cblk);
            (Kind::Dense, cblk, packed)
        } else if cg == 1 {
            (Kind::Depthwise { m: o / groups }, BLOCK, ws.to_vec())
        } else {
            let cblk = c.min(BLOCK);
            let (plan, packed) = grouped::Grouped::pack(ws, (o, cg, kh, kw), groups, cblk);
            (Kind::Grouped(plan), cblk, packed)
        };
        Ok(PackedConv2d {
            kind,
            o,
            c,
            kh,
            kw,
            cblk,
            params: *params,
            weights,
            bias: b,
            isa,
        })
    }

    /// The microkernel this convolution runs.
    pub fn isa(&self) -> ConvIsa {
        self.isa
    }

    /// The convolution's parameters.
    pub fn params(&self) -> &Conv2dParams {
        &self.params
    }

    /// The `f32` values it holds: packed weights (with their zero-padded
    /// channel tails) and bias.
    pub fn len(&self) -> usize {
        let own = match &self.kind {
            Kind::Pointwise(pw) => pw.len(),
            Kind::Dense | Kind::Grouped(_) | Kind::Depthwise { .. } => 0,
        };
        self.weights.len() + self.bias.len() + own
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
                "packed conv2d: input has {c} channels, the weight expects {}",
                self.c
            ));
        }
        let (oh, ow) = conv2d_output_hw((h, w), (self.kh, self.kw), &self.params)?;
        Ok([n, self.o, oh, ow])
    }

    /// Allocating form of [`PackedConv2d::run_into`].
    pub fn run(
        &self,
        x: ArrayView4<'_, f32>,
        residual: Residual<'_>,
    ) -> Result<Array4<f32>, KernelError> {
        let shape = self.output_shape(x.dim().into())?;
        let mut out = Array4::zeros(shape);
        if matches!(residual, Residual::InPlace) {
            return param_err("packed conv2d: Residual::InPlace needs run_into");
        }
        self.run_into(x, residual, out.view_mut())?;
        Ok(out)
    }

    /// Computes `out = act(conv(x) + bias [+ skip])` with the input
    /// reordered into this thread's scratch buffer (which only grows).
    ///
    /// `out` must have the output shape and standard layout; every element
    /// is overwritten. Errors on shape mismatches.
    pub fn run_into(
        &self,
        x: ArrayView4<'_, f32>,
        residual: Residual<'_>,
        out: ArrayViewMut4<'_, f32>,
    ) -> Result<(), KernelError> {
        let len = self.scratch_need(x.dim().into())?;
        with_scratch(len, |scratch| {
            self.run_in_scratch(x, residual, out, scratch)
        })
    }

    /// The floats of scratch [`PackedConv2d::run_in_scratch`] needs for an
    /// input of dimensions `input` (`[N, C, H, W]`): for a dense or grouped
    /// convolution the whole batch, padded and channel-blocked; for a
    /// depthwise one a padded plane per task; for a pointwise one none at
    /// stride 1, the strided pixels otherwise. `None` when that overflows
    /// `usize`.
    pub fn scratch_len(&self, input: [usize; 4]) -> Option<usize> {
        self.scratch_need(input).ok()
    }

    /// [`PackedConv2d::scratch_len`], or an error naming the overflow or
    /// the bad input shape.
    fn scratch_need(&self, input: [usize; 4]) -> Result<usize, KernelError> {
        match &self.kind {
            Kind::Pointwise(pw) => pw.scratch_len(input),
            Kind::Depthwise { m } => depthwise_scratch(&self.depthwise_shape(input, *m)?),
            Kind::Dense | Kind::Grouped(_) => Ok(self.padded(input)?.len()),
        }
    }

    /// `pad.top + h + pad.bottom` and `pad.left + w + pad.right`, or an
    /// error when either overflows `usize`.
    fn padded_hw(&self, h: usize, w: usize) -> Result<(usize, usize), KernelError> {
        let pad = self.params.padding;
        let hp = pad
            .top
            .checked_add(h)
            .and_then(|v| v.checked_add(pad.bottom));
        let wp = pad
            .left
            .checked_add(w)
            .and_then(|v| v.checked_add(pad.right));
        hp.zip(wp).ok_or_else(|| {
            KernelError::Shape("packed conv2d: the padded input overflows usize".into())
        })
    }

    /// The shape of a depthwise call on an input of dimensions `input`.
    fn depthwise_shape(
        &self,
        input: [usize; 4],
        m: usize,
    ) -> Result<depthwise::DwShape, KernelError> {
        let [n, _, oh, ow] = self.output_shape(input)?;
        let [_, c, h, w] = input;
        let pad = self.params.padding;
        let (hp, wp) = self.padded_hw(h, w)?;
        Ok(depthwise::DwShape {
            n,
            c,
            m,
            h,
            w,
            oh,
            ow,
            kh: self.kh,
            kw: self.kw,
            stride: self.params.stride,
            dilation: self.params.dilation,
            top: pad.top,
            left: pad.left,
            hp,
            wp,
        })
    }

    /// The padded, channel-blocked layout of an input of dimensions
    /// `input`, or an error when its size (every dimension and the total
    /// floats) overflows `usize`; [`PaddedInput::len`] is then exact.
    fn padded(&self, input: [usize; 4]) -> Result<PaddedInput, KernelError> {
        let [n, c, h, w] = input;
        let pad = self.params.padding;
        let overflow =
            || KernelError::Shape("packed conv2d: the padded input overflows usize".into());
        let cb = c.div_ceil(self.cblk);
        let (hp, wp) = self.padded_hw(h, w)?;
        hp.checked_mul(wp)
            .and_then(|v| v.checked_mul(self.cblk))
            .and_then(|v| v.checked_mul(cb))
            .and_then(|v| v.checked_mul(n))
            .ok_or_else(overflow)?;
        Ok(PaddedInput {
            n,
            p: Padded {
                c,
                h,
                w,
                cblk: self.cblk,
                cb,
                hp,
                wp,
                top: pad.top,
                left: pad.left,
            },
        })
    }

    /// [`PackedConv2d::run_into`] with the reordered input in `scratch`
    /// (at least [`PackedConv2d::scratch_len`] floats): for a caller that
    /// plans its memory. Errors with [`KernelError::Shape`] if `scratch` is
    /// too short.
    pub fn run_in_scratch(
        &self,
        x: ArrayView4<'_, f32>,
        residual: Residual<'_>,
        mut out: ArrayViewMut4<'_, f32>,
        scratch: &mut [f32],
    ) -> Result<(), KernelError> {
        let [n, o, oh, ow] = self.output_shape(x.dim().into())?;
        check_out_shape("packed conv2d", &[n, o, oh, ow], out.shape())?;
        if !out.is_standard_layout() {
            return shape_err("packed conv2d: out is not in standard (C-contiguous) layout");
        }
        let skip_view = match residual {
            Residual::Add(s) => {
                check_out_shape("packed conv2d (residual)", &[n, o, oh, ow], s.shape())?;
                Some(s)
            }
            Residual::None | Residual::InPlace => None,
        };
        let skip = skip_view.as_ref().map(|s| s.as_standard_layout());
        let skip_s: Option<&[f32]> = match &skip {
            Some(s) => Some(s.as_slice().ok_or_else(|| {
                KernelError::Shape("packed conv2d: residual not contiguous".into())
            })?),
            None => None,
        };
        let in_place = matches!(residual, Residual::InPlace);
        if out.is_empty() {
            return Ok(());
        }
        if let Kind::Pointwise(pw) = &self.kind {
            return pw.run(x, skip_s, in_place, out, scratch);
        }
        let xc = x.as_standard_layout();
        let xs = xc
            .as_slice()
            .ok_or_else(|| KernelError::Shape("packed conv2d: input not contiguous".into()))?;
        if let Kind::Depthwise { m } = self.kind {
            let s = self.depthwise_shape(x.dim().into(), m)?;
            let len = depthwise_scratch(&s)?;
            let Some(planes) = scratch.get_mut(..len) else {
                return shape_err(format!(
                    "packed conv2d: scratch has {} floats, needs {len}",
                    scratch.len()
                ));
            };
            let Some(out) = out.as_slice_mut() else {
                unreachable!("out was checked to be in standard layout")
            };
            let args = depthwise::DwArgs {
                s,
                x: xs,
                weight: &self.weights,
                bias: &self.bias,
                skip: skip_s,
                in_place,
                act: self.params.activation,
            };
            depthwise::run(self.isa, &args, out, planes);
            return Ok(());
        }
        let (_, c, _, _) = x.dim();
        let cblk = self.cblk;
        let padded = self.padded(x.dim().into())?;
        let len = padded.len();
        let p = padded.p;
        let Some(xp) = scratch.get_mut(..len) else {
            return shape_err(format!(
                "packed conv2d: scratch has {} floats, needs {len}",
                scratch.len()
            ));
        };
        layout::reorder_input(xs, &p, xp);
        let xp: &[f32] = xp;

        let (sh, sw) = self.params.stride;
        let (dh, dw) = self.params.dilation;
        let ob = o.div_ceil(BLOCK);
        let geo = Geo {
            cb: p.cb,
            cblk,
            c_last: c - (p.cb - 1) * cblk,
            kh: self.kh,
            kw: self.kw,
            x_cb: p.plane(),
            x_row: dh * p.wp * cblk,
            x_col: dw * cblk,
            x_px: sw * cblk,
            w_ob: p.cb * self.kh * self.kw * cblk * BLOCK,
            w_cb: self.kh * self.kw * cblk * BLOCK,
        };
        debug_assert!(!matches!(self.kind, Kind::Dense) || self.weights.len() == ob * geo.w_ob);

        let group = MAX_NB * BLOCK;
        let groups = o.div_ceil(group);
        let threads = rayon::current_num_threads().max(1);
        let splits = (8 * threads).div_ceil(n * groups).clamp(1, oh);
        let rows = oh.div_ceil(splits);
        let img = p.cb * p.plane();
        let act = self.params.activation;

        // Only dense and grouped convolutions reach the tiles: depthwise and
        // pointwise ones returned above.
        let plan = match &self.kind {
            Kind::Dense => None,
            Kind::Grouped(plan) => Some(plan),
            Kind::Depthwise { .. } | Kind::Pointwise(_) => {
                return param_err(
                    "packed conv2d: a depthwise or pointwise convolution reached the tile \
                     driver (a bug in resnetc)",
                );
            }
        };
        let unit = |ni: usize, gi: usize, r0: usize, mut v: ndarray::ArrayViewMut3<'_, f32>| {
            let gc = v.shape()[0];
            let nb = gc.div_ceil(BLOCK);
            let mut buf = [0.0f32; MAX_NB * CHUNK * BLOCK];
            let mut tbuf = [0.0f32; BLOCK * CHUNK];
            for lr in 0..v.shape()[1] {
                let oy = r0 + lr;
                for px0 in (0..ow).step_by(CHUNK) {
                    let pn = CHUNK.min(ow - px0);
                    for sub in (0..pn).step_by(MAX_NP) {
                        let ox = px0 + sub;
                        let xo = ni * img + (oy * sh * p.wp + ox * sw) * cblk;
                        // A grouped plan finds each block's weights itself.
                        let wo = match plan {
                            None => gi * MAX_NB * geo.w_ob,
                            Some(_) => 0,
                        };
                        let mut t = Tile {
                            x: &xp[xo..],
                            w: &self.weights[wo..],
                            bias: &self.bias[gi * group..],
                            out: &mut buf[sub * BLOCK..],
                            out_bstride: CHUNK * BLOCK,
                            nb,
                            np: MAX_NP.min(pn - sub),
                            g: geo,
                        };
                        match plan {
                            Some(plan) => plan.tile(self.isa, &mut t, gi * MAX_NB),
                            None => self.isa.tile(&mut t),
                        }
                    }
                    for b in 0..nb {
                        let src = &buf[b * CHUNK * BLOCK..][..pn * BLOCK];
                        transpose::transpose(self.isa, src, &mut tbuf, pn, CHUNK);
                        for cl in 0..BLOCK.min(gc - b * BLOCK) {
                            let lc = b * BLOCK + cl;
                            let oc = gi * group + lc;
                            let mut dst = v.slice_mut(s![lc, lr, px0..px0 + pn]);
                            let Some(dst) = dst.as_slice_mut() else {
                                unreachable!("rows of a standard-layout array are contiguous")
                            };
                            let src = &tbuf[cl * CHUNK..][..pn];
                            let skip = match skip_s {
                                Some(sk) => {
                                    Skip::Add(&sk[((ni * o + oc) * oh + oy) * ow + px0..][..pn])
                                }
                                None if in_place => Skip::InPlace,
                                None => Skip::None,
                            };
                            epilogue(dst, src, skip, act);
                        }
                    }
                }
            }
        };

        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(ni, im)| {
                im_split(im, group, rows, &|gi, r0, v| unit(ni, gi, r0, v));
            });
        Ok(())
    }
}

/// The scratch of a depthwise call of shape `s`, or an error when it
/// overflows `usize`.
fn depthwise_scratch(s: &depthwise::DwShape) -> Result<usize, KernelError> {
    s.scratch_len().ok_or_else(|| {
        KernelError::Shape("packed conv2d: the depthwise planes overflow usize".into())
    })
}

/// Splits one image's output `[o, oh, ow]` into units of `group` channels ×
/// `rows` rows and runs `f(group index, first row, unit)` on each in parallel.
fn im_split(
    mut im: ndarray::ArrayViewMut3<'_, f32>,
    group: usize,
    rows: usize,
    f: &(dyn Fn(usize, usize, ndarray::ArrayViewMut3<'_, f32>) + Sync),
) {
    im.axis_chunks_iter_mut(Axis(0), group)
        .into_par_iter()
        .enumerate()
        .for_each(|(gi, mut gv)| {
            gv.axis_chunks_iter_mut(Axis(1), rows)
                .into_par_iter()
                .enumerate()
                .for_each(|(ri, v)| f(gi, ri * rows, v));
        });
}

/// The residual operand of one output row in the epilogue.
enum Skip<'a> {
    /// No residual.
    None,
    /// Add these values.
    Add(&'a [f32]),
    /// Add the values already in the output row.
    InPlace,
}

/// `dst[i] = act(src[i] + skip[i])`, the activation and the residual form
/// chosen outside the loop (so that each loop is vectorised).
fn epilogue(dst: &mut [f32], src: &[f32], skip: Skip<'_>, act: Activation) {
    fn go(dst: &mut [f32], src: &[f32], skip: Skip<'_>, f: impl Fn(f32) -> f32) {
        match skip {
            Skip::None => dst.iter_mut().zip(src).for_each(|(d, a)| *d = f(*a)),
            Skip::Add(sk) => dst
                .iter_mut()
                .zip(src.iter().zip(sk))
                .for_each(|(d, (a, s))| *d = f(*a + *s)),
            Skip::InPlace => dst.iter_mut().zip(src).for_each(|(d, a)| *d = f(*a + *d)),
        }
    }
    match act {
        Activation::None => go(dst, src, skip, |v| v),
        Activation::Relu => go(dst, src, skip, |v| Activation::Relu.apply(v)),
        Activation::Relu6 => go(dst, src, skip, |v| Activation::Relu6.apply(v)),
    }
}
