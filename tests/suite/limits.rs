//! Checked arithmetic on every number a user writes (issue 8): shapes,
//! dilated extents, `same` padding, parameter counts, multiply-adds and byte
//! totals either are exact or are a located E0205 / E0202 naming the layer;
//! never a wrapped figure, never a panic (tests build with overflow checks).

use proptest::prelude::*;
use resnetc::diag::Code;
use resnetc::ir::Op;
use resnetc::{CompileError, compile_source};

fn errors(src: &str) -> CompileError {
    match compile_source("limits.rn", src, &Default::default()) {
        Ok(c) => panic!(
            "accepted:\n{src}\n{}",
            resnetc::report::Summary::new(&c.model).render()
        ),
        Err(e) => e,
    }
}

/// The one error of `src`: its code, and its rendering containing each needle.
fn error_at(src: &str, code: Code, needles: &[&str]) {
    let e = errors(src);
    let errs: Vec<_> = e.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errs.len(), 1, "{}", e.render());
    assert_eq!(errs[0].code, code, "{}", e.render());
    assert!(errs[0].primary.is_some(), "located: {}", e.render());
    let text = e.render();
    for n in needles {
        assert!(text.contains(n), "expected `{n}` in:\n{text}");
    }
}

#[test]
fn a_dilated_extent_beyond_u64_does_not_wrap_to_an_8x8_output() {
    // dilation 2^25 × (kernel 2^39 + 1 − 1) + 1 = 2^64 + 1: it wrapped to 1.
    error_at(
        "model m {\n  input x: [3, 8, 8]\n  x -> conv(1, [1, 549755813889], dilation: [1, 33554432])\n}\n",
        Code::E0202,
        &["smaller than the window 18446744073709551617"],
    );
}

#[test]
fn same_padding_beyond_the_limit_is_an_error() {
    error_at(
        "model m {\n  input x: [3, 8, 8]\n  x -> maxpool([1, 1099511627776], dilation: [1, 1099511627776], pad: same)\n}\n",
        Code::E0110,
        &["`same` would pad the width with", "zeros"],
    );
}

#[test]
fn a_weight_of_2_80_elements_is_not_reported_as_2_40() {
    error_at(
        "model m {\n  input x: [16, 65536, 1048576]\n  x -> flatten -> fc: dense(1099511627776)\n}\n",
        Code::E0205,
        &[
            "parameter `fc.weight` is too large",
            "1099511627776 × 1099511627776 = 1208925819614629174706176 elements",
            "at most 2^40",
            "global_avgpool",
        ],
    );
}

#[test]
fn multiply_adds_beyond_u64_are_located() {
    // A 2^19 × 2^19 kernel over a 2^20 × 2^20 map: 2^78 multiply-adds.
    error_at(
        "model m {\n  input x: [1, 1048576, 1048576]\n  x -> big: conv(1, 524288, pad: same)\n}\n",
        Code::E0205,
        &["multiply-adds per sample of `big`", "64 bits"],
    );
    // Sixteen layers of 2^60: the total overflows at the last one.
    error_at(
        "model m {\n  input x: [1048576, 1024, 1024]\n  x -> conv(1048576, 1) * 16\n}\n",
        Code::E0205,
        &["the model's multiply-adds per sample up to"],
    );
}

#[test]
fn the_largest_valid_figures_are_exact() {
    // 2^40 input features into 1 output: exactly 2^40 + 1 parameters.
    let c = compile_source(
        "m.rn",
        "model m {\n  input x: [16, 65536, 1048576]\n  x -> flatten -> dense(1)\n}\n",
        &Default::default(),
    )
    .unwrap();
    let costs = c.model.costs();
    assert_eq!(costs.total_params, (1 << 40) + 1);
    assert_eq!(costs.mult_adds, 1 << 40);
    assert_eq!(costs.param_bytes, ((1u64 << 40) + 1) * 4);
    let table = resnetc::report::Summary::new(&c.model).render();
    assert!(table.contains("1,099,511,627,777"), "{table}");
}

/// A size: mostly small, sometimes near or beyond 2^40, 2^64 / 2^25 …
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        20 => 1u64..6,
        1 => 1u64..100_000,
        1 => (30u32..44).prop_flat_map(|b| (1u64 << b) - 1..(1u64 << b) + 2),
        1 => Just(549_755_813_889u64),
        1 => Just(33_554_432u64),
        1 => Just(u64::MAX / 3),
    ]
}

/// The exact output size of a window op (PyTorch's formula) in u128.
fn window(input: u128, pad: u128, kernel: u128, stride: u128, dilation: u128) -> Option<u128> {
    let extent = dilation * (kernel - 1) + 1;
    let padded = input + 2 * pad;
    (padded >= extent).then(|| (padded - extent) / stride + 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Random (often huge) arguments: never a panic; when accepted, every
    /// shape and figure equals its exact value.
    #[test]
    fn huge_arguments_never_wrap(
        c in size(), h in size(), w in size(),
        out in size(), k in (size(), size()), s in (size(), size()),
        d in (size(), size()), p in 0u64..4, features in size(),
    ) {
        let src = format!(
            "model m {{\n  input x: [{c}, {h}, {w}]\n  x -> conv({out}, [{}, {}], stride: [{}, {}], dilation: [{}, {}], pad: {p}) -> relu -> flatten -> dense({features})\n}}\n",
            k.0, k.1, s.0, s.1, d.0, d.1
        );
        let Ok(compiled) = compile_source("m.rn", &src, &Default::default()) else {
            return Ok(());
        };
        let g = compiled.model.graph();
        let costs = compiled.model.costs();
        let conv = g.nodes.iter().position(|n| matches!(n.op, Op::Conv(_))).unwrap();
        let oh = window(h.into(), p.into(), k.0.into(), s.0.into(), d.0.into()).unwrap();
        let ow = window(w.into(), p.into(), k.1.into(), s.1.into(), d.1.into()).unwrap();
        let shape = &g.nodes[conv].shape.0;
        prop_assert_eq!(shape.iter().map(|&x| x as u128).collect::<Vec<_>>(), vec![out.into(), oh, ow]);
        let mut total: u128 = 0;
        let mut macs: u128 = 0;
        for (n, cost) in g.nodes.iter().zip(&costs.nodes) {
            let params: u128 = n.params.iter().map(|p| p.shape.iter().map(|&x| x as u128).product::<u128>()).sum();
            prop_assert_eq!(u128::from(cost.params), params);
            let exact = match &n.op {
                Op::Conv(cv) => shape.iter().map(|&x| x as u128).product::<u128>()
                    * cv.in_channels as u128 * cv.kernel[0] as u128 * cv.kernel[1] as u128,
                Op::Dense(dn) => dn.out_features as u128 * dn.in_features as u128,
                _ => 0,
            };
            prop_assert_eq!(u128::from(cost.macs), exact);
            total += params;
            macs += exact;
        }
        prop_assert_eq!(u128::from(costs.total_params), total);
        prop_assert_eq!(u128::from(costs.mult_adds), macs);
        prop_assert_eq!(u128::from(costs.param_bytes), total * 4);
        // The summary renders without overflow.
        let _ = resnetc::report::Summary::new(&compiled.model).render();
    }
}
