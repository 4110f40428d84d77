//! The blocked direct convolution (`PackedConv2d`) against a naive f64
//! reference, on every microkernel this CPU supports: channel and pixel
//! tails, strides 1–3, dilation, asymmetric padding, and the fused
//! residual + activation epilogue (also written in place); dense, grouped
//! and depthwise convolutions.

use crate::common;

use common::{Rng, assert_close, conv_ref, isas};
use ndarray::{Array1, Array4};
use proptest::prelude::*;
use resnetc::runtime::kernels::*;

const TOL: f32 = 1e-4;

/// One case: shapes and parameters.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    hw: (usize, usize),
    o: usize,
    k: (usize, usize),
    stride: (usize, usize),
    pad: [usize; 4],
    dil: (usize, usize),
    act: Activation,
    bias: bool,
    skip: bool,
    groups: usize,
}

fn params(cs: &Case) -> Conv2dParams {
    Conv2dParams {
        stride: cs.stride,
        padding: Padding2d {
            top: cs.pad[0],
            left: cs.pad[1],
            bottom: cs.pad[2],
            right: cs.pad[3],
        },
        dilation: cs.dil,
        groups: cs.groups,
        activation: cs.act,
    }
}

/// Runs `cs` on every supported microkernel, with the skip passed as a
/// separate tensor and in place, against the reference.
fn check(cs: &Case, seed: u64) {
    let mut r = Rng::new(seed);
    let x = r.array((cs.n, cs.c, cs.hw.0, cs.hw.1));
    let w = r.array((cs.o, cs.c / cs.groups, cs.k.0, cs.k.1));
    let b: Option<Array1<f32>> = cs.bias.then(|| r.array(cs.o));
    let p = params(cs);
    let (oh, ow) = conv2d_output_hw(cs.hw, cs.k, &p).unwrap();
    let skip: Option<Array4<f32>> = cs.skip.then(|| r.array((cs.n, cs.o, oh, ow)));
    let want = conv_ref(
        x.view(),
        w.view(),
        b.as_ref().map(|b| b.view()),
        skip.as_ref().map(|s| s.view()),
        &p,
    );
    for isa in isas() {
        let pc = PackedConv2d::with_isa(w.view(), b.as_ref().map(|b| b.view()), &p, isa).unwrap();
        assert_eq!(pc.isa(), isa);
        let res = match &skip {
            Some(s) => Residual::Add(s.view()),
            None => Residual::None,
        };
        let got = pc.run(x.view(), res).unwrap();
        assert_close(got.view(), want.view(), TOL, &format!("{isa:?} {cs:?}"));
        if let Some(s) = &skip {
            let mut inplace = s.clone();
            pc.run_into(x.view(), Residual::InPlace, inplace.view_mut())
                .unwrap();
            assert_eq!(inplace, got, "{isa:?} in place differs from Add: {cs:?}");
        }
    }
}

fn case(c: usize, hw: (usize, usize), o: usize, k: usize, stride: usize) -> Case {
    Case {
        n: 1,
        c,
        hw,
        o,
        k: (k, k),
        stride: (stride, stride),
        pad: [k / 2; 4],
        dil: (1, 1),
        act: Activation::None,
        bias: true,
        skip: false,
        groups: 1,
    }
}

#[test]
fn channel_tails_1_to_15_and_past_a_block() {
    for (i, (c, o)) in [
        (1, 1),
        (3, 5),
        (7, 15),
        (15, 17),
        (16, 16),
        (17, 33),
        (31, 65),
    ]
    .into_iter()
    .enumerate()
    {
        check(&case(c, (5, 7), o, 3, 1), i as u64);
    }
}

#[test]
fn pixel_tails_and_strides_1_to_3() {
    let mut seed = 100;
    for w in [1, 2, 5, 6, 7, 13, 23] {
        for stride in 1..=3 {
            seed += 1;
            check(&case(18, (4, w), 20, 3, stride), seed);
        }
    }
}

