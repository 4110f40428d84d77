//! General 2-D convolution (NCHW input, OIHW weights) via im2col + GEMM.
//!
//! Supports per-side padding, stride, dilation, groups (incl. depthwise),
//! optional bias, a residual operand and a fused [`Activation`] epilogue:
//! `y = act(conv(x) + b + skip)`, the same operations in the same order as
//! the blocked direct kernels' epilogue.
//!
//! Threading: work is split into `N × groups` independent GEMMs. When there are
//! at least as many of these as rayon threads they run in parallel (each GEMM
//! single-threaded); otherwise they run one after another with im2col, the
//! GEMM (split across threads by `matmul`) and the epilogue parallelised inside.

use ndarray::{Array4, ArrayView1, ArrayView4, ArrayViewMut4};
use rayon::prelude::*;

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::direct::Residual;
use crate::runtime::kernels::error::{
    KernelError, check_out_shape, out_slice, param_err, shape_err,
};
use crate::runtime::kernels::matmul::{Mat, matmul};
use crate::runtime::kernels::thread_buffer::with_scratch;

/// Zero padding added to each side of the spatial dimensions.
///
/// Asymmetric padding is allowed (TensorFlow `'same'` needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Padding2d {
    /// Rows added above.
    pub top: usize,
    /// Columns added to the left.
    pub left: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added to the right.
    pub right: usize,
}

impl Padding2d {
    /// No padding.
    pub const ZERO: Padding2d = Padding2d {
        top: 0,
        left: 0,
        bottom: 0,
        right: 0,
    };

    /// Symmetric padding: `ph` rows top and bottom, `pw` columns left and right
    /// (PyTorch's `padding=(ph, pw)`).
    pub fn symmetric(ph: usize, pw: usize) -> Self {
        Padding2d {
            top: ph,
            left: pw,
            bottom: ph,
            right: pw,
        }
    }

    /// TensorFlow/Keras `padding='same'` for an input of size `in_hw`:
    /// output size is `ceil(in / stride)`, total padding
    /// `max((out-1)·stride + dilation·(k-1) + 1 - in, 0)`, with the extra odd
    /// row/column going to the bottom/right.
    ///
    /// Returns an error if a stride or dilation is zero.
    pub fn same_tf(
        in_hw: (usize, usize),
        kernel_hw: (usize, usize),
        stride: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Self, KernelError> {
        if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 {
            return param_err("same_tf: stride and dilation must be >= 1");
        }
        let one = |i: usize, k: usize, s: usize, d: usize| {
            let out = i.div_ceil(s);
            let ek = d * k.saturating_sub(1) + 1;
            let total = ((out.saturating_sub(1)) * s + ek).saturating_sub(i);
            (total / 2, total - total / 2)
        };
        let (top, bottom) = one(in_hw.0, kernel_hw.0, stride.0, dilation.0);
        let (left, right) = one(in_hw.1, kernel_hw.1, stride.1, dilation.1);
        Ok(Padding2d {
            top,
            left,
            bottom,
            right,
        })
    }
}

/// Hyper-parameters of [`conv2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Stride `(sh, sw)`, each `>= 1`.
    pub stride: (usize, usize),
    /// Per-side zero padding.
    pub padding: Padding2d,
    /// Dilation `(dh, dw)`, each `>= 1`.
    pub dilation: (usize, usize),
    /// Number of groups (`1` = dense conv, `== in_channels` = depthwise).
    pub groups: usize,
    /// Activation applied after bias (fused epilogue).
    pub activation: Activation,
}

impl Default for Conv2dParams {
    /// Stride 1, no padding, dilation 1, one group, no activation.
    fn default() -> Self {
        Conv2dParams {
            stride: (1, 1),
            padding: Padding2d::ZERO,
            dilation: (1, 1),
            groups: 1,
            activation: Activation::None,
        }
    }
}

