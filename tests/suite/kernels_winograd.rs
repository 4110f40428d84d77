//! The Winograd F(4×4, 3×3) convolution (`WinogradConv2d`) against a naive
//! f64 reference: output sizes that are not multiples of the 4×4 tile,
//! channel counts 1–40, asymmetric padding, the fused residual +
//! activation epilogue (also in place), batches, thread-count
//! independence, errors, and its error on ResNet's 3×3 stride-1 layers.

use crate::common;

use common::{Rng, assert_close, conv_ref, isas};
use ndarray::{Array1, Array4};
use proptest::prelude::*;
use resnetc::runtime::kernels::*;

/// The tolerance the direct kernels are held to (`assert_close`'s metric).
const TOL: f32 = 1e-4;

/// One case: shapes and parameters.
#[derive(Debug, Clone, Copy)]
struct Case {
    n: usize,
    c: usize,
    hw: (usize, usize),
    o: usize,
    pad: [usize; 4],
    act: Activation,
    bias: bool,
    skip: bool,
}

fn params(cs: &Case) -> Conv2dParams {
    Conv2dParams {
        padding: Padding2d {
            top: cs.pad[0],
            left: cs.pad[1],
            bottom: cs.pad[2],
            right: cs.pad[3],
        },
        activation: cs.act,
        ..Conv2dParams::default()
    }
}

/// Runs `cs` on every supported microkernel, with the skip passed as a
/// separate tensor and in place, and through caller scratch, against the
/// reference.
fn check(cs: &Case, seed: u64) {
    let mut r = Rng::new(seed);
    let x = r.array((cs.n, cs.c, cs.hw.0, cs.hw.1));
    let w = r.array((cs.o, cs.c, 3, 3));
    let b: Option<Array1<f32>> = cs.bias.then(|| r.array(cs.o));
    let p = params(cs);
    let (oh, ow) = conv2d_output_hw(cs.hw, (3, 3), &p).unwrap();
    let skip: Option<Array4<f32>> = cs.skip.then(|| r.array((cs.n, cs.o, oh, ow)));
    let want = conv_ref(
        x.view(),
        w.view(),
        b.as_ref().map(|b| b.view()),
        skip.as_ref().map(|s| s.view()),
        &p,
    );
    for isa in isas() {
        let b = b.as_ref().map(|b| b.view());
        let wc = WinogradConv2d::with_isa(w.view(), b, &p, isa).unwrap();
        assert_eq!(wc.isa(), isa);
        let res = match &skip {
            Some(s) => Residual::Add(s.view()),
            None => Residual::None,
        };
        let got = wc.run(x.view(), res).unwrap();
        assert_close(got.view(), want.view(), TOL, &format!("{isa:?} {cs:?}"));
        if let Some(s) = &skip {
            let mut inplace = s.clone();
            wc.run_into(x.view(), Residual::InPlace, inplace.view_mut())
                .unwrap();
            assert_eq!(inplace, got, "{isa:?} in place differs from Add: {cs:?}");
        }
        let len = wc.scratch_len([cs.n, cs.c, cs.hw.0, cs.hw.1]).unwrap();
        let mut scratch = vec![f32::NAN; len];
        let mut out = Array4::from_elem(got.dim(), f32::NAN);
        wc.run_in_scratch(x.view(), res, out.view_mut(), &mut scratch)
            .unwrap();
        assert_eq!(out, got, "{isa:?} caller scratch differs: {cs:?}");
    }
}

fn case(c: usize, hw: (usize, usize), o: usize) -> Case {
    Case {
        n: 1,
        c,
        hw,
        o,
        pad: [1; 4],
        act: Activation::None,
        bias: true,
        skip: false,
    }
}

#[test]
fn sizes_not_multiples_of_the_tile() {
    let mut seed = 0;
    for h in 1..=13 {
        for w in [1, 2, 3, 5, 8, 13] {
            seed += 1;
            check(&case(3, (h, w), 5), seed);
        }
    }
}

