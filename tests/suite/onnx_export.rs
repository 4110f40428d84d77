//! The ONNX export's structure, decoded with prost: inputs and outputs with a
//! symbolic batch `N`, one initializer per parameter (name, dims, bytes),
//! `value_info` for every intermediate, node names, opset and IR version,
//! `--fold-bn`, the GELU decomposition; and `resnetc export`'s errors.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use prost::Message;
use rayon::prelude::*;
use resnetc::export::proto::{
    self, ModelProto, NodeProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto,
};
use resnetc::export::{
    DEFAULT_OPSET, ExportError, ExportOptions, GELU_OPSET, MAX_OPSET, MIN_OPSET, export,
    ir_version, to_model_proto,
};
use resnetc::interp::{Tensor, Weights, init};
use resnetc::ir::{Graph, Op};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compile(path: &Path) -> resnetc::Compiled {
    resnetc::compile_file(path, &Default::default()).expect("model compiles")
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rn"))
        .collect();
    v.sort();
    v.push(repo().join("tests/onnx/all_ops.rn"));
    v
}

/// Exports through bytes and decodes them again.
fn exported(c: &resnetc::Compiled, options: &ExportOptions) -> ModelProto {
    let w = init(&c.model, 0);
    let bytes = export(&c.model, &w, options).expect("export");
    ModelProto::decode(bytes.as_slice()).expect("valid protobuf")
}

/// `["N", "3", "224", ...]` of a value.
fn dims(v: &ValueInfoProto) -> Vec<String> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        panic!("`{}` is not a tensor", v.name());
    };
    // Float, but for the int64 shapes `upsample` computes for `Resize`.
    let int64_step =
        v.name().contains('/') && t.elem_type() == proto::tensor_proto::DataType::Int64 as i32;
    assert!(
        int64_step || t.elem_type() == proto::tensor_proto::DataType::Float as i32,
        "`{}`: element type {}",
        v.name(),
        t.elem_type()
    );
    t.shape
        .as_ref()
        .expect("shape")
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimParam(p)) => p.clone(),
            Some(dimension::Value::DimValue(v)) => v.to_string(),
            None => panic!("dimension without value in `{}`", v.name()),
        })
        .collect()
}

fn batched(shape: &[usize]) -> Vec<String> {
    std::iter::once("N".to_string())
        .chain(shape.iter().map(usize::to_string))
        .collect()
}

fn op_types(m: &ModelProto) -> Vec<&str> {
    m.graph
        .as_ref()
        .expect("graph")
        .node
        .iter()
        .map(|n| n.op_type())
        .collect()
}

