//! Replays the PyTorch reference cases produced by
//! `tests/fixtures/make_kernel_fixtures.py` (see `kernel_fixtures.json`).

use crate::common;

use std::path::{Path, PathBuf};

use common::assert_close;
use ndarray::{Array1, Array4, ArrayD, Ix1, Ix4};
use ndarray_npy::read_npy;
use resnetc::runtime::kernels::*;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(case: &Value, key: &str) -> ArrayD<f32> {
    let file = case["inputs"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no input {key}", case["name"]));
    read_npy(dir().join("kernel").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn load4(case: &Value, key: &str) -> Array4<f32> {
    load(case, key).into_dimensionality::<Ix4>().expect("4-D")
}

fn load1(case: &Value, key: &str) -> Array1<f32> {
    load(case, key).into_dimensionality::<Ix1>().expect("1-D")
}

fn pair(v: &Value) -> (usize, usize) {
    (
        v[0].as_u64().expect("int") as usize,
        v[1].as_u64().expect("int") as usize,
    )
}

fn pad(v: &Value) -> Padding2d {
    let g = |i: usize| v[i].as_u64().expect("int") as usize;
    Padding2d {
        top: g(0),
        left: g(1),
        bottom: g(2),
        right: g(3),
    }
}

fn run(case: &Value) -> ArrayD<f32> {
    let p = &case["params"];
    let has = |k: &str| case["inputs"].get(k).is_some();
    match case["op"].as_str().expect("op") {
        "conv2d" => {
            let act = match p["activation"].as_str().expect("act") {
                "relu" => Activation::Relu,
                "relu6" => Activation::Relu6,
                _ => Activation::None,
            };
            let params = Conv2dParams {
                stride: pair(&p["stride"]),
                padding: pad(&p["padding"]),
                dilation: pair(&p["dilation"]),
                groups: p["groups"].as_u64().expect("groups") as usize,
                activation: act,
            };
            let b = has("b").then(|| load1(case, "b"));
            conv2d(
                load4(case, "x").view(),
                load4(case, "w").view(),
                b.as_ref().map(|b| b.view()),
                &params,
            )
            .expect("conv2d")
            .into_dyn()
        }
        "max_pool2d" => {
            let params = MaxPool2dParams {
                kernel: pair(&p["kernel"]),
                stride: pair(&p["stride"]),
                padding: pad(&p["padding"]),
                dilation: pair(&p["dilation"]),
                ceil_mode: p["ceil_mode"].as_bool().expect("bool"),
            };
            max_pool2d(load4(case, "x").view(), &params)
                .expect("maxpool")
                .into_dyn()
        }
        "avg_pool2d" => {
            let params = AvgPool2dParams {
                kernel: pair(&p["kernel"]),
                stride: pair(&p["stride"]),
                padding: pad(&p["padding"]),
                ceil_mode: p["ceil_mode"].as_bool().expect("bool"),
                count_include_pad: p["count_include_pad"].as_bool().expect("bool"),
                divisor_override: p["divisor_override"].as_u64().map(|d| d as usize),
            };
            avg_pool2d(load4(case, "x").view(), &params)
                .expect("avgpool")
                .into_dyn()
        }
        "gelu" => gelu(load(case, "x").view()),
        "sigmoid" => sigmoid(load(case, "x").view()),
        "tanh" => tanh(load(case, "x").view()),
        "softmax" => softmax_dim1(load(case, "x").view()).expect("softmax"),
        "batchnorm" => {
            let (g, b, m, v) = (
                load1(case, "gamma"),
                load1(case, "beta"),
                load1(case, "mean"),
                load1(case, "var"),
            );
            let bn = BatchNormParams {
                gamma: g.view(),
                beta: b.view(),
                running_mean: m.view(),
                running_var: v.view(),
                eps: p["eps"].as_f64().expect("eps") as f32,
            };
            batchnorm(load(case, "x").view(), &bn).expect("bn")
        }
        "dense" => {
            let x = load(case, "x").into_dimensionality().expect("2-D");
            let w = load(case, "w").into_dimensionality().expect("2-D");
            let b = load1(case, "b");
            dense(x.view(), w.view(), Some(b.view()), Activation::None)
                .expect("dense")
                .into_dyn()
        }
        "upsample" => {
            let mode = match p["mode"].as_str().expect("mode") {
                "nearest" => Interpolation::Nearest,
                "bilinear" => Interpolation::Bilinear,
                other => panic!("unknown mode {other}"),
            };
            upsample2d(load4(case, "x").view(), pair(&p["size"]), mode)
                .expect("upsample")
                .into_dyn()
        }
        "conv_transpose2d" => {
            let params = ConvTranspose2dParams {
                stride: pair(&p["stride"]),
                padding: pair(&p["padding"]),
                output_padding: pair(&p["output_padding"]),
                dilation: pair(&p["dilation"]),
                groups: p["groups"].as_u64().expect("groups") as usize,
            };
            let b = has("b").then(|| load1(case, "b"));
            conv_transpose2d(
                load4(case, "x").view(),
                load4(case, "w").view(),
                b.as_ref().map(|b| b.view()),
                &params,
            )
            .expect("conv_transpose2d")
            .into_dyn()
        }
        other => panic!("unknown op {other}"),
    }
}

#[test]
fn pytorch_reference_cases() {
    let text = std::fs::read_to_string(dir().join("kernel_fixtures.json")).expect("read json");
    let doc: Value = serde_json::from_str(&text).expect("parse json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10, "too few cases");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let out_file = case["output"].as_str().expect("output");
        let want: ArrayD<f32> = read_npy(dir().join("kernel").join(out_file)).expect("read out");
        let got = run(case);
        // element-wise ops are compared tighter than the reductions
        let tol = match case["op"].as_str() {
            Some("gelu" | "sigmoid" | "tanh" | "softmax" | "max_pool2d" | "upsample") => 1e-6,
            _ => 1e-4,
        };
        assert_close(got.view(), want.view(), tol, name);
    }
}
