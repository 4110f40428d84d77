//! # resnetc
//!
//! A compiler for `.rn`, a small declarative language for residual networks.
//!
//! The pipeline, one module per phase:
//!
//! ```text
//! .rn text ──syntax::load──▶ ast::Module ──check::check──▶ ir::CheckedModel ──▶ summary / back ends
//!              (nom parser)                 (elaborate +                     (report::Summary, ...)
//!                                            shape rules)
//! ```
//!
//! Errors of every phase become `diag::Diagnostic`s (feature `compiler`), rendered rustc-style.
//!
//! ```
//! let src = r#"
//! block residual(c) {
//!   input x
//!   y = x -> conv(c, 3, pad: 1) -> bn -> relu -> conv(c, 3, pad: 1) -> bn
//!   relu(x + y)
//! }
//! model tiny {
//!   input x: [3, 32, 32]
//!   x -> conv(16, 3, pad: same) -> residual(16) * 2
//! }
//! "#;
//! let compiled = resnetc::compile_source("tiny.rn", src, &Default::default()).unwrap();
//! let graph = compiled.model.graph();
//! assert_eq!(graph.node(graph.outputs[0].node).shape.to_string(), "N×16×32×32");
//! ```

#[cfg(feature = "compiler")]
pub mod atomic;
#[cfg(feature = "compiler")]
#[path = "build_api.rs"]
pub mod build;
#[cfg(feature = "compiler")]
pub mod check;
#[cfg(feature = "compiler")]
pub mod codegen;
#[cfg(feature = "compiler")]
pub mod diag;
#[cfg(feature = "compiler")]
pub mod dot;
#[cfg(feature = "onnx")]
pub mod export;
#[cfg(feature = "compiler")]
pub mod fmt;
#[cfg(feature = "compiler")]
pub mod grad;
#[cfg(feature = "compiler")]
pub mod interp;
#[cfg(feature = "compiler")]
pub mod ir;
#[cfg(feature = "compiler")]
pub mod lower;
#[cfg(feature = "lsp")]
pub mod lsp;
#[cfg(feature = "compiler")]
pub mod report;
pub mod runtime;
#[cfg(feature = "compiler")]
pub mod sizes;
#[cfg(feature = "compiler")]
pub mod span;
#[cfg(feature = "compiler")]
pub mod syntax;
#[cfg(feature = "compiler")]
pub mod train;

#[cfg(feature = "compiler")]
mod pipeline;
#[cfg(feature = "compiler")]
pub use pipeline::*;
