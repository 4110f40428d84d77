//! The pointwise strategy of `PackedConv2d` (1×1, unpadded, one group)
//! against a naive f64 reference on every microkernel this CPU supports:
//! channel and pixel tails of 1–15, output channels that are not a multiple
//! of the 6-channel panel, more input channels than one chunk (512), a
//! residual in place over several chunks and cache blocks, strides, the
//! residual (`Add` and `InPlace`: the same bits, and those of the conv, add
//! and activation run apart) and activation epilogue, the same bits on
//! one and two threads, and at batch > 1 (whose pixel tiles run across
//! image boundaries) the bits of each image run alone.

use crate::common;

use common::{Rng, assert_close, conv_ref, isas};
use ndarray::{Array1, Array4, s};
use proptest::prelude::*;
use resnetc::runtime::kernels::*;

const TOL: f32 = 1e-4;

/// One case.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    hw: (usize, usize),
    o: usize,
    stride: (usize, usize),
    act: Activation,
    bias: bool,
    skip: bool,
}

fn case(c: usize, hw: (usize, usize), o: usize) -> Case {
    Case {
        n: 1,
        c,
        hw,
        o,
        stride: (1, 1),
        act: Activation::None,
        bias: true,
        skip: false,
    }
}

fn params(cs: &Case) -> Conv2dParams {
    Conv2dParams {
        stride: cs.stride,
        activation: cs.act,
        ..Conv2dParams::default()
    }
}

/// The random operands of `cs` from `seed`: input, weights, bias, the
/// parameters, and the skip (output shape).
#[allow(clippy::type_complexity)]
fn operands(
    cs: &Case,
    seed: u64,
) -> (
    Array4<f32>,
    Array4<f32>,
    Option<Array1<f32>>,
    Conv2dParams,
    Option<Array4<f32>>,
) {
    let mut r = Rng::new(seed);
    let x = r.array((cs.n, cs.c, cs.hw.0, cs.hw.1));
    let w = r.array((cs.o, cs.c, 1, 1));
    let b: Option<Array1<f32>> = cs.bias.then(|| r.array(cs.o));
    let p = params(cs);
    let (oh, ow) = conv2d_output_hw(cs.hw, (1, 1), &p).unwrap();
    let skip: Option<Array4<f32>> = cs.skip.then(|| r.array((cs.n, cs.o, oh, ow)));
    (x, w, b, p, skip)
}

/// Runs `cs` on every supported microkernel (skip as a tensor and in
/// place, which must give the same bits; with the thread's scratch and
/// with a caller's of exactly `scratch_len`) against the reference.
fn check(cs: &Case, seed: u64) {
    let (x, w, b, p, skip) = operands(cs, seed);
    let (oh, ow) = conv2d_output_hw(cs.hw, (1, 1), &p).unwrap();
    let want = conv_ref(
        x.view(),
        w.view(),
        b.as_ref().map(|b| b.view()),
        skip.as_ref().map(|s| s.view()),
        &p,
    );
    for isa in isas() {
        let pc = PackedConv2d::with_isa(w.view(), b.as_ref().map(|b| b.view()), &p, isa).unwrap();
        let res = match &skip {
            Some(s) => Residual::Add(s.view()),
            None => Residual::None,
        };
        let got = pc.run(x.view(), res).unwrap();
        assert_close(got.view(), want.view(), TOL, &format!("{isa:?} {cs:?}"));
        let len = pc.scratch_len([cs.n, cs.c, cs.hw.0, cs.hw.1]).unwrap();
        let strided = cs.stride != (1, 1);
        assert_eq!(len, if strided { cs.n * cs.c * oh * ow } else { 0 });
        let mut given = Array4::from_elem(got.dim(), f32::NAN);
        let mut scratch = vec![f32::NAN; len];
        pc.run_in_scratch(x.view(), res, given.view_mut(), &mut scratch)
            .unwrap();
        assert_eq!(given, got, "{isa:?} caller's scratch differs: {cs:?}");
        if let Some(s) = &skip {
            let mut inplace = s.clone();
            pc.run_into(x.view(), Residual::InPlace, inplace.view_mut())
                .unwrap();
            assert_eq!(inplace, got, "{isa:?} in place differs from Add: {cs:?}");
            // The bits of the convolution, the add and the activation run
            // apart (the skip is added after the sum, on every chunk count).
            let linear = Conv2dParams {
                activation: Activation::None,
                ..p
            };
            let conv = PackedConv2d::with_isa(w.view(), b.as_ref().map(|b| b.view()), &linear, isa)
                .unwrap()
                .run(x.view(), Residual::None)
                .unwrap();
            let apart = (&conv + s).mapv(|v| cs.act.apply(v));
            assert!(
                apart
                    .iter()
                    .zip(&got)
                    .all(|(a, g)| a.to_bits() == g.to_bits()),
                "{isa:?} fused differs from conv, add and activation apart: {cs:?}"
            );
        }
    }
}