#[test]
fn short_tiles_on_every_filter_block_count() {
    // Tiles of 1–3 pixels (rows of 1, 2, 3, 7, 8 and 9) with 1–4 filter
    // blocks: the microkernels that run several blocks at once on them.
    let mut seed = 200;
    for o in [16, 32, 48, 64] {
        for w in [1, 2, 3, 7, 8, 9] {
            seed += 1;
            check(&case(5, (2, w), o, 3, 1), seed);
        }
    }
}

#[test]
fn short_tiles_give_the_same_bits_with_several_blocks_at_once() {
    // A tile of 1–3 pixels runs 2–4 filter blocks together where the layer
    // has them (the AVX2 kernel): the first block's outputs have the bits
    // they have when it is the layer's only block.
    let mut r = Rng::new(300);
    for w in [1, 2, 3, 7, 8, 9] {
        let x = r.array((2, 5, 3, w));
        for o in [32, 48, 64] {
            let wt = r.array((o, 5, 3, 3));
            let first = wt.slice(ndarray::s![..16, .., .., ..]).to_owned();
            let p = Conv2dParams {
                padding: Padding2d {
                    top: 1,
                    left: 1,
                    bottom: 1,
                    right: 1,
                },
                ..Conv2dParams::default()
            };
            for isa in isas() {
                let all = PackedConv2d::with_isa(wt.view(), None, &p, isa)
                    .unwrap()
                    .run(x.view(), Residual::None)
                    .unwrap();
                let one = PackedConv2d::with_isa(first.view(), None, &p, isa)
                    .unwrap()
                    .run(x.view(), Residual::None)
                    .unwrap();
                assert_eq!(
                    all.slice(ndarray::s![.., ..16, .., ..]),
                    one,
                    "{isa:?}: width {w}, {o} output channels"
                );
            }
        }
    }
}

#[test]
fn wide_rows_cross_the_epilogue_chunk() {
    // 100 and 200 output columns: more than one chunk of 96 pixels per row.
    check(&case(2, (2, 100), 3, 1, 1), 7);
    check(&case(4, (1, 201), 17, 3, 1), 8);
}

#[test]
fn dilation_asymmetric_padding_rectangular_kernels() {
    let mut cs = case(5, (9, 8), 19, 3, 1);
    cs.dil = (2, 3);
    cs.pad = [3, 0, 1, 4];
    check(&cs, 1);
    cs.k = (2, 5);
    cs.stride = (2, 1);
    cs.pad = [0, 2, 1, 0];
    cs.dil = (1, 1);
    check(&cs, 2);
    cs.k = (7, 7);
    cs.stride = (2, 2);
    cs.pad = [3, 3, 3, 3];
    cs.c = 3;
    cs.hw = (17, 15);
    check(&cs, 3);
}

#[test]
fn residual_and_activation_epilogues() {
    for (i, act) in [Activation::None, Activation::Relu, Activation::Relu6]
        .into_iter()
        .enumerate()
    {
        for bias in [false, true] {
            let mut cs = case(20, (6, 9), 35, 3, 1);
            cs.n = 2;
            cs.act = act;
            cs.bias = bias;
            cs.skip = true;
            check(&cs, 40 + i as u64);
            cs.k = (1, 1);
            cs.pad = [0; 4];
            cs.stride = (2, 2);
            check(&cs, 50 + i as u64);
        }
    }
}

#[test]
fn relu6_clamps_large_values() {
    let mut cs = case(16, (3, 3), 16, 1, 1);
    cs.act = Activation::Relu6;
    let x = Array4::from_elem((1, 16, 3, 3), 2.0f32);
    let w = Array4::from_elem((16, 16, 1, 1), 1.0f32);
    let pc = PackedConv2d::new(w.view(), None, &params(&cs)).unwrap();
    let y = pc.run(x.view(), Residual::None).unwrap();
    assert!(y.iter().all(|&v| v == 6.0), "{y:?}");
}

