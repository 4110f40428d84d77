//! Transposed convolution (PyTorch's `ConvTranspose2d`: stride, padding,
//! output padding, dilation, groups; weight `[C, O/g, kh, kw]`), forward and
//! backward.
//!
//! A transposed convolution is the adjoint of a convolution with respect to
//! its input: per sample and group, `y_g = col2im(W_gᵀ · x_g)`, where the
//! convolution it is the adjoint of maps `O` channels of the output's size to
//! `C` channels of the input's size. So the forward pass is that
//! convolution's input-gradient pass, and the backward pass is its forward
//! pass (`dx_g = W_g · im2col(dy_g)`) and its weight-gradient pass
//! (`dW_g += x_g · im2col(dy_g)ᵀ`), all on [`conv`]'s im2col and col2im.

use ndarray::{Array1, Array2, Array4, ArrayView4, Axis, s};

use super::conv::{col2im_add, im2col};
use crate::grad::Real;
use crate::grad::error::{GradError, internal};
use crate::ir::{ConvParams, ConvTransposeParams};
use crate::runtime::kernels::{ConvTranspose2dParams, conv_transpose2d_output_hw};

/// The convolution whose input gradient `p` is (only the fields im2col and
/// col2im read: channels, kernel, stride, the top / left padding, dilation).
fn adjoint(p: &ConvTransposeParams) -> ConvParams {
    let [ph, pw] = p.padding;
    ConvParams {
        in_channels: p.out_channels,
        out_channels: p.in_channels,
        kernel: p.kernel,
        stride: p.stride,
        padding: [ph, pw, ph, pw],
        dilation: p.dilation,
        groups: p.groups,
        bias: false,
    }
}

/// Per-group sizes: (input channels, output channels) of one group.
fn group_sizes(p: &ConvTransposeParams) -> Result<(usize, usize), GradError> {
    if p.groups == 0
        || !p.in_channels.is_multiple_of(p.groups)
        || !p.out_channels.is_multiple_of(p.groups)
    {
        return Err(internal(format!(
            "conv_transpose groups do not divide the channels: {p:?}"
        )));
    }
    Ok((p.in_channels / p.groups, p.out_channels / p.groups))
}

/// The weight `[C, O/g, kh, kw]` as a matrix `[C, O/g·kh·kw]`.
fn weight_matrix<T: Real>(weight: ArrayView4<'_, T>) -> Result<Array2<T>, GradError> {
    let (c, og, kh, kw) = weight.dim();
    weight
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((c, og * kh * kw))
        .map_err(internal)
}

/// Output height and width of `p` on an `h`×`w` input (the runtime kernel's rule).
fn output_hw(p: &ConvTransposeParams, h: usize, w: usize) -> Result<(usize, usize), GradError> {
    let kernel = ConvTranspose2dParams {
        stride: (p.stride[0], p.stride[1]),
        padding: (p.padding[0], p.padding[1]),
        output_padding: (p.output_padding[0], p.output_padding[1]),
        dilation: (p.dilation[0], p.dilation[1]),
        groups: p.groups,
    };
    conv_transpose2d_output_hw((h, w), (p.kernel[0], p.kernel[1]), &kernel).map_err(internal)
}

/// `y = conv_transpose(x, weight) + bias`.
pub(crate) fn forward<T: Real>(
    x: ArrayView4<'_, T>,
    weight: ArrayView4<'_, T>,
    bias: Option<&Array1<T>>,
    p: &ConvTransposeParams,
) -> Result<Array4<T>, GradError> {
    let (n, _, h, w) = x.dim();
    let (oh, ow) = output_hw(p, h, w)?;
    let (cg, og) = group_sizes(p)?;
    let conv = adjoint(p);
    let wm = weight_matrix(weight)?;
    let mut y = Array4::<T>::zeros((n, p.out_channels, oh, ow));
    for b in 0..n {
        for g in 0..p.groups {
            let xg = x.slice(s![b, g * cg..(g + 1) * cg, .., ..]);
            let xg = xg.to_shape((cg, h * w)).map_err(internal)?;
            let cols = T::matmul(wm.slice(s![g * cg..(g + 1) * cg, ..]).t(), xg.view());
            col2im_add(
                cols.view(),
                &conv,
                h,
                w,
                y.slice_mut(s![b, g * og..(g + 1) * og, .., ..]),
            );
        }
    }
    if let Some(bias) = bias {
        for (o, mut plane) in y.axis_iter_mut(Axis(1)).enumerate() {
            plane += bias[o];
        }
    }
    Ok(y)
}

/// Gradients of a transposed convolution.
pub(crate) struct ConvTransposeGrads<T> {
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
    p: &ConvTransposeParams,
    dy: ArrayView4<'_, T>,
) -> Result<ConvTransposeGrads<T>, GradError> {
    let (n, _, h, w) = x.dim();
    let (cg, og) = group_sizes(p)?;
    let conv = adjoint(p);
    let wm = weight_matrix(weight)?;
    let mut dwm = Array2::<T>::zeros(wm.dim());
    let mut dx = Array4::<T>::zeros((n, p.in_channels, h, w));
    for b in 0..n {
        for g in 0..p.groups {
            // [og·kh·kw, h·w]: the output's gradient under every tap.
            let cols = im2col(dy.slice(s![b, g * og..(g + 1) * og, .., ..]), &conv, h, w);
            let xg = x.slice(s![b, g * cg..(g + 1) * cg, .., ..]);
            let xg = xg.to_shape((cg, h * w)).map_err(internal)?;
            let wg = wm.slice(s![g * cg..(g + 1) * cg, ..]);
            let dxg = T::matmul(wg, cols.view());
            dx.slice_mut(s![b, g * cg..(g + 1) * cg, .., ..])
                .assign(&dxg.into_shape_with_order((cg, h, w)).map_err(internal)?);
            let mut dwg = dwm.slice_mut(s![g * cg..(g + 1) * cg, ..]);
            dwg += &T::matmul(xg.view(), cols.t());
        }
    }
    let dweight = dwm
        .into_shape_with_order(weight.raw_dim())
        .map_err(internal)?;
    let dbias = has_bias.then(|| dy.sum_axis(Axis(3)).sum_axis(Axis(2)).sum_axis(Axis(0)));
    Ok(ConvTransposeGrads { dx, dweight, dbias })
}
