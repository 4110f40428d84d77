//! Per-layer speed of `PackedConv2d` (weights packed once: the blocked
//! direct convolution, or for 1×1 unpadded layers the pointwise kernel)
//! against `conv2d_into` (im2col + GEMM) on every distinct convolution of
//! ResNet-18 and ResNet-50 at 224×224, batch 1 and 8.
//!
//! `cargo run --profile bench --example direct_conv_bench` (threads: the rayon
//! default, or `RAYON_NUM_THREADS`; `ROUNDS`, default 7; `KERNEL=1` (or 3,
//! 7) times only the layers with that kernel size, `BATCH=1` (or 8) only
//! that batch). Each shape is
//! timed in interleaved rounds (old, new, old, new, …) and the medians are
//! compared, since the machine may be shared. Two clocks: wall time, and the
//! CPU time of all the process's threads (Linux `/proc/self/task/*/schedstat`),
//! which a shared, oversubscribed machine disturbs much less. Prints GFLOP/s
//! of both kernels by both clocks and the speedups, then per model the sum
//! over all its convolutions (each distinct shape weighted by its count),
//! and over its 1×1 convolutions alone.

#[path = "support/interleaved.rs"]
mod interleaved;

use ndarray::{Array1, Array4};
use resnetc::runtime::kernels::{
    Activation, Conv2dParams, ConvIsa, PackedConv2d, Padding2d, Residual, conv2d_into,
    conv2d_output_hw,
};

/// `(in channels, in size, out channels, kernel, stride, count in ResNet-18, count in ResNet-50)`.
const SHAPES: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
    (3, 224, 64, 7, 2, 1, 1),
    (64, 56, 64, 3, 1, 4, 3),
    (64, 56, 128, 3, 2, 1, 0),
    (128, 28, 128, 3, 1, 3, 3),
    (64, 56, 128, 1, 2, 1, 0),
    (128, 28, 256, 3, 2, 1, 0),
    (256, 14, 256, 3, 1, 3, 5),
    (128, 28, 256, 1, 2, 1, 0),
    (256, 14, 512, 3, 2, 1, 0),
    (512, 7, 512, 3, 1, 3, 2),
    (256, 14, 512, 1, 2, 1, 0),
    // ResNet-50 only
    (64, 56, 64, 1, 1, 0, 1),
    (64, 56, 256, 1, 1, 0, 4),
    (256, 56, 64, 1, 1, 0, 2),
    (256, 56, 128, 1, 1, 0, 1),
    (128, 56, 128, 3, 2, 0, 1),
    (128, 28, 512, 1, 1, 0, 4),
    (256, 56, 512, 1, 2, 0, 1),
    (512, 28, 128, 1, 1, 0, 3),
    (512, 28, 256, 1, 1, 0, 1),
    (256, 28, 256, 3, 2, 0, 1),
    (256, 14, 1024, 1, 1, 0, 6),
    (512, 28, 1024, 1, 2, 0, 1),
    (1024, 14, 256, 1, 1, 0, 5),
    (1024, 14, 512, 1, 1, 0, 1),
    (512, 14, 512, 3, 2, 0, 1),
    (512, 7, 2048, 1, 1, 0, 3),
    (1024, 14, 2048, 1, 2, 0, 1),
    (2048, 7, 512, 1, 1, 0, 2),
];

