//! Element-wise activations: relu, relu6, sigmoid, tanh, gelu, leaky_relu.
//!
//! Each comes in three forms, all generic over the array dimension:
//! `foo(x: ArrayView<f32, D>) -> Array<f32, D>` (allocates, standard layout),
//! `foo_into(x, out: ArrayViewMut<f32, D>)` (writes a caller-owned buffer of
//! any layout) and `foo_inplace(x: ArrayViewMut<f32, D>)`. Large arrays are
//! processed in parallel with rayon.

use ndarray::{Array, ArrayView, ArrayViewMut, Dimension, Zip};

use crate::runtime::kernels::error::{KernelError, shape_err};

/// Minimum number of elements before element-wise kernels go parallel.
const PAR_THRESHOLD: usize = 1 << 15;

/// Activation fused into the epilogue of [`crate::runtime::kernels::conv2d`] / [`crate::runtime::kernels::dense()`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

impl Activation {
    /// Applies the activation to one value.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => relu_scalar(x),
            Activation::Relu6 => relu6_scalar(x),
        }
    }
}

/// Scalar ReLU. NaN propagates (like PyTorch).
#[inline]
fn relu_scalar(x: f32) -> f32 {
    if x < 0.0 { 0.0 } else { x }
}

/// Scalar ReLU6 (`hardtanh(x, 0, 6)`). NaN propagates.
#[inline]
fn relu6_scalar(x: f32) -> f32 {
    x.clamp(0.0, 6.0)
}

/// Scalar logistic sigmoid `1 / (1 + e^-x)`.
#[inline]
fn sigmoid_scalar(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Scalar exact GELU `0.5·x·(1 + erf(x/√2))` (PyTorch `approximate='none'`).
#[inline]
fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// Applies `f` to every element of `x` in place, in parallel when large.
fn map_inplace<D: Dimension>(mut x: ArrayViewMut<'_, f32, D>, f: impl Fn(f32) -> f32 + Sync) {
    if x.len() >= PAR_THRESHOLD {
        Zip::from(&mut x).par_for_each(|v| *v = f(*v));
    } else {
        x.mapv_inplace(f);
    }
}

/// Writes `f(x)` element-wise into `out` (same shape, any layout), in
/// parallel when large.
fn map_zip<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    mut out: ArrayViewMut<'_, f32, D>,
    f: impl Fn(f32) -> f32 + Sync,
) {
    if out.len() >= PAR_THRESHOLD {
        Zip::from(&mut out).and(&x).par_for_each(|o, &v| *o = f(v));
    } else {
        Zip::from(&mut out).and(&x).for_each(|o, &v| *o = f(v));
    }
}

/// [`map_zip`] after checking that `out` has the shape of `x`.
fn map_into<D: Dimension>(
    kernel: &str,
    x: ArrayView<'_, f32, D>,
    out: ArrayViewMut<'_, f32, D>,
    f: impl Fn(f32) -> f32 + Sync,
) -> Result<(), KernelError> {
    if x.shape() != out.shape() {
        return shape_err(format!(
            "{kernel}: out has shape {:?}, expected {:?}",
            out.shape(),
            x.shape()
        ));
    }
    map_zip(x, out, f);
    Ok(())
}

/// Returns a new standard-layout array with `f` applied element-wise.
fn map_new<D: Dimension>(x: ArrayView<'_, f32, D>, f: impl Fn(f32) -> f32 + Sync) -> Array<f32, D> {
    let mut out = Array::zeros(x.raw_dim());
    map_zip(x, out.view_mut(), f);
    out
}

macro_rules! activation_triple {
    ($(#[$doc:meta])* $name:ident, $name_inplace:ident, $name_into:ident, $scalar:expr) => {
        $(#[$doc])*
        pub fn $name<D: Dimension>(x: ArrayView<'_, f32, D>) -> Array<f32, D> {
            map_new(x, $scalar)
        }

        $(#[$doc])*
        ///
        /// In-place variant.
        pub fn $name_inplace<D: Dimension>(x: ArrayViewMut<'_, f32, D>) {
            map_inplace(x, $scalar)
        }

        $(#[$doc])*
        ///
        /// Writes the result into `out` (any layout, every element
        /// overwritten; allocates nothing for inputs below the parallel
        /// threshold). Errors with [`KernelError::Shape`] if `out` does not
        /// have the shape of `x`.
        pub fn $name_into<D: Dimension>(
            x: ArrayView<'_, f32, D>,
            out: ArrayViewMut<'_, f32, D>,
        ) -> Result<(), KernelError> {
            map_into(stringify!($name), x, out, $scalar)
        }
    };
}

activation_triple!(
    /// ReLU: `max(x, 0)` (NaN propagates).
    relu, relu_inplace, relu_into, relu_scalar
);
activation_triple!(
    /// ReLU6: `min(max(x, 0), 6)` (NaN propagates).
    relu6, relu6_inplace, relu6_into, relu6_scalar
);
activation_triple!(
    /// Logistic sigmoid `1 / (1 + e^-x)`.
    sigmoid, sigmoid_inplace, sigmoid_into, sigmoid_scalar
);
activation_triple!(
    /// Hyperbolic tangent.
    tanh, tanh_inplace, tanh_into, f32::tanh
);
activation_triple!(
    /// Exact GELU `0.5·x·(1 + erf(x/√2))`, matching PyTorch's default
    /// `approximate='none'` (erf from the `libm` crate).
    gelu, gelu_inplace, gelu_into, gelu_scalar
);

/// Scalar leaky ReLU with negative slope `slope`.
#[inline]
fn leaky_relu_scalar(slope: f32) -> impl Fn(f32) -> f32 + Sync {
    move |v| if v < 0.0 { v * slope } else { v }
}

/// Leaky ReLU: `x` if `x >= 0`, else `slope · x` (PyTorch `negative_slope`).
pub fn leaky_relu<D: Dimension>(x: ArrayView<'_, f32, D>, slope: f32) -> Array<f32, D> {
    map_new(x, leaky_relu_scalar(slope))
}

/// Leaky ReLU into `out` (any layout, every element overwritten; allocates
/// nothing for inputs below the parallel threshold). Errors with
/// [`KernelError::Shape`] if `out` does not have the shape of `x`.
pub fn leaky_relu_into<D: Dimension>(
    x: ArrayView<'_, f32, D>,
    slope: f32,
    out: ArrayViewMut<'_, f32, D>,
) -> Result<(), KernelError> {
    map_into("leaky_relu", x, out, leaky_relu_scalar(slope))
}

/// Leaky ReLU in place: `x` if `x >= 0`, else `slope · x`.
pub fn leaky_relu_inplace<D: Dimension>(x: ArrayViewMut<'_, f32, D>, slope: f32) {
    map_inplace(x, leaky_relu_scalar(slope))
}
