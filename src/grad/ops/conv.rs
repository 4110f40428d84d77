//! Convolution (stride, per-side padding, dilation, groups) as im2col plus a
//! matrix product per sample and group, forward and backward (the products
//! through [`Real::matmul`]: the runtime's GEMM in f32).

use ndarray::{Array1, Array2, Array4, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut3, Axis, s};

use crate::grad::Real;
use crate::grad::error::{GradError, internal};
use crate::ir::ConvParams;

/// Output height and width of `p` on an `h`×`w` input (PyTorch's rule).
pub(crate) fn output_hw(p: &ConvParams, h: usize, w: usize) -> Result<[usize; 2], GradError> {
    let one = |len: usize, before: usize, after: usize, k: usize, s: usize, d: usize| {
        let extent = d * (k - 1) + 1;
        let padded = len + before + after;
        if k == 0 || s == 0 || padded < extent {
            return Err(internal(format!(
                "conv window does not fit: {p:?} on {h}×{w}"
            )));
        }
        Ok((padded - extent) / s + 1)
    };
    Ok([
        one(
            h,
            p.padding[0],
            p.padding[2],
            p.kernel[0],
            p.stride[0],
            p.dilation[0],
        )?,
        one(
            w,
            p.padding[1],
            p.padding[3],
            p.kernel[1],
            p.stride[1],
            p.dilation[1],
        )?,
    ])
}

/// The input position `o·stride + k·dilation − pad` if it is inside `0..len`.
fn source(
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

/// Columns `[C·kh·kw, oh·ow]` of one sample's channels `x` (`[C, H, W]`).
pub(super) fn im2col<T: Real>(
    x: ArrayView3<'_, T>,
    p: &ConvParams,
    oh: usize,
    ow: usize,
) -> Array2<T> {
    let (c, h, w) = x.dim();
    let [kh, kw] = p.kernel;
    let mut cols = Array2::<T>::zeros((c * kh * kw, oh * ow));
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                let mut row = cols.row_mut((ci * kh + ki) * kw + kj);
                for oy in 0..oh {
                    let Some(iy) = source(oy, ki, p.stride[0], p.dilation[0], p.padding[0], h)
                    else {
                        continue;
                    };
                    for ox in 0..ow {
                        if let Some(ix) =
                            source(ox, kj, p.stride[1], p.dilation[1], p.padding[1], w)
                        {
                            row[oy * ow + ox] = x[[ci, iy, ix]];
                        }
                    }
                }
            }
        }
    }
    cols
}

/// Adds columns back into the image they were taken from (the adjoint of [`im2col`]).
pub(super) fn col2im_add<T: Real>(
    cols: ArrayView2<'_, T>,
    p: &ConvParams,
    oh: usize,
    ow: usize,
    mut dx: ArrayViewMut3<'_, T>,
) {
    let (c, h, w) = dx.dim();
    let [kh, kw] = p.kernel;
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                let row = cols.row((ci * kh + ki) * kw + kj);
                for oy in 0..oh {
                    let Some(iy) = source(oy, ki, p.stride[0], p.dilation[0], p.padding[0], h)
                    else {
                        continue;
                    };
                    for ox in 0..ow {
                        if let Some(ix) =
                            source(ox, kj, p.stride[1], p.dilation[1], p.padding[1], w)
                        {
                            dx[[ci, iy, ix]] += row[oy * ow + ox];
                        }
                    }
                }
            }
        }
    }
}

/// Per-group sizes: (input channels, output channels) of one group.
fn group_sizes(p: &ConvParams) -> Result<(usize, usize), GradError> {
    if p.groups == 0
        || !p.in_channels.is_multiple_of(p.groups)
        || !p.out_channels.is_multiple_of(p.groups)
    {
        return Err(internal(format!(
            "conv groups do not divide the channels: {p:?}"
        )));
    }
    Ok((p.in_channels / p.groups, p.out_channels / p.groups))
}

/// The weight `[O, C/g, kh, kw]` as a matrix `[O, C/g·kh·kw]`.
fn weight_matrix<T: Real>(weight: ArrayView4<'_, T>) -> Result<Array2<T>, GradError> {
    let (o, cg, kh, kw) = weight.dim();
    weight
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((o, cg * kh * kw))
        .map_err(internal)
}

/// `y = conv(x, weight) + bias`.
pub(crate) fn forward<T: Real>(
    x: ArrayView4<'_, T>,
    weight: ArrayView4<'_, T>,
    bias: Option<&Array1<T>>,
    p: &ConvParams,
) -> Result<Array4<T>, GradError> {
    let (n, _, h, w) = x.dim();
    let [oh, ow] = output_hw(p, h, w)?;
    let (cg, og) = group_sizes(p)?;
    let wm = weight_matrix(weight)?;
    let mut y = Array4::<T>::zeros((n, p.out_channels, oh, ow));
    for b in 0..n {
        for g in 0..p.groups {
            let cols = im2col(x.slice(s![b, g * cg..(g + 1) * cg, .., ..]), p, oh, ow);
            let prod = T::matmul(wm.slice(s![g * og..(g + 1) * og, ..]), cols.view());
            let prod = prod.into_shape_with_order((og, oh, ow)).map_err(internal)?;
            y.slice_mut(s![b, g * og..(g + 1) * og, .., ..])
                .assign(&prod);
        }
    }
    if let Some(bias) = bias {
        for (o, mut plane) in y.axis_iter_mut(Axis(1)).enumerate() {
            plane += bias[o];
        }
    }
    Ok(y)
}

/// Gradients of a convolution.
pub(crate) struct ConvGrads<T> {
    /// With respect to the input.
    pub(crate) dx: Array4<T>,
    /// With respect to the weight.
    pub(crate) dweight: Array4<T>,
    /// With respect to the bias (when it has one).
    pub(crate) dbias: Option<Array1<T>>,
}

/// The gradients of [`forward`] given the output's gradient `dy`.
pub(crate) fn backward<T: Real>(
    x: ArrayView4<'_, T>,
    weight: ArrayView4<'_, T>,
    has_bias: bool,
    p: &ConvParams,
    dy: ArrayView4<'_, T>,
) -> Result<ConvGrads<T>, GradError> {
    let (n, _, h, w) = x.dim();
    let (_, _, oh, ow) = dy.dim();
    let (cg, og) = group_sizes(p)?;
    let wm = weight_matrix(weight)?;
    let mut dwm = Array2::<T>::zeros(wm.dim());
    let mut dx = Array4::<T>::zeros((n, p.in_channels, h, w));
    for b in 0..n {
        for g in 0..p.groups {
            let cols = im2col(x.slice(s![b, g * cg..(g + 1) * cg, .., ..]), p, oh, ow);
            let dyg = dy.slice(s![b, g * og..(g + 1) * og, .., ..]);
            let dyg = dyg.to_shape((og, oh * ow)).map_err(internal)?;
            let mut dwg = dwm.slice_mut(s![g * og..(g + 1) * og, ..]);
            dwg += &T::matmul(dyg.view(), cols.t());
            let dcols = T::matmul(wm.slice(s![g * og..(g + 1) * og, ..]).t(), dyg.view());
            col2im_add(
                dcols.view(),
                p,
                oh,
                ow,
                dx.slice_mut(s![b, g * cg..(g + 1) * cg, .., ..]),
            );
        }
    }
    let dweight = dwm
        .into_shape_with_order(weight.raw_dim())
        .map_err(internal)?;
    let dbias = has_bias.then(|| dy.sum_axis(Axis(3)).sum_axis(Axis(2)).sum_axis(Axis(0)));
    Ok(ConvGrads { dx, dweight, dbias })
}