#[test]
fn errors_not_panics() {
    let w = Array4::<f32>::zeros((4, 2, 3, 3));
    let mut p = Conv2dParams {
        groups: 0,
        ..Conv2dParams::default()
    };
    assert!(!PackedConv2d::supports(&p));
    assert!(matches!(
        PackedConv2d::new(w.view(), None, &p),
        Err(KernelError::Param(_))
    ));
    // 4 output channels in 3 groups.
    p.groups = 3;
    assert!(PackedConv2d::supports(&p));
    assert!(matches!(
        PackedConv2d::new(w.view(), None, &p),
        Err(KernelError::Shape(_))
    ));
    // Grouped: the input must have groups · 2 channels.
    p.groups = 2;
    let pg = PackedConv2d::new(w.view(), None, &p).unwrap();
    assert!(
        pg.run(Array4::zeros((1, 2, 5, 5)).view(), Residual::None)
            .is_err()
    );
    assert_eq!(pg.output_shape([1, 4, 5, 5]).unwrap(), [1, 4, 3, 3]);
    p.groups = 1;
    let b = Array1::<f32>::zeros(3);
    assert!(PackedConv2d::new(w.view(), Some(b.view()), &p).is_err());
    let pc = PackedConv2d::new(w.view(), None, &p).unwrap();
    // Wrong channel count, kernel larger than the input, wrong out / skip shapes.
    assert!(
        pc.run(Array4::zeros((1, 3, 5, 5)).view(), Residual::None)
            .is_err()
    );
    assert!(
        pc.run(Array4::zeros((1, 2, 2, 2)).view(), Residual::None)
            .is_err()
    );
    let x = Array4::<f32>::zeros((1, 2, 5, 5));
    let mut out = Array4::<f32>::zeros((1, 4, 3, 4));
    assert!(
        pc.run_into(x.view(), Residual::None, out.view_mut())
            .is_err()
    );
    let skip = Array4::<f32>::zeros((1, 4, 2, 3));
    assert!(pc.run(x.view(), Residual::Add(skip.view())).is_err());
    assert!(pc.run(x.view(), Residual::InPlace).is_err());
    for isa in ConvIsa::ALL.into_iter().filter(|i| !i.is_supported()) {
        assert!(PackedConv2d::with_isa(w.view(), None, &p, isa).is_err());
    }
}

#[test]
fn detect_picks_the_fastest_supported_kernel() {
    let d = ConvIsa::detect();
    assert!(d.is_supported());
    let first = ConvIsa::ALL.into_iter().find(|i| i.is_supported());
    assert_eq!(Some(d), first);
}

#[test]
fn same_result_with_one_and_two_threads() {
    let mut r = Rng::new(9);
    let x = r.array((2, 19, 11, 13));
    let w = r.array((70, 19, 3, 3));
    let p = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        ..Conv2dParams::default()
    };
    let pc = PackedConv2d::new(w.view(), None, &p).unwrap();
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| pc.run(x.view(), Residual::None).unwrap())
    };
    assert_eq!(run(1), run(2));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_shapes_match_reference(
        n in 1usize..3, c in 1usize..20, o in 1usize..40,
        h in 1usize..9, w in 1usize..12,
        kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..4, sw in 1usize..4,
        dh in 1usize..3, dw in 1usize..3,
        pad in proptest::array::uniform4(0usize..3),
        act in 0usize..3, skip: bool, seed: u64,
    ) {
        let ek = (dh * (kh - 1) + 1, dw * (kw - 1) + 1);
        prop_assume!(h + pad[0] + pad[2] >= ek.0 && w + pad[1] + pad[3] >= ek.1);
        let act = [Activation::None, Activation::Relu, Activation::Relu6][act];
        check(&Case {
            n, c, hw: (h, w), o, k: (kh, kw), stride: (sh, sw), pad, dil: (dh, dw),
            act, bias: true, skip, groups: 1,
        }, seed);
    }
}