fn main() {
    let rounds = interleaved::env_usize("ROUNDS").unwrap_or(7);
    let only_k = interleaved::env_usize("KERNEL");
    let only_n = interleaved::env_usize("BATCH");
    println!(
        "threads {}, microkernel {:?}, {rounds} interleaved rounds per shape (medians)",
        rayon::current_num_threads(),
        ConvIsa::detect()
    );
    println!(
        "{:>5} {:>4} {:>5} {:>2} {:>1} {:>2} | wall ms: {:>8} {:>8} {:>6} | cpu ms: {:>8} {:>8} GF/cpu-s: {:>6} {:>6} {:>6}",
        "c",
        "hw",
        "o",
        "k",
        "s",
        "n",
        "gemm",
        "direct",
        "ratio",
        "gemm",
        "direct",
        "gemm",
        "direct",
        "ratio"
    );
    // [model·2 + batch index][wall old, wall new, cpu old, cpu new], over
    // all convolutions and over the 1×1 ones.
    let mut totals = [[0.0f64; 4]; 4];
    let mut totals_1x1 = [[0.0f64; 4]; 4];
    for (bi, n) in [1usize, 8].into_iter().enumerate() {
        if only_n.is_some_and(|only| only != n) {
            continue;
        }
        for &(c, hw, o, k, s, c18, c50) in SHAPES {
            if only_k.is_some_and(|only| only != k) {
                continue;
            }
            let params = Conv2dParams {
                stride: (s, s),
                padding: Padding2d::symmetric(k / 2, k / 2),
                dilation: (1, 1),
                groups: 1,
                activation: Activation::Relu,
            };
            let x = Array4::<f32>::from_shape_fn((n, c, hw, hw), |(a, b, y, z)| {
                ((a * 7 + b * 3 + y * 5 + z) % 17) as f32 / 17.0 - 0.5
            });
            let w = Array4::<f32>::from_shape_fn((o, c, k, k), |(a, b, y, z)| {
                ((a * 3 + b * 11 + y * 5 + z * 7) % 13) as f32 / 130.0 - 0.05
            });
            let bias = Array1::<f32>::from_elem(o, 0.01);
            let (oh, ow) = conv2d_output_hw((hw, hw), (k, k), &params).expect("shape");
            let mut out = Array4::<f32>::zeros((n, o, oh, ow));
            let packed = PackedConv2d::new(w.view(), Some(bias.view()), &params).expect("pack");
            let flop = 2.0 * (n * o * oh * ow * c * k * k) as f64;
            let old = |out: &mut Array4<f32>| {
                conv2d_into(
                    x.view(),
                    w.view(),
                    Some(bias.view()),
                    &params,
                    out.view_mut(),
                )
                .expect("conv");
            };
            let new = |out: &mut Array4<f32>| {
                packed
                    .run_into(x.view(), Residual::None, out.view_mut())
                    .expect("direct");
            };
            let (reference, m) = interleaved::interleaved(rounds, &mut out, old, new);
            let err = out
                .iter()
                .zip(&reference)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            let ([mo, mn], [mco, mcn]) = (m.wall, m.cpu);
            println!(
                "{c:>5} {hw:>4} {o:>5} {k:>2} {s:>1} {n:>2} | {:>8.2} {:>8.2} {:>5.2}x | {:>8.2} {:>8.2} {:>6.1} {:>6.1} {:>5.2}x  (max diff {err:.1e})",
                mo * 1e3,
                mn * 1e3,
                mo / mn,
                mco * 1e3,
                mcn * 1e3,
                flop / mco / 1e9,
                flop / mcn / 1e9,
                mco / mcn
            );
            for (m, count) in [c18, c50].into_iter().enumerate() {
                let add = |t: &mut [f64; 4]| {
                    t[0] += count as f64 * mo;
                    t[1] += count as f64 * mn;
                    t[2] += count as f64 * mco;
                    t[3] += count as f64 * mcn;
                };
                add(&mut totals[m * 2 + bi]);
                if k == 1 {
                    add(&mut totals_1x1[m * 2 + bi]);
                }
            }
        }
    }
    for (i, name, t) in ["resnet18 b1", "resnet18 b8", "resnet50 b1", "resnet50 b8"]
        .into_iter()
        .enumerate()
        .flat_map(|(i, name)| [(i, name, "all", &totals), (i, name, "1x1", &totals_1x1)])
        .map(|(i, name, what, t)| (i, format!("{name}: {what} convolutions"), t))
    {
        let [o, nw, co, cn] = t[i];
        println!(
            "{name}, wall: gemm {:.1} ms, direct {:.1} ms, speedup {:.2}x; cpu: gemm {:.1} ms, direct {:.1} ms, speedup {:.2}x",
            o * 1e3,
            nw * 1e3,
            o / nw,
            co * 1e3,
            cn * 1e3,
            co / cn
        );
    }
}
