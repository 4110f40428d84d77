//! Every kernel against a straightforward naive reference (f64 accumulation).

use crate::common;

use common::{Rng, assert_close};
use ndarray::{Array1, Array2, Array4, ArrayView1, ArrayView4, Axis, s};
use resnetc::runtime::kernels::*;

const TOL: f32 = 1e-4;

// ---------------------------------------------------------------- references

fn act_ref(a: Activation, v: f64) -> f64 {
    match a {
        Activation::None => v,
        Activation::Relu => v.max(0.0),
        Activation::Relu6 => v.clamp(0.0, 6.0),
    }
}

fn conv_ref(
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    b: Option<ArrayView1<f32>>,
    p: &Conv2dParams,
) -> Array4<f32> {
    let (n, _c, h, wd) = x.dim();
    let (o, cg, kh, kw) = w.dim();
    let og = o / p.groups;
    let pd = p.padding;
    let (sh, sw) = p.stride;
    let (dh, dw) = p.dilation;
    let oh = (h + pd.top + pd.bottom - dh * (kh - 1) - 1) / sh + 1;
    let ow = (wd + pd.left + pd.right - dw * (kw - 1) - 1) / sw + 1;
    let mut out = Array4::<f32>::zeros((n, o, oh, ow));
    for ni in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[oc] as f64);
                    for ci in 0..cg {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let ih = (y * sh + ki * dh) as isize - pd.top as isize;
                                let iw = (xx * sw + kj * dw) as isize - pd.left as isize;
                                if ih < 0 || iw < 0 || ih >= h as isize || iw >= wd as isize {
                                    continue;
                                }
                                acc += x[[ni, g * cg + ci, ih as usize, iw as usize]] as f64
                                    * w[[oc, ci, ki, kj]] as f64;
                            }
                        }
                    }
                    out[[ni, oc, y, xx]] = act_ref(p.activation, acc) as f32;
                }
            }
        }
    }
    out
}

/// Reference pooling. Output size: largest count such that every window
/// starts inside input-or-leading-padding (ceil mode) / fits fully in the
/// padded input (floor mode) — an independent formulation of PyTorch's rule.
fn out_len(i: usize, k: usize, pb: usize, pa: usize, s: usize, d: usize, ceil: bool) -> usize {
    let ek = d * (k - 1) + 1;
    let mut o = 0;
    loop {
        let start = o * s; // in padded coordinates
        let fits = start + ek <= i + pb + pa;
        let ok = if ceil {
            // a partial window may hang over the end, as long as the window
            // starts before the end of the padded input and inside input+pb
            // and (as in torch) there was room for at least a partial stride.
            start < i + pb && (fits || start + ek < i + pb + pa + s)
        } else {
            fits
        };
        if !ok {
            break;
        }
        o += 1;
    }
    o
}

fn maxpool_ref(x: ArrayView4<f32>, p: &MaxPool2dParams) -> Array4<f32> {
    let (n, c, h, w) = x.dim();
    let pd = p.padding;
    let oh = out_len(
        h,
        p.kernel.0,
        pd.top,
        pd.bottom,
        p.stride.0,
        p.dilation.0,
        p.ceil_mode,
    );
    let ow = out_len(
        w,
        p.kernel.1,
        pd.left,
        pd.right,
        p.stride.1,
        p.dilation.1,
        p.ceil_mode,
    );
    let mut out = Array4::<f32>::zeros((n, c, oh, ow));
    for ((ni, ci, y, xx), v) in out.indexed_iter_mut() {
        let mut m = f32::NEG_INFINITY;
        for ki in 0..p.kernel.0 {
            for kj in 0..p.kernel.1 {
                let ih = (y * p.stride.0 + ki * p.dilation.0) as isize - pd.top as isize;
                let iw = (xx * p.stride.1 + kj * p.dilation.1) as isize - pd.left as isize;
                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                    m = m.max(x[[ni, ci, ih as usize, iw as usize]]);
                }
            }
        }
        *v = m;
    }
    out
}

fn avgpool_ref(x: ArrayView4<f32>, p: &AvgPool2dParams) -> Array4<f32> {
    let (n, c, h, w) = x.dim();
    let pd = p.padding;
    let oh = out_len(h, p.kernel.0, pd.top, pd.bottom, p.stride.0, 1, p.ceil_mode);
    let ow = out_len(w, p.kernel.1, pd.left, pd.right, p.stride.1, 1, p.ceil_mode);
    let mut out = Array4::<f32>::zeros((n, c, oh, ow));
    for ((ni, ci, y, xx), v) in out.indexed_iter_mut() {
        let (mut sum, mut valid, mut in_pad) = (0.0f64, 0usize, 0usize);
        for ki in 0..p.kernel.0 {
            for kj in 0..p.kernel.1 {
                let ih = (y * p.stride.0 + ki) as isize - pd.top as isize;
                let iw = (xx * p.stride.1 + kj) as isize - pd.left as isize;
                let in_h = ih >= -(pd.top as isize) && ih < (h + pd.bottom) as isize;
                let in_w = iw >= -(pd.left as isize) && iw < (w + pd.right) as isize;
                if in_h && in_w {
                    in_pad += 1;
                }
                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                    sum += x[[ni, ci, ih as usize, iw as usize]] as f64;
                    valid += 1;
                }
            }
        }
        let div = p
            .divisor_override
            .unwrap_or(if p.count_include_pad { in_pad } else { valid });
        *v = (sum / div as f64) as f32;
    }
    out
}

