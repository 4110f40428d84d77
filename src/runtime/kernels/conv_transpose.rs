//! Transposed 2-D convolution (PyTorch `ConvTranspose2d`), as a GEMM and a
//! col2im scatter: for each (batch, group), `col = W_gᵀ · x_g`
//! (`[og·kh·kw, H·W]`), then every column entry is added to the output pixel
//! `(ih·s − p + ki·d, iw·s − p + kj·d)` it lands on.

use ndarray::{Array4, ArrayView1, ArrayView4, ArrayViewMut4};
use rayon::prelude::*;

use crate::runtime::kernels::error::{
    KernelError, check_out_shape, out_slice, param_err, shape_err,
};
use crate::runtime::kernels::matmul::{Mat, matmul};
use crate::runtime::kernels::thread_buffer::with_scratch;

/// Hyper-parameters of [`conv_transpose2d`], as PyTorch's `ConvTranspose2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    /// Stride `(sh, sw)`, each `>= 1`.
    pub stride: (usize, usize),
    /// Padding `(ph, pw)` removed from both sides of the output.
    pub padding: (usize, usize),
    /// Extra rows / columns at the bottom / right, each `< max(stride, dilation)`.
    pub output_padding: (usize, usize),
    /// Dilation `(dh, dw)`, each `>= 1`.
    pub dilation: (usize, usize),
    /// Number of groups.
    pub groups: usize,
}

