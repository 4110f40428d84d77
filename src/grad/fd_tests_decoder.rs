//! The decoder ops' backward rules (`upsample`, `conv_transpose`) against
//! central differences in f64, as `fd_tests`: relative error below 1e-6 for
//! the input and every parameter, on odd shapes.

use super::fd_tests::{check, model, off};

#[test]
fn upsample_nearest_by_scale_and_to_an_odd_size() {
    // A conv first, so a parameter's gradient passes through the upsample.
    check(
        &model("[2, 3, 5]", "x -> conv(3, 1) -> upsample(2)"),
        &[2, 2, 3, 5],
        31,
        off(),
    );
    // 3×5 → 7×11: neither a multiple nor the 2× shortcut of PyTorch's index rule.
    check(
        &model("[2, 3, 5]", "x -> conv(2, 1) -> upsample(size: [7, 11])"),
        &[2, 2, 3, 5],
        32,
        off(),
    );
}

#[test]
fn upsample_bilinear_by_scale_size_and_like() {
    check(
        &model(
            "[2, 3, 4]",
            "x -> conv(3, [1, 2]) -> upsample(3, mode: bilinear)",
        ),
        &[2, 2, 3, 4],
        33,
        off(),
    );
    check(
        &model(
            "[2, 3, 5]",
            "x -> upsample(size: [8, 7], mode: bilinear) -> conv(2, 1)",
        ),
        &[2, 2, 3, 5],
        34,
        off(),
    );
    // Down by a strided conv, back to the input's size with `like(x)`, then
    // the skip: the gradient reaches `x` along both paths.
    let src = "model m {\n  input x: [2, 7, 5]\n  y = x -> conv(2, 3, stride: 2, pad: 1) -> upsample(size: like(x), mode: bilinear)\n  x + y\n}\n";
    check(src, &[2, 2, 7, 5], 35, off());
}

#[test]
fn conv_transpose_stride_output_padding_groups_dilation() {
    check(
        &model(
            "[4, 3, 5]",
            "x -> conv_transpose(6, [3, 2], stride: [2, 3], pad: [1, 0], output_pad: [1, 2], groups: 2)",
        ),
        &[2, 4, 3, 5],
        36,
        off(),
    );
    check(
        &model(
            "[3, 4, 3]",
            "x -> conv_transpose(2, 3, stride: 3, pad: [2, 1], dilation: [2, 1], output_pad: [1, 0], bias: false)",
        ),
        &[2, 3, 4, 3],
        37,
        off(),
    );
}

#[test]
fn conv_transpose_depthwise_dilated() {
    check(
        &model(
            "[3, 4, 4]",
            "x -> conv_transpose(3, 2, stride: 2, dilation: 3, output_pad: 2, groups: 3)",
        ),
        &[2, 3, 4, 4],
        38,
        off(),
    );
}

#[test]
fn decoder_conv_conv_transpose_upsample_bn() {
    let src = model(
        "[2, 6, 5]",
        "x -> conv(4, 3, stride: 2, pad: 1, bias: false) -> bn -> relu -> conv_transpose(3, 3, stride: 2, pad: 1, output_pad: 1) -> upsample(size: [9, 7], mode: bilinear) -> conv(2, 1)",
    );
    check(&src, &[2, 2, 6, 5], 39, off());
}