fn conv_case(
    rng: &mut Rng,
    shape: (usize, usize, usize, usize),
    o: usize,
    k: (usize, usize),
    p: Conv2dParams,
    bias: bool,
) {
    let (n, c, h, w) = shape;
    let x = rng.array((n, c, h, w));
    let wt = rng.array((o, c / p.groups, k.0, k.1));
    let b = rng.array(o);
    let bv = bias.then(|| b.view());
    let got = conv2d(x.view(), wt.view(), bv, &p).expect("conv2d");
    let want = conv_ref(x.view(), wt.view(), bv, &p);
    assert_close(
        got.view(),
        want.view(),
        TOL,
        &format!("conv {shape:?} o={o} k={k:?} {p:?}"),
    );
}

// --------------------------------------------------------------------- conv

#[test]
fn conv_basic_3x3_pad1() {
    let mut r = Rng::new(1);
    let p = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        ..Default::default()
    };
    conv_case(&mut r, (1, 5, 9, 9), 7, (3, 3), p, true);
}

#[test]
fn conv_stride2_odd_sizes() {
    let mut r = Rng::new(2);
    let p = Conv2dParams {
        stride: (2, 2),
        padding: Padding2d::symmetric(1, 1),
        ..Default::default()
    };
    conv_case(&mut r, (2, 3, 13, 11), 6, (3, 3), p, true);
    let p = Conv2dParams {
        stride: (2, 3),
        padding: Padding2d::symmetric(3, 3),
        ..Default::default()
    };
    conv_case(&mut r, (1, 3, 17, 15), 4, (7, 7), p, false);
}

#[test]
fn conv_dilation2() {
    let mut r = Rng::new(3);
    let p = Conv2dParams {
        dilation: (2, 2),
        padding: Padding2d::symmetric(2, 2),
        ..Default::default()
    };
    conv_case(&mut r, (1, 4, 10, 12), 5, (3, 3), p, true);
    let p = Conv2dParams {
        dilation: (2, 1),
        stride: (2, 2),
        ..Default::default()
    };
    conv_case(&mut r, (2, 4, 11, 9), 3, (3, 2), p, true);
}

#[test]
fn conv_groups_stride_dilation() {
    let mut r = Rng::new(4);
    let p = Conv2dParams {
        groups: 4,
        stride: (2, 2),
        dilation: (2, 2),
        padding: Padding2d::symmetric(2, 1),
        ..Default::default()
    };
    conv_case(&mut r, (1, 8, 15, 14), 12, (3, 3), p, true);
    conv_case(&mut r, (3, 8, 15, 14), 12, (3, 3), p, false);
}

#[test]
fn conv_depthwise() {
    let mut r = Rng::new(5);
    let p = Conv2dParams {
        groups: 6,
        padding: Padding2d::symmetric(1, 1),
        ..Default::default()
    };
    conv_case(&mut r, (2, 6, 9, 10), 6, (3, 3), p, true);
    // channel multiplier 2, stride 2
    let p = Conv2dParams {
        groups: 6,
        stride: (2, 2),
        padding: Padding2d::symmetric(1, 1),
        ..Default::default()
    };
    conv_case(&mut r, (1, 6, 9, 10), 12, (3, 3), p, true);
}

#[test]
fn conv_asymmetric_padding() {
    let mut r = Rng::new(6);
    let p = Conv2dParams {
        padding: Padding2d {
            top: 0,
            left: 1,
            bottom: 2,
            right: 0,
        },
        stride: (2, 2),
        ..Default::default()
    };
    conv_case(&mut r, (1, 3, 8, 9), 4, (3, 3), p, true);
    // TF 'same' with stride 2 on even input -> pad (0, 1)
    let pad = Padding2d::same_tf((8, 8), (3, 3), (2, 2), (1, 1)).expect("same");
    assert_eq!(
        pad,
        Padding2d {
            top: 0,
            left: 0,
            bottom: 1,
            right: 1
        }
    );
    let p = Conv2dParams {
        padding: pad,
        stride: (2, 2),
        ..Default::default()
    };
    conv_case(&mut r, (2, 3, 8, 8), 4, (3, 3), p, true);
}

