//! Shared test helpers: deterministic RNG and tolerance checks.
#![allow(dead_code)]

use ndarray::{Array, ArrayView, Dimension, IxDyn};

/// Small deterministic xorshift64* generator (no external RNG dependency).
pub struct Rng(u64);

impl Rng {
    /// New generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next raw 64-bit value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unif(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unif()
    }
    /// Uniform integer in [lo, hi] (inclusive).
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
    /// Random array with entries uniform in [-1, 1).
    pub fn array<Sh: ndarray::ShapeBuilder<Dim = D>, D: Dimension>(
        &mut self,
        shape: Sh,
    ) -> Array<f32, D> {
        let mut a = Array::<f32, D>::zeros(shape);
        a.mapv_inplace(|_| self.range(-1.0, 1.0));
        a
    }
}

/// Asserts `max|a-b| <= tol · max(1, max|b|)` and identical shapes.
pub fn assert_close<D: Dimension, E: Dimension>(
    a: ArrayView<'_, f32, D>,
    b: ArrayView<'_, f32, E>,
    tol: f32,
    what: &str,
) {
    assert_eq!(a.shape(), b.shape(), "{what}: shape mismatch");
    let a = a.into_dyn();
    let b = b.into_dyn();
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let mut worst = 0.0f32;
    let mut at = IxDyn(&[]);
    for (idx, &x) in a.indexed_iter() {
        let y = b[idx.clone()];
        if x.is_nan() || y.is_nan() {
            assert!(
                x.is_nan() && y.is_nan(),
                "{what}: NaN mismatch at {idx:?}: {x} vs {y}"
            );
            continue;
        }
        let d = if x == y { 0.0 } else { (x - y).abs() };
        if d > worst {
            worst = d;
            at = idx;
        }
    }
    assert!(
        worst <= tol * scale,
        "{what}: max |diff| {worst} at {at:?} exceeds {tol} x {scale}"
    );
}