#[test]
fn channel_output_and_pixel_tails_1_to_15() {
    for i in 1..=15 {
        check(&case(i, (1, i), 16 - i), i as u64);
        check(&case(16 - i, (i, 3), i + 6), 100 + i as u64);
    }
    // Past a tile of 16 pixels, an AVX-512 tile of 32, and a cache block
    // of 128; output channels past a panel of 6 and a block of 240.
    check(&case(5, (7, 7), 13), 200);
    check(&case(3, (11, 13), 7), 201);
    check(&case(2, (3, 100), 245), 202);
}

#[test]
fn more_input_channels_than_one_chunk() {
    for (i, c) in [255, 511, 512, 513, 600, 1100].into_iter().enumerate() {
        let mut cs = case(c, (3, 7), 13);
        cs.skip = true;
        cs.act = [Activation::Relu, Activation::Relu6][i % 2];
        check(&cs, 300 + i as u64);
    }
    // A residual in place over two chunks, three pixel blocks (of at most
    // 128) and two blocks of output channels (of at most 240): the skip
    // each block copies aside before its first chunk is its own.
    let mut cs = case(520, (10, 27), 250);
    cs.n = 2;
    cs.skip = true;
    cs.act = Activation::Relu;
    check(&cs, 310);
}

#[test]
fn residual_and_activation_epilogues() {
    for (i, act) in [Activation::None, Activation::Relu, Activation::Relu6]
        .into_iter()
        .enumerate()
    {
        for bias in [false, true] {
            let mut cs = case(20, (6, 9), 35);
            cs.n = 2;
            cs.act = act;
            cs.bias = bias;
            cs.skip = true;
            check(&cs, 400 + i as u64);
            cs.skip = false;
            check(&cs, 410 + i as u64);
        }
    }
}

#[test]
fn strided() {
    for (i, stride) in [(2, 2), (3, 3), (1, 2), (2, 1)].into_iter().enumerate() {
        let mut cs = case(9, (7, 10), 11);
        cs.n = 2;
        cs.stride = stride;
        cs.skip = i % 2 == 0;
        cs.act = Activation::Relu;
        check(&cs, 500 + i as u64);
    }
}

#[test]
fn activations_propagate_nan_and_clamp() {
    let p = Conv2dParams {
        activation: Activation::Relu6,
        ..Conv2dParams::default()
    };
    let mut x = Array4::from_elem((1, 16, 3, 3), 2.0f32);
    x[[0, 3, 1, 1]] = f32::NAN;
    let w = Array4::from_elem((16, 16, 1, 1), 1.0f32);
    for isa in isas() {
        let pc = PackedConv2d::with_isa(w.view(), None, &p, isa).unwrap();
        let y = pc.run(x.view(), Residual::None).unwrap();
        for ((_, _, i, j), &v) in y.indexed_iter() {
            assert!(
                if (i, j) == (1, 1) {
                    v.is_nan()
                } else {
                    v == 6.0
                },
                "{isa:?}: {v} at {i},{j}"
            );
        }
    }
}

#[test]
fn same_bits_on_one_and_two_threads() {
    let mut r = Rng::new(9);
    let x = r.array((1, 300, 9, 11));
    let w = r.array((50, 300, 1, 1));
    let skip = r.array((1, 50, 9, 11));
    let p = Conv2dParams {
        activation: Activation::Relu,
        ..Conv2dParams::default()
    };
    for isa in isas() {
        let pc = PackedConv2d::with_isa(w.view(), None, &p, isa).unwrap();
        let run = |t: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
                .install(|| pc.run(x.view(), Residual::Add(skip.view())).unwrap())
        };
        assert_eq!(run(1), run(2), "{isa:?}");
        assert_eq!(run(1), run(7), "{isa:?}");
    }
}

/// Runs `cs` (batch `cs.n`) against the reference (see [`check`]), then on
/// 1, 2 and 5 threads holds every image of the batch (skip as a tensor and
/// in place) to the bits of that image run alone as a batch of one: the
/// tiles and cache blocks that run across image boundaries accumulate each
/// value in the same order.
fn check_batch_bits(cs: &Case, seed: u64) {
    check(cs, seed);
    let (x, w, b, p, skip) = operands(cs, seed);
    for isa in isas() {
        let pc = PackedConv2d::with_isa(w.view(), b.as_ref().map(|b| b.view()), &p, isa).unwrap();
        for threads in [1, 2, 5] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let res = match &skip {
                    Some(s) => Residual::Add(s.view()),
                    None => Residual::None,
                };
                let batch = pc.run(x.view(), res).unwrap();
                let inplace = skip.as_ref().map(|s| {
                    let mut y = s.clone();
                    pc.run_into(x.view(), Residual::InPlace, y.view_mut())
                        .unwrap();
                    y
                });
                for i in 0..cs.n {
                    let xi = x.slice(s![i..i + 1, .., .., ..]);
                    let si = skip.as_ref().map(|s| s.slice(s![i..i + 1, .., .., ..]));
                    let res = match si {
                        Some(s) => Residual::Add(s),
                        None => Residual::None,
                    };
                    let alone = pc.run(xi, res).unwrap();
                    let bits = |y: &Array4<f32>| {
                        y.slice(s![i..i + 1, .., .., ..])
                            .iter()
                            .zip(&alone)
                            .all(|(a, b)| a.to_bits() == b.to_bits())
                    };
                    assert!(
                        bits(&batch),
                        "{isa:?} {threads} threads: image {i} of the batch differs from it alone: {cs:?}"
                    );
                    if let Some(y) = &inplace {
                        assert!(
                            bits(y),
                            "{isa:?} {threads} threads: image {i} in place differs from it alone: {cs:?}"
                        );
                    }
                }
            });
        }
    }
}