#[test]
fn conv_pointwise_fast_path_and_strided_1x1() {
    let mut r = Rng::new(7);
    conv_case(
        &mut r,
        (2, 16, 7, 5),
        8,
        (1, 1),
        Conv2dParams::default(),
        true,
    );
    let p = Conv2dParams {
        stride: (2, 2),
        ..Default::default()
    };
    conv_case(&mut r, (1, 16, 7, 5), 8, (1, 1), p, false);
    let p = Conv2dParams {
        groups: 4,
        ..Default::default()
    };
    conv_case(&mut r, (1, 16, 7, 5), 8, (1, 1), p, true);
}

#[test]
fn conv_fused_activations() {
    let mut r = Rng::new(8);
    for act in [Activation::Relu, Activation::Relu6] {
        let p = Conv2dParams {
            padding: Padding2d::symmetric(1, 1),
            activation: act,
            ..Default::default()
        };
        // large weights so relu6 clipping is exercised
        let x = r.array((1, 4, 6, 6)) * 4.0;
        let w = r.array((5, 4, 3, 3)) * 4.0;
        let b = r.array(5);
        let got = conv2d(x.view(), w.view(), Some(b.view()), &p).expect("conv");
        let want = conv_ref(x.view(), w.view(), Some(b.view()), &p);
        assert!(want.iter().any(|&v| v == 6.0) || act == Activation::Relu);
        assert_close(got.view(), want.view(), TOL, "fused act");
    }
}

#[test]
fn conv_random_configs() {
    let mut r = Rng::new(9);
    for _ in 0..40 {
        let groups = [1, 1, 2, 3][r.int(0, 3)];
        let c = groups * r.int(1, 3);
        let o = groups * r.int(1, 3);
        let k = (r.int(1, 4), r.int(1, 4));
        let dil = (r.int(1, 2), r.int(1, 2));
        let stride = (r.int(1, 3), r.int(1, 3));
        let pad = Padding2d {
            top: r.int(0, 2),
            left: r.int(0, 2),
            bottom: r.int(0, 2),
            right: r.int(0, 2),
        };
        let h = dil.0 * (k.0 - 1) + 1 + r.int(0, 9);
        let w = dil.1 * (k.1 - 1) + 1 + r.int(0, 9);
        let act = [Activation::None, Activation::Relu, Activation::Relu6][r.int(0, 2)];
        let p = Conv2dParams {
            stride,
            padding: pad,
            dilation: dil,
            groups,
            activation: act,
        };
        let bias = r.int(0, 1) == 1;
        let n = r.int(1, 3);
        conv_case(&mut r, (n, c, h, w), o, k, p, bias);
    }
}

#[test]
fn conv_larger_resnet_like() {
    let mut r = Rng::new(10);
    let p = Conv2dParams {
        stride: (2, 2),
        padding: Padding2d::symmetric(3, 3),
        ..Default::default()
    };
    conv_case(&mut r, (1, 3, 32, 32), 16, (7, 7), p, false);
    let p = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        activation: Activation::Relu,
        ..Default::default()
    };
    conv_case(&mut r, (2, 32, 12, 12), 32, (3, 3), p, true);
}

#[test]
fn conv_non_contiguous_input() {
    let mut r = Rng::new(11);
    let x = r.array((2, 3, 10, 10));
    let xt = x.view().permuted_axes([0, 1, 3, 2]); // transposed H/W view
    let w = r.array((4, 3, 3, 3));
    let p = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        ..Default::default()
    };
    let got = conv2d(xt, w.view(), None, &p).expect("conv");
    let want = conv_ref(xt, w.view(), None, &p);
    assert_close(got.view(), want.view(), TOL, "non-contiguous");
}

#[test]
fn conv_errors_not_panics() {
    let x = Array4::<f32>::zeros((1, 6, 5, 5));
    let w = Array4::<f32>::zeros((4, 3, 3, 3));
    let p = |groups| Conv2dParams {
        groups,
        ..Default::default()
    };
    assert!(conv2d(x.view(), w.view(), None, &p(0)).is_err());
    assert!(conv2d(x.view(), w.view(), None, &p(1)).is_err()); // 3 != 6
    assert!(conv2d(x.view(), w.view(), None, &p(4)).is_err()); // 6 % 4
    assert!(conv2d(x.view(), w.view(), None, &p(2)).is_ok());
    let b = Array1::<f32>::zeros(3);
    assert!(conv2d(x.view(), w.view(), Some(b.view()), &p(2)).is_err());
    let big = Array4::<f32>::zeros((4, 3, 7, 7));
    assert!(conv2d(x.view(), big.view(), None, &p(2)).is_err());
    let bad = Conv2dParams {
        stride: (0, 1),
        groups: 2,
        ..Default::default()
    };
    assert!(conv2d(x.view(), w.view(), None, &bad).is_err());
}

// --------------------------------------------------------------- batchnorm

