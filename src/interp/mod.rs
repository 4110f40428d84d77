//! The interpreter: runs a [`CheckedModel`](crate::ir::CheckedModel) on the CPU with `ndarray`.
//!
//! [`Interpreter::new`] takes the plan of [`crate::lower`] (the model body
//! with every block instance inlined, planned by the same rules as the
//! generated code's bodies) and readies its kernels: batch norm is folded
//! into the convolution before it, ReLU / ReLU6 are fused into the
//! convolution's epilogue. [`Interpreter::forward`] runs the plan on a batch
//! of any size `N`, in f32, at inference (batch norm uses its running
//! statistics, dropout is the identity), through the runtime's `_into`
//! kernels on one workspace made per batch size and kept between passes.
//!
//! ```
//! use ndarray::ArrayD;
//! let src = "model tiny {\n  input x: [3, 8, 8]\n  x -> conv(4, 3, pad: 1) -> bn -> relu -> global_avgpool -> flatten -> dense(2)\n}\n";
//! let compiled = resnetc::compile_source("tiny.rn", src, &Default::default()).unwrap();
//! let weights = resnetc::interp::init(&compiled.model, 0);
//! let net = resnetc::interp::Interpreter::new(&compiled.model, &weights).unwrap();
//! let x = ArrayD::<f32>::zeros(vec![5, 3, 8, 8]);
//! let out = net.forward(&[x.view()]).unwrap();
//! assert_eq!(out.outputs[0].1.shape(), &[5, 2]);
//! ```

pub mod io;

mod exec;
pub mod memory;
mod plan;
mod weights;

use ndarray::{ArrayD, ArrayViewD};

pub use plan::{Interpreter, RunOptions, StepTime};
pub use weights::{
    Layout, NameMap, SHOWN_PROBLEMS, Tensor, WeightProblem, Weights, WeightsError, WeightsFile,
    init, try_init,
};

/// The result of a forward pass.
#[derive(Debug)]
pub struct Forward {
    /// The model's outputs, by name, in declaration order.
    pub outputs: Vec<(String, ArrayD<f32>)>,
    /// Bytes the pass held for values: the plan's workspace for the batch
    /// (its slots and the convolutions' scratch), the outputs and the inputs.
    pub peak_activation_bytes: usize,
}

/// Why a model could not be prepared or run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The weights do not provide a tensor the plan needs.
    #[error("no weights for `{0}`: load them with WeightsFile::load or interp::init")]
    MissingWeight(String),
    /// The number of inputs differs from the model's.
    #[error("model `{model}` takes {expected} input{}, but {found} were given", if *expected == 1 { "" } else { "s" })]
    InputCount {
        /// The model.
        model: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// An input of the wrong shape.
    #[error(
        "input `{name}` must have shape N×{} (N any), but has shape {}",
        join(expected),
        join(found)
    )]
    InputShape {
        /// The input's name.
        name: String,
        /// Its shape without the batch.
        expected: Vec<usize>,
        /// The given shape, with the batch.
        found: Vec<usize>,
    },
    /// A kernel rejected its arguments (a bug if the model was checked).
    #[error("layer `{layer}`: {message}")]
    Kernel {
        /// The layer.
        layer: String,
        /// The kernel's message.
        message: String,
    },
    /// The memory a pass needs cannot be allocated.
    #[error(transparent)]
    OutOfMemory(#[from] memory::OutOfMemory),
    /// An invariant of the checked graph or of the plan does not hold.
    #[error("internal error: {0}; this is a bug in resnetc, please report it with the model")]
    Internal(String),
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// The most worker threads [`with_threads`] starts.
pub const MAX_THREADS: usize = 256;

/// Runs `f` with rayon limited to `threads` threads (0: rayon's default; at
/// most [`MAX_THREADS`]).
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    if threads == 0 {
        return f();
    }
    let threads = threads.min(MAX_THREADS);
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// A convenience: views of owned inputs.
pub fn views(inputs: &[ArrayD<f32>]) -> Vec<ArrayViewD<'_, f32>> {
    inputs.iter().map(|a| a.view()).collect()
}
