//! Per-layer speed of the grouped and depthwise strategies of
//! `PackedConv2d` against `conv2d_into` (im2col + GEMM per group) on
//! MobileNet-v2's depthwise 3×3 convolutions and ResNeXt-50 32×4d's grouped
//! 3×3 convolutions at 224×224, batch 1 and 8.
//!
//! `cargo run --profile bench --example grouped_conv_bench` (threads: the
//! rayon default, or `RAYON_NUM_THREADS`; `ROUNDS`, default 7; `BATCHES`,
//! default `1,8`; `ONLY`, a model name to run only its layers). As in `direct_conv.rs`: interleaved rounds (old, new,
//! old, new, …), medians of wall time and of the process's CPU time, GFLOP/s
//! (useful multiply-adds only, not the zeros a block-diagonal block adds)
//! and ratios, then per model the sum over its layers weighted by count.

#[path = "support/interleaved.rs"]
mod interleaved;

use ndarray::{Array1, Array4};
use resnetc::runtime::kernels::{
    Activation, Conv2dParams, ConvIsa, PackedConv2d, Padding2d, Residual, conv2d_into,
    conv2d_output_hw,
};

/// One layer: `(model, channels in = out, in size, groups, stride, count)`.
type Shape = (&'static str, usize, usize, usize, usize, usize);

/// MobileNet-v2's depthwise layers, then ResNeXt-50 32×4d's grouped ones.
const SHAPES: &[Shape] = &[
    ("mobilenet_v2", 32, 112, 32, 1, 1),
    ("mobilenet_v2", 96, 112, 96, 2, 1),
    ("mobilenet_v2", 144, 56, 144, 1, 1),
    ("mobilenet_v2", 144, 56, 144, 2, 1),
    ("mobilenet_v2", 192, 28, 192, 1, 2),
    ("mobilenet_v2", 192, 28, 192, 2, 1),
    ("mobilenet_v2", 384, 14, 384, 1, 4),
    ("mobilenet_v2", 576, 14, 576, 1, 2),
    ("mobilenet_v2", 576, 14, 576, 2, 1),
    ("mobilenet_v2", 960, 7, 960, 1, 3),
    ("resnext50", 128, 56, 32, 1, 3),
    ("resnext50", 256, 56, 32, 2, 1),
    ("resnext50", 256, 28, 32, 1, 3),
    ("resnext50", 512, 28, 32, 2, 1),
    ("resnext50", 512, 14, 32, 1, 5),
    ("resnext50", 1024, 14, 32, 2, 1),
    ("resnext50", 1024, 7, 32, 1, 2),
];

fn main() {
    let rounds = interleaved::env_usize("ROUNDS").unwrap_or(7);
    let batches: Vec<usize> = std::env::var("BATCHES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8]);
    let only = std::env::var("ONLY").ok();
    println!(
        "threads {}, microkernel {:?}, {rounds} interleaved rounds per shape (medians)",
        rayon::current_num_threads(),
        ConvIsa::detect()
    );
    println!(
        "{:>12} {:>5} {:>4} {:>4} {:>1} {:>2} | wall ms: {:>8} {:>8} {:>6} | cpu ms: {:>8} {:>8} GF/cpu-s: {:>6} {:>6} {:>6}",
        "model",
        "c",
        "hw",
        "g",
        "s",
        "n",
        "gemm",
        "packed",
        "ratio",
        "gemm",
        "packed",
        "gemm",
        "packed",
        "ratio"
    );
    // (model, batch) → [wall old, wall new, cpu old, cpu new]
    let mut totals: Vec<((&str, usize), [f64; 4])> = Vec::new();
    for &n in &batches {
        for &(model, c, hw, g, s, count) in SHAPES {
            if only.as_deref().is_some_and(|m| m != model) {
                continue;
            }
            let params = Conv2dParams {
                stride: (s, s),
                padding: Padding2d::symmetric(1, 1),
                dilation: (1, 1),
                groups: g,
                activation: if g == c {
                    Activation::Relu6
                } else {
                    Activation::Relu
                },
            };
            let (o, cg, k) = (c, c / g, 3);
            let x = Array4::<f32>::from_shape_fn((n, c, hw, hw), |(a, b, y, z)| {
                ((a * 7 + b * 3 + y * 5 + z) % 17) as f32 / 17.0 - 0.5
            });
            let w = Array4::<f32>::from_shape_fn((o, cg, k, k), |(a, b, y, z)| {
                ((a * 3 + b * 11 + y * 5 + z * 7) % 13) as f32 / 130.0 - 0.05
            });
            let bias = Array1::<f32>::from_elem(o, 0.01);
            let (oh, ow) = conv2d_output_hw((hw, hw), (k, k), &params).expect("shape");
            let mut out = Array4::<f32>::zeros((n, o, oh, ow));
            let packed = PackedConv2d::new(w.view(), Some(bias.view()), &params).expect("pack");
            let flop = 2.0 * (n * o * oh * ow * cg * k * k) as f64;
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
                    .expect("packed");
            };
            let (reference, m) = interleaved::interleaved(rounds, &mut out, old, new);
            let err = out
                .iter()
                .zip(&reference)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            let ([mo, mn], [mco, mcn]) = (m.wall, m.cpu);
            println!(
                "{model:>12} {c:>5} {hw:>4} {g:>4} {s:>1} {n:>2} | {:>8.2} {:>8.2} {:>5.2}x | {:>8.2} {:>8.2} {:>6.1} {:>6.1} {:>5.2}x  (max diff {err:.1e})",
                mo * 1e3,
                mn * 1e3,
                mo / mn,
                mco * 1e3,
                mcn * 1e3,
                flop / mco / 1e9,
                flop / mcn / 1e9,
                mco / mcn
            );
            let key = (model, n);
            let i = match totals.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    totals.push((key, [0.0; 4]));
                    totals.len() - 1
                }
            };
            let cnt = count as f64;
            for (t, v) in totals[i].1.iter_mut().zip([mo, mn, mco, mcn]) {
                *t += cnt * v;
            }
        }
    }
    for ((model, n), [o, nw, co, cn]) in totals {
        println!(
            "{model} b{n}: all its grouped convolutions, wall: gemm {:.1} ms, packed {:.1} ms, speedup {:.2}x; cpu: gemm {:.1} ms, packed {:.1} ms, speedup {:.2}x",
            o * 1e3,
            nw * 1e3,
            o / nw,
            co * 1e3,
            cn * 1e3,
            co / cn
        );
    }
}
