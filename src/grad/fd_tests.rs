//! Every backward rule against central differences in f64: a small model
//! per op (or op configuration), the gradient of `Σ r ⊙ output` for a random
//! `r`, with respect to every trainable parameter and the input; relative
//! error `max|Δ| / max(1e-12, max|reference|)` per tensor below 1e-6.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::{ParamSet, Tape, TrainOptions, cross_entropy};
use crate::ir::CheckedModel;

const STEP: f64 = 1e-5;
const TOLERANCE: f64 = 1e-6;

fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> ArrayD<f64> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || StandardNormal.sample(rng))
}

fn compile(src: &str) -> CheckedModel {
    match crate::compile_source("case.rn", src, &Default::default()) {
        Ok(c) => c.model,
        Err(e) => panic!("test model does not compile: {e:?}\n{src}"),
    }
}

/// Parameters with every tensor random (batch norm's γ around 1, its
/// running variance positive), so no rule is checked only at a special point.
fn random_params(model: &CheckedModel, rng: &mut ChaCha8Rng) -> ParamSet<f64> {
    let mut params = ParamSet::default();
    for p in model.graph().params() {
        let mut t = random(&p.shape, rng);
        if p.name.ends_with(".running_var") || (p.name.ends_with(".weight") && p.shape.len() == 1) {
            t.mapv_inplace(|v| 1.0 + 0.3 * v.abs());
        }
        params.insert(p.name.clone(), t);
    }
    params
}

/// `Σ r ⊙ output` of a training-mode forward pass.
fn objective(
    model: &CheckedModel,
    params: &ParamSet<f64>,
    x: &ArrayD<f64>,
    r: &ArrayD<f64>,
    options: &TrainOptions,
) -> f64 {
    let tape = Tape::forward(model, params, std::slice::from_ref(x), options).expect("forward");
    let out = tape.value(model.graph().outputs[0].node).expect("output");
    (out * r).sum()
}

fn relative(analytic: &ArrayD<f64>, numeric: &ArrayD<f64>) -> f64 {
    let diff = (analytic - numeric)
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    diff / scale.max(1e-12)
}

/// Checks every gradient of `src`'s model at a random point.
pub(super) fn check(src: &str, input: &[usize], seed: u64, options: TrainOptions) {
    check_scaled(src, input, seed, options, 1.0);
}

/// [`check`] with the random input multiplied by `scale`.
fn check_scaled(src: &str, input: &[usize], seed: u64, options: TrainOptions, scale: f64) {
    let model = compile(src);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut params = random_params(&model, &mut rng);
    let mut x = random(input, &mut rng) * scale;
    let out_node = model.graph().outputs[0].node;
    let tape = Tape::forward(&model, &params, std::slice::from_ref(&x), &options).expect("forward");
    let r = random(tape.value(out_node).expect("output").shape(), &mut rng);
    let grads = tape
        .backward(vec![(out_node, r.clone())])
        .expect("backward");
    drop(tape);

    let mut numeric_x = ArrayD::zeros(x.raw_dim());
    for i in 0..x.len() {
        let v = x.as_slice_mut().expect("standard layout")[i];
        x.as_slice_mut().expect("standard layout")[i] = v + STEP;
        let plus = objective(&model, &params, &x, &r, &options);
        x.as_slice_mut().expect("standard layout")[i] = v - STEP;
        let minus = objective(&model, &params, &x, &r, &options);
        x.as_slice_mut().expect("standard layout")[i] = v;
        numeric_x.as_slice_mut().expect("standard layout")[i] = (plus - minus) / (2.0 * STEP);
    }
    let e = relative(&grads.inputs[0], &numeric_x);
    assert!(e < TOLERANCE, "input gradient: relative error {e:e}\n{src}");
    let mut worst = e;

    for (name, analytic) in &grads.params {
        let original = params.get(name).expect("param").clone();
        let mut numeric = ArrayD::zeros(original.raw_dim());
        for i in 0..original.len() {
            let mut t = original.clone();
            let v = t.as_slice().expect("standard layout")[i];
            t.as_slice_mut().expect("standard layout")[i] = v + STEP;
            params.insert(name.clone(), t.clone());
            let plus = objective(&model, &params, &x, &r, &options);
            t.as_slice_mut().expect("standard layout")[i] = v - STEP;
            params.insert(name.clone(), t);
            let minus = objective(&model, &params, &x, &r, &options);
            numeric.as_slice_mut().expect("standard layout")[i] = (plus - minus) / (2.0 * STEP);
        }
        params.insert(name.clone(), original);
        let e = relative(analytic, &numeric);
        assert!(e < TOLERANCE, "`{name}`: relative error {e:e}\n{src}");
        worst = worst.max(e);
    }
    eprintln!(
        "largest relative error {worst:e}: {}",
        src.replace('\n', " ")
    );
}

