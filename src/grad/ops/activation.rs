//! Element-wise activations and their derivatives (PyTorch's conventions at
//! the kinks: ReLU's derivative at 0 is 0, ReLU6's is 0 at 0 and 6, leaky
//! ReLU's at 0 is the slope).

use ndarray::{ArrayD, ArrayViewD, Zip};

use crate::grad::Real;
use crate::ir::Activation;

/// `y = f(x)`.
pub(crate) fn forward<T: Real>(a: Activation, x: ArrayViewD<'_, T>) -> ArrayD<T> {
    x.mapv(|v| value(a, v))
}

/// `dx = dy · f'(x)`.
pub(crate) fn backward<T: Real>(
    a: Activation,
    x: ArrayViewD<'_, T>,
    dy: ArrayViewD<'_, T>,
) -> ArrayD<T> {
    Zip::from(&x)
        .and(&dy)
        .map_collect(|&v, &d| d * derivative(a, v))
}

fn sigmoid<T: Real>(v: T) -> T {
    T::one() / (T::one() + (-v).exp())
}

fn value<T: Real>(a: Activation, v: T) -> T {
    let zero = T::zero();
    match a {
        Activation::Relu => {
            if v > zero {
                v
            } else {
                zero
            }
        }
        Activation::Relu6 => {
            let six = T::from_f64(6.0);
            if v <= zero {
                zero
            } else if v >= six {
                six
            } else {
                v
            }
        }
        Activation::Sigmoid => sigmoid(v),
        Activation::Tanh => v.tanh(),
        Activation::Gelu => {
            T::from_f64(0.5)
                * v
                * (T::one() + (v * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
        }
        Activation::LeakyRelu { slope } => {
            if v > zero {
                v
            } else {
                T::from_f64(slope) * v
            }
        }
    }
}

fn derivative<T: Real>(a: Activation, v: T) -> T {
    let (zero, one) = (T::zero(), T::one());
    match a {
        Activation::Relu => {
            if v > zero {
                one
            } else {
                zero
            }
        }
        Activation::Relu6 => {
            if v > zero && v < T::from_f64(6.0) {
                one
            } else {
                zero
            }
        }
        Activation::Sigmoid => {
            let s = sigmoid(v);
            s * (one - s)
        }
        Activation::Tanh => {
            let t = v.tanh();
            one - t * t
        }
        Activation::Gelu => {
            let cdf =
                T::from_f64(0.5) * (one + (v * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf());
            let pdf = (-(v * v) * T::from_f64(0.5)).exp()
                * T::from_f64(1.0 / (2.0 * std::f64::consts::PI).sqrt());
            cdf + v * pdf
        }
        Activation::LeakyRelu { slope } => {
            if v > zero {
                one
            } else {
                T::from_f64(slope)
            }
        }
    }
}
