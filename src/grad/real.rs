//! [`Real`]: the float type gradients are computed in (f64 for checks, f32
//! for training).
//!
//! A small trait of our own rather than `num_traits::Float`: the rules need
//! `erf` (exact GELU), which `Float` lacks, and ndarray's `LinalgScalar` for
//! matrix products, which it does not imply.

use std::fmt::{Debug, Display};
use std::ops::{AddAssign, DivAssign, MulAssign, Neg, SubAssign};

use ndarray::{Array2, ArrayView2, LinalgScalar, ScalarOperand};

/// A floating-point element type: `f32` or `f64`.
pub trait Real:
    LinalgScalar
    + ScalarOperand
    + PartialOrd
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Debug
    + Display
    + Send
    + Sync
{
    /// The nearest value to `v`.
    fn from_f64(v: f64) -> Self;
    /// The value as f64 (exact).
    fn to_f64(self) -> f64;
    /// The value from an f32 (exact).
    fn from_f32(v: f32) -> Self;
    /// The nearest f32.
    fn to_f32(self) -> f32;
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The error function.
    fn erf(self) -> Self;
    /// Whether neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// The matrix product `a · b`: ndarray's `dot` (f64, which the
    /// finite-difference checks use), the runtime's GEMM for f32 (training).
    fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self> {
        a.dot(&b)
    }
}

macro_rules! real {
    ($t:ty, $erf:path $(, $matmul:path)?) => {
        impl Real for $t {
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            fn to_f32(self) -> f32 {
                self as f32
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn erf(self) -> Self {
                $erf(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            $(
                fn matmul(a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>) -> Array2<Self> {
                    $matmul(a, b)
                }
            )?
        }
    };
}

real!(
    f32,
    libm::erff,
    crate::runtime::kernels::matmul::matmul_views
);
real!(f64, libm::erf);