pub(super) fn model(input: &str, body: &str) -> String {
    format!("model m {{\n  input x: {input}\n  {body}\n}}\n")
}

pub(super) fn off() -> TrainOptions {
    TrainOptions::default()
}

#[test]
fn conv_stride_asymmetric_padding_dilation_groups_bias() {
    let src = model(
        "[4, 7, 6]",
        "x -> conv(6, [3, 2], stride: [2, 1], pad: [1, 0, 2, 1], dilation: [2, 1], groups: 2)",
    );
    check(&src, &[2, 4, 7, 6], 1, off());
}

#[test]
fn conv_depthwise_without_bias() {
    let src = model(
        "[3, 5, 5]",
        "x -> conv(3, 3, stride: [1, 2], pad: 1, groups: 3, bias: false)",
    );
    check(&src, &[2, 3, 5, 5], 2, off());
}

#[test]
fn batch_norm_training_mode_4d_and_2d() {
    check(&model("[3, 3, 4]", "x -> bn"), &[3, 3, 3, 4], 3, off());
    check(&model("[5]", "x -> bn(eps: 0.001)"), &[4, 5], 4, off());
}

#[test]
fn every_activation() {
    for act in [
        "relu",
        "relu6",
        "sigmoid",
        "tanh",
        "gelu",
        "leaky_relu(0.1)",
    ] {
        // Scaled so that ReLU6's upper kink is crossed too.
        let src = model(
            "[2, 3, 3]",
            &format!("x -> conv(2, 1, bias: false) -> {act}"),
        );
        check(&src, &[2, 2, 3, 3], 5, off());
    }
}

#[test]
fn max_pool_ceil_mode_padding_dilation() {
    let src = model(
        "[2, 7, 6]",
        "x -> maxpool(3, stride: 2, pad: 1, dilation: [1, 2], ceil: true)",
    );
    check(&src, &[2, 2, 7, 6], 6, off());
    check(
        &model("[2, 5, 5]", "x -> maxpool(2)"),
        &[1, 2, 5, 5],
        7,
        off(),
    );
}

#[test]
fn avg_pool_ceil_mode_and_count_include_pad() {
    for count in ["true", "false"] {
        let src = model(
            "[2, 7, 6]",
            &format!(
                "x -> avgpool([3, 2], stride: 2, pad: [1, 1, 1, 0], ceil: true, count_pad: {count})"
            ),
        );
        check(&src, &[2, 2, 7, 6], 8, off());
    }
}

#[test]
fn global_avgpool_flatten_dense_softmax() {
    let src = model(
        "[3, 4, 4]",
        "x -> global_avgpool -> flatten -> dense(4) -> softmax",
    );
    check(&src, &[3, 3, 4, 4], 9, off());
    check(
        &model("[2, 3, 3]", "x -> flatten -> dense(3, bias: false)"),
        &[2, 2, 3, 3],
        10,
        off(),
    );
    check(
        &model("[3, 2, 2]", "x -> softmax"),
        &[2, 3, 2, 2],
        11,
        off(),
    );
}

#[test]
fn skip_connection_sums_both_gradients() {
    // (No conv bias before the bn: batch norm cancels it, its gradient is exactly 0.)
    let src = "block res(c) {\n  input x\n  y = x -> conv(c, 3, pad: 1, bias: false) -> bn -> relu\n  relu(x + y)\n}\nmodel m {\n  input x: [2, 4, 4]\n  x -> res(2)\n}\n";
    check(src, &[2, 2, 4, 4], 12, off());
}

#[test]
fn broadcasting_mul_gate_and_zero_channels() {
    // An SE-style gate (N×C×1×1 against N×C×H×W, either side), then the
    // option-A shortcut's zero channels.
    let src = "model m {\n  input x: [3, 4, 4]\n  g = x -> global_avgpool -> conv(3, 1) -> sigmoid\n  y = (x * g) * (g * x)\n  y -> pad_channels(1, 2) -> conv(2, 1)\n}\n";
    check(src, &[2, 3, 4, 4], 21, off());
}

#[test]
fn concat_and_identity() {
    let src = "model m {\n  input x: [2, 3, 3]\n  a = x -> conv(3, 1) -> identity\n  concat(x, a, x)\n}\n";
    check(src, &[2, 2, 3, 3], 13, off());
}

#[test]
fn dropout_with_a_seeded_mask_and_off() {
    let src = model("[2, 3, 3]", "x -> conv(4, 1) -> dropout(0.3)");
    check(
        &src,
        &[2, 2, 3, 3],
        14,
        TrainOptions {
            dropout_seed: Some(5),
        },
    );
    check(&src, &[2, 2, 3, 3], 14, off());
}

