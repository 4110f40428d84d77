//! Pooling: max, average (PyTorch semantics incl. `ceil_mode`) and global
//! average.
//!
//! Output sizes follow PyTorch's `pooling_output_shape_pad_lr`:
//! `out = floor((in + pad_before + pad_after - dilation·(k-1) - 1 +
//! (ceil_mode ? stride-1 : 0)) / stride) + 1`, and in `ceil_mode` the last
//! window is dropped if it would start at or after `in + pad_before` (i.e. it
//! must start inside the input or the leading padding).

use ndarray::{Array4, ArrayView4, ArrayViewMut4};
use rayon::prelude::*;

use crate::runtime::kernels::conv::Padding2d;
use crate::runtime::kernels::error::{
    KernelError, check_out_shape, out_slice, param_err, shape_err,
};

/// Parameters of [`max_pool2d`] (PyTorch `nn.MaxPool2d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2dParams {
    /// Window size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)` (PyTorch defaults it to the kernel size).
    pub stride: (usize, usize),
    /// Per-side implicit padding (padded positions never win the max).
    pub padding: Padding2d,
    /// Dilation `(dh, dw)`.
    pub dilation: (usize, usize),
    /// Use ceil instead of floor for the output size.
    pub ceil_mode: bool,
}

/// Parameters of [`avg_pool2d`] (PyTorch `nn.AvgPool2d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2dParams {
    /// Window size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)`.
    pub stride: (usize, usize),
    /// Per-side implicit zero padding.
    pub padding: Padding2d,
    /// Use ceil instead of floor for the output size.
    pub ceil_mode: bool,
    /// Count padded zeros in the divisor (PyTorch default `true`). Window
    /// parts beyond the bottom/right padding (ceil mode) are never counted.
    pub count_include_pad: bool,
    /// If set, divide by this instead of the window size.
    pub divisor_override: Option<usize>,
}

/// Output length of a pooling window along one axis (PyTorch rule, see the
/// module docs). Errors if stride/dilation/kernel is zero or the output would
/// be empty.
pub fn pool_output_size(
    input: usize,
    kernel: usize,
    pad_before: usize,
    pad_after: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Result<usize, KernelError> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return param_err("pool: kernel, stride and dilation must be >= 1");
    }
    let (i, k, pb, pa, s, d) = (
        input as i64,
        kernel as i64,
        pad_before as i64,
        pad_after as i64,
        stride as i64,
        dilation as i64,
    );
    let num = i + pb + pa - d * (k - 1) - 1 + if ceil_mode { s - 1 } else { 0 };
    let mut out = num.div_euclid(s) + 1;
    if ceil_mode && (out - 1) * s >= i + pb {
        out -= 1;
    }
    if out <= 0 {
        return shape_err(format!(
            "pool: output size {out} <= 0 (input {input}, kernel {kernel}, dilation {dilation}, padding {pad_before}+{pad_after})"
        ));
    }
    Ok(out as usize)
}

/// Shared plane-parallel driver: checks that `out` is `[N, C, oh, ow]` in
/// standard layout, then applies `f(in_plane, out_plane)` to every (n, c)
/// plane (`f` must write every element of `out_plane`).
pub(crate) fn per_plane_into(
    kernel: &str,
    input: ArrayView4<'_, f32>,
    oh: usize,
    ow: usize,
    out: ArrayViewMut4<'_, f32>,
    f: impl Fn(&[f32], &mut [f32]) + Sync,
) -> Result<(), KernelError> {
    let (n, c, h, w) = input.dim();
    check_out_shape(kernel, &[n, c, oh, ow], out.shape())?;
    let out = out_slice(kernel, out)?;
    if out.is_empty() {
        return Ok(());
    }
    if h * w == 0 {
        // Windows made only of padding (the allocating version returns zeros).
        out.fill(0.0);
        return Ok(());
    }
    let x = input.as_standard_layout();
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::Shape(format!("{kernel}: input not contiguous")))?;
    out.par_chunks_mut(oh * ow)
        .zip(xs.par_chunks(h * w))
        .for_each(|(o, i)| f(i, o));
    Ok(())
}

/// Output size `(oh, ow)` of [`max_pool2d`] for an `(h, w)` input.
fn max_pool2d_hw(
    h: usize,
    w: usize,
    params: &MaxPool2dParams,
) -> Result<(usize, usize), KernelError> {
    let p = params.padding;
    let oh = pool_output_size(
        h,
        params.kernel.0,
        p.top,
        p.bottom,
        params.stride.0,
        params.dilation.0,
        params.ceil_mode,
    )?;
    let ow = pool_output_size(
        w,
        params.kernel.1,
        p.left,
        p.right,
        params.stride.1,
        params.dilation.1,
        params.ceil_mode,
    )?;
    Ok((oh, ow))
}

