//! CPU numeric kernels (f32, NCHW) for the `resnetc` interpreter.
//!
//! # Conventions
//!
//! * All tensors are `f32`. 4-D activations are **NCHW**; convolution weights
//!   are PyTorch **OIHW** (`[out, in / groups, kh, kw]`).
//! * Public signatures take [`ndarray`] views (`ArrayView4`, `ArrayView1`, …)
//!   and return owned arrays in standard (C-contiguous) layout. Views that are
//!   not contiguous are accepted; they are copied to a contiguous buffer first.
//! * Kernels never panic on bad data or shapes: they return
//!   [`KernelError`]. (Panics only on internal invariant violations, which
//!   would be bugs.)
//! * Multi-threading uses the global rayon pool; size it with
//!   `RAYON_NUM_THREADS` or `rayon::ThreadPoolBuilder` as usual.

pub mod activation;
pub mod add;
pub mod batchnorm;
pub mod concat;
pub mod conv;
pub mod dense;
pub mod error;
pub mod flatten;
mod matmul;
pub mod pool;
pub mod softmax;

pub use activation::{
    Activation, gelu, gelu_inplace, leaky_relu, leaky_relu_inplace, relu, relu_inplace, relu6,
    relu6_inplace, sigmoid, sigmoid_inplace, tanh, tanh_inplace,
};
pub use add::add;
pub use batchnorm::{BatchNormParams, batchnorm, fold_batchnorm};
pub use concat::concat_channels;
pub use conv::{Conv2dParams, Padding2d, conv2d, conv2d_output_hw};
pub use dense::dense;
pub use error::KernelError;
pub use flatten::flatten;
pub use pool::{
    AvgPool2dParams, MaxPool2dParams, avg_pool2d, global_avg_pool, max_pool2d, pool_output_size,
};
pub use softmax::softmax_dim1;
