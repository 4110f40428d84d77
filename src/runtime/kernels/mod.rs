//! CPU numeric kernels (f32, NCHW) for the `resnetc` interpreter.
//!
//! # Conventions
//!
//! * All tensors are `f32`. 4-D activations are **NCHW**; convolution weights
//!   are PyTorch **OIHW** (`[out, in / groups, kh, kw]`).
//! * Public signatures take [`ndarray`] views (`ArrayView4`, `ArrayView1`, …)
//!   and return owned arrays in standard (C-contiguous) layout. Views that are
//!   not contiguous are accepted; they are copied to a contiguous buffer first.
//! * Every allocating kernel `foo` has a `foo_into` variant (plus
//!   [`add_assign`]) that writes into a caller-owned `ArrayViewMut` of exactly
//!   the output shape and allocates nothing itself for standard-layout inputs
//!   (the conv's per-thread im2col scratch and the GEMM's per-thread packing
//!   buffers only grow). `foo` allocates `Array::zeros` and calls `foo_into`.
//!   Kernels that work on slices (conv2d, dense, pools, batchnorm, softmax)
//!   require `out` in standard layout; element-wise ones accept any layout.
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
pub mod conv_transpose;
pub mod dense;
pub mod direct;
pub mod error;
pub mod flatten;
pub(crate) mod matmul;
pub mod mul;
pub mod pad_channels;
pub mod peak;
pub mod pool;
pub mod softmax;
mod thread_buffer;
pub mod upsample;
pub mod winograd;

pub use activation::{
    Activation, gelu, gelu_inplace, gelu_into, leaky_relu, leaky_relu_inplace, leaky_relu_into,
    relu, relu_inplace, relu_into, relu6, relu6_inplace, relu6_into, sigmoid, sigmoid_inplace,
    sigmoid_into, tanh, tanh_inplace, tanh_into,
};
pub use add::{add, add_assign, add_into};
pub use batchnorm::{BatchNormParams, batchnorm, batchnorm_into, fold_batchnorm};
pub use concat::{concat_channels, concat_into};
pub use conv::{
    Conv2dParams, Padding2d, conv2d, conv2d_into, conv2d_into_with_scratch, conv2d_output_hw,
    conv2d_residual_into, conv2d_scratch_len,
};
pub use conv_transpose::{
    ConvTranspose2dParams, conv_transpose2d, conv_transpose2d_into, conv_transpose2d_output_hw,
};
pub use dense::{PackedDense, dense, dense_into};
pub use direct::{ConvIsa, PackedConv2d, Residual};
pub use error::KernelError;
pub use flatten::{flatten, flatten_into};
pub use mul::{mul, mul_into};
pub use pad_channels::{pad_channels, pad_channels_into};
pub use pool::{
    AvgPool2dParams, MaxPool2dParams, avg_pool2d, avg_pool2d_into, global_avg_pool,
    global_avg_pool_into, max_pool2d, max_pool2d_into, pool_output_size,
};
pub use softmax::{softmax_dim1, softmax_dim1_into};
pub use upsample::{Interpolation, upsample2d, upsample2d_into};
pub use winograd::WinogradConv2d;