fn bn_params(r: &mut Rng, c: usize) -> [Array1<f32>; 4] {
    let gamma = r.array(c);
    let beta = r.array(c);
    let mean = r.array(c) * 0.3;
    let var = r.array(c).mapv(|v| v * 0.5 + 1.0);
    [gamma, beta, mean, var]
}

#[test]
fn batchnorm_matches_formula() {
    let mut r = Rng::new(20);
    let x = r.array((3, 5, 4, 7));
    let [g, b, m, v] = bn_params(&mut r, 5);
    let bn = BatchNormParams {
        gamma: g.view(),
        beta: b.view(),
        running_mean: m.view(),
        running_var: v.view(),
        eps: 1e-3,
    };
    let got = batchnorm(x.view(), &bn).expect("bn");
    let mut want = x.clone();
    for ((_, c, _, _), y) in want.indexed_iter_mut() {
        *y = ((*y as f64 - m[c] as f64) / (v[c] as f64 + 1e-3).sqrt() * g[c] as f64 + b[c] as f64)
            as f32;
    }
    assert_close(got.view(), want.view(), TOL, "batchnorm 4d");
    // 2-D (BatchNorm1d)
    let x2 = r.array((4, 5));
    let got2 = batchnorm(x2.view(), &bn).expect("bn2");
    let want2 = batchnorm(x2.view().insert_axis(Axis(2)), &bn).expect("bn3");
    assert_close(
        got2.view(),
        want2.index_axis(Axis(2), 0),
        0.0,
        "batchnorm 2d",
    );
    assert!(batchnorm(r.array((2, 4, 3, 3)).view(), &bn).is_err());
}

#[test]
fn fold_batchnorm_equals_conv_then_bn() {
    let mut r = Rng::new(21);
    for (with_bias, groups) in [(true, 1), (false, 1), (true, 2)] {
        let x = r.array((2, 4, 9, 9));
        let w = r.array((6, 4 / groups, 3, 3));
        let cb = r.array(6);
        let [g, b, m, v] = bn_params(&mut r, 6);
        let bn = BatchNormParams {
            gamma: g.view(),
            beta: b.view(),
            running_mean: m.view(),
            running_var: v.view(),
            eps: 1e-5,
        };
        let p = Conv2dParams {
            padding: Padding2d::symmetric(1, 1),
            stride: (2, 2),
            groups,
            ..Default::default()
        };
        let bias = with_bias.then(|| cb.view());
        let want =
            batchnorm(conv2d(x.view(), w.view(), bias, &p).expect("c").view(), &bn).expect("bn");
        let (fw, fb) = fold_batchnorm(w.view(), bias, &bn).expect("fold");
        let got = conv2d(x.view(), fw.view(), Some(fb.view()), &p).expect("c2");
        assert_close(got.view(), want.view(), TOL, "fold");
    }
    let w = r.array((6, 4, 3, 3));
    let [g, b, m, v] = bn_params(&mut r, 5);
    let bn = BatchNormParams {
        gamma: g.view(),
        beta: b.view(),
        running_mean: m.view(),
        running_var: v.view(),
        eps: 1e-5,
    };
    assert!(fold_batchnorm(w.view(), None, &bn).is_err());
}

// -------------------------------------------------------------------- pools

#[test]
fn maxpool_cases() {
    let mut r = Rng::new(30);
    let cases = [
        // kernel, stride, pad (t,l,b,r), dilation, ceil
        ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), false), // resnet stem
        ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), true),
        ((2, 2), (2, 2), (1, 1, 1, 1), (1, 1), true), // ceil drop-rule kicks in on 5
        ((3, 2), (2, 3), (0, 1, 1, 0), (2, 1), true),
        ((3, 3), (1, 1), (1, 1, 1, 1), (2, 2), false),
        ((2, 3), (3, 2), (0, 0, 0, 0), (1, 2), true),
    ];
    for (k, s, (t, l, b, rr), d, ceil) in cases {
        // Long rows too: their interior columns take the kernel's tap-major loop.
        for (h, w) in [(5, 5), (7, 6), (12, 11), (13, 16), (9, 37), (6, 64)] {
            let p = MaxPool2dParams {
                kernel: k,
                stride: s,
                padding: Padding2d {
                    top: t,
                    left: l,
                    bottom: b,
                    right: rr,
                },
                dilation: d,
                ceil_mode: ceil,
            };
            let x = r.array((2, 3, h, w));
            let got = max_pool2d(x.view(), &p).expect("maxpool");
            let want = maxpool_ref(x.view(), &p);
            assert_close(
                got.view(),
                want.view(),
                0.0,
                &format!("maxpool {p:?} {h}x{w}"),
            );
        }
    }
    // the ceil drop rule: 5 wide, k2 s2 p1, ceil -> 3 (not 4)
    assert_eq!(pool_output_size(5, 2, 1, 1, 2, 1, true).expect("sz"), 3);
    assert_eq!(pool_output_size(6, 2, 0, 0, 2, 1, true).expect("sz"), 3);
    assert_eq!(pool_output_size(7, 2, 0, 0, 2, 1, true).expect("sz"), 4);
    assert_eq!(pool_output_size(112, 3, 1, 1, 2, 1, false).expect("sz"), 56);
    assert!(pool_output_size(1, 3, 0, 0, 1, 1, false).is_err());
}