fn node<'a>(m: &'a ModelProto, name: &str) -> &'a NodeProto {
    m.graph
        .as_ref()
        .expect("graph")
        .node
        .iter()
        .find(|n| n.name() == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

fn attr_ints(n: &NodeProto, name: &str) -> Vec<i64> {
    n.attribute
        .iter()
        .find(|a| a.name() == name)
        .unwrap_or_else(|| panic!("`{}` has no attribute {name}", n.name()))
        .ints
        .clone()
}

fn attr_int(n: &NodeProto, name: &str) -> i64 {
    n.attribute
        .iter()
        .find(|a| a.name() == name)
        .unwrap_or_else(|| panic!("`{}` has no attribute {name}", n.name()))
        .i()
}

/// The structural checks every export must pass.
fn check_structure(g: &Graph, w: &Weights, m: &ModelProto, opset: i64) {
    assert_eq!(m.ir_version(), ir_version(opset));
    assert_eq!(m.opset_import.len(), 1);
    assert_eq!(m.opset_import[0].domain(), "");
    assert_eq!(m.opset_import[0].version(), opset);
    assert_eq!(m.producer_name(), "resnetc");
    assert_eq!(m.producer_version(), env!("CARGO_PKG_VERSION"));
    let gp = m.graph.as_ref().expect("graph");
    assert_eq!(gp.name(), g.name);

    // Inputs and outputs: the model's names, N × shape.
    let ins: Vec<(&str, Vec<String>)> = gp.input.iter().map(|v| (v.name(), dims(v))).collect();
    let want: Vec<(&str, Vec<String>)> = g
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), batched(&g.node(i.node).shape.0)))
        .collect();
    assert_eq!(ins, want, "{}: inputs", g.name);
    let outs: Vec<(&str, Vec<String>)> = gp.output.iter().map(|v| (v.name(), dims(v))).collect();
    let want: Vec<(&str, Vec<String>)> = g
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), batched(&g.node(o.node).shape.0)))
        .collect();
    assert_eq!(outs, want, "{}: outputs", g.name);

    // One initializer per parameter: its name, dims and f32 bytes; the rest are
    // constants named `{layer}/{what}`.
    let inits: HashMap<&str, &proto::TensorProto> =
        gp.initializer.iter().map(|t| (t.name(), t)).collect();
    assert_eq!(
        inits.len(),
        gp.initializer.len(),
        "duplicate initializer names"
    );
    let params: Vec<_> = g.params().collect();
    for p in &params {
        let t = inits
            .get(p.name.as_str())
            .unwrap_or_else(|| panic!("{}: no initializer `{}`", g.name, p.name));
        let want: Vec<i64> = p.shape.iter().map(|&d| d as i64).collect();
        assert_eq!(t.dims, want, "{}", p.name);
        assert_eq!(t.data_type(), proto::tensor_proto::DataType::Float as i32);
        let raw = t.raw_data.as_deref().expect("raw_data");
        assert_eq!(
            raw.len(),
            4 * p.shape.iter().product::<usize>(),
            "{}",
            p.name
        );
        let first = &w.get(&p.name).expect("weight").data;
        assert_eq!(
            &raw[..4],
            first[0].to_le_bytes(),
            "{}: little-endian f32",
            p.name
        );
        let last = first.last().expect("non-empty");
        assert_eq!(&raw[raw.len() - 4..], last.to_le_bytes(), "{}", p.name);
    }
    let names: HashSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    for t in &gp.initializer {
        assert!(
            names.contains(t.name()) || t.name().contains('/'),
            "{}: initializer `{}` is no parameter",
            g.name,
            t.name()
        );
    }

    // value_info for every value but the graph's inputs and outputs, with N.
    let infos: HashMap<&str, Vec<String>> =
        gp.value_info.iter().map(|v| (v.name(), dims(v))).collect();
    let out_names: HashSet<&str> = g.outputs.iter().map(|o| o.name.as_str()).collect();
    let out_nodes: HashSet<u32> = g.outputs.iter().map(|o| o.node.0).collect();
    for (i, n) in g.nodes.iter().enumerate() {
        if matches!(n.op, Op::Input) {
            continue;
        }
        if out_nodes.contains(&(i as u32)) && !infos.contains_key(n.name.as_str()) {
            continue; // the output itself
        }
        assert_eq!(
            infos.get(n.name.as_str()),
            Some(&batched(&n.shape.0)),
            "{}: value_info of `{}`",
            g.name,
            n.name
        );
    }
    for node in &gp.node {
        for o in &node.output {
            assert!(
                infos.contains_key(o.as_str()) || out_names.contains(o.as_str()),
                "{}: value `{o}` has no value_info",
                g.name
            );
        }
    }

    // Node names are layer names; every input is defined before it is read.
    let onnx_names: HashSet<&str> = gp.node.iter().map(|n| n.name()).collect();
    for n in &g.nodes {
        let folded = !matches!(n.op, Op::Input) && !onnx_names.contains(n.name.as_str());
        assert!(
            matches!(n.op, Op::Input) || !folded || matches!(n.op, Op::BatchNorm(_)),
            "{}: no ONNX node named `{}`",
            g.name,
            n.name
        );
    }
    let mut defined: HashSet<&str> = gp.input.iter().map(|v| v.name()).collect();
    defined.extend(gp.initializer.iter().map(|t| t.name()));
    for node in &gp.node {
        for i in &node.input {
            // An empty name omits an optional input (`Resize`'s roi and scales).
            assert!(
                i.is_empty() || defined.contains(i.as_str()),
                "{}: `{i}` read before it is defined",
                node.name()
            );
        }
        defined.extend(node.output.iter().map(String::as_str));
    }
}