#[test]
fn preferred_for_one_group_kernels_larger_than_1x1_and_unpadded_1x1() {
    let p = Conv2dParams::default();
    assert!(PackedConv2d::preferred((3, 3), &p));
    assert!(PackedConv2d::preferred((1, 7), &p));
    // Unpadded 1×1 layers, at any stride, run the pointwise kernel.
    assert!(PackedConv2d::preferred((1, 1), &p));
    let s2 = Conv2dParams {
        stride: (2, 2),
        ..p
    };
    assert!(PackedConv2d::preferred((1, 1), &s2));
    // A padded 1×1 layer stays on im2col + GEMM.
    let padded = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        ..p
    };
    assert!(!PackedConv2d::preferred((1, 1), &padded));
    let g = Conv2dParams { groups: 4, ..p };
    assert!(!PackedConv2d::preferred((3, 3), &g));
}

#[test]
fn preferred_for_depthwise_and_groups_of_32_or_more() {
    let p = Conv2dParams::default();
    let g = |groups| Conv2dParams { groups, ..p };
    // One group: as `preferred`.
    assert!(PackedConv2d::preferred_for([64, 64, 3, 3], &p));
    assert!(PackedConv2d::preferred_for([64, 64, 1, 1], &p));
    // Depthwise (with or without a channel multiplier), larger than 1×1.
    assert!(PackedConv2d::preferred_for([144, 1, 3, 3], &g(144)));
    assert!(PackedConv2d::preferred_for([10, 1, 3, 3], &g(5)));
    assert!(!PackedConv2d::preferred_for([144, 1, 1, 1], &g(144)));
    // Grouped: widths that are multiples of 32 only.
    assert!(PackedConv2d::preferred_for([1024, 32, 3, 3], &g(32)));
    assert!(PackedConv2d::preferred_for([128, 64, 3, 3], &g(2)));
    assert!(!PackedConv2d::preferred_for([512, 16, 3, 3], &g(32)));
    assert!(!PackedConv2d::preferred_for([128, 4, 3, 3], &g(32)));
    assert!(!PackedConv2d::preferred_for([256, 8, 3, 3], &g(32)));
    assert!(!PackedConv2d::preferred_for([512, 16, 1, 1], &g(32)));
    assert!(!PackedConv2d::preferred_for([48, 16, 3, 3], &g(2)));
    // Not a convolution: never.
    assert!(!PackedConv2d::preferred_for([8, 8, 3, 3], &g(0)));
    assert!(!PackedConv2d::preferred_for([9, 8, 3, 3], &g(2)));
}

/// A grouped case: `c` input and `o` output channels in `groups` groups.
fn gcase(c: usize, o: usize, groups: usize, hw: (usize, usize), k: usize, stride: usize) -> Case {
    Case {
        groups,
        ..case(c, hw, o, k, stride)
    }
}

#[test]
fn depthwise_channel_tails_and_strides() {
    let mut seed = 200;
    for c in [1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 69] {
        for stride in 1..=3 {
            seed += 1;
            check(&gcase(c, c, c, (7, 9), 3, stride), seed);
        }
    }
    // Rows longer than the epilogue chunk and than a register tile.
    check(&gcase(20, 20, 20, (3, 130), 3, 1), 1);
    check(&gcase(5, 5, 5, (2, 29), 5, 1), 2);
}

#[test]
fn depthwise_dilation_asymmetric_padding_rectangular_kernels() {
    let mut cs = gcase(19, 19, 19, (9, 8), 3, 1);
    cs.dil = (2, 3);
    cs.pad = [3, 0, 1, 4];
    check(&cs, 1);
    cs.k = (2, 5);
    cs.stride = (2, 1);
    cs.pad = [0, 2, 1, 0];
    cs.dil = (1, 1);
    check(&cs, 2);
    cs.k = (7, 7);
    cs.stride = (2, 3);
    cs.pad = [3, 1, 2, 3];
    cs.hw = (17, 15);
    check(&cs, 3);
    cs.k = (1, 1);
    cs.pad = [0; 4];
    check(&cs, 4);
}

