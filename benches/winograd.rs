//! Per-layer speed of the Winograd F(4×4, 3×3) convolution
//! (`WinogradConv2d`) against the blocked direct one (`PackedConv2d`) on the
//! 3×3 stride-1 convolutions of ResNet-18 and ResNet-50 at 224×224, batch 1
//! and 8.
//!
//! `cargo run --profile bench --example winograd_bench` (threads: the rayon
//! default, or `RAYON_NUM_THREADS`; `ROUNDS`, default 7). Each shape is
//! timed in interleaved rounds (direct, Winograd, direct, …) and the
//! medians are compared, by wall time and by the CPU time of all the
//! process's threads (Linux `/proc/self/task/*/schedstat`), which a shared
//! machine disturbs less. GFLOP/s count the direct algorithm's
//! multiply-adds (`2·n·o·oh·ow·c·9`) for both kernels. Also prints the
//! largest difference between the two outputs relative to the largest
//! output value.

#[path = "support/interleaved.rs"]
mod interleaved;

use ndarray::{Array1, Array4};
use resnetc::runtime::kernels::{
    Activation, Conv2dParams, ConvIsa, PackedConv2d, Padding2d, Residual, WinogradConv2d,
};

/// `(channels, map size, count in ResNet-18, count in ResNet-50)`: the
/// 3×3 stride-1 convolutions (as many in as out channels).
const SHAPES: &[(usize, usize, usize, usize)] = &[
    (64, 56, 4, 3),
    (128, 28, 3, 3),
    (256, 14, 3, 5),
    (512, 7, 3, 2),
];

fn main() {
    let rounds = interleaved::env_usize("ROUNDS").unwrap_or(7);
    println!(
        "threads {}, direct microkernel {:?}, {rounds} interleaved rounds per shape (medians)",
        rayon::current_num_threads(),
        ConvIsa::detect()
    );
    println!(
        "{:>4} {:>3} {:>2} | wall ms: {:>8} {:>8} {:>6} | cpu ms: {:>8} {:>8} {:>6} | GF/s wall: {:>6} {:>6}",
        "c",
        "hw",
        "n",
        "direct",
        "winograd",
        "ratio",
        "direct",
        "winograd",
        "ratio",
        "direct",
        "wino"
    );
    // [model·2 + batch index][wall direct, wall winograd]
    let mut totals = [[0.0f64; 2]; 4];
    for (bi, n) in [1usize, 8].into_iter().enumerate() {
        for &(c, hw, c18, c50) in SHAPES {
            let params = Conv2dParams {
                padding: Padding2d::symmetric(1, 1),
                activation: Activation::Relu,
                ..Conv2dParams::default()
            };
            let x = Array4::<f32>::from_shape_fn((n, c, hw, hw), |(a, b, y, z)| {
                ((a * 7 + b * 3 + y * 5 + z) % 17) as f32 / 17.0
            });
            let w = Array4::<f32>::from_shape_fn((c, c, 3, 3), |(a, b, y, z)| {
                ((a * 3 + b * 11 + y * 5 + z * 7) % 13) as f32 / 130.0 - 0.045
            });
            let bias = Array1::<f32>::from_elem(c, 0.01);
            let mut out = Array4::<f32>::zeros((n, c, hw, hw));
            let direct = PackedConv2d::new(w.view(), Some(bias.view()), &params).expect("pack");
            let wino = WinogradConv2d::new(w.view(), Some(bias.view()), &params).expect("winograd");
            let flop = 2.0 * (n * c * hw * hw * c * 9) as f64;
            let old = |out: &mut Array4<f32>| {
                direct
                    .run_into(x.view(), Residual::None, out.view_mut())
                    .expect("direct");
            };
            let new = |out: &mut Array4<f32>| {
                wino.run_into(x.view(), Residual::None, out.view_mut())
                    .expect("winograd");
            };
            let (reference, m) = interleaved::interleaved(rounds, &mut out, old, new);
            let peak = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let err = out
                .iter()
                .zip(&reference)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
                / peak;
            let ([mo, mn], [mco, mcn]) = (m.wall, m.cpu);
            println!(
                "{c:>4} {hw:>3} {n:>2} | {:>8.2} {:>8.2} {:>5.2}x | {:>8.2} {:>8.2} {:>5.2}x | {:>6.1} {:>6.1}  (max diff / max {err:.1e})",
                mo * 1e3,
                mn * 1e3,
                mo / mn,
                mco * 1e3,
                mcn * 1e3,
                mco / mcn,
                flop / mo / 1e9,
                flop / mn / 1e9,
            );
            for (m, count) in [c18, c50].into_iter().enumerate() {
                totals[m * 2 + bi][0] += count as f64 * mo;
                totals[m * 2 + bi][1] += count as f64 * mn;
            }
        }
    }
    for (i, name) in ["resnet18 b1", "resnet18 b8", "resnet50 b1", "resnet50 b8"]
        .into_iter()
        .enumerate()
    {
        let [d, wg] = totals[i];
        println!(
            "{name}: 3×3 stride-1 convolutions, wall: direct {:.1} ms, winograd {:.1} ms, speedup {:.2}x",
            d * 1e3,
            wg * 1e3,
            d / wg
        );
    }
}
