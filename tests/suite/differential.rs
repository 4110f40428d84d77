//! Differential property test on generated models (issue 8).
//!
//! `support/model_gen.rs` writes valid models (every op, blocks, skips,
//! repeats, concat, several inputs and outputs, odd names). For each one:
//! the checker accepts it with the output shapes the generator predicts
//! (PyTorch's formulas, computed independently); `codegen::emit` succeeds;
//! `resnetc fmt` is idempotent and keeps the checked graph; the interpreter
//! runs a random batch with finite outputs of the right shapes, and each
//! sample's outputs do not depend on the rest of the batch. The generated
//! Rust of a fixed set of these models is compiled and compared bit for bit
//! with the interpreter by `tests/suite/codegen_run.rs`.
//!
//! 200 cases by default (a few seconds); `PROPTEST_CASES=5000` for a long run.

use crate::model_gen;

use std::collections::HashSet;

use model_gen::{Choices, GenModel, generate};
use proptest::prelude::*;
use resnetc::codegen::{EmitOptions, emit};
use resnetc::interp::{self, Interpreter};
use resnetc::ir::Graph;
use resnetc::runtime::ndarray::{ArrayD, Axis};
use resnetc::{CheckOptions, compile_source};

/// The nodes, inputs and outputs of a graph, spans left out.
fn structure(g: &Graph) -> String {
    let mut s = format!("model {}\n", g.name);
    for i in &g.inputs {
        s.push_str(&format!("input {} = {:?}\n", i.name, i.node));
    }
    for n in &g.nodes {
        s.push_str(&format!(
            "{} {:?} {:?} {:?} {:?} {:?}\n",
            n.name, n.op, n.inputs, n.shape, n.params, n.instance
        ));
    }
    for o in &g.outputs {
        s.push_str(&format!("output {} = {:?}\n", o.name, o.node));
    }
    s
}

/// Every property of one generated model; `Err` says which failed.
fn check_model(m: &GenModel, seed: u64) -> Result<(), String> {
    let src = &m.source;
    let options = CheckOptions::default();
    let c = compile_source("gen.rn", src, &options)
        .map_err(|e| format!("the checker rejects a generated model (generator bug?):\n{e}"))?;
    let g = c.model.graph();
    let shapes: Vec<Vec<usize>> = g
        .outputs
        .iter()
        .map(|o| g.node(o.node).shape.0.clone())
        .collect();
    if shapes != m.outputs {
        return Err(format!(
            "output shapes: the checker says {shapes:?}, PyTorch's formulas {:?}",
            m.outputs
        ));
    }
    emit(
        &c.model,
        &c.sources,
        &EmitOptions {
            source_name: "gen.rn".into(),
            embed_weights: None,
            winograd: false,
        },
    )
    .map_err(|e| format!("emit: {e}"))?;

    // fmt: idempotent, and the formatted text checks to the same graph.
    let once = resnetc::fmt::format_source(src).map_err(|e| format!("fmt: {e}"))?;
    let twice = resnetc::fmt::format_source(&once).map_err(|e| format!("fmt of fmt: {e}"))?;
    if once != twice {
        return Err(format!("fmt is not idempotent:\n{once}\n---\n{twice}"));
    }
    let f = compile_source("gen.rn", &once, &options)
        .map_err(|e| format!("the formatted model does not check:\n{once}\n{e}"))?;
    if structure(f.model.graph()) != structure(g) {
        return Err(format!(
            "the formatted model checks to another graph:\n{once}"
        ));
    }

    // The interpreter: a batch of 3, finite outputs of the right shapes;
    // sample 1 alone gives the same outputs (to rounding) as in the batch.
    let weights = interp::init(&c.model, seed);
    let net = Interpreter::new(&c.model, &weights).map_err(|e| format!("plan: {e}"))?;
    let inputs: Vec<ArrayD<f32>> = g
        .inputs
        .iter()
        .enumerate()
        .map(|(k, i)| model_gen::batch(3, &g.node(i.node).shape.0, seed + k as u64))
        .collect();
    let out = net
        .forward(&interp::views(&inputs))
        .map_err(|e| format!("forward: {e}"))?;
    let one: Vec<ArrayD<f32>> = inputs
        .iter()
        .map(|a| a.slice_axis(Axis(0), (1..2).into()).to_owned())
        .collect();
    let alone = net
        .forward(&interp::views(&one))
        .map_err(|e| format!("forward of one sample: {e}"))?;
    for (k, ((name, y), shape)) in out.outputs.iter().zip(&m.outputs).enumerate() {
        let mut want = vec![3];
        want.extend_from_slice(shape);
        if y.shape() != want.as_slice() {
            return Err(format!(
                "output {name}: shape {:?}, expected {want:?}",
                y.shape()
            ));
        }
        if let Some(v) = y.iter().find(|v| !v.is_finite()) {
            return Err(format!("output {name}: {v} (not finite)"));
        }
        let sample = y.index_axis(Axis(0), 1);
        let single = alone.outputs[k].1.index_axis(Axis(0), 0);
        for (a, b) in sample.iter().zip(single.iter()) {
            if (a - b).abs() > 1e-4 * a.abs().max(1.0) {
                return Err(format!(
                    "output {name}: sample 1 is {a} in a batch of 3 but {b} alone"
                ));
            }
        }
    }
    Ok(())
}

/// 200 cases, or `PROPTEST_CASES`.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        // Failures are kept as `.rn` files in tests/codegen_cases/ instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_models_check_emit_format_and_run(
        choices in prop::collection::vec(any::<u32>(), 0..300),
        seed in 0u64..1000,
    ) {
        let m = generate(Choices::new(choices));
        if let Err(e) = check_model(&m, seed) {
            return Err(TestCaseError::fail(format!("{e}\n--- model ---\n{}", m.source)));
        }
    }
}

/// The fixed set that `tests/suite/codegen_run.rs` compiles: it passes the same
/// properties and covers every op of the op table.
#[test]
fn the_fixed_set_checks_and_covers_every_op() {
    let mut seen = HashSet::new();
    for (k, m) in model_gen::fixed_set(model_gen::FIXED_SET)
        .iter()
        .enumerate()
    {
        if let Err(e) = check_model(m, k as u64) {
            panic!("gen_{k:02}: {e}\n--- model ---\n{}", m.source);
        }
        let c = compile_source("gen.rn", &m.source, &CheckOptions::default()).expect("checked");
        for n in &c.model.graph().nodes {
            if let Some(kind) = n.op.kind() {
                seen.insert(kind.name());
            }
        }
    }
    let missing: Vec<&str> = resnetc::ir::ops::OPS
        .iter()
        .map(|s| s.name)
        .filter(|n| !seen.contains(n))
        .collect();
    assert!(missing.is_empty(), "the fixed set never uses {missing:?}");
}

/// Writes the fixed set (`DIFFTEST_MODELS` models, 20 by default) as `.rn`
/// files under `target/codegen-test/generated/`, to read them or to emit and
/// compile more of them by hand: `DIFFTEST_MODELS=200 cargo test --test
/// differential -- --ignored`.
#[test]
#[ignore]
fn write_the_fixed_set() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = model_gen::write_fixed_set(root);
    eprintln!("wrote {} models", files.len());
}