/// Output spatial size `(oh, ow)` of a convolution with kernel `kernel_hw`
/// applied to an `in_hw` input:
/// `(in + pad_before + pad_after - dilation·(k-1) - 1) / stride + 1`.
///
/// Errors if stride/dilation are zero or the (dilated) kernel is larger than
/// the padded input.
pub fn conv2d_output_hw(
    in_hw: (usize, usize),
    kernel_hw: (usize, usize),
    params: &Conv2dParams,
) -> Result<(usize, usize), KernelError> {
    let (sh, sw) = params.stride;
    let (dh, dw) = params.dilation;
    if sh == 0 || sw == 0 {
        return param_err("conv2d: stride must be >= 1");
    }
    if dh == 0 || dw == 0 {
        return param_err("conv2d: dilation must be >= 1");
    }
    if kernel_hw.0 == 0 || kernel_hw.1 == 0 {
        return shape_err("conv2d: kernel size must be >= 1");
    }
    let p = params.padding;
    // `None` when the kernel does not fit, or a size overflows `usize`.
    let one = |i: usize, pa: usize, pb: usize, k: usize, s: usize, d: usize| {
        let padded = i.checked_add(pa)?.checked_add(pb)?;
        let ek = d.checked_mul(k - 1)?.checked_add(1)?;
        let room = padded.checked_sub(ek)?;
        Some(room / s + 1)
    };
    match (
        one(in_hw.0, p.top, p.bottom, kernel_hw.0, sh, dh),
        one(in_hw.1, p.left, p.right, kernel_hw.1, sw, dw),
    ) {
        (Some(oh), Some(ow)) => Ok((oh, ow)),
        _ => shape_err(format!(
            "conv2d: kernel {kernel_hw:?} (dilation {:?}) larger than padded input {in_hw:?} + {p:?}, or a size overflows",
            params.dilation
        )),
    }
}

/// A convolution's bias of `o` values (zeros without one) in a vector of
/// `len ≥ o` floats, zero past `o`, for a packed kernel named `kernel`;
/// an error when the bias does not have `o` values.
pub(crate) fn bias_padded(
    kernel: &str,
    bias: Option<ArrayView1<'_, f32>>,
    o: usize,
    len: usize,
) -> Result<Vec<f32>, KernelError> {
    let mut b = vec![0.0f32; len.max(o)];
    if let Some(bias) = bias {
        if bias.len() != o {
            return shape_err(format!(
                "{kernel}: bias has {} elements, expected {o}",
                bias.len()
            ));
        }
        b.iter_mut().zip(bias.iter()).for_each(|(d, s)| *d = *s);
    }
    Ok(b)
}

/// Geometry shared by the im2col rows of one convolution.
#[derive(Clone, Copy)]
struct Geom {
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    pt: usize,
    pl: usize,
}

