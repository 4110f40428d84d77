//! Lowering: the decisions about how a checked model runs, made once and
//! read by both back ends (the interpreter and the code generator).
//!
//! - [`fusion`]: which nodes run as one kernel call (conv + bn + relu,
//!   dense + relu).
//! - `blocks`: the model's bodies (one per block instance and the model's),
//!   their items (layers, nested instances, loops of chained instances) and
//!   the block types that share code.
//! - `buffers`: the buffer plan of one body: its steps, what each reads and
//!   defines, liveness, the values computed in place, the slots of the
//!   workspace and the outputs copied at the end.
//! - [`plans`]: those plans at the two granularities the back ends run,
//!   per block ([`plans::blocks`], for the code generator) and with every
//!   instance inlined ([`plans::inlined`], for the interpreter).
//!
//! Both back ends take these decisions as they are, so they compute the same
//! floating-point operations in the same order.

pub mod algorithm;
pub(crate) mod blocks;
pub(crate) mod buffers;
pub mod fusion;
pub mod plans;

pub use fusion::{Layer, layers};
pub use plans::LowerError;