#[test]
fn maxpool_nan_propagates() {
    let mut x = Array4::<f32>::zeros((1, 1, 4, 4));
    x[[0, 0, 1, 1]] = f32::NAN;
    let p = MaxPool2dParams {
        kernel: (2, 2),
        stride: (2, 2),
        padding: Padding2d::ZERO,
        dilation: (1, 1),
        ceil_mode: false,
    };
    let y = max_pool2d(x.view(), &p).expect("mp");
    assert!(y[[0, 0, 0, 0]].is_nan());
    assert_eq!(y[[0, 0, 1, 1]], 0.0);
    // The stem's 3×3 / 2 with padding: a NaN in an edge window and one in
    // an interior window each reach exactly the outputs whose window holds
    // them.
    let mut x = Array4::<f32>::zeros((1, 1, 9, 9));
    x[[0, 0, 0, 0]] = f32::NAN;
    x[[0, 0, 4, 5]] = f32::NAN; // rows 3–5 of output row 2; columns 3–5 and 5–7
    let p = MaxPool2dParams {
        kernel: (3, 3),
        stride: (2, 2),
        padding: Padding2d {
            top: 1,
            left: 1,
            bottom: 1,
            right: 1,
        },
        dilation: (1, 1),
        ceil_mode: false,
    };
    let y = max_pool2d(x.view(), &p).expect("mp");
    let nan: Vec<(usize, usize)> = y
        .indexed_iter()
        .filter(|(_, v)| v.is_nan())
        .map(|((_, _, i, j), _)| (i, j))
        .collect();
    assert_eq!(nan, [(0, 0), (2, 2), (2, 3)]);
}

#[test]
fn avgpool_cases() {
    let mut r = Rng::new(31);
    let cases = [
        ((3, 3), (2, 2), (1, 1, 1, 1), false),
        ((3, 3), (2, 2), (1, 1, 1, 1), true),
        ((2, 2), (2, 2), (1, 1, 1, 1), true),
        ((3, 2), (2, 3), (0, 1, 1, 0), true),
        ((2, 2), (2, 2), (0, 0, 0, 0), false),
        ((5, 5), (3, 3), (2, 2, 2, 2), true),
    ];
    for (k, s, (t, l, b, rr), ceil) in cases {
        for cip in [true, false] {
            for div in [None, Some(3)] {
                for (h, w) in [(5, 5), (7, 6), (12, 11)] {
                    let p = AvgPool2dParams {
                        kernel: k,
                        stride: s,
                        padding: Padding2d {
                            top: t,
                            left: l,
                            bottom: b,
                            right: rr,
                        },
                        ceil_mode: ceil,
                        count_include_pad: cip,
                        divisor_override: div,
                    };
                    let x = r.array((2, 3, h, w));
                    let got = avg_pool2d(x.view(), &p).expect("avgpool");
                    let want = avgpool_ref(x.view(), &p);
                    assert_close(
                        got.view(),
                        want.view(),
                        TOL,
                        &format!("avgpool {p:?} {h}x{w}"),
                    );
                }
            }
        }
    }
}

#[test]
fn global_avg_pool_matches_mean() {
    let mut r = Rng::new(32);
    let x = r.array((3, 5, 7, 6));
    let got = global_avg_pool(x.view()).expect("gap");
    let want = x
        .mean_axis(Axis(3))
        .and_then(|m| m.mean_axis(Axis(2)))
        .expect("mean");
    assert_close(
        got.view(),
        want.insert_axis(Axis(2)).insert_axis(Axis(3)).view(),
        TOL,
        "gap",
    );
    let f = flatten(got.view()).expect("flatten");
    assert_eq!(f.dim(), (3, 5));
}

// ------------------------------------------------------------- elementwise

fn erf_f64(x: f64) -> f64 {
    libm::erf(x)
}