/// Range `[lo, hi)` of output positions `o < out` with `0 <= o·s + off < len`.
fn valid_range(off: isize, s: usize, len: usize, out: usize) -> (usize, usize) {
    let s = s as isize;
    let len = len as isize;
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    let hi = if len - off <= 0 {
        0
    } else {
        (len - 1 - off) / s + 1
    };
    let hi = (hi.max(0) as usize).min(out);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

/// Fills one im2col row (`r = (ci·kh + ki)·kw + kj`, length `oh·ow`) from the
/// group's input planes `x_g` (`[cg, h, w]`).
fn im2col_row(x_g: &[f32], g: &Geom, r: usize, row: &mut [f32]) {
    let ci = r / (g.kh * g.kw);
    let ki = (r / g.kw) % g.kh;
    let kj = r % g.kw;
    let plane = &x_g[ci * g.h * g.w..(ci + 1) * g.h * g.w];
    let off_w = (kj * g.dw) as isize - g.pl as isize;
    let (lo, hi) = valid_range(off_w, g.sw, g.w, g.ow);
    for (o_h, dst) in row.chunks_exact_mut(g.ow).enumerate() {
        let ih = (o_h * g.sh + ki * g.dh) as isize - g.pt as isize;
        if ih < 0 || ih >= g.h as isize {
            dst.fill(0.0);
            continue;
        }
        let src = &plane[ih as usize * g.w..(ih as usize + 1) * g.w];
        dst[..lo].fill(0.0);
        dst[hi..].fill(0.0);
        if lo == hi {
            continue;
        }
        let s0 = (lo as isize * g.sw as isize + off_w) as usize;
        if g.sw == 1 {
            dst[lo..hi].copy_from_slice(&src[s0..s0 + (hi - lo)]);
        } else {
            for (d, s) in dst[lo..hi].iter_mut().zip(src[s0..].iter().step_by(g.sw)) {
                *d = *s;
            }
        }
    }
}

/// Builds the `[cg·kh·kw, oh·ow]` im2col matrix for one (batch, group).
fn im2col(x_g: &[f32], g: &Geom, col: &mut [f32], parallel: bool) {
    let p = g.oh * g.ow;
    if parallel {
        col.par_chunks_mut(p)
            .enumerate()
            .for_each(|(r, row)| im2col_row(x_g, g, r, row));
    } else {
        col.chunks_mut(p)
            .enumerate()
            .for_each(|(r, row)| im2col_row(x_g, g, r, row));
    }
}

/// The residual operand of one GEMM's output block in the epilogue.
#[derive(Clone, Copy)]
enum BlockSkip<'a> {
    /// None: `chunk` holds the product.
    None,
    /// `chunk` holds the product; add these values (the block's skip).
    Add(&'a [f32]),
    /// `chunk` holds the skip; the product is in these values.
    InPlace(&'a [f32]),
}

/// `chunk = act(product + bias + skip)` on one output block (`[rows, p]`
/// row-major), with the product and the skip where `skip` says.
fn epilogue(
    chunk: &mut [f32],
    p: usize,
    bias: Option<&[f32]>,
    act: Activation,
    skip: BlockSkip<'_>,
    parallel: bool,
) {
    if bias.is_none() && act == Activation::None && matches!(skip, BlockSkip::None) {
        return;
    }
    let f = |(r, row): (usize, &mut [f32])| {
        let b = bias.map_or(0.0, |b| b[r]);
        match skip {
            BlockSkip::None => row.iter_mut().for_each(|v| *v = act.apply(*v + b)),
            BlockSkip::Add(sk) => row
                .iter_mut()
                .zip(&sk[r * p..][..p])
                .for_each(|(v, s)| *v = act.apply(*v + b + *s)),
            BlockSkip::InPlace(prod) => row
                .iter_mut()
                .zip(&prod[r * p..][..p])
                .for_each(|(v, m)| *v = act.apply(*m + b + *v)),
        }
    };
    if parallel {
        chunk.par_chunks_mut(p).enumerate().for_each(f);
    } else {
        chunk.chunks_mut(p).enumerate().for_each(f);
    }
}

/// Validates the operands of a convolution and returns its output shape
/// `[N, O, OH, OW]`.
fn conv2d_shape(
    input: &ArrayView4<'_, f32>,
    weight: &ArrayView4<'_, f32>,
    bias: Option<&ArrayView1<'_, f32>>,
    params: &Conv2dParams,
) -> Result<[usize; 4], KernelError> {
    let (n, c, h, w) = input.dim();
    let (o, cg, kh, kw) = weight.dim();
    let groups = params.groups;
    if groups == 0 {
        return param_err("conv2d: groups must be >= 1");
    }
    if c % groups != 0 || o % groups != 0 {
        return shape_err(format!(
            "conv2d: in_channels {c} and out_channels {o} must be divisible by groups {groups}"
        ));
    }
    if cg != c / groups {
        return shape_err(format!(
            "conv2d: weight expects {cg} input channels per group, input has {c}/{groups}"
        ));
    }
    if let Some(b) = bias
        && b.len() != o
    {
        return shape_err(format!(
            "conv2d: bias has {} elements, expected {o}",
            b.len()
        ));
    }
    let (oh, ow) = conv2d_output_hw((h, w), (kh, kw), params)?;
    Ok([n, o, oh, ow])
}

/// 2-D convolution (cross-correlation, like PyTorch `F.conv2d`).
///
/// * `input`: `[N, C, H, W]`
/// * `weight`: `[O, C / groups, KH, KW]` (PyTorch OIHW)
/// * `bias`: optional `[O]`
///
/// Returns `[N, O, OH, OW]` with `OH, OW` from [`conv2d_output_hw`], after
/// `params.activation` has been applied. Implemented as im2col + GEMM
/// (im2col skipped for 1×1, stride-1, unpadded convolutions).
///
/// Errors on inconsistent shapes (channel count vs. groups, bias length,
/// kernel larger than padded input) or invalid parameters. Allocating wrapper
/// around [`conv2d_into`].
pub fn conv2d(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &Conv2dParams,
) -> Result<Array4<f32>, KernelError> {
    let shape = conv2d_shape(&input, &weight, bias.as_ref(), params)?;
    let mut out = Array4::zeros(shape);
    conv2d_into(input, weight, bias, params, out.view_mut())?;
    Ok(out)
}

/// [`conv2d`] writing its `[N, O, OH, OW]` result into `out` (every element
/// is overwritten; allocates nothing for standard-layout inputs besides the
/// per-thread im2col scratch and the GEMM's packing buffers, which only grow).
///
/// Errors like [`conv2d`], and with [`KernelError::Shape`] if `out` does not
/// have the output shape or is not in standard (C-contiguous) layout.
pub fn conv2d_into(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &Conv2dParams,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    conv2d_run(
        input,
        weight,
        bias,
        params,
        Residual::None,
        out,
        Scratch::PerThread,
    )
}

/// [`conv2d_into`] with a residual operand: `out = act(conv(x) + b +
/// skip)`, the skip passed as a tensor of the output's shape
/// ([`Residual::Add`]) or held by `out` on entry ([`Residual::InPlace`];
/// the product then goes through this thread's scratch first). The same
/// bits either way.
///
/// Errors like [`conv2d_into`], and with [`KernelError::Shape`] if the skip
/// does not have the output's shape.
pub fn conv2d_residual_into(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &Conv2dParams,
    residual: Residual<'_>,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    conv2d_run(
        input,
        weight,
        bias,
        params,
        residual,
        out,
        Scratch::PerThread,
    )
}

/// The floats of scratch [`conv2d_into_with_scratch`] needs for an input of
/// dimensions `input` (`[N, C, H, W]`) and a weight of dimensions `weight`
/// (`[O, C/groups, KH, KW]`) on `threads` rayon threads: per parallel task
/// one im2col matrix (`C/groups·KH·KW × OH·OW`, none for a 1×1, stride-1,
/// unpadded convolution) and, for a residual added in place
/// (`in_place_residual`), one product block (`O/groups × OH·OW`). `None`
/// when the size overflows `usize` or the shapes do not make a convolution
/// (which `conv2d_into_with_scratch` reports as an error).
pub fn conv2d_scratch_len(
    input: [usize; 4],
    weight: [usize; 4],
    params: &Conv2dParams,
    threads: usize,
    in_place_residual: bool,
) -> Option<usize> {
    let [n, _, h, w] = input;
    let [o, cg, kh, kw] = weight;
    let (oh, ow) = conv2d_output_hw((h, w), (kh, kw), params).ok()?;
    let p = oh.checked_mul(ow)?;
    let col = if pointwise(kh, kw, params) {
        0
    } else {
        cg.checked_mul(kh)?.checked_mul(kw)?.checked_mul(p)?
    };
    let product = if in_place_residual {
        o.checked_div(params.groups)?.checked_mul(p)?
    } else {
        0
    };
    let items = n.checked_mul(params.groups)?;
    col.checked_add(product)?.checked_mul(tasks(items, threads))
}

/// [`conv2d_residual_into`] with the im2col matrices (and in-place
/// residual products) in `scratch` (at least [`conv2d_scratch_len`] floats
/// for the current rayon pool's thread count)
/// instead of per-thread buffers: for a caller that plans its memory (the
/// interpreter's workspace). The same products in the same order, so the
/// same bits as [`conv2d_into`].
///
/// Errors like [`conv2d_into`], and with [`KernelError::Shape`] if
/// `scratch` is too short.
pub fn conv2d_into_with_scratch(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &Conv2dParams,
    residual: Residual<'_>,
    out: ArrayViewMut4<'_, f32>,
    scratch: &mut [f32],
) -> Result<(), KernelError> {
    conv2d_run(
        input,
        weight,
        bias,
        params,
        residual,
        out,
        Scratch::Given(scratch),
    )
}

/// Where a convolution's im2col matrices live.
enum Scratch<'a> {
    /// Each rayon thread's own buffer (which only grows).
    PerThread,
    /// The caller's floats, one matrix per parallel task.
    Given(&'a mut [f32]),
}

/// A 1×1, stride-1, unpadded convolution: the input is already the GEMM's
/// right-hand side, so no im2col.
fn pointwise(kh: usize, kw: usize, params: &Conv2dParams) -> bool {
    kh == 1 && kw == 1 && params.stride == (1, 1) && params.padding == Padding2d::ZERO
}

/// How many parallel tasks `items` independent GEMMs run as on `threads`
/// threads: one per thread when there are at least as many items as threads
/// (each task a contiguous run of items), else one (the items one after
/// another, each parallel inside).
fn tasks(items: usize, threads: usize) -> usize {
    if items > 1 && items >= threads {
        threads.max(1)
    } else {
        1
    }
}

fn conv2d_run(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &Conv2dParams,
    residual: Residual<'_>,
    out: ArrayViewMut4<'_, f32>,
    scratch: Scratch<'_>,
) -> Result<(), KernelError> {
    let [n, o, oh, ow] = conv2d_shape(&input, &weight, bias.as_ref(), params)?;
    check_out_shape("conv2d", &[n, o, oh, ow], out.shape())?;
    let skip_in = match residual {
        Residual::Add(s) => {
            check_out_shape("conv2d (residual)", &[n, o, oh, ow], s.shape())?;
            Some(s)
        }
        Residual::None | Residual::InPlace => None,
    };
    let skip_view = skip_in.as_ref().map(|s| s.as_standard_layout());
    let skip_s: Option<&[f32]> = match &skip_view {
        Some(s) => Some(
            s.as_slice()
                .ok_or_else(|| KernelError::Shape("conv2d: residual not contiguous".into()))?,
        ),
        None => None,
    };
    let in_place = matches!(residual, Residual::InPlace);
    let out = out_slice("conv2d", out)?;
    if out.is_empty() {
        return Ok(());
    }
    let (_, c, h, w) = input.dim();
    let (_, cg, kh, kw) = weight.dim();
    let groups = params.groups;
    let og = o / groups;
    let kdim = cg * kh * kw;
    let p = oh * ow;

    let x = input.as_standard_layout();
    let wt = weight.as_standard_layout();
    let bias_c = bias.as_ref().map(|b| b.as_standard_layout());
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::Shape("conv2d: input not contiguous".into()))?;
    let ws = wt
        .as_slice()
        .ok_or_else(|| KernelError::Shape("conv2d: weight not contiguous".into()))?;
    let bs: Option<&[f32]> = match &bias_c {
        Some(b) => Some(
            b.as_slice()
                .ok_or_else(|| KernelError::Shape("conv2d: bias not contiguous".into()))?,
        ),
        None => None,
    };

    let pad = params.padding;
    let geom = Geom {
        h,
        w,
        kh,
        kw,
        oh,
        ow,
        sh: params.stride.0,
        sw: params.stride.1,
        dh: params.dilation.0,
        dw: params.dilation.1,
        pt: pad.top,
        pl: pad.left,
    };
    let pointwise = pointwise(kh, kw, params);
    let act = params.activation;
    // Floats of one im2col matrix, and of one product block kept apart from
    // the output for a residual added in place.
    let col_len = if pointwise { 0 } else { kdim * p };
    let prod_len = if in_place { og * p } else { 0 };
    let task_len = col_len + prod_len;

    // One work item = one (batch, group) pair = one GEMM writing a contiguous
    // [og, p] block of the output. `col` holds `task_len` floats: the im2col
    // matrix, then the product block.
    let work = |idx: usize, chunk: &mut [f32], col: &mut [f32], inner_par: bool| {
        let (col, prod) = col.split_at_mut(col_len);
        let ni = idx / groups;
        let gi = idx % groups;
        let in_off = (ni * c + gi * cg) * h * w;
        let x_g = &xs[in_off..in_off + cg * h * w];
        let w_g = &ws[gi * og * kdim..(gi + 1) * og * kdim];
        let rhs: &[f32] = if pointwise {
            x_g
        } else {
            im2col(x_g, &geom, col, inner_par);
            col
        };
        let (w_m, x_m) = (Mat::row_major(w_g, og, kdim), Mat::row_major(rhs, kdim, p));
        let skip = if in_place {
            let prod = &mut prod[..og * p];
            matmul(prod, w_m, x_m, inner_par);
            BlockSkip::InPlace(prod)
        } else {
            matmul(chunk, w_m, x_m, inner_par);
            match skip_s {
                Some(sk) => BlockSkip::Add(&sk[idx * og * p..][..og * p]),
                None => BlockSkip::None,
            }
        };
        let b_g = bs.map(|b| &b[gi * og..(gi + 1) * og]);
        epilogue(chunk, p, b_g, act, skip, inner_par);
    };

    let items = n * groups;
    let tasks = tasks(items, rayon::current_num_threads());
    // A per-thread buffer grown to one task's floats (im2col and the GEMM
    // write every element, so only growth needs initialising).
    let per_thread = |f: &mut dyn FnMut(&mut [f32])| with_scratch(task_len, f);
    match (scratch, tasks > 1) {
        (Scratch::PerThread, true) => {
            out.par_chunks_mut(og * p)
                .enumerate()
                .for_each(|(idx, chunk)| per_thread(&mut |col| work(idx, chunk, col, false)));
        }
        (Scratch::PerThread, false) => per_thread(&mut |col| {
            for (idx, chunk) in out.chunks_mut(og * p).enumerate() {
                work(idx, chunk, col, true);
            }
        }),
        (Scratch::Given(scratch), parallel) => {
            let Some(need) = task_len.checked_mul(tasks) else {
                return shape_err(format!(
                    "conv2d: {tasks} scratch blocks of {task_len} floats overflow usize"
                ));
            };
            let Some(scratch) = scratch.get_mut(..need) else {
                return shape_err(format!(
                    "conv2d: scratch has {} floats, needs {need}",
                    scratch.len()
                ));
            };
            if parallel {
                // Task t: items [t·per, (t+1)·per), with matrix t.
                let per = items.div_ceil(tasks);
                let task = |t: usize, run: &mut [f32], col: &mut [f32]| {
                    for (k, chunk) in run.chunks_mut(og * p).enumerate() {
                        work(t * per + k, chunk, &mut *col, false);
                    }
                };
                let runs = out.par_chunks_mut(per * og * p);
                if task_len == 0 {
                    runs.enumerate().for_each(|(t, run)| task(t, run, &mut []));
                } else {
                    runs.zip(scratch.par_chunks_mut(task_len))
                        .enumerate()
                        .for_each(|(t, (run, col))| task(t, run, col));
                }
            } else {
                for (idx, chunk) in out.chunks_mut(og * p).enumerate() {
                    work(idx, chunk, &mut *scratch, true);
                }
            }
        }
    }
    Ok(())
}