/// Output size `(oh, ow)` of [`avg_pool2d`] for an `(h, w)` input.
fn avg_pool2d_hw(
    h: usize,
    w: usize,
    params: &AvgPool2dParams,
) -> Result<(usize, usize), KernelError> {
    if params.divisor_override == Some(0) {
        return param_err("avg_pool2d: divisor_override must be non-zero");
    }
    let p = params.padding;
    let oh = pool_output_size(
        h,
        params.kernel.0,
        p.top,
        p.bottom,
        params.stride.0,
        1,
        params.ceil_mode,
    )?;
    let ow = pool_output_size(
        w,
        params.kernel.1,
        p.left,
        p.right,
        params.stride.1,
        1,
        params.ceil_mode,
    )?;
    Ok((oh, ow))
}

/// 2-D max pooling over NCHW input, PyTorch `F.max_pool2d` semantics
/// (padding acts as `-inf`; NaN propagates).
///
/// Returns `[N, C, OH, OW]`. Errors on zero kernel/stride/dilation or empty
/// output. Allocating wrapper around [`max_pool2d_into`].
pub fn max_pool2d(
    input: ArrayView4<'_, f32>,
    params: &MaxPool2dParams,
) -> Result<Array4<f32>, KernelError> {
    let (n, c, h, w) = input.dim();
    let (oh, ow) = max_pool2d_hw(h, w, params)?;
    let mut out = Array4::zeros((n, c, oh, ow));
    max_pool2d_into(input, params, out.view_mut())?;
    Ok(out)
}