#[test]
fn activations_match_formulas() {
    let mut r = Rng::new(40);
    let x = r.array((2, 3, 5, 7)) * 8.0;
    let check = |got: Array4<f32>, f: &dyn Fn(f64) -> f64, name: &str| {
        let want = x.mapv(|v| f(v as f64) as f32);
        assert_close(got.view(), want.view(), 1e-6, name);
    };
    check(relu(x.view()), &|v| v.max(0.0), "relu");
    check(relu6(x.view()), &|v| v.clamp(0.0, 6.0), "relu6");
    check(sigmoid(x.view()), &|v| 1.0 / (1.0 + (-v).exp()), "sigmoid");
    check(tanh(x.view()), &|v| v.tanh(), "tanh");
    check(
        gelu(x.view()),
        &|v| 0.5 * v * (1.0 + erf_f64(v / 2f64.sqrt())),
        "gelu",
    );
    check(
        leaky_relu(x.view(), 0.1),
        &|v| if v < 0.0 { 0.1 * v } else { v },
        "leaky",
    );
    let mut y = x.clone();
    gelu_inplace(y.view_mut());
    assert_eq!(y, gelu(x.view()));
    let mut y = x.clone();
    leaky_relu_inplace(y.view_mut(), 0.2);
    assert_eq!(y, leaky_relu(x.view(), 0.2));
    // large arrays take the parallel path
    let big = r.array((1, 4, 100, 100)) * 5.0;
    let mut b2 = big.clone();
    sigmoid_inplace(b2.view_mut());
    assert_close(
        b2.view(),
        big.mapv(|v| (1.0 / (1.0 + (-(v as f64)).exp())) as f32)
            .view(),
        1e-6,
        "sigmoid big",
    );
    // extremes
    let ext = ndarray::arr1(&[-100.0f32, 100.0, 0.0]);
    assert_eq!(sigmoid(ext.view()).to_vec(), vec![0.0, 1.0, 0.5]);
    assert_eq!(gelu(ext.view()).to_vec(), vec![-0.0, 100.0, 0.0]);
}

#[test]
fn add_concat_flatten() {
    let mut r = Rng::new(41);
    let a = r.array((2, 3, 4, 5));
    let b = r.array((2, 3, 4, 5));
    let c = r.array((2, 3, 4, 5));
    let s = add(&[a.view(), b.view(), c.view()]).expect("add");
    assert_close(s.view(), (&a + &b + &c).view(), 1e-6, "add");
    assert_eq!(add(&[a.view()]).expect("add1"), a);
    assert!(add::<ndarray::Ix4>(&[]).is_err());
    let d = r.array((2, 3, 4, 6));
    assert!(add(&[a.view(), d.view()]).is_err());

    let e = r.array((2, 1, 4, 5));
    let cat = concat_channels(&[a.view(), e.view(), b.view()]).expect("cat");
    assert_eq!(cat.dim(), (2, 7, 4, 5));
    assert_eq!(cat.slice(s![.., 0..3, .., ..]), a);
    assert_eq!(cat.slice(s![.., 3..4, .., ..]), e);
    assert_eq!(cat.slice(s![.., 4..7, .., ..]), b);
    assert!(concat_channels(&[a.view(), d.view()]).is_err());

    let f = flatten(a.view()).expect("flat");
    assert_eq!(f.dim(), (2, 60));
    assert_eq!(
        f.iter().copied().collect::<Vec<_>>(),
        a.iter().copied().collect::<Vec<_>>()
    );
    let ft = flatten(a.view().permuted_axes([0, 3, 2, 1])).expect("flat t");
    assert_eq!(ft[[1, 1]], a[[1, 1, 0, 0]]);
    assert_eq!(ft[[1, 3]], a[[1, 0, 1, 0]]);
}

#[test]
fn softmax_dim1_stable() {
    let mut r = Rng::new(42);
    for x in [
        r.array((3, 10)).into_dyn() * 50.0,
        r.array((2, 5, 3, 4)).into_dyn() * 50.0,
    ] {
        let got = softmax_dim1(x.view()).expect("softmax");
        let mut want = x.clone();
        let c = x.shape()[1];
        for mut lane in want.lanes_mut(Axis(1)) {
            let m = lane.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let s: f64 = lane.iter().map(|&v| (v as f64 - m).exp()).sum();
            lane.mapv_inplace(|v| ((v as f64 - m).exp() / s) as f32);
        }
        assert_close(got.view(), want.view(), 1e-6, "softmax");
        let sums = got.sum_axis(Axis(1));
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "c={c}");
    }
    let huge = ndarray::arr2(&[[1000.0f32, 1000.0, -1000.0]]);
    let y = softmax_dim1(huge.view()).expect("sm");
    assert_eq!(y.row(0).to_vec(), vec![0.5, 0.5, 0.0]);
    assert!(softmax_dim1(ndarray::arr1(&[1.0f32]).view()).is_err());
}

#[test]
fn dense_matches_naive() {
    let mut r = Rng::new(43);
    for (n, f, o) in [(1, 7, 3), (4, 64, 10), (3, 513, 17), (2, 2048, 1000)] {
        let x = r.array((n, f));
        let w = r.array((o, f));
        let b = r.array(o);
        for act in [Activation::None, Activation::Relu] {
            let got = dense(x.view(), w.view(), Some(b.view()), act).expect("dense");
            let mut want = Array2::<f32>::zeros((n, o));
            for i in 0..n {
                for j in 0..o {
                    let acc: f64 = (0..f)
                        .map(|k| x[[i, k]] as f64 * w[[j, k]] as f64)
                        .sum::<f64>()
                        + b[j] as f64;
                    want[[i, j]] = act_ref(act, acc) as f32;
                }
            }
            assert_close(got.view(), want.view(), TOL, &format!("dense {n}x{f}->{o}"));
        }
        let nob = dense(x.view(), w.view(), None, Activation::None).expect("d");
        let withb = dense(x.view(), w.view(), Some(b.view()), Activation::None).expect("d");
        assert_close((&withb - &b).view(), nob.view(), TOL, "dense bias");
    }
    let x = r.array((2, 5));
    let w = r.array((3, 4));
    assert!(dense(x.view(), w.view(), None, Activation::None).is_err());
}