#[test]
fn every_example_exports_with_the_expected_structure() {
    // Independent per example (seconds each for the largest): on every core.
    examples().par_iter().for_each(|file| {
        let c = compile(file);
        let w = init(&c.model, 0);
        let m = exported(&c, &ExportOptions::default());
        check_structure(c.model.graph(), &w, &m, DEFAULT_OPSET);
        // Without folding, one node per layer (GELU adds its decomposition
        // steps, upsample the three that compute its sizes).
        let g = c.model.graph();
        let layers = g
            .nodes
            .iter()
            .filter(|n| !matches!(n.op, Op::Input))
            .count();
        let gelus = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Activation(resnetc::ir::Activation::Gelu)))
            .count();
        let upsamples = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Upsample(_)))
            .count();
        assert_eq!(
            m.graph.as_ref().expect("graph").node.len(),
            layers + 4 * gelus + 3 * upsamples,
            "{}",
            file.display()
        );
    });
}

#[test]
fn defaults_are_ir_8_and_opset_17() {
    assert_eq!(ExportOptions::default().opset, 17);
    assert!(!ExportOptions::default().fold_bn);
    assert_eq!(ir_version(17), 8);
    assert_eq!((ir_version(13), ir_version(18)), (8, 8));
    assert_eq!((ir_version(19), ir_version(20)), (9, 9));
    assert_eq!((ir_version(21), ir_version(22)), (10, 10));
    assert_eq!(
        (ir_version(23), ir_version(24), ir_version(25)),
        (11, 12, 13)
    );
    assert_eq!((MIN_OPSET, MAX_OPSET), (13, 25));
}

#[test]
fn opsets_outside_the_range_are_rejected() {
    let c = compile(&repo().join("examples/seed.rn"));
    let w = init(&c.model, 0);
    for opset in [MIN_OPSET - 1, MAX_OPSET + 1, 0, -1] {
        let e = to_model_proto(
            &c.model,
            &w,
            &ExportOptions {
                opset,
                fold_bn: false,
            },
        )
        .expect_err("out of range");
        assert!(matches!(e, ExportError::Opset { .. }), "{e}");
    }
    for opset in MIN_OPSET..=MAX_OPSET {
        let m = exported(
            &c,
            &ExportOptions {
                opset,
                fold_bn: false,
            },
        );
        check_structure(c.model.graph(), &w, &m, opset);
    }
}

#[test]
fn fold_bn_removes_batch_normalization_after_convs_only() {
    let c = compile(&repo().join("examples/resnet18.rn"));
    let plain = exported(&c, &ExportOptions::default());
    assert_eq!(
        op_types(&plain)
            .iter()
            .filter(|t| **t == "BatchNormalization")
            .count(),
        20
    );
    let folded = exported(
        &c,
        &ExportOptions {
            opset: 17,
            fold_bn: true,
        },
    );
    assert!(!op_types(&folded).contains(&"BatchNormalization"));
    assert_eq!(
        op_types(&folded).iter().filter(|t| **t == "Conv").count(),
        20
    );
    // The conv computes the batch norm's value and gains a bias.
    let conv1 = node(&folded, "conv1");
    assert_eq!(conv1.input, ["x", "conv1.weight", "conv1.bias"]);
    assert_eq!(conv1.output, ["bn1"]);
    let gp = folded.graph.as_ref().expect("graph");
    assert!(!gp.initializer.iter().any(|t| t.name().starts_with("bn1.")));
    assert!(!gp.value_info.iter().any(|v| v.name() == "conv1"));

    // A batch norm after a dense layer stays.
    let c = compile(&repo().join("tests/onnx/all_ops.rn"));
    let plain = exported(&c, &ExportOptions::default());
    let folded = exported(
        &c,
        &ExportOptions {
            opset: 17,
            fold_bn: true,
        },
    );
    let count = |m: &ModelProto| {
        op_types(m)
            .iter()
            .filter(|t| **t == "BatchNormalization")
            .count()
    };
    assert_eq!((count(&plain), count(&folded)), (2, 1));
}

#[test]
fn gelu_is_decomposed_through_erf_below_opset_20() {
    let c = compile(&repo().join("examples/two_heads.rn"));
    for opset in MIN_OPSET..GELU_OPSET {
        let m = exported(
            &c,
            &ExportOptions {
                opset,
                fold_bn: false,
            },
        );
        let t = op_types(&m);
        assert!(!t.contains(&"Gelu"), "opset {opset}");
        assert_eq!(
            t.iter().filter(|t| **t == "Erf").count(),
            2,
            "opset {opset}"
        );
        // The layer's own name is on the node that computes its value.
        let gelu = node(&m, "classifier.gelu");
        assert_eq!(gelu.op_type(), "Mul");
        assert_eq!(gelu.output, ["classifier.gelu"]);
        assert_eq!(node(&m, "classifier.gelu/erf").op_type(), "Erf");
    }
    for opset in GELU_OPSET..=MAX_OPSET {
        let m = exported(
            &c,
            &ExportOptions {
                opset,
                fold_bn: false,
            },
        );
        let t = op_types(&m);
        assert_eq!(
            t.iter().filter(|t| **t == "Gelu").count(),
            2,
            "opset {opset}"
        );
        assert!(!t.contains(&"Erf"));
    }
}