#[test]
fn depthwise_with_channel_multiplier() {
    // o = m·c: each input channel's plane feeds m output channels.
    check(&gcase(5, 10, 5, (6, 7), 3, 1), 1);
    check(&gcase(24, 72, 24, (5, 5), 3, 2), 2);
}

#[test]
fn grouped_widths_tails_and_strides() {
    let mut seed = 300;
    // (c, o, groups): widths 1–4 (block-diagonal), 16 and 32 (exact blocks),
    // groups straddling blocks (3, 5, 10 per group), tails.
    for (c, o, g) in [
        (8, 8, 2),
        (12, 24, 3),
        (48, 48, 16),
        (128, 128, 32),
        (32, 32, 2),
        (64, 64, 2),
        (40, 20, 4),
        (34, 17, 17),
        (30, 45, 3),
        (50, 35, 5),
    ] {
        for stride in 1..=3 {
            seed += 1;
            check(&gcase(c, o, g, (6, 7), 3, stride), seed);
        }
    }
}

#[test]
fn grouped_dilation_asymmetric_padding() {
    let mut cs = gcase(24, 36, 6, (9, 8), 3, 1);
    cs.dil = (2, 3);
    cs.pad = [3, 0, 1, 4];
    check(&cs, 1);
    cs.k = (2, 5);
    cs.stride = (2, 1);
    cs.pad = [0, 2, 1, 0];
    cs.dil = (1, 1);
    check(&cs, 2);
}

#[test]
fn grouped_and_depthwise_residual_and_activation() {
    for (i, act) in [Activation::None, Activation::Relu, Activation::Relu6]
        .into_iter()
        .enumerate()
    {
        for bias in [false, true] {
            for (c, o, g) in [(20, 20, 20), (36, 36, 9), (32, 48, 2)] {
                let mut cs = gcase(c, o, g, (6, 9), 3, 1);
                cs.n = 2;
                cs.act = act;
                cs.bias = bias;
                cs.skip = true;
                check(&cs, 60 + i as u64);
                cs.stride = (2, 2);
                check(&cs, 70 + i as u64);
            }
        }
    }
}

#[test]
fn grouped_and_depthwise_same_result_with_one_and_two_threads() {
    let mut r = Rng::new(10);
    for (c, o, g) in [(70, 70, 70), (64, 64, 16), (96, 96, 3)] {
        let x = r.array((2, c, 11, 13));
        let w = r.array((o, c / g, 3, 3));
        let p = Conv2dParams {
            padding: Padding2d::symmetric(1, 1),
            groups: g,
            ..Conv2dParams::default()
        };
        for isa in isas() {
            let pc = PackedConv2d::with_isa(w.view(), None, &p, isa).unwrap();
            let run = |t: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
                    .install(|| pc.run(x.view(), Residual::None).unwrap())
            };
            assert_eq!(run(1), run(2), "{isa:?} c {c} o {o} groups {g}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn random_grouped_shapes_match_reference(
        n in 1usize..3, groups in 1usize..40, cg in 1usize..6, og in 1usize..6,
        depthwise: bool,
        h in 1usize..9, w in 1usize..12,
        kh in 1usize..4, kw in 1usize..4,
        sh in 1usize..4, sw in 1usize..4,
        dh in 1usize..3, dw in 1usize..3,
        pad in proptest::array::uniform4(0usize..3),
        act in 0usize..3, skip: bool, seed: u64,
    ) {
        let ek = (dh * (kh - 1) + 1, dw * (kw - 1) + 1);
        prop_assume!(h + pad[0] + pad[2] >= ek.0 && w + pad[1] + pad[3] >= ek.1);
        let (cg, og) = if depthwise { (1, 1) } else { (cg, og) };
        let act = [Activation::None, Activation::Relu, Activation::Relu6][act];
        check(&Case {
            n, c: groups * cg, hw: (h, w), o: groups * og, k: (kh, kw), stride: (sh, sw),
            pad, dil: (dh, dw), act, bias: true, skip, groups,
        }, seed);
    }
}