// ------------------------------------------------------- mul, pad_channels

/// `mul` against index arithmetic: a size-1 axis reads index 0, on either side.
#[test]
fn mul_broadcasts_size_one_axes() {
    let mut r = Rng::new(21);
    let x: Array4<f32> = r.array((2, 3, 4, 5));
    let shapes = [(2, 3, 1, 1), (2, 3, 4, 5), (1, 3, 1, 5), (2, 1, 4, 1)];
    for gs in shapes {
        let g: Array4<f32> = r.array(gs);
        let at = |d: usize, i: usize| if d == 1 { 0 } else { i };
        let want = Array4::from_shape_fn((2, 3, 4, 5), |(n, c, h, w)| {
            x[[n, c, h, w]] * g[[at(gs.0, n), at(gs.1, c), at(gs.2, h), at(gs.3, w)]]
        });
        // Either side broadcasts, and the product is commutative bit for bit.
        assert_eq!(mul(x.view(), g.view()).unwrap(), want, "x * g{gs:?}");
        assert_eq!(mul(g.view(), x.view()).unwrap(), want, "g{gs:?} * x");
    }
    // Both sides broadcast: N×C×1×W against N×1×H×1.
    let a: Array4<f32> = r.array((2, 3, 1, 5));
    let b: Array4<f32> = r.array((2, 1, 4, 1));
    let y = mul(a.view(), b.view()).unwrap();
    assert_eq!(y.dim(), (2, 3, 4, 5));
    assert_eq!(y[[1, 2, 3, 4]], a[[1, 2, 0, 4]] * b[[1, 0, 3, 0]]);
    // Sizes that are neither equal nor 1: an error, not a panic.
    let bad: Array4<f32> = r.array((2, 2, 1, 1));
    assert!(matches!(
        mul(x.view(), bad.view()),
        Err(KernelError::Shape(_))
    ));
}

/// `pad_channels` is PyTorch's `F.pad(x, (0, 0, 0, 0, before, after))`.
#[test]
fn pad_channels_adds_zero_channels() {
    let mut r = Rng::new(22);
    let x: Array4<f32> = r.array((2, 3, 4, 5));
    for (before, after) in [(0, 0), (2, 2), (0, 4), (5, 0), (1, 3)] {
        let y = pad_channels(x.view(), before, after).unwrap();
        assert_eq!(y.dim(), (2, before + 3 + after, 4, 5));
        for ((n, c, h, w), &v) in y.indexed_iter() {
            let want = if c >= before && c < before + 3 {
                x[[n, c - before, h, w]]
            } else {
                0.0
            };
            assert_eq!(v, want, "({before}, {after}) at {:?}", (n, c, h, w));
        }
    }
    // Features N×F pad their second axis too; a rank-1 array has no channels.
    let f: Array2<f32> = r.array((2, 3));
    assert_eq!(pad_channels(f.view(), 1, 1).unwrap().dim(), (2, 5));
    let v: Array1<f32> = r.array(3);
    assert!(matches!(
        pad_channels(v.view(), 1, 1),
        Err(KernelError::Shape(_))
    ));
}

// --------------------------------------------------- transposed convolution