#[test]
fn ops_map_to_onnx_with_their_attributes() {
    let c = compile(&repo().join("tests/onnx/all_ops.rn"));
    let m = exported(&c, &ExportOptions::default());
    let g = c.model.graph();
    let gp = m.graph.as_ref().expect("graph");
    let init = |name: &str| -> Vec<f32> {
        let t = gp
            .initializer
            .iter()
            .find(|t| t.name() == name)
            .expect(name);
        t.raw_data()
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    for n in &g.nodes {
        let onnx = match n.op {
            Op::Input => continue,
            _ => node(&m, &n.name),
        };
        match &n.op {
            Op::Conv(p) => {
                assert_eq!(onnx.op_type(), "Conv");
                let pads: Vec<i64> = p.padding.iter().map(|&v| v as i64).collect();
                assert_eq!(attr_ints(onnx, "pads"), pads);
                assert_eq!(attr_ints(onnx, "dilations").len(), 2);
                assert_eq!(attr_int(onnx, "group"), p.groups as i64);
                assert_eq!(onnx.input.len(), if p.bias { 3 } else { 2 });
            }
            Op::MaxPool(p) | Op::AvgPool(p) => {
                let pads: Vec<i64> = p.padding.iter().map(|&v| v as i64).collect();
                assert_eq!(attr_ints(onnx, "pads"), pads);
                assert_eq!(attr_int(onnx, "ceil_mode"), i64::from(p.ceil_mode));
                if matches!(n.op, Op::AvgPool(_)) {
                    assert_eq!(onnx.op_type(), "AveragePool");
                    assert_eq!(
                        attr_int(onnx, "count_include_pad"),
                        i64::from(p.count_include_pad)
                    );
                } else {
                    assert_eq!(onnx.op_type(), "MaxPool");
                    let d: Vec<i64> = p.dilation.iter().map(|&v| v as i64).collect();
                    assert_eq!(attr_ints(onnx, "dilations"), d);
                }
            }
            Op::Activation(resnetc::ir::Activation::Relu6) => {
                assert_eq!(onnx.op_type(), "Clip");
                assert_eq!(onnx.input.len(), 3);
                assert_eq!(
                    (init(&onnx.input[1]), init(&onnx.input[2])),
                    (vec![0.0], vec![6.0])
                );
            }
            Op::Dense(d) => {
                assert_eq!(onnx.op_type(), "Gemm");
                assert_eq!(attr_int(onnx, "transB"), 1);
                assert_eq!(onnx.input.len(), if d.bias { 3 } else { 2 });
            }
            Op::Softmax | Op::Flatten | Op::Concat => {
                assert_eq!(attr_int(onnx, "axis"), 1, "{}", n.name);
            }
            Op::Add => {
                let want = if n.inputs.len() == 2 { "Add" } else { "Sum" };
                assert_eq!(onnx.op_type(), want);
                assert_eq!(onnx.input.len(), n.inputs.len());
            }
            Op::Dropout { .. } | Op::Identity => assert_eq!(onnx.op_type(), "Identity"),
            Op::BatchNorm(_) => {
                assert_eq!(onnx.op_type(), "BatchNormalization");
                assert_eq!(onnx.input.len(), 5);
            }
            _ => {}
        }
    }
    // all_ops.rn exercises every op of the language.
    let kinds: HashSet<_> = g.nodes.iter().filter_map(|n| n.op.kind()).collect();
    for spec in resnetc::ir::ops::OPS {
        assert!(
            kinds.contains(&spec.kind),
            "all_ops.rn lacks `{}`",
            spec.name
        );
    }
    assert!(
        g.nodes
            .iter()
            .any(|n| matches!(n.op, Op::Add) && n.inputs.len() > 2)
    );
}

#[test]
fn outputs_take_the_model_output_names() {
    let c = compile(&repo().join("examples/two_heads.rn"));
    let m = exported(&c, &ExportOptions::default());
    let gp = m.graph.as_ref().expect("graph");
    let outs: Vec<&str> = gp.output.iter().map(|o| o.name()).collect();
    assert_eq!(outs, ["logits", "score"]);
    assert_eq!(node(&m, "softmax").output, ["logits"]);
}

#[test]
fn an_output_may_be_an_input_but_not_named_twice() {
    let compile_src = |src: &str| match resnetc::compile_source("m.rn", src, &Default::default()) {
        Ok(c) => c,
        Err(e) => panic!("{e:?}"),
    };
    // The input itself as an output, and a layer under two output names.
    let c =
        compile_src("model m {\n  input x: [4]\n  y = x -> relu\n  z = y\n  output x, y, z\n}\n");
    let w = init(&c.model, 0);
    let m = exported(&c, &ExportOptions::default());
    check_structure(c.model.graph(), &w, &m, DEFAULT_OPSET);
    let gp = m.graph.as_ref().expect("graph");
    let outs: Vec<&str> = gp.output.iter().map(|o| o.name()).collect();
    assert_eq!(outs, ["x", "y", "z"]);
    // The second name of one value is an Identity of the first.
    let copies: Vec<_> = gp
        .node
        .iter()
        .filter(|n| n.op_type() == "Identity")
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(
        (copies[0].input[0].as_str(), copies[0].output[0].as_str()),
        ("y", "z")
    );

    // Two outputs of the same name cannot be told apart in ONNX.
    let c = compile_src("model m {\n  input x: [4]\n  y = x -> relu\n  output y, y\n}\n");
    let e = export(&c.model, &init(&c.model, 0), &ExportOptions::default()).expect_err("clash");
    assert!(matches!(e, ExportError::NameClash { .. }), "{e}");
    assert!(e.to_string().contains("`y` would be used twice"), "{e}");
}

#[test]
fn missing_or_misshaped_weights_are_errors() {
    let c = compile(&repo().join("examples/seed.rn"));
    let empty = Weights::default();
    let e = export(&c.model, &empty, &ExportOptions::default()).expect_err("no weights");
    assert!(matches!(e, ExportError::MissingWeight { .. }), "{e}");
    assert!(e.to_string().contains("conv.weight"), "{e}");
    let mut w = init(&c.model, 0);
    w.insert(
        "conv.weight",
        Tensor {
            shape: vec![64, 3, 3],
            data: vec![0.0; 64 * 9 * 3],
        },
    );
    let e = export(&c.model, &w, &ExportOptions::default()).expect_err("bad shape");
    assert!(matches!(e, ExportError::WeightShape { .. }), "{e}");
}

// The command line.

fn cli() -> Command {
    Command::cargo_bin("resnetc").expect("binary")
}

#[test]
fn cli_writes_the_same_bytes_as_the_library() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("seed.onnx");
    let file = repo().join("examples/seed.rn");
    let assert = cli()
        .args([
            "export",
            file.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(
        stdout.contains("opset 17") && stdout.contains("seed 0"),
        "{stdout}"
    );
    let c = compile(&file);
    let want = export(&c.model, &init(&c.model, 0), &ExportOptions::default()).expect("export");
    assert_eq!(std::fs::read(&out).expect("written"), want);

    // --weights gives the same bytes for the same weights; --fold-bn and --opset pass through.
    let w = dir.path().join("w.safetensors");
    init(&c.model, 3).save(&w).expect("save");
    let out2 = dir.path().join("seed2.onnx");
    cli()
        .args([
            "export",
            file.to_str().expect("utf-8"),
            "--weights",
            w.to_str().expect("utf-8"),
        ])
        .args([
            "-o",
            out2.to_str().expect("utf-8"),
            "--opset",
            "20",
            "--fold-bn",
        ])
        .assert()
        .success();
    let want = export(
        &c.model,
        &init(&c.model, 3),
        &ExportOptions {
            opset: 20,
            fold_bn: true,
        },
    )
    .expect("export");
    assert_eq!(std::fs::read(&out2).expect("written"), want);
}

#[test]
fn cli_input_shape_and_model_flags() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("r.onnx");
    let file = repo().join("examples/resnet20_cifar.rn");
    cli()
        .args([
            "export",
            file.to_str().expect("utf-8"),
            "--input",
            "3x64x64",
        ])
        .args(["-o", out.to_str().expect("utf-8")])
        .assert()
        .success();
    let m = ModelProto::decode(std::fs::read(&out).expect("written").as_slice()).expect("decode");
    let x = &m.graph.as_ref().expect("graph").input[0];
    assert_eq!(dims(x), ["N", "3", "64", "64"]);
}

#[test]
fn cli_rejects_a_bad_opset_with_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("m.onnx");
    for opset in ["12", "26", "-1"] {
        let a = cli()
            .args([
                "export",
                "examples/seed.rn",
                "-o",
                out.to_str().expect("utf-8"),
            ])
            .args(["--opset", opset])
            .current_dir(repo())
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(
            err.contains(&format!("opset {opset} is not supported"))
                && err.contains("opsets 13 to 25"),
            "{err}"
        );
    }
    assert!(!out.exists());
    // The help states the range and the seed.
    let a = cli().args(["export", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        help.contains(&format!("{MIN_OPSET} to {MAX_OPSET}")) && help.contains("--seed 0"),
        "{help}"
    );
}

#[test]
fn cli_rejects_weights_that_do_not_fit_with_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = dir.path().join("w.safetensors");
    let other = compile(&repo().join("examples/resnet20_cifar.rn"));
    init(&other.model, 0).save(&w).expect("save");
    let out = dir.path().join("m.onnx");
    let a = cli()
        .args([
            "export",
            "examples/seed.rn",
            "--weights",
            w.to_str().expect("utf-8"),
        ])
        .args(["-o", out.to_str().expect("utf-8")])
        .current_dir(repo())
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("does not fit model `seed`"), "{err}");
    assert!(err.contains("missing tensor"), "{err}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn cli_rejects_an_unwritable_output_with_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("no/such/dir/m.onnx");
    let a = cli()
        .args([
            "export",
            "examples/seed.rn",
            "-o",
            out.to_str().expect("utf-8"),
        ])
        .current_dir(repo())
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("cannot write") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!out.exists());
    // A directory as the output.
    let a = cli()
        .args([
            "export",
            "examples/seed.rn",
            "-o",
            dir.path().to_str().expect("utf-8"),
        ])
        .current_dir(repo())
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("cannot write"), "{err}");
    assert!(dir.path().is_dir());
}