#[test]
fn dropout_mask_drops_and_scales() {
    let m = compile(&model("[50]", "x -> dropout(0.5)"));
    let params = ParamSet::<f64>::default();
    let x = ArrayD::<f64>::ones(vec![4, 50]);
    let on = TrainOptions {
        dropout_seed: Some(1),
    };
    let y = |o: &TrainOptions| {
        Tape::forward(&m, &params, std::slice::from_ref(&x), o)
            .expect("forward")
            .value(m.graph().outputs[0].node)
            .expect("out")
            .clone()
    };
    let a = y(&on);
    assert!(
        a.iter().all(|&v| v == 0.0 || v == 2.0),
        "kept values scaled by 1/(1-p)"
    );
    let dropped = a.iter().filter(|&&v| v == 0.0).count();
    assert!(
        (60..=140).contains(&dropped),
        "{dropped} of 200 dropped at p = 0.5"
    );
    assert_eq!(a, y(&on), "the same seed gives the same mask");
    assert_eq!(y(&off()), x, "without a seed dropout is the identity");
}

#[test]
fn cross_entropy_against_central_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let z = random(&[3, 5], &mut rng)
        .into_dimensionality::<ndarray::Ix2>()
        .expect("2-D");
    let labels = [4, 0, 2];
    let (_, grad) = cross_entropy(z.view(), &labels);
    let mut numeric = z.clone() * 0.0;
    for i in 0..z.len() {
        let mut p = z.clone();
        p.as_slice_mut().expect("standard")[i] += STEP;
        let mut m = z.clone();
        m.as_slice_mut().expect("standard")[i] -= STEP;
        numeric.as_slice_mut().expect("standard")[i] = (cross_entropy(p.view(), &labels).0
            - cross_entropy(m.view(), &labels).0)
            / (2.0 * STEP);
    }
    let e = relative(&grad.into_dyn(), &numeric.into_dyn());
    assert!(e < TOLERANCE, "relative error {e:e}");
}

#[test]
fn running_statistics_use_momentum_and_the_unbiased_variance() {
    let m = compile(&model("[1]", "x -> bn"));
    let mut params = ParamSet::<f64>::default();
    for (n, v) in [
        ("bn.weight", 1.0),
        ("bn.bias", 0.0),
        ("bn.running_mean", 1.0),
        ("bn.running_var", 2.0),
    ] {
        params.insert(n, ArrayD::from_elem(vec![1], v));
    }
    let x = ArrayD::from_shape_vec(vec![4, 1], vec![1.0, 2.0, 3.0, 6.0]).expect("shape");
    let tape = Tape::forward(&m, &params, &[x], &off()).expect("forward");
    let stats = tape.running_stats();
    // mean 3, unbiased variance (4 + 1 + 0 + 9) / 3.
    assert_eq!(stats[0].0, "bn.running_mean");
    assert!((stats[0].1[[0]] - (0.9 * 1.0 + 0.1 * 3.0)).abs() < 1e-12);
    assert!((stats[1].1[[0]] - (0.9 * 2.0 + 0.1 * 14.0 / 3.0)).abs() < 1e-12);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random convolution geometry, any legal combination.
    #[test]
    fn conv_random_geometry(
        k in (1usize..=3, 1usize..=3), s in (1usize..=2, 1usize..=2), d in (1usize..=2, 1usize..=2),
        pad in (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2), groups in 1usize..=2, seed in 0u64..1000,
    ) {
        let c = 2 * groups;
        let src = model(&format!("[{c}, 6, 6]"), &format!(
            "x -> conv({}, [{}, {}], stride: [{}, {}], pad: [{}, {}, {}, {}], dilation: [{}, {}], groups: {groups})",
            2 * groups, k.0, k.1, s.0, s.1, pad.0, pad.1, pad.2, pad.3, d.0, d.1));
        check(&src, &[2, c, 6, 6], seed, off());
    }

    /// Random pooling windows (padding at most half the window, as checked).
    #[test]
    fn pool_random_geometry(
        max in any::<bool>(), k in (2usize..=3, 1usize..=3), s in (1usize..=2, 1usize..=2),
        ceil in any::<bool>(), count in any::<bool>(), h in 4usize..=7, seed in 0u64..1000,
    ) {
        let (ph, pw) = (k.0 / 2, k.1 / 2);
        let op = if max {
            format!("maxpool([{}, {}], stride: [{}, {}], pad: [{ph}, {pw}, 0, {pw}], ceil: {ceil})", k.0, k.1, s.0, s.1)
        } else {
            format!("avgpool([{}, {}], stride: [{}, {}], pad: [{ph}, {pw}, 0, {pw}], ceil: {ceil}, count_pad: {count})", k.0, k.1, s.0, s.1)
        };
        check(&model(&format!("[2, {h}, 5]"), &format!("x -> {op}")), &[2, 2, h, 5], seed, off());
    }
}