impl Default for ConvTranspose2dParams {
    /// Stride 1, no padding, dilation 1, one group.
    fn default() -> Self {
        ConvTranspose2dParams {
            stride: (1, 1),
            padding: (0, 0),
            output_padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

/// Output size along one axis: `(i − 1)·s − 2p + d·(k − 1) + op + 1`, or
/// `None` if it is not positive or does not fit.
fn out_len(i: usize, k: usize, s: usize, p: usize, op: usize, d: usize) -> Option<usize> {
    let grown = (i.checked_sub(1)?)
        .checked_mul(s)?
        .checked_add(d.checked_mul(k.checked_sub(1)?)?)?
        .checked_add(op)?
        .checked_add(1)?;
    grown.checked_sub(p.checked_mul(2)?).filter(|&o| o > 0)
}

/// Output spatial size `(oh, ow)` of a transposed convolution with kernel
/// `kernel_hw` on an `in_hw` input.
///
/// Errors on a zero stride, dilation or kernel, an `output_padding` not
/// smaller than the stride or the dilation, or an output of size zero.
pub fn conv_transpose2d_output_hw(
    in_hw: (usize, usize),
    kernel_hw: (usize, usize),
    params: &ConvTranspose2dParams,
) -> Result<(usize, usize), KernelError> {
    let p = params;
    if p.stride.0 == 0 || p.stride.1 == 0 || p.dilation.0 == 0 || p.dilation.1 == 0 {
        return param_err("conv_transpose2d: stride and dilation must be >= 1");
    }
    if p.output_padding.0 >= p.stride.0.max(p.dilation.0)
        || p.output_padding.1 >= p.stride.1.max(p.dilation.1)
    {
        return param_err(
            "conv_transpose2d: output_padding must be smaller than the stride or the dilation",
        );
    }
    let oh = out_len(
        in_hw.0,
        kernel_hw.0,
        p.stride.0,
        p.padding.0,
        p.output_padding.0,
        p.dilation.0,
    );
    let ow = out_len(
        in_hw.1,
        kernel_hw.1,
        p.stride.1,
        p.padding.1,
        p.output_padding.1,
        p.dilation.1,
    );
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok((oh, ow)),
        _ => shape_err(format!(
            "conv_transpose2d: no output for input {in_hw:?}, kernel {kernel_hw:?} and {params:?}"
        )),
    }
}

/// Validates the operands and returns the output shape `[N, O, OH, OW]`.
fn output_shape(
    input: &ArrayView4<'_, f32>,
    weight: &ArrayView4<'_, f32>,
    bias: Option<&ArrayView1<'_, f32>>,
    params: &ConvTranspose2dParams,
) -> Result<[usize; 4], KernelError> {
    let (n, c, h, w) = input.dim();
    let (wc, og, kh, kw) = weight.dim();
    let groups = params.groups;
    if groups == 0 {
        return param_err("conv_transpose2d: groups must be >= 1");
    }
    if wc != c || c % groups != 0 {
        return shape_err(format!(
            "conv_transpose2d: weight has {wc} input channels, input {c} (groups {groups})"
        ));
    }
    let o = og * groups;
    if let Some(b) = bias
        && b.len() != o
    {
        return shape_err(format!(
            "conv_transpose2d: bias has {} elements, expected {o}",
            b.len()
        ));
    }
    let (oh, ow) = conv_transpose2d_output_hw((h, w), (kh, kw), params)?;
    Ok([n, o, oh, ow])
}

/// Transposed 2-D convolution, like PyTorch `F.conv_transpose2d`.
///
/// * `input`: `[N, C, H, W]`
/// * `weight`: `[C, O / groups, KH, KW]` (PyTorch's layout)
/// * `bias`: optional `[O]`
///
/// Returns `[N, O, OH, OW]` with `OH = (H − 1)·sh − 2·ph + dh·(KH − 1) +
/// oph + 1` (likewise `OW`). Errors on inconsistent shapes or invalid
/// parameters. Allocating wrapper around [`conv_transpose2d_into`].
pub fn conv_transpose2d(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &ConvTranspose2dParams,
) -> Result<Array4<f32>, KernelError> {
    let shape = output_shape(&input, &weight, bias.as_ref(), params)?;
    let mut out = Array4::zeros(shape);
    conv_transpose2d_into(input, weight, bias, params, out.view_mut())?;
    Ok(out)
}

/// [`conv_transpose2d`] writing its result into `out` (every element
/// overwritten; allocates nothing for standard-layout inputs besides the
/// per-thread column scratch and the GEMM's packing buffers, which only grow).
///
/// Errors like [`conv_transpose2d`], and with [`KernelError::Shape`] if
/// `out` does not have the output shape or is not in standard layout.
pub fn conv_transpose2d_into(
    input: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    params: &ConvTranspose2dParams,
    out: ArrayViewMut4<'_, f32>,
) -> Result<(), KernelError> {
    let [n, o, oh, ow] = output_shape(&input, &weight, bias.as_ref(), params)?;
    check_out_shape("conv_transpose2d", &[n, o, oh, ow], out.shape())?;
    let out = out_slice("conv_transpose2d", out)?;
    if out.is_empty() {
        return Ok(());
    }
    let (_, c, h, w) = input.dim();
    let (_, og, kh, kw) = weight.dim();
    let groups = params.groups;
    let cg = c / groups;
    let rows = og * kh * kw;
    let hw = h * w;

    let x = input.as_standard_layout();
    let wt = weight.as_standard_layout();
    let bias_c = bias.as_ref().map(|b| b.as_standard_layout());
    let xs = x
        .as_slice()
        .ok_or_else(|| KernelError::Shape("conv_transpose2d: input not contiguous".into()))?;
    let ws = wt
        .as_slice()
        .ok_or_else(|| KernelError::Shape("conv_transpose2d: weight not contiguous".into()))?;
    let bs: Option<&[f32]> =
        match &bias_c {
            Some(b) => Some(b.as_slice().ok_or_else(|| {
                KernelError::Shape("conv_transpose2d: bias not contiguous".into())
            })?),
            None => None,
        };
    let (sh, sw) = params.stride;
    let (dh, dw) = params.dilation;
    let (ph, pw) = params.padding;

    // One work item = one (batch, group): a contiguous [og, oh·ow] block.
    let work = |idx: usize, chunk: &mut [f32], col: &mut [f32], inner_par: bool| {
        let ni = idx / groups;
        let gi = idx % groups;
        let x_g = &xs[(ni * c + gi * cg) * hw..][..cg * hw];
        // The group's weights, [cg, og·kh·kw] row-major, read transposed.
        let w_g = &ws[gi * cg * rows..][..cg * rows];
        let wt_g = Mat {
            data: w_g,
            rows,
            cols: cg,
            rs: 1,
            cs: rows,
        };
        matmul(col, wt_g, Mat::row_major(x_g, cg, hw), inner_par);
        for (oc, plane) in chunk.chunks_exact_mut(oh * ow).enumerate() {
            plane.fill(bs.map_or(0.0, |b| b[gi * og + oc]));
            for ki in 0..kh {
                for kj in 0..kw {
                    let src = &col[((oc * kh + ki) * kw + kj) * hw..][..hw];
                    for ih in 0..h {
                        // Output row ih·s + ki·d − p, when inside the output.
                        let Some(orow) = (ih * sh + ki * dh).checked_sub(ph).filter(|&r| r < oh)
                        else {
                            continue;
                        };
                        let dst = &mut plane[orow * ow..][..ow];
                        for (iw, &v) in src[ih * w..][..w].iter().enumerate() {
                            if let Some(ocol) = (iw * sw + kj * dw).checked_sub(pw)
                                && ocol < ow
                            {
                                dst[ocol] += v;
                            }
                        }
                    }
                }
            }
        }
    };

    let items = n * groups;
    let block = og * oh * ow;
    if items > 1 && items >= rayon::current_num_threads() {
        out.par_chunks_mut(block)
            .enumerate()
            .for_each(|(idx, chunk)| with_scratch(rows * hw, |col| work(idx, chunk, col, false)));
    } else {
        with_scratch(rows * hw, |col| {
            for (idx, chunk) in out.chunks_mut(block).enumerate() {
                work(idx, chunk, col, true);
            }
        });
    }
    Ok(())
}
