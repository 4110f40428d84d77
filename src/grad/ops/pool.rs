//! Max and average pooling (PyTorch's `ceil_mode` and `count_include_pad`
//! rules, as `runtime::kernels::pool`) and global average pooling.

use ndarray::{Array4, ArrayView4};

use crate::grad::Real;
use crate::ir::PoolParams;

/// One axis of a window: the input positions it covers (`start..end`,
/// clipped to the input) and its length counting padding (average pooling's
/// divisor with `count_include_pad`).
fn span(
    o: usize,
    stride: usize,
    pad_before: usize,
    pad_after: usize,
    kernel: usize,
    len: usize,
) -> (usize, usize, usize) {
    let start = (o * stride) as isize - pad_before as isize;
    let end = (start + kernel as isize).min((len + pad_after) as isize);
    let padded = (end - start).max(0) as usize;
    let s0 = start.max(0) as usize;
    let e0 = (end.min(len as isize).max(0) as usize).max(s0);
    (s0, e0, padded)
}

/// The input position of tap `k` of output `o`, if inside `0..len`.
fn tap(
    o: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
    len: usize,
) -> Option<usize> {
    (o * stride + k * dilation)
        .checked_sub(pad)
        .filter(|&i| i < len)
}

/// Max pooling into `[oh, ow]` planes; also each output's winning input
/// index within its plane (`None`: a window of padding only).
pub(crate) fn max_forward<T: Real>(
    x: ArrayView4<'_, T>,
    p: &PoolParams,
    oh: usize,
    ow: usize,
) -> (Array4<T>, Vec<Option<usize>>) {
    let (n, c, h, w) = x.dim();
    let mut y = Array4::<T>::zeros((n, c, oh, ow));
    let mut arg = Vec::with_capacity(n * c * oh * ow);
    for b in 0..n {
        for ch in 0..c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(usize, T)> = None;
                    for ki in 0..p.kernel[0] {
                        let Some(iy) = tap(oy, ki, p.stride[0], p.dilation[0], p.padding[0], h)
                        else {
                            continue;
                        };
                        for kj in 0..p.kernel[1] {
                            let Some(ix) = tap(ox, kj, p.stride[1], p.dilation[1], p.padding[1], w)
                            else {
                                continue;
                            };
                            let v = x[[b, ch, iy, ix]];
                            if best.is_none_or(|(_, m)| v > m) {
                                best = Some((iy * w + ix, v));
                            }
                        }
                    }
                    y[[b, ch, oy, ox]] = best.map_or(T::zero(), |(_, v)| v);
                    arg.push(best.map(|(i, _)| i));
                }
            }
        }
    }
    (y, arg)
}

/// The input gradient of max pooling: each output's gradient goes to its winner.
pub(crate) fn max_backward<T: Real>(
    dy: ArrayView4<'_, T>,
    arg: &[Option<usize>],
    h: usize,
    w: usize,
) -> Array4<T> {
    let (n, c, oh, ow) = dy.dim();
    let mut dx = Array4::<T>::zeros((n, c, h, w));
    for ((b, ch, oy, ox), &d) in dy.indexed_iter() {
        if let Some(i) = arg[((b * c + ch) * oh + oy) * ow + ox] {
            dx[[b, ch, i / w, i % w]] += d;
        }
    }
    dx
}

/// Calls `f(oy, ox, rows, cols, divisor)` for every window of average pooling.
fn avg_windows(
    p: &PoolParams,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    mut f: impl FnMut(usize, usize, (usize, usize), (usize, usize), usize),
) {
    for oy in 0..oh {
        let (h0, h1, ph) = span(oy, p.stride[0], p.padding[0], p.padding[2], p.kernel[0], h);
        for ox in 0..ow {
            let (w0, w1, pw) = span(ox, p.stride[1], p.padding[1], p.padding[3], p.kernel[1], w);
            let div = if p.count_include_pad {
                ph * pw
            } else {
                (h1 - h0) * (w1 - w0)
            };
            f(oy, ox, (h0, h1), (w0, w1), div);
        }
    }
}

/// Average pooling into `[oh, ow]` planes.
pub(crate) fn avg_forward<T: Real>(
    x: ArrayView4<'_, T>,
    p: &PoolParams,
    oh: usize,
    ow: usize,
) -> Array4<T> {
    let (n, c, h, w) = x.dim();
    let mut y = Array4::<T>::zeros((n, c, oh, ow));
    for b in 0..n {
        for ch in 0..c {
            avg_windows(p, h, w, oh, ow, |oy, ox, (h0, h1), (w0, w1), div| {
                if div == 0 {
                    return;
                }
                let window = x.slice(ndarray::s![b, ch, h0..h1, w0..w1]);
                y[[b, ch, oy, ox]] = window.sum() / T::from_f64(div as f64);
            });
        }
    }
    y
}

/// The input gradient of average pooling.
pub(crate) fn avg_backward<T: Real>(
    dy: ArrayView4<'_, T>,
    p: &PoolParams,
    h: usize,
    w: usize,
) -> Array4<T> {
    let (n, c, oh, ow) = dy.dim();
    let mut dx = Array4::<T>::zeros((n, c, h, w));
    for b in 0..n {
        for ch in 0..c {
            avg_windows(p, h, w, oh, ow, |oy, ox, (h0, h1), (w0, w1), div| {
                if div == 0 {
                    return;
                }
                let g = dy[[b, ch, oy, ox]] / T::from_f64(div as f64);
                dx.slice_mut(ndarray::s![b, ch, h0..h1, w0..w1])
                    .mapv_inplace(|v| v + g);
            });
        }
    }
    dx
}

/// Global average pooling: `[N, C, H, W] → [N, C, 1, 1]`.
pub(crate) fn global_forward<T: Real>(x: ArrayView4<'_, T>) -> Array4<T> {
    let (n, c, h, w) = x.dim();
    let count = T::from_f64((h * w) as f64);
    let sums = x.sum_axis(ndarray::Axis(3)).sum_axis(ndarray::Axis(2));
    let mut y = Array4::<T>::zeros((n, c, 1, 1));
    for ((b, ch), &s) in sums.indexed_iter() {
        y[[b, ch, 0, 0]] = s / count;
    }
    y
}

/// The input gradient of global average pooling.
pub(crate) fn global_backward<T: Real>(dy: ArrayView4<'_, T>, h: usize, w: usize) -> Array4<T> {
    let (n, c, _, _) = dy.dim();
    let count = T::from_f64((h * w) as f64);
    Array4::from_shape_fn((n, c, h, w), |(b, ch, _, _)| dy[[b, ch, 0, 0]] / count)
}
