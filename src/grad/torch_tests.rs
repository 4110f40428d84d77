//! Whole-model gradients against PyTorch autograd in training mode
//! (`tests/fixtures/make_grad_fixtures.py`): every trainable parameter's
//! gradient of the mean cross-entropy, the loss and the running statistics
//! after the step, each within 1e-4 relative, where the relative error of a
//! tensor is `max|Δ| / max(1e-12, max|reference|)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::grad::{self, ParamSet, Real, TrainOptions};
use crate::interp::{NameMap, WeightsFile, io};
use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};

const TOLERANCE: f64 = 1e-4;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reference tensors of a `*_grads.safetensors` file, as f64.
fn reference(path: &Path) -> HashMap<String, ArrayD<f64>> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let data: Vec<f64> = view
                .data()
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            (
                name,
                ArrayD::from_shape_vec(IxDyn(view.shape()), data).unwrap(),
            )
        })
        .collect()
}

fn relative<T: Real>(ours: &ArrayD<T>, reference: &ArrayD<f64>) -> f64 {
    assert_eq!(ours.shape(), reference.shape());
    let diff = ours
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, b)| m.max((a.to_f64() - b).abs()));
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    diff / scale.max(1e-12)
}

/// Compiles `rn`, loads `weights`, runs one step in `T` and compares
/// everything with `name`'s reference; returns the largest relative error.
fn compare<T: Real>(rn: &str, weights: &str, name: &str) -> f64 {
    let dir = root().join("tests/fixtures/grad");
    let compiled = crate::compile_file(&root().join(rn), &Default::default()).unwrap();
    let model = &compiled.model;
    let file = WeightsFile::open(&root().join(weights)).unwrap();
    let params =
        ParamSet::<T>::from_weights(model, &file.load(model, &NameMap::default()).unwrap())
            .unwrap();
    let x = io::read_npy(&dir.join(format!("{name}_input.npy")))
        .unwrap()
        .mapv(T::from_f32);
    let labels = grad::read_labels(&dir.join(format!("{name}_labels.npy"))).unwrap();
    let step =
        grad::cross_entropy_gradients(model, &params, &[x], &labels, &TrainOptions::default())
            .unwrap();
    let mut refs = reference(&dir.join(format!("{name}_grads.safetensors")));

    let loss = refs.remove("loss").unwrap()[[0]];
    assert!(
        (step.loss.to_f64() - loss).abs() <= TOLERANCE * loss.abs(),
        "{name}: loss {} vs {loss}",
        step.loss
    );
    let trainable: Vec<&str> = model
        .graph()
        .params()
        .filter(|p| p.trainable)
        .map(|p| p.name.as_str())
        .collect();
    let ours: Vec<&str> = step
        .gradients
        .params
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        ours, trainable,
        "one gradient per trainable parameter, in state_dict order"
    );
    let mut worst = 0.0f64;
    for (n, g) in step.gradients.params.iter().chain(&step.running) {
        let r = refs
            .remove(n)
            .unwrap_or_else(|| panic!("{name}: no reference for `{n}`"));
        let e = relative(g, &r);
        assert!(e <= TOLERANCE, "{name}: `{n}` relative error {e:e}");
        worst = worst.max(e);
    }
    assert!(
        refs.is_empty(),
        "{name}: references without a counterpart: {:?}",
        refs.keys()
    );
    worst
}

#[test]
fn resnet18_w4_matches_pytorch_in_f64_and_f32() {
    let rn = "tests/fixtures/nets/resnet18_w4.rn";
    let w = "tests/fixtures/grad/resnet18_w4.safetensors";
    let e64 = compare::<f64>(rn, w, "resnet18_w4");
    let e32 = compare::<f32>(rn, w, "resnet18_w4");
    eprintln!("resnet18_w4: largest relative error f64 {e64:e}, f32 {e32:e}");
}

#[test]
fn mixed_ops_match_pytorch_in_f64() {
    // f64 only: the stem's and the depthwise conv's biases feed a batch norm,
    // so their true gradients are 0 and f32 rounding alone exceeds 1e-12.
    let e = compare::<f64>(
        "tests/fixtures/nets/mixed.rn",
        "tests/fixtures/nets/mixed.safetensors",
        "mixed",
    );
    eprintln!("mixed: largest relative error f64 {e:e}");
}

#[test]
fn decoder_conv_transpose_and_upsample_match_pytorch_in_f64_and_f32() {
    // f32 too: the decoder's biases do not feed a batch norm, and f32 runs
    // the products through the runtime's GEMM.
    let rn = "tests/fixtures/nets/decoder.rn";
    let w = "tests/fixtures/grad/decoder.safetensors";
    let e64 = compare::<f64>(rn, w, "decoder");
    let e32 = compare::<f32>(rn, w, "decoder");
    eprintln!("decoder: largest relative error f64 {e64:e}, f32 {e32:e}");
}