/// `(name, dims)` of the first `input [ … ]` or `output [ … ]` line of the
/// README's Triton `config.pbtxt`.
fn triton_tensor(config: &str, kind: &str) -> (String, Vec<usize>) {
    let line = config
        .lines()
        .find(|l| l.starts_with(&format!("{kind} [")))
        .unwrap_or_else(|| panic!("no `{kind}` in the README's config.pbtxt"));
    let after = |key: &str| {
        let start = line
            .find(key)
            .unwrap_or_else(|| panic!("no {key} in `{line}`"))
            + key.len();
        &line[start..]
    };
    let name = after("name: \"")
        .split('"')
        .next()
        .expect("name")
        .to_string();
    let dims = after("dims: [")
        .split(']')
        .next()
        .expect("dims")
        .split(',')
        .map(|d| d.trim().parse().expect("dim"))
        .collect();
    (name, dims)
}

#[test]
fn the_readme_triton_config_fits_the_resnet18_export() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let config = readme
        .split("```text\n")
        .find(|b| b.contains("backend: \"onnxruntime\""))
        .and_then(|b| b.split("```").next())
        .expect("a config.pbtxt block in README.md");
    assert!(config.contains("name: \"resnet18\"") && config.contains("max_batch_size: 32"));
    assert!(readme.contains("└── resnet18/") && readme.contains("        └── model.onnx"));
    let c = compile(&repo().join("examples/resnet18.rn"));
    let m = exported(&c, &ExportOptions::default());
    let gp = m.graph.as_ref().expect("graph");
    for (kind, values) in [("input", &gp.input), ("output", &gp.output)] {
        let (name, want) = triton_tensor(config, kind);
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].name(), name, "{kind}");
        // Triton's dims leave out the batch, which must be variable in the model.
        let got = dims(&values[0]);
        assert_eq!(got[0], "N");
        let got: Vec<usize> = got[1..].iter().map(|d| d.parse().expect("dim")).collect();
        assert_eq!(got, want, "{kind}");
    }
}
