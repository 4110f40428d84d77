//! Dropout in training mode with a seeded mask: each element is kept with
//! probability `1 − p` and scaled by `1 / (1 − p)` (all dropped when `p = 1`,
//! as PyTorch).

use ndarray::{ArrayD, IxDyn};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::grad::Real;

/// The mask (`0` or `1 / (1 − p)` per element) for a tensor of shape `shape`.
pub(crate) fn mask<T: Real>(shape: &[usize], p: f64, rng: &mut ChaCha8Rng) -> ArrayD<T> {
    let scale = if p < 1.0 {
        T::from_f64(1.0 / (1.0 - p))
    } else {
        T::zero()
    };
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        if rng.random::<f64>() < p {
            T::zero()
        } else {
            scale
        }
    })
}
