//! Runs the model that `build.rs` compiled from `examples/seed.rn`, on a
//! batch of two seeded pseudo-random 3×64×64 images.

mod seed;

use resnetc::runtime::ndarray::Array4;

/// A small deterministic generator (SplitMix64), so the example needs no
/// dependency besides the runtime.
struct SplitMix64(u64);

impl SplitMix64 {
    /// A float uniform in [-1, 1).
    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn main() {
    // The weights were embedded at build time: no file is needed at run time.
    let model = seed::Seed::embedded().expect("the embedded weights fit the model");

    let mut rng = SplitMix64(42);
    let input = Array4::from_shape_simple_fn((2, 3, 64, 64), || rng.next_f32());

    let output = model
        .forward(input.view())
        .expect("the input has the model's shape");

    let n = output.len() as f64;
    let (min, max, sum) = output.iter().fold(
        (f32::INFINITY, f32::NEG_INFINITY, 0.0f64),
        |(lo, hi, s), &v| (lo.min(v), hi.max(v), s + f64::from(v)),
    );
    println!("input shape:  {:?}", input.shape());
    println!("output shape: {:?}", output.shape());
    println!("output min {min:.6}, max {max:.6}, mean {:.6}", sum / n);
}
