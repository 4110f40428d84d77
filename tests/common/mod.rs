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

/// `act(conv(x) + b + skip)` with f64 accumulation (the formula of
/// tests/suite/kernels_naive.rs's reference plus the residual): the reference
/// of the direct, pointwise and Winograd kernels' tests, `w` of shape
/// `[o, c/groups, kh, kw]`.
pub fn conv_ref(
    x: ndarray::ArrayView4<f32>,
    w: ndarray::ArrayView4<f32>,
    b: Option<ndarray::ArrayView1<f32>>,
    skip: Option<ndarray::ArrayView4<f32>>,
    p: &resnetc::runtime::kernels::Conv2dParams,
) -> ndarray::Array4<f32> {
    let (n, _, h, wd) = x.dim();
    let (o, cg, kh, kw) = w.dim();
    let og = o / p.groups;
    let pd = p.padding;
    let (sh, sw) = p.stride;
    let (dh, dw) = p.dilation;
    let oh = (h + pd.top + pd.bottom - dh * (kh - 1) - 1) / sh + 1;
    let ow = (wd + pd.left + pd.right - dw * (kw - 1) - 1) / sw + 1;
    let mut out = ndarray::Array4::<f32>::zeros((n, o, oh, ow));
    for ni in 0..n {
        for oc in 0..o {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[oc] as f64);
                    for cl in 0..cg {
                        let ci = oc / og * cg + cl;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let ih = (y * sh + ki * dh) as isize - pd.top as isize;
                                let iw = (xx * sw + kj * dw) as isize - pd.left as isize;
                                if ih < 0 || iw < 0 || ih >= h as isize || iw >= wd as isize {
                                    continue;
                                }
                                acc += x[[ni, ci, ih as usize, iw as usize]] as f64
                                    * w[[oc, cl, ki, kj]] as f64;
                            }
                        }
                    }
                    if let Some(s) = skip {
                        acc += s[[ni, oc, y, xx]] as f64;
                    }
                    out[[ni, oc, y, xx]] = match p.activation {
                        resnetc::runtime::kernels::Activation::None => acc,
                        resnetc::runtime::kernels::Activation::Relu => acc.max(0.0),
                        resnetc::runtime::kernels::Activation::Relu6 => acc.clamp(0.0, 6.0),
                    } as f32;
                }
            }
        }
    }
    out
}

/// The convolution microkernels this CPU can run (the portable one always).
pub fn isas() -> Vec<resnetc::runtime::kernels::ConvIsa> {
    resnetc::runtime::kernels::ConvIsa::ALL
        .into_iter()
        .filter(|i| i.is_supported())
        .collect()
}