/// The scatter definition: every input pixel adds `x · w` to the output
/// pixels `(ih·s − p + ki·d, iw·s − p + kj·d)`.
fn conv_transpose_ref(
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    b: Option<ArrayView1<f32>>,
    p: &ConvTranspose2dParams,
) -> Array4<f32> {
    let (n, c, h, wd) = x.dim();
    let (_, og, kh, kw) = w.dim();
    let cg = c / p.groups;
    let o = og * p.groups;
    let (sh, sw) = p.stride;
    let (dh, dw) = p.dilation;
    let (ph, pw) = p.padding;
    let oh = (h - 1) * sh + dh * (kh - 1) + p.output_padding.0 + 1 - 2 * ph;
    let ow = (wd - 1) * sw + dw * (kw - 1) + p.output_padding.1 + 1 - 2 * pw;
    let mut acc = ndarray::Array4::<f64>::zeros((n, o, oh, ow));
    for ni in 0..n {
        for ci in 0..c {
            let g = ci / cg;
            for ih in 0..h {
                for iw in 0..wd {
                    for oc in 0..og {
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let y = (ih * sh + ki * dh) as isize - ph as isize;
                                let xx = (iw * sw + kj * dw) as isize - pw as isize;
                                if y < 0 || xx < 0 || y >= oh as isize || xx >= ow as isize {
                                    continue;
                                }
                                acc[[ni, g * og + oc, y as usize, xx as usize]] +=
                                    x[[ni, ci, ih, iw]] as f64 * w[[ci, oc, ki, kj]] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out = acc.mapv(|v| v as f32);
    if let Some(b) = b {
        for ((_, oc, _, _), v) in out.indexed_iter_mut() {
            *v = (f64::from(*v) + f64::from(b[oc])) as f32;
        }
    }
    out
}

#[test]
fn conv_transpose_matches_scatter_definition() {
    let mut r = Rng::new(21);
    // (x, w, stride, padding, output_padding, dilation, groups)
    let cases = [
        (
            [2, 4, 5, 6],
            [4, 3, 3, 3],
            (2, 2),
            (1, 1),
            (1, 1),
            (1, 1),
            1,
        ),
        (
            [1, 6, 4, 5],
            [6, 2, 3, 2],
            (3, 2),
            (2, 0),
            (1, 0),
            (2, 3),
            3,
        ),
        (
            [1, 8, 7, 7],
            [8, 5, 4, 4],
            (2, 2),
            (1, 1),
            (0, 0),
            (1, 1),
            1,
        ),
        (
            [2, 3, 1, 1],
            [3, 2, 2, 2],
            (1, 1),
            (0, 0),
            (0, 0),
            (1, 1),
            1,
        ),
        (
            [1, 4, 3, 4],
            [4, 1, 1, 1],
            (3, 3),
            (0, 0),
            (2, 1),
            (1, 1),
            4,
        ),
    ];
    for (xs, ws, stride, padding, output_padding, dilation, groups) in cases {
        let x: Array4<f32> = r.array(xs);
        let w: Array4<f32> = r.array(ws);
        let b: Array1<f32> = r.array(ws[1] * groups);
        let p = ConvTranspose2dParams {
            stride,
            padding,
            output_padding,
            dilation,
            groups,
        };
        for bias in [None, Some(b.view())] {
            let got = conv_transpose2d(x.view(), w.view(), bias, &p).unwrap();
            let want = conv_transpose_ref(x.view(), w.view(), bias, &p);
            assert_close(got.view(), want.view(), TOL, &format!("{xs:?} {p:?}"));
        }
    }
}

// ------------------------------------------------------------- upsampling

/// PyTorch's interpolation written out in f64 from its definition: nearest
/// takes ⌊dst·in/out⌋, bilinear the half-pixel source `(dst + ½)·in/out − ½`
/// clamped at 0, between its two neighbours (the last one repeated).
fn upsample_ref(x: ArrayView4<f32>, size: (usize, usize), mode: Interpolation) -> Array4<f32> {
    let (n, c, h, w) = x.dim();
    let (oh, ow) = size;
    let mut out = Array4::<f32>::zeros((n, c, oh, ow));
    let near = |o: usize, i: usize, out: usize| ((o * i) / out).min(i - 1);
    let lin = |o: usize, i: usize, out: usize| {
        let src = ((o as f64 + 0.5) * i as f64 / out as f64 - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(i - 1);
        let i1 = (i0 + 1).min(i - 1);
        (i0, i1, src - i0 as f64)
    };
    for ((ni, ci, y, xx), v) in out.indexed_iter_mut() {
        *v = match mode {
            Interpolation::Nearest => x[[ni, ci, near(y, h, oh), near(xx, w, ow)]],
            Interpolation::Bilinear => {
                let (y0, y1, a) = lin(y, h, oh);
                let (x0, x1, b) = lin(xx, w, ow);
                let at = |i: usize, j: usize| f64::from(x[[ni, ci, i, j]]);
                ((1.0 - a) * ((1.0 - b) * at(y0, x0) + b * at(y0, x1))
                    + a * ((1.0 - b) * at(y1, x0) + b * at(y1, x1))) as f32
            }
        };
    }
    out
}

#[test]
fn upsample_matches_definition() {
    let mut r = Rng::new(23);
    for (shape, size) in [
        ((2, 3, 5, 4), (10, 8)),
        ((1, 2, 4, 4), (16, 12)),
        ((1, 2, 6, 6), (44, 31)),
        ((2, 2, 1, 1), (5, 3)),
        ((1, 2, 9, 8), (4, 5)),
        ((1, 1, 3, 3), (3, 3)),
    ] {
        let x: Array4<f32> = r.array(shape);
        for mode in [Interpolation::Nearest, Interpolation::Bilinear] {
            let got = upsample2d(x.view(), size, mode).unwrap();
            let want = upsample_ref(x.view(), size, mode);
            assert_close(
                got.view(),
                want.view(),
                1e-5,
                &format!("{shape:?} → {size:?} {mode:?}"),
            );
        }
    }
}
