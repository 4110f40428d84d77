//! The interpreter against independent references: PyTorch (torchvision's
//! ResNet structure, a grouped/depthwise net, the CIFAR ResNet-20 with
//! option-A and option-B shortcuts, torchvision's FCN and DeepLabV3), timm
//! (SE-ResNet-50's structure) and Keras (the seed model). Fixtures are made by
//! `tests/fixtures/make_fixtures.py`, `make_residual_fixtures.py` and
//! `make_segmentation_fixtures.py` (see their README).

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::read_npy;
use resnetc::interp::{Interpreter, NameMap, RunOptions, WeightsFile};
use resnetc::{CheckOptions, compile_file};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nets() -> PathBuf {
    root().join("tests/fixtures/nets")
}

/// Loads `rn`, its weights (with an optional name map), runs the fixture's
/// input and compares with the reference: max |Δ| ≤ 1e-4 × max(1, |ref|).
fn check(rn: &Path, weights: &str, map: Option<&str>, input: &str, output: &str) -> f32 {
    check_run(rn, weights, map, input, output, &RunOptions::default()).0
}

/// [`check`] with `options`; also returns the output.
fn check_run(
    rn: &Path,
    weights: &str,
    map: Option<&str>,
    input: &str,
    output: &str,
    options: &RunOptions,
) -> (f32, ArrayD<f32>) {
    let compiled = compile_file(rn, &CheckOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let map = match map {
        Some(m) => NameMap::from_file(&nets().join(m)).unwrap(),
        None => NameMap::default(),
    };
    let file = WeightsFile::open(&nets().join(weights)).unwrap();
    let w = file
        .load(&compiled.model, &map)
        .unwrap_or_else(|e| panic!("{e}"));
    let net = Interpreter::with_options(&compiled.model, w, options).unwrap();
    let x: ArrayD<f32> = read_npy(nets().join(input)).unwrap();
    let reference: ArrayD<f32> = read_npy(nets().join(output)).unwrap();
    let out = net.forward(&[x.view()]).unwrap();
    let y = &out.outputs[0].1;
    assert_eq!(y.shape(), reference.shape());
    let mut worst = 0.0f32;
    for (a, b) in y.iter().zip(reference.iter()) {
        let err = (a - b).abs() / b.abs().max(1.0);
        assert!(err <= 1e-4, "got {a}, reference {b}");
        worst = worst.max(err);
    }
    (worst, out.outputs[0].1.clone())
}

#[test]
fn resnet18_matches_pytorch() {
    let e = check(
        &nets().join("resnet18_w8.rn"),
        "resnet18_w8.safetensors",
        None,
        "resnet18_w8_input.npy",
        "resnet18_w8_output.npy",
    );
    eprintln!("resnet18_w8: max relative error {e:.2e}");
}

/// Checks the fixture net `nets/{name}.rn` against its own weights, input
/// and PyTorch output (no name map), and reports the error.
fn check_net(name: &str) {
    let e = check(
        &nets().join(format!("{name}.rn")),
        &format!("{name}.safetensors"),
        None,
        &format!("{name}_input.npy"),
        &format!("{name}_output.npy"),
    );
    eprintln!("{name}: max relative error {e:.2e}");
}

/// The paper's CIFAR ResNet-20 with option-A shortcuts (subsampling and
/// zero channels: `pad_channels`), and with option-B projections, against
/// PyTorch (`make_residual_fixtures.py`), weights loaded without a name map.
#[test]
fn cifar_resnet20_options_a_and_b_match_pytorch() {
    for name in ["resnet20_cifar_w8", "resnet20_cifar_b_w4"] {
        check_net(name);
    }
}

/// The deeper CIFAR ResNets of Table 6 (32, 44, 56 and 110 layers, option
/// A) at width 4: one PyTorch fixture per example of `examples/`.
#[test]
fn cifar_resnets_32_to_110_match_pytorch() {
    for name in [
        "resnet32_cifar_w4",
        "resnet44_cifar_w4",
        "resnet56_cifar_w4",
        "resnet110_cifar_w4",
    ] {
        check_net(name);
    }
}

/// timm's SE-ResNet-50 structure (the gate `out * se(out)`: `mul` with
/// broadcasting) at width 4, timm's own `state_dict` names.
#[test]
fn seresnet50_matches_timm() {
    check_net("seresnet50_w4");
}

#[test]
fn resnet50_matches_pytorch() {
    check(
        &nets().join("resnet50_w8.rn"),
        "resnet50_w8.safetensors",
        None,
        "resnet50_w8_input.npy",
        "resnet50_w8_output.npy",
    );
}

#[test]
fn grouped_depthwise_net_matches_pytorch() {
    check(
        &nets().join("mixed.rn"),
        "mixed.safetensors",
        None,
        "mixed_input.npy",
        "mixed_output.npy",
    );
}

#[test]
fn fcn_resnet50_matches_torchvision() {
    // Dilated backbone, FCNHead, bilinear upsampling 6×6 → 44×44.
    check_net("fcn_resnet50_w4");
}

#[test]
fn deeplabv3_resnet50_matches_torchvision() {
    // ASPP: dilated branches, the pooling branch upsampled from 1×1.
    check_net("deeplabv3_resnet50_w4");
}

#[test]
fn seed_matches_keras_through_a_name_map() {
    check(
        &root().join("examples/seed.rn"),
        "keras_seed_keras.safetensors",
        Some("keras_seed.names.yaml"),
        "keras_seed_input.npy",
        "keras_seed_output.npy",
    );
}

/// `--winograd`: the seed's four 64→64 3×3 convolutions on 64×64 maps run
/// Winograd F(4×4, 3×3), within the same 1e-4 of Keras (and not the direct
/// kernel's bits, so Winograd did run).
#[test]
fn seed_matches_keras_with_winograd() {
    let run = |winograd: bool| {
        check_run(
            &root().join("examples/seed.rn"),
            "keras_seed_keras.safetensors",
            Some("keras_seed.names.yaml"),
            "keras_seed_input.npy",
            "keras_seed_output.npy",
            &RunOptions { winograd },
        )
    };
    let ((direct_err, direct), (wino_err, wino)) = (run(false), run(true));
    eprintln!("seed vs Keras: direct {direct_err:.2e}, winograd {wino_err:.2e}");
    assert_ne!(direct, wino, "the winograd option changed nothing");
}

#[test]
fn batch_items_are_independent() {
    // Running two samples together equals running them one at a time.
    let compiled = compile_file(&nets().join("mixed.rn"), &CheckOptions::default()).unwrap();
    let w = WeightsFile::open(&nets().join("mixed.safetensors"))
        .unwrap()
        .load(&compiled.model, &NameMap::default())
        .unwrap();
    let net = Interpreter::new(&compiled.model, &w).unwrap();
    let x: ArrayD<f32> = read_npy(nets().join("mixed_input.npy")).unwrap();
    let twice = ndarray::concatenate(ndarray::Axis(0), &[x.view(), (&x * 0.5).view()]).unwrap();
    let both = net.forward(&[twice.view()]).unwrap().outputs.remove(0).1;
    let half = (&x * 0.5).into_dyn();
    let one = net.forward(&[x.view()]).unwrap().outputs.remove(0).1;
    let two = net.forward(&[half.view()]).unwrap().outputs.remove(0).1;
    let stacked = ndarray::concatenate(ndarray::Axis(0), &[one.view(), two.view()]).unwrap();
    for (a, b) in both.iter().zip(stacked.iter()) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0));
    }
}
