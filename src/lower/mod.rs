//! Lowering: the decisions about how a checked model runs, made once and
//! read by both back ends (the interpreter and the code generator).
//!
//! Today this is the fusion of layers ([`fusion`]): which nodes run as one
//! kernel call. Both back ends take these chains as they are, so they compute
//! the same floating-point operations in the same order.

pub(crate) mod blocks;
pub(crate) mod buffers;
pub mod fusion;

pub use fusion::{Layer, layers};
