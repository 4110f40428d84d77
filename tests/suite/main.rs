//! resnetc's integration tests, one module per subject, in one test binary:
//! the crate and its dependencies are linked once instead of once per file,
//! and the tests of every subject share the test threads (the slow ones, the
//! nested cargo builds and onnxruntime, run beside the fast ones).
//!
//! Run one subject with `cargo test --test suite <module>::`, e.g.
//! `cargo test --test suite codegen_run::`.

// Helpers shared by several subjects.
#[path = "../common/mod.rs"]
mod common;
#[path = "../../fuzz/harness.rs"]
mod harness;
#[path = "../support/model_gen.rs"]
mod model_gen;
#[path = "../support/png_chart.rs"]
mod png_chart;
#[path = "../support/snapshot_files.rs"]
mod snapshot_files;
#[path = "../support/tools.rs"]
mod tools;

mod architecture;
mod build_api;
mod cli;
mod cli_options;
mod codegen;
mod codegen_run;
mod diagnostics;
mod differential;
mod editor_grammar;
mod examples;
mod fmt;
mod fuzz_corpus;
mod grad_cli;
mod graph;
mod interp_fixtures;
mod kernels_dense;
mod kernels_direct;
mod kernels_into;
mod kernels_naive;
mod kernels_pointwise;
mod kernels_torch;
mod kernels_winograd;
mod limits;
mod lsp;
mod onnx_export;
mod onnx_proto;
mod onnx_runtime;
mod robustness;
mod run_cli;
mod shell;
mod sizes;
mod train_cli;
mod weights_api;