#[test]
fn channel_counts_1_to_40() {
    for (i, (c, o)) in [
        (1, 1),
        (2, 7),
        (15, 3),
        (16, 17),
        (31, 33),
        (32, 32),
        (40, 37),
    ]
    .into_iter()
    .enumerate()
    {
        check(&case(c, (7, 9), o), 10 + i as u64);
    }
}

#[test]
fn asymmetric_padding_0_to_2() {
    let mut seed = 200;
    for pad in [
        [0, 0, 0, 0],
        [2, 0, 1, 2],
        [0, 2, 2, 1],
        [1, 1, 0, 0],
        [2, 2, 2, 2],
    ] {
        for hw in [(3, 3), (6, 11), (13, 5)] {
            seed += 1;
            let mut cs = case(6, hw, 9);
            cs.pad = pad;
            check(&cs, seed);
        }
    }
}

#[test]
fn residual_and_activation_epilogues_in_batches() {
    for (i, act) in [Activation::None, Activation::Relu, Activation::Relu6]
        .into_iter()
        .enumerate()
    {
        for bias in [false, true] {
            for n in 1..=3 {
                let mut cs = case(12, (6, 9), 21);
                cs.n = n;
                cs.act = act;
                cs.bias = bias;
                cs.skip = true;
                cs.pad = [1, 2, 0, 1];
                check(&cs, 40 + 10 * i as u64 + n as u64);
            }
        }
    }
}

#[test]
fn wide_maps_span_several_segments_and_units() {
    // 70 tiles per row: segments of 16 tiles, units of one tile row.
    check(&case(2, (3, 280), 3), 7);
    // 300 input channels: units of 5 tile rows × 16 tiles, so a map of
    // 9 × 18 tiles takes 2 × 2 units.
    check(&case(300, (34, 70), 4), 8);
    // Maps of 16 tiles: units of 5 whole images, so a batch of 7 takes 5 + 2.
    let mut cs = case(300, (16, 16), 4);
    cs.n = 7;
    cs.skip = true;
    check(&cs, 9);
}

#[test]
fn relu6_clamps_large_values() {
    let mut cs = case(4, (5, 5), 3);
    cs.act = Activation::Relu6;
    cs.pad = [0; 4];
    let x = Array4::from_elem((1, 4, 5, 5), 2.0f32);
    let w = Array4::from_elem((3, 4, 3, 3), 1.0f32);
    let wc = WinogradConv2d::new(w.view(), None, &params(&cs)).unwrap();
    let y = wc.run(x.view(), Residual::None).unwrap();
    assert!(y.iter().all(|&v| v == 6.0), "{y:?}");
}

#[test]
fn same_result_with_one_and_two_threads() {
    let mut r = Rng::new(9);
    let x = r.array((2, 35, 23, 17));
    let w = r.array((40, 35, 3, 3));
    let b = r.array(40);
    let p = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        activation: Activation::Relu,
        ..Conv2dParams::default()
    };
    let wc = WinogradConv2d::new(w.view(), Some(b.view()), &p).unwrap();
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| wc.run(x.view(), Residual::None).unwrap())
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn supports_3x3_stride_1_one_group_any_padding() {
    let p = Conv2dParams::default();
    assert!(WinogradConv2d::supports((3, 3), &p));
    assert!(!WinogradConv2d::supports((1, 1), &p));
    assert!(!WinogradConv2d::supports((3, 1), &p));
    let s2 = Conv2dParams {
        stride: (2, 2),
        ..p
    };
    assert!(!WinogradConv2d::supports((3, 3), &s2));
    let d2 = Conv2dParams {
        dilation: (1, 2),
        ..p
    };
    assert!(!WinogradConv2d::supports((3, 3), &d2));
    let g2 = Conv2dParams { groups: 2, ..p };
    assert!(!WinogradConv2d::supports((3, 3), &g2));
    let padded = Conv2dParams {
        padding: Padding2d {
            top: 2,
            left: 0,
            bottom: 1,
            right: 0,
        },
        ..p
    };
    assert!(WinogradConv2d::supports((3, 3), &padded));
}