/// [`max_pool2d`] writing its `[N, C, OH, OW]` result into `out` (every
/// element overwritten; allocates nothing for standard-layout inputs).
///
/// Errors like [`max_pool2d`], and with [`KernelError::Shape`] if `out` does
/// not have the output shape or is not in standard (C-contiguous) layout.
pub fn max_pool2d_into(
    input: ArrayView4<'_, f32>,
    params: &MaxPool2dParams,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    let (_, _, h, w) = input.dim();
    let (kh, kw) = params.kernel;
    let (sh, sw) = params.stride;
    let (dh, dw) = params.dilation;
    let p = params.padding;
    let (oh, ow) = max_pool2d_hw(h, w, params)?;
    // Window start/end (exclusive) along one axis, clipped to the input and
    // with the start advanced onto the dilation grid.
    let bounds = |o: usize, s: usize, pad: usize, k: usize, d: usize, len: usize| {
        let mut start = (o * s) as isize - pad as isize;
        let end = (start + ((k - 1) * d) as isize + 1).min(len as isize);
        while start < 0 {
            start += d as isize;
        }
        (start as usize, end.max(0) as usize)
    };
    // The columns whose window lies inside the row, padding aside:
    // `o_w · sw ≥ left` and `o_w · sw − left + (kw − 1) · dw < w`. They
    // take the tap-major loop below; the edge columns the clipped one.
    let interior_lo = p.left.div_ceil(sw).min(ow);
    let last_start = (kw - 1)
        .checked_mul(dw)
        .and_then(|extent| w.checked_add(p.left)?.checked_sub(extent + 1));
    let interior_hi = match last_start {
        Some(last_start) => (last_start / sw + 1).min(ow),
        None => 0,
    }
    .max(interior_lo);
    // `m` takes `v` if `v` is larger or NaN: NaN propagates, and both loops
    // visit a window's elements in the same order (rows, then columns), so
    // they give the same bits.
    let take = |m: &mut f32, v: f32| *m = take_select(*m, v);
    per_plane_into("max_pool2d", input, oh, ow, out, |xi, xo| {
        for o_h in 0..oh {
            let (h0, h1) = bounds(o_h, sh, p.top, kh, dh, h);
            let out_row = &mut xo[o_h * ow..(o_h + 1) * ow];
            let edges = (0..interior_lo).chain(interior_hi..ow);
            for o_w in edges {
                let (w0, w1) = bounds(o_w, sw, p.left, kw, dw, w);
                let mut m = f32::NEG_INFINITY;
                for ih in (h0..h1).step_by(dh) {
                    let row = &xi[ih * w..(ih + 1) * w];
                    for iw in (w0..w1).step_by(dw) {
                        take(&mut m, row[iw]);
                    }
                }
                out_row[o_w] = m;
            }
            // Interior columns, one window row and one tap at a time across
            // the whole output row: no bounds to clip, a strided walk of the
            // input row per tap.
            // (Only if there are some: `first` is in the row only then.)
            if interior_lo == interior_hi {
                continue;
            }
            let inner = &mut out_row[interior_lo..interior_hi];
            inner.fill(f32::NEG_INFINITY);
            for ih in (h0..h1).step_by(dh) {
                let row = &xi[ih * w..(ih + 1) * w];
                for tap in 0..kw {
                    let first = interior_lo * sw + tap * dw - p.left;
                    match sw {
                        1 => take_row::<1>(inner, &row[first..]),
                        2 => take_row::<2>(inner, &row[first..]),
                        _ => {
                            let taps = row[first..].iter().step_by(sw);
                            for (m, &v) in inner.iter_mut().zip(taps) {
                                take(m, v);
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `max(m, v)` as the edge loops of [`max_pool2d_into`] take it (`v` when
/// larger or NaN), written as a select so that a loop of it vectorises.
#[inline(always)]
fn take_select(m: f32, v: f32) -> f32 {
    if v > m || v.is_nan() { v } else { m }
}

/// `inner[i] = take_select(inner[i], taps[i·S])` for every output `i` of
/// an interior row segment, with the stride `S` a constant so that the
/// loop vectorises (a deinterleaving load for `S = 2`, the stem pool's).
/// `taps` holds at least `(inner.len() − 1)·S + 1` values (the interior
/// columns' windows lie inside the row).
fn take_row<const S: usize>(inner: &mut [f32], taps: &[f32]) {
    let Some((last, body)) = inner.split_last_mut() else {
        return;
    };
    for (m, t) in body.iter_mut().zip(taps.chunks_exact(S)) {
        *m = take_select(*m, t[0]);
    }
    *last = take_select(*last, taps[body.len() * S]);
}

/// 2-D average pooling over NCHW input, PyTorch `F.avg_pool2d` semantics
/// (including the divisor rules for `count_include_pad` and `ceil_mode`).
///
/// Returns `[N, C, OH, OW]`. Errors on zero kernel/stride or empty output.
/// A window containing no input element yields `0`. Allocating wrapper around
/// [`avg_pool2d_into`].
pub fn avg_pool2d(
    input: ArrayView4<'_, f32>,
    params: &AvgPool2dParams,
) -> Result<Array4<f32>, KernelError> {
    let (n, c, h, w) = input.dim();
    let (oh, ow) = avg_pool2d_hw(h, w, params)?;
    let mut out = Array4::zeros((n, c, oh, ow));
    avg_pool2d_into(input, params, out.view_mut())?;
    Ok(out)
}

/// [`avg_pool2d`] writing its `[N, C, OH, OW]` result into `out` (every
/// element overwritten; allocates nothing for standard-layout inputs).
///
/// Errors like [`avg_pool2d`], and with [`KernelError::Shape`] if `out` does
/// not have the output shape or is not in standard (C-contiguous) layout.
pub fn avg_pool2d_into(
    input: ArrayView4<'_, f32>,
    params: &AvgPool2dParams,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    let (_, _, h, w) = input.dim();
    let (kh, kw) = params.kernel;
    let (sh, sw) = params.stride;
    let p = params.padding;
    let (oh, ow) = avg_pool2d_hw(h, w, params)?;
    // (clipped start, clipped end, padded window length) along one axis.
    let bounds = |o: usize, s: usize, pb: usize, pa: usize, k: usize, len: usize| {
        let start = (o * s) as isize - pb as isize;
        let end = (start + k as isize).min((len + pa) as isize);
        let padded_len = (end - start).max(0) as usize;
        let s0 = start.max(0) as usize;
        let e0 = (end.min(len as isize).max(0) as usize).max(s0);
        (s0, e0, padded_len)
    };
    per_plane_into("avg_pool2d", input, oh, ow, out, |xi, xo| {
        for o_h in 0..oh {
            let (h0, h1, ph) = bounds(o_h, sh, p.top, p.bottom, kh, h);
            for o_w in 0..ow {
                let (w0, w1, pw) = bounds(o_w, sw, p.left, p.right, kw, w);
                let mut sum = 0.0f32;
                for ih in h0..h1 {
                    sum += xi[ih * w + w0..ih * w + w1].iter().sum::<f32>();
                }
                let div = match params.divisor_override {
                    Some(d) => d,
                    None if params.count_include_pad => ph * pw,
                    None => (h1 - h0) * (w1 - w0),
                };
                xo[o_h * ow + o_w] = if div == 0 { 0.0 } else { sum / div as f32 };
            }
        }
    })
}

/// Global average pooling: `[N, C, H, W] → [N, C, 1, 1]` (mean over H×W,
/// accumulated in f64). Follow with [`crate::runtime::kernels::flatten()`] to get `[N, C]`.
///
/// Errors if `H·W == 0`. Allocating wrapper around [`global_avg_pool_into`].
pub fn global_avg_pool(input: ArrayView4<'_, f32>) -> Result<Array4<f32>, KernelError> {
    let (n, c, _, _) = input.dim();
    let mut out = Array4::zeros((n, c, 1, 1));
    global_avg_pool_into(input, out.view_mut())?;
    Ok(out)
}

/// [`global_avg_pool`] writing its `[N, C, 1, 1]` result into `out` (every
/// element overwritten; allocates nothing for standard-layout inputs).
///
/// Errors if `H·W == 0`, and with [`KernelError::Shape`] if `out` is not
/// `[N, C, 1, 1]` or not in standard (C-contiguous) layout.
pub fn global_avg_pool_into(
    input: ArrayView4<'_, f32>,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    let (_, _, h, w) = input.dim();
    if h * w == 0 {
        return shape_err("global_avg_pool: empty spatial dimensions");
    }
    let inv = 1.0 / (h * w) as f64;
    per_plane_into("global_avg_pool", input, 1, 1, out, |xi, xo| {
        xo[0] = (xi.iter().map(|&v| f64::from(v)).sum::<f64>() * inv) as f32;
    })
}