#[test]
fn batches_of_small_maps_same_bits_as_each_image_alone() {
    let mut seed = 600;
    // 7×7 (ResNet layer4), 3×5, 1×1, and 4×4 and 4×8 (whole AVX2 and
    // AVX-512 tiles per image).
    for hw in [(7, 7), (3, 5), (1, 1), (4, 4), (4, 8)] {
        for n in [2, 3, 8] {
            for skip in [false, true] {
                let mut cs = case(19, hw, 14);
                cs.n = n;
                cs.skip = skip;
                cs.act = Activation::Relu;
                seed += 1;
                check_batch_bits(&cs, seed);
            }
        }
    }
    // Output channels past a block of 240 and pixels past a block of 128
    // (3·49 = 147 flattened pixels).
    let mut cs = case(7, (7, 7), 250);
    cs.n = 3;
    cs.skip = true;
    check_batch_bits(&cs, 650);
}

#[test]
fn batches_over_several_chunks_and_strided() {
    // More input channels than one chunk: the partial sums of tiles that
    // span images go through their temporary, and a residual in place is
    // copied aside across image boundaries.
    for (i, (n, hw, c)) in [
        (3, (7, 7), 600),
        (2, (3, 5), 1100),
        (8, (1, 1), 520),
        (2, (4, 4), 513),
    ]
    .into_iter()
    .enumerate()
    {
        let mut cs = case(c, hw, 13);
        cs.n = n;
        cs.skip = true;
        cs.act = [Activation::Relu, Activation::Relu6][i % 2];
        check_batch_bits(&cs, 700 + i as u64);
        cs.skip = false;
        check_batch_bits(&cs, 710 + i as u64);
    }
    // Strided: 14×14 → 7×7, 9×11 → 3×4.
    for (i, (hw, stride)) in [((14, 14), (2, 2)), ((9, 11), (3, 3))]
        .into_iter()
        .enumerate()
    {
        let mut cs = case(600, hw, 20);
        cs.n = 3;
        cs.stride = stride;
        cs.skip = i == 0;
        cs.act = Activation::Relu;
        check_batch_bits(&cs, 720 + i as u64);
    }
}

#[test]
fn errors_not_panics() {
    let w = Array4::<f32>::zeros((4, 3, 1, 1));
    let p = Conv2dParams {
        stride: (2, 2),
        ..Conv2dParams::default()
    };
    let pc = PackedConv2d::new(w.view(), None, &p).unwrap();
    let x = Array4::<f32>::zeros((2, 3, 5, 5));
    assert!(
        pc.run(Array4::zeros((1, 2, 5, 5)).view(), Residual::None)
            .is_err()
    );
    let mut out = Array4::<f32>::zeros((2, 4, 3, 3));
    let mut short = vec![0.0; pc.scratch_len([2, 3, 5, 5]).unwrap() - 1];
    assert!(matches!(
        pc.run_in_scratch(x.view(), Residual::None, out.view_mut(), &mut short),
        Err(KernelError::Shape(_))
    ));
    let mut wrong = Array4::<f32>::zeros((2, 4, 3, 2));
    assert!(
        pc.run_into(x.view(), Residual::None, wrong.view_mut())
            .is_err()
    );
    let skip = Array4::<f32>::zeros((2, 4, 2, 3));
    assert!(pc.run(x.view(), Residual::Add(skip.view())).is_err());
    assert!(pc.scratch_len([usize::MAX, 3, 5, 5]).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn random_shapes_match_reference(
        n in 1usize..5, c in 1usize..40, o in 1usize..30,
        h in 1usize..9, w in 1usize..40,
        sh in 1usize..3, sw in 1usize..3,
        wide: bool, act in 0usize..3, bias: bool, skip: bool, seed: u64,
    ) {
        let act = [Activation::None, Activation::Relu, Activation::Relu6][act];
        // Sometimes more input channels than one chunk.
        let c = if wide { c + 250 } else { c };
        check(&Case { n, c, hw: (h, w), o, stride: (sh, sw), act, bias, skip }, seed);
    }
}