#[test]
fn errors_not_panics() {
    let p = Conv2dParams::default();
    // Unsupported kernels and parameters, bad bias.
    let w = Array4::<f32>::zeros((4, 2, 3, 3));
    for isa in ConvIsa::ALL.into_iter().filter(|i| !i.is_supported()) {
        assert!(WinogradConv2d::with_isa(w.view(), None, &p, isa).is_err());
    }
    for bad in [
        Conv2dParams {
            stride: (1, 2),
            ..p
        },
        Conv2dParams {
            dilation: (2, 2),
            ..p
        },
        Conv2dParams { groups: 2, ..p },
    ] {
        assert!(matches!(
            WinogradConv2d::new(w.view(), None, &bad),
            Err(KernelError::Param(_))
        ));
    }
    let w5 = Array4::<f32>::zeros((4, 2, 5, 5));
    assert!(WinogradConv2d::new(w5.view(), None, &p).is_err());
    let w0 = Array4::<f32>::zeros((0, 2, 3, 3));
    assert!(WinogradConv2d::new(w0.view(), None, &p).is_err());
    let b = Array1::<f32>::zeros(3);
    assert!(WinogradConv2d::new(w.view(), Some(b.view()), &p).is_err());
    let wc = WinogradConv2d::new(w.view(), None, &p).unwrap();
    assert!(!wc.is_empty());
    assert_eq!(wc.len(), 6 * 2 * 36 + 4);
    // Wrong channel count, input smaller than the kernel.
    assert!(
        wc.run(Array4::zeros((1, 3, 5, 5)).view(), Residual::None)
            .is_err()
    );
    assert!(
        wc.run(Array4::zeros((1, 2, 2, 5)).view(), Residual::None)
            .is_err()
    );
    assert_eq!(wc.scratch_len([1, 3, 5, 5]), None);
    assert_eq!(wc.scratch_len([1, 2, 2, 5]), None);
    // Wrong out / skip shapes, in place without an output.
    let x = Array4::<f32>::zeros((1, 2, 5, 5));
    let mut out = Array4::<f32>::zeros((1, 4, 3, 4));
    assert!(
        wc.run_into(x.view(), Residual::None, out.view_mut())
            .is_err()
    );
    let skip = Array4::<f32>::zeros((1, 4, 2, 3));
    assert!(wc.run(x.view(), Residual::Add(skip.view())).is_err());
    assert!(wc.run(x.view(), Residual::InPlace).is_err());
    // Scratch one float short; out not in standard layout.
    let len = wc.scratch_len([1, 2, 5, 5]).unwrap();
    let mut scratch = vec![0.0f32; len - 1];
    let mut out = Array4::<f32>::zeros((1, 4, 3, 3));
    assert!(matches!(
        wc.run_in_scratch(x.view(), Residual::None, out.view_mut(), &mut scratch),
        Err(KernelError::Shape(_))
    ));
    let mut t = Array4::<f32>::zeros((3, 3, 4, 1));
    let tv = t.view_mut().reversed_axes();
    assert_eq!(tv.shape(), &[1, 4, 3, 3]);
    assert!(wc.run_into(x.view(), Residual::None, tv).is_err());
    // Padding that overflows is an error.
    let huge = Conv2dParams {
        padding: Padding2d::symmetric(usize::MAX / 2, 0),
        ..p
    };
    let wh = WinogradConv2d::new(w.view(), None, &huge).unwrap();
    assert_eq!(wh.scratch_len([1, 2, 5, 5]), None);
    assert!(wh.run(x.view(), Residual::None).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_shapes_match_reference(
        n in 1usize..3, c in 1usize..40, o in 1usize..40,
        h in 1usize..14, w in 1usize..14,
        pad in proptest::array::uniform4(0usize..3),
        act in 0usize..3, bias: bool, skip: bool, seed: u64,
    ) {
        prop_assume!(h + pad[0] + pad[2] >= 3 && w + pad[1] + pad[3] >= 3);
        let act = [Activation::None, Activation::Relu, Activation::Relu6][act];
        check(&Case { n, c, hw: (h, w), o, pad, act, bias, skip }, seed);
    }
}

/// The error on ResNet-18/50's 3×3 stride-1 layers (64@56, 128@28,
/// 256@14, 512@7 input channels and maps, the first 64 of their output
/// channels to keep the reference's time down; He-scaled random weights,
/// inputs uniform in [0, 1) like post-ReLU activations, a random bias), by
/// `assert_close`'s metric
/// (max |diff| / max(1, max |reference|)) and relative to the largest
/// output. Printed with `--nocapture`; asserted against the 1e-4 tolerance.
#[test]
fn error_on_resnet_layers() {
    for (i, (c, hw)) in [(64, 56), (128, 28), (256, 14), (512, 7)]
        .into_iter()
        .enumerate()
    {
        let mut r = Rng::new(1000 + i as u64);
        let scale = (2.0 / (9.0 * c as f32)).sqrt() * 3f32.sqrt();
        let x = r.array((1, c, hw, hw)).mapv(|v| 0.5 * (v + 1.0));
        let o = 64;
        let w = r.array((o, c, 3, 3)).mapv(|v| v * scale);
        let b = r.array(o).mapv(|v| 0.1 * v);
        let p = Conv2dParams {
            padding: Padding2d::symmetric(1, 1),
            ..Conv2dParams::default()
        };
        let want = conv_ref(x.view(), w.view(), Some(b.view()), None, &p);
        let peak = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for isa in isas() {
            let wc = WinogradConv2d::with_isa(w.view(), Some(b.view()), &p, isa).unwrap();
            let got = wc.run(x.view(), Residual::None).unwrap();
            let worst = got
                .iter()
                .zip(&want)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            println!(
                "winograd error {c}@{hw} ({isa:?}): max |diff| {worst:.3e}, max |ref| {peak:.3}, \
                 assert_close metric {:.3e}",
                worst / peak.max(1.0),
            );
            assert_close(got.view(), want.view(), TOL, &format!("{isa:?} {c}@{hw}"));
            // README quotes the measured figure (at most 8.7e-6): it stays
            // well inside the tolerance.
            assert_close(got.view(), want.view(), 2e-5, &format!("{isa:?} {c}@{hw}"));
        }
    }
}

/// The plan's rule (`lower::algorithm::winograd_eligible`, which both back
/// ends follow under `--winograd`) only picks convolutions this kernel
/// supports: on every example and on 200 generated models.
#[test]
fn every_convolution_the_plan_picks_is_supported() {
    use resnetc::ir::{NodeId, Op};
    use resnetc::lower::algorithm::winograd_eligible;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<(String, String)> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rn"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    sources.extend(
        crate::model_gen::fixed_set(200)
            .into_iter()
            .map(|m| (m.name, m.source)),
    );
    let mut picked = 0;
    for (name, src) in &sources {
        let path = std::path::Path::new(name);
        let compiled = if path.exists() {
            resnetc::compile_file(path, &Default::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        } else {
            resnetc::compile_source("gen.rn", src, &Default::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let g = compiled.model.graph();
        for (i, n) in g.nodes.iter().enumerate() {
            let Op::Conv(c) = &n.op else { continue };
            if !winograd_eligible(g, NodeId(i as u32)).unwrap() {
                continue;
            }
            picked += 1;
            let p = Conv2dParams {
                stride: (c.stride[0], c.stride[1]),
                dilation: (c.dilation[0], c.dilation[1]),
                groups: c.groups,
                ..Conv2dParams::default()
            };
            assert!(
                WinogradConv2d::supports((c.kernel[0], c.kernel[1]), &p),
                "{name}: `{}` is eligible but not supported",
                n.name
            );
        }
    }
    assert!(
        picked > 50,
        "only {picked} eligible convolutions: the test sees too few"
    );
}
