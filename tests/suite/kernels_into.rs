//! The `_into` kernels (caller-owned output buffers): bit-for-bit equal to the
//! allocating versions whatever `out` held before, `Err` (never a panic) on a
//! wrong-shaped or (for slice-based kernels) non-contiguous `out`, and no
//! allocations per call on small standard-layout inputs.

use crate::common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::Rng;
use ndarray::{
    Array, Array1, Array2, Array4, ArrayView, ArrayViewMut, Axis, Dimension, IxDyn, ShapeBuilder, s,
};
use resnetc::runtime::kernels::*;

// ------------------------------------------------------- counting allocator

/// Counts `alloc` / `alloc_zeroed` / `realloc` calls made by the current
/// thread while its `COUNTING` flag is on (tests run on several threads).
struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc() {
    // `try_with`: the allocator can run while thread-locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn count_allocs(f: impl FnOnce()) -> usize {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCS.with(|n| n.get())
}

// ------------------------------------------------------------------ helpers

/// Values a stale output buffer may hold.
const GARBAGE: [f32; 3] = [f32::NAN, 1e30, -f32::INFINITY];

fn assert_bits_eq<D: Dimension>(
    got: ArrayView<'_, f32, D>,
    want: ArrayView<'_, f32, D>,
    what: &str,
) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i} (logical order) differs: {g} vs {w}"
        );
    }
}

fn assert_shape_err(r: Result<(), KernelError>, what: &str) {
    match r {
        Err(KernelError::Shape(msg)) => assert!(!msg.is_empty(), "{what}: empty message"),
        other => panic!("{what}: expected a shape error, got {other:?}"),
    }
}

/// Checks one `_into` call against the allocating result `want`:
///
/// * into buffers pre-filled with garbage, bit-for-bit equal to `want`;
/// * into a column-major (non-standard) buffer: equal if `any_layout`, else
///   a shape error;
/// * into buffers one element too long along the first / last axis: a shape
///   error (with a message naming the expected and found shapes).
fn check_into<D: Dimension>(
    what: &str,
    want: &Array<f32, D>,
    any_layout: bool,
    run: impl Fn(ArrayViewMut<'_, f32, D>) -> Result<(), KernelError>,
) {
    assert!(
        want.is_standard_layout(),
        "{what}: allocating result layout"
    );
    for g in GARBAGE {
        let mut out = Array::from_elem(want.raw_dim(), g);
        run(out.view_mut()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_bits_eq(out.view(), want.view(), &format!("{what} (stale {g})"));
    }
    let mut fortran = Array::from_elem(want.raw_dim().f(), f32::NAN);
    if !fortran.is_standard_layout() {
        let r = run(fortran.view_mut());
        if any_layout {
            r.unwrap_or_else(|e| panic!("{what} (column-major out): {e}"));
            assert_bits_eq(
                fortran.view(),
                want.view(),
                &format!("{what} (column-major out)"),
            );
        } else {
            assert_shape_err(r, &format!("{what} (column-major out)"));
        }
    }
    let last = want.ndim() - 1;
    for axis in [0, last] {
        let mut dim = want.raw_dim();
        dim[axis] += 1;
        let mut wrong = Array::from_elem(dim, f32::NAN);
        let r = run(wrong.view_mut());
        if let Err(KernelError::Shape(msg)) = &r {
            assert!(
                msg.contains(&format!("{:?}", want.shape())),
                "{what}: message {msg:?} should name the expected shape"
            );
        }
        assert_shape_err(r, &format!("{what} (out too long along axis {axis})"));
    }
}

// -------------------------------------------------------------------- conv

struct ConvCase {
    x: [usize; 4],
    o: usize,
    k: (usize, usize),
    stride: (usize, usize),
    pad: Padding2d,
    dilation: (usize, usize),
    groups: usize,
    act: Activation,
    bias: bool,
}

fn conv_cases() -> Vec<ConvCase> {
    let c = |x, o, k, stride, pad, dilation, groups, act, bias| ConvCase {
        x,
        o,
        k,
        stride,
        pad,
        dilation,
        groups,
        act,
        bias,
    };
    let p = Padding2d::symmetric;
    let z = Padding2d::ZERO;
    use Activation::{None as Id, Relu, Relu6};
    vec![
        c(
            [1, 3, 9, 9],
            4,
            (3, 3),
            (1, 1),
            p(1, 1),
            (1, 1),
            1,
            Id,
            true,
        ),
        c(
            [2, 4, 8, 7],
            6,
            (3, 3),
            (2, 2),
            p(1, 1),
            (1, 1),
            2,
            Relu,
            true,
        ),
        c(
            [3, 6, 10, 10],
            6,
            (3, 3),
            (1, 1),
            p(2, 2),
            (2, 2),
            6,
            Relu6,
            false,
        ),
        c([2, 8, 6, 6], 5, (1, 1), (1, 1), z, (1, 1), 1, Relu, true), // pointwise
        c([1, 8, 6, 6], 4, (1, 1), (2, 2), z, (1, 1), 1, Id, false),  // strided 1x1
        c(
            [4, 3, 11, 5],
            8,
            (5, 3),
            (2, 1),
            Padding2d {
                top: 0,
                left: 2,
                bottom: 3,
                right: 1,
            },
            (1, 2),
            1,
            Relu6,
            true,
        ),
        c(
            [1, 16, 14, 14],
            32,
            (3, 3),
            (1, 1),
            p(1, 1),
            (1, 1),
            1,
            Relu,
            true,
        ), // parallel GEMM split
        c([2, 4, 3, 3], 4, (3, 3), (1, 1), z, (1, 1), 4, Id, true), // 1x1 output
    ]
}

fn conv_params(cs: &ConvCase) -> Conv2dParams {
    Conv2dParams {
        stride: cs.stride,
        padding: cs.pad,
        dilation: cs.dilation,
        groups: cs.groups,
        activation: cs.act,
    }
}

/// Random input, weight and bias of conv case `cs`, and its parameters.
fn conv_operands(
    rng: &mut Rng,
    cs: &ConvCase,
) -> (Array4<f32>, Array4<f32>, Array1<f32>, Conv2dParams) {
    let x: Array4<f32> = rng.array(cs.x);
    let w: Array4<f32> = rng.array((cs.o, cs.x[1] / cs.groups, cs.k.0, cs.k.1));
    let b: Array1<f32> = rng.array(cs.o);
    (x, w, b, conv_params(cs))
}

#[test]
fn conv2d_into_matches_conv2d() {
    let mut rng = Rng::new(1);
    for (i, cs) in conv_cases().iter().enumerate() {
        let (x, w, b, params) = conv_operands(&mut rng, cs);
        let bias = cs.bias.then(|| b.view());
        let want = conv2d(x.view(), w.view(), bias, &params).expect("conv2d");
        check_into(&format!("conv2d case {i}"), &want, false, |out| {
            conv2d_into(x.view(), w.view(), bias, &params, out)
        });
    }
}

/// A residual fused into a convolution's epilogue (`act(conv(x) + b +
/// skip)`, the lowering of conv → add → relu) computes the same bits as the
/// convolution, the add and the activation run one after another: on every
/// case, with the skip passed or in the output, with per-thread or planned
/// scratch (exactly the floats `conv2d_scratch_len` asks for, for 1–3
/// threads), on the im2col path and, where it applies, the packed one.
#[test]
fn fused_residuals_match_conv_then_add_then_activation() {
    let mut rng = Rng::new(12);
    for threads in 1..=3 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            for (i, cs) in conv_cases().iter().enumerate() {
                let what = format!("conv2d case {i}, {threads} threads");
                let (x, w, b, params) = conv_operands(&mut rng, cs);
                let bias = cs.bias.then(|| b.view());
                let linear = Conv2dParams {
                    activation: Activation::None,
                    ..params
                };
                let conv = conv2d(x.view(), w.view(), bias, &linear).expect("conv2d");
                let skip: Array4<f32> = rng.array(conv.raw_dim());
                let want = (&conv + &skip).mapv(|v| params.activation.apply(v));
                let check = |got: &Array4<f32>, form: &str| {
                    assert_bits_eq(got.view(), want.view(), &format!("{what}, {form}"));
                };
                let mut got = Array4::<f32>::from_elem(want.raw_dim(), f32::NAN);
                conv2d_residual_into(
                    x.view(),
                    w.view(),
                    bias,
                    &params,
                    Residual::Add(skip.view()),
                    got.view_mut(),
                )
                .expect(&what);
                check(&got, "skip passed");
                let mut got = skip.clone();
                conv2d_residual_into(
                    x.view(),
                    w.view(),
                    bias,
                    &params,
                    Residual::InPlace,
                    got.view_mut(),
                )
                .expect(&what);
                check(&got, "in place");
                for in_place in [false, true] {
                    let len = conv2d_scratch_len(cs.x, w.dim().into(), &params, threads, in_place)
                        .expect("scratch length");
                    let mut scratch = vec![f32::NAN; len];
                    let (residual, mut got) = if in_place {
                        (Residual::InPlace, skip.clone())
                    } else {
                        (Residual::Add(skip.view()), want.mapv(|_| f32::NAN))
                    };
                    let run = |scratch: &mut [f32], got: &mut Array4<f32>| {
                        conv2d_into_with_scratch(
                            x.view(),
                            w.view(),
                            bias,
                            &params,
                            residual,
                            got.view_mut(),
                            scratch,
                        )
                    };
                    if len > 0 {
                        let short = run(&mut scratch[1..], &mut got.clone());
                        assert!(
                            matches!(short, Err(KernelError::Shape(_))),
                            "{what}: {short:?}"
                        );
                    }
                    run(&mut scratch, &mut got).expect(&what);
                    check(&got, &format!("planned scratch, in place {in_place}"));
                }
                // The packed kernels the back ends run (`preferred_for`:
                // the direct, depthwise, grouped and pointwise strategies)
                // add the skip after the sum, as above: the same bits in
                // place and not, and as the conv and the add run apart.
                if PackedConv2d::supports(&params) {
                    let packed = PackedConv2d::new(w.view(), bias, &linear).expect("packed");
                    let conv = packed.run(x.view(), Residual::None).expect(&what);
                    let want = (&conv + &skip).mapv(|v| params.activation.apply(v));
                    let packed = PackedConv2d::new(w.view(), bias, &params).expect("packed");
                    let got = packed
                        .run(x.view(), Residual::Add(skip.view()))
                        .expect(&what);
                    let mut in_place = skip.clone();
                    packed
                        .run_into(x.view(), Residual::InPlace, in_place.view_mut())
                        .expect(&what);
                    assert_bits_eq(in_place.view(), got.view(), &format!("packed {what}"));
                    if PackedConv2d::preferred_for(w.dim().into(), &params) {
                        assert_bits_eq(got.view(), want.view(), &format!("packed {what}"));
                    } else {
                        common::assert_close(got.view(), want.view(), 1e-5, &what);
                    }
                }
            }
        });
    }
}

/// The caller-planned scratch forms (the interpreter's workspace) compute
/// the same bits as the per-thread-scratch forms, on every case and for 1–3
/// threads (the parallel split by task differs from the one by item), with
/// exactly the floats the `scratch_len` functions ask for; one float less is
/// an error, not a panic.
#[test]
fn conv_kernels_with_planned_scratch_match_the_per_thread_forms() {
    let mut rng = Rng::new(11);
    for threads in 1..=3 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            for (i, cs) in conv_cases().iter().enumerate() {
                let what = format!("conv2d case {i}, {threads} threads");
                let (x, w, b, params) = conv_operands(&mut rng, cs);
                let bias = cs.bias.then(|| b.view());
                let want = conv2d(x.view(), w.view(), bias, &params).expect("conv2d");
                let len = conv2d_scratch_len(cs.x, w.dim().into(), &params, threads, false)
                    .expect("scratch length");
                let mut scratch = vec![f32::NAN; len];
                let mut got = Array4::<f32>::from_elem(want.raw_dim(), f32::NAN);
                conv2d_into_with_scratch(
                    x.view(),
                    w.view(),
                    bias,
                    &params,
                    Residual::None,
                    got.view_mut(),
                    &mut scratch,
                )
                .expect(&what);
                assert_bits_eq(got.view(), want.view(), &what);
                if len > 0 {
                    let short = conv2d_into_with_scratch(
                        x.view(),
                        w.view(),
                        bias,
                        &params,
                        Residual::None,
                        got.view_mut(),
                        &mut scratch[1..],
                    );
                    assert!(
                        matches!(short, Err(KernelError::Shape(_))),
                        "{what}: {short:?}"
                    );
                }
                if !PackedConv2d::supports(&params) {
                    continue;
                }
                let packed = PackedConv2d::new(w.view(), bias, &params).expect("packed");
                let mut want = Array4::<f32>::zeros(want.raw_dim());
                packed
                    .run_into(x.view(), Residual::None, want.view_mut())
                    .expect(&what);
                let len = packed.scratch_len(cs.x).expect("scratch length");
                let mut scratch = vec![f32::NAN; len];
                got.fill(f32::NAN);
                packed
                    .run_in_scratch(x.view(), Residual::None, got.view_mut(), &mut scratch)
                    .expect(&what);
                assert_bits_eq(got.view(), want.view(), &format!("packed {what}"));
                // None for the pointwise kernel (1×1, unpadded, stride 1).
                if len > 0 {
                    let short = packed.run_in_scratch(
                        x.view(),
                        Residual::None,
                        got.view_mut(),
                        &mut scratch[1..],
                    );
                    assert!(
                        matches!(short, Err(KernelError::Shape(_))),
                        "packed {what}: {short:?}"
                    );
                }
            }
        });
    }
}

#[test]
fn conv2d_into_non_contiguous_operands() {
    let mut rng = Rng::new(2);
    // NHWC data viewed as NCHW, a transposed-storage weight, a strided bias.
    let x_nhwc: Array4<f32> = rng.array((2, 7, 6, 4));
    let x = x_nhwc.view().permuted_axes([0, 3, 1, 2]);
    let w_store: Array4<f32> = rng.array((3, 3, 4, 5));
    let w = w_store.view().permuted_axes([3, 2, 0, 1]);
    let b_store: Array1<f32> = rng.array(10);
    let b = b_store.slice(s![..;2]);
    let params = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        activation: Activation::Relu,
        ..Conv2dParams::default()
    };
    let want = conv2d(x, w, Some(b), &params).expect("conv2d");
    let want_std = conv2d(
        x.as_standard_layout().view(),
        w.as_standard_layout().view(),
        Some(b.to_owned().view()),
        &params,
    )
    .expect("conv2d std");
    assert_bits_eq(
        want.view(),
        want_std.view(),
        "conv2d non-contiguous operands",
    );
    check_into("conv2d non-contiguous operands", &want, false, |out| {
        conv2d_into(x, w, Some(b), &params, out)
    });
}

#[test]
fn conv2d_into_errors() {
    let x = Array4::<f32>::zeros((1, 4, 5, 5));
    let w = Array4::<f32>::zeros((2, 4, 3, 3));
    let p = Conv2dParams::default();
    // Strided (every other column) view of the right shape.
    let mut wide = Array4::<f32>::zeros((1, 2, 3, 6));
    let strided = wide.slice_mut(s![.., .., .., ..;2]);
    assert_eq!(strided.shape(), &[1, 2, 3, 3]);
    assert_shape_err(
        conv2d_into(x.view(), w.view(), None, &p, strided),
        "conv2d strided out",
    );
    // Operand errors are still reported first.
    let mut out = Array4::<f32>::zeros((1, 2, 3, 3));
    let bad_w = Array4::<f32>::zeros((2, 3, 3, 3));
    assert!(conv2d_into(x.view(), bad_w.view(), None, &p, out.view_mut()).is_err());
    let groups0 = Conv2dParams { groups: 0, ..p };
    assert!(matches!(
        conv2d_into(x.view(), w.view(), None, &groups0, out.view_mut()),
        Err(KernelError::Param(_))
    ));
    let b = Array1::<f32>::zeros(3);
    assert!(conv2d_into(x.view(), w.view(), Some(b.view()), &p, out.view_mut()).is_err());
}

// ------------------------------------------------------------------- dense

#[test]
fn dense_into_matches_dense() {
    let mut rng = Rng::new(3);
    for (i, &(n, f, o)) in [(1, 5, 3), (4, 17, 9), (3, 1, 2), (64, 128, 130), (2, 0, 3)]
        .iter()
        .enumerate()
    {
        let x: Array2<f32> = rng.array((n, f));
        let w: Array2<f32> = rng.array((o, f));
        let b: Array1<f32> = rng.array(o);
        for act in [Activation::None, Activation::Relu, Activation::Relu6] {
            for bias in [None, Some(b.view())] {
                let want = dense(x.view(), w.view(), bias, act).expect("dense");
                check_into(&format!("dense case {i} {act:?}"), &want, false, |out| {
                    dense_into(x.view(), w.view(), bias, act, out)
                });
            }
        }
        // Transposed (column-major) operands.
        let xt = x.t().to_owned();
        let wt = w.t().to_owned();
        let want = dense(xt.t(), wt.t(), Some(b.view()), Activation::Relu).expect("dense");
        check_into(&format!("dense case {i} transposed"), &want, false, |out| {
            dense_into(xt.t(), wt.t(), Some(b.view()), Activation::Relu, out)
        });
    }
}

#[test]
fn dense_into_errors() {
    let x = Array2::<f32>::zeros((2, 4));
    let w = Array2::<f32>::zeros((3, 4));
    let mut t = Array2::<f32>::zeros((3, 2));
    assert_shape_err(
        dense_into(
            x.view(),
            w.view(),
            None,
            Activation::None,
            t.view_mut().reversed_axes(),
        ),
        "dense transposed out",
    );
    let mut out = Array2::<f32>::zeros((2, 3));
    let bad_w = Array2::<f32>::zeros((3, 5));
    assert_shape_err(
        dense_into(
            x.view(),
            bad_w.view(),
            None,
            Activation::None,
            out.view_mut(),
        ),
        "dense feature mismatch",
    );
}

// ------------------------------------------------------------- element-wise

#[test]
fn activations_into_match() {
    let mut rng = Rng::new(4);
    let small: Array4<f32> = rng.array((2, 3, 4, 5)).mapv(|v| v * 8.0);
    let big: Array2<f32> = rng.array((4, 1 << 14)).mapv(|v| v * 8.0); // parallel path
    let mut special = Array1::from(vec![0.0, -0.0, 6.0, 7.0, -3.0, f32::NAN, f32::INFINITY]);
    special[0] = f32::NEG_INFINITY;
    macro_rules! check_act {
        ($name:ident, $into:ident) => {
            check_into(stringify!($into), &$name(small.view()), true, |out| {
                $into(small.view(), out)
            });
            check_into(stringify!($into), &$name(big.view()), true, |out| {
                $into(big.view(), out)
            });
            check_into(stringify!($into), &$name(special.view()), true, |out| {
                $into(special.view(), out)
            });
            // A non-contiguous input.
            let tv = small.view().permuted_axes([3, 1, 0, 2]);
            check_into(stringify!($into), &$name(tv), true, |out| $into(tv, out));
        };
    }
    check_act!(relu, relu_into);
    check_act!(relu6, relu6_into);
    check_act!(sigmoid, sigmoid_into);
    check_act!(tanh, tanh_into);
    check_act!(gelu, gelu_into);
    let tv = small.view().permuted_axes([3, 1, 0, 2]);
    for x in [small.view(), tv] {
        check_into("leaky_relu_into", &leaky_relu(x, 0.1), true, |out| {
            leaky_relu_into(x, 0.1, out)
        });
    }
    check_into(
        "leaky_relu_into big",
        &leaky_relu(big.view(), 0.01),
        true,
        |out| leaky_relu_into(big.view(), 0.01, out),
    );
    // Dynamic dimension: a different rank is a shape error, not a panic.
    let xd = small.view().into_dyn();
    let mut wrong_rank = Array::<f32, IxDyn>::zeros(IxDyn(&[2, 3, 20]));
    assert_shape_err(relu_into(xd, wrong_rank.view_mut()), "relu_into rank");
}

/// Random batch-norm statistics for `c` channels (variances positive).
struct BatchNormStats {
    gamma: Array1<f32>,
    beta: Array1<f32>,
    mean: Array1<f32>,
    var: Array1<f32>,
}

impl BatchNormStats {
    fn random(rng: &mut Rng, c: usize) -> Self {
        BatchNormStats {
            gamma: rng.array(c),
            beta: rng.array(c),
            mean: rng.array(c),
            var: rng.array(c).mapv(|v: f32| v.abs() + 0.1),
        }
    }

    fn params(&self) -> BatchNormParams<'_> {
        BatchNormParams {
            gamma: self.gamma.view(),
            beta: self.beta.view(),
            running_mean: self.mean.view(),
            running_var: self.var.view(),
            eps: 1e-5,
        }
    }
}

#[test]
fn batchnorm_into_matches() {
    let mut rng = Rng::new(5);
    let c = 6;
    let stats = BatchNormStats::random(&mut rng, c);
    let bn = stats.params();
    let x2: Array2<f32> = rng.array((4, c));
    check_into(
        "batchnorm 2d",
        &batchnorm(x2.view(), &bn).unwrap(),
        false,
        |out| batchnorm_into(x2.view(), &bn, out),
    );
    let x3 = rng.array::<_, ndarray::Ix3>((3, c, 7));
    check_into(
        "batchnorm 3d",
        &batchnorm(x3.view(), &bn).unwrap(),
        false,
        |out| batchnorm_into(x3.view(), &bn, out),
    );
    let x4: Array4<f32> = rng.array((2, c, 5, 4));
    check_into(
        "batchnorm 4d",
        &batchnorm(x4.view(), &bn).unwrap(),
        false,
        |out| batchnorm_into(x4.view(), &bn, out),
    );
    let xt = x4.view().permuted_axes([0, 1, 3, 2]);
    check_into(
        "batchnorm 4d permuted",
        &batchnorm(xt, &bn).unwrap(),
        false,
        |out| batchnorm_into(xt, &bn, out),
    );
    let xd = x4.view().into_dyn();
    check_into(
        "batchnorm dyn",
        &batchnorm(xd.view(), &bn).unwrap(),
        false,
        |out| batchnorm_into(xd.view(), &bn, out),
    );
    // The allocating version still folds like `scale_shift`.
    let (scale, shift) = bn.scale_shift(c).unwrap();
    let want = batchnorm(x4.view(), &bn).unwrap();
    for ((idx, &v), &x) in want.indexed_iter().zip(x4.iter()) {
        assert_eq!(v.to_bits(), (x * scale[idx.1] + shift[idx.1]).to_bits());
    }
    // Errors: too few dimensions, wrong parameter length.
    let x1 = Array1::<f32>::zeros(c);
    let mut o1 = Array1::<f32>::zeros(c);
    assert_shape_err(
        batchnorm_into(x1.view(), &bn, o1.view_mut()),
        "batchnorm 1d",
    );
    let x5: Array2<f32> = Array2::zeros((2, c + 1));
    let mut o5 = Array2::<f32>::zeros((2, c + 1));
    assert_shape_err(
        batchnorm_into(x5.view(), &bn, o5.view_mut()),
        "batchnorm channels",
    );
}

#[test]
fn softmax_dim1_into_matches() {
    let mut rng = Rng::new(6);
    let x2: Array2<f32> = rng.array((4, 10)).mapv(|v| v * 20.0);
    check_into(
        "softmax 2d",
        &softmax_dim1(x2.view()).unwrap(),
        false,
        |out| softmax_dim1_into(x2.view(), out),
    );
    // inner = 400 > one block of positions; NaN and all -inf columns.
    let mut x4: Array4<f32> = rng.array((2, 3, 20, 20)).mapv(|v| v * 20.0);
    x4[[0, 1, 3, 4]] = f32::NAN;
    x4.slice_mut(s![1, .., 7, 9]).fill(f32::NEG_INFINITY);
    x4[[1, 2, 19, 19]] = f32::INFINITY;
    check_into(
        "softmax 4d",
        &softmax_dim1(x4.view()).unwrap(),
        false,
        |out| softmax_dim1_into(x4.view(), out),
    );
    let xt = x4.view().permuted_axes([0, 1, 3, 2]);
    check_into(
        "softmax 4d permuted",
        &softmax_dim1(xt).unwrap(),
        false,
        |out| softmax_dim1_into(xt, out),
    );
    let x1 = Array1::<f32>::zeros(3);
    let mut o1 = Array1::<f32>::zeros(3);
    assert_shape_err(softmax_dim1_into(x1.view(), o1.view_mut()), "softmax 1d");
}

// -------------------------------------------------------------------- pools

#[test]
fn pools_into_match() {
    let mut rng = Rng::new(7);
    let p = Padding2d::symmetric;
    let maxes = [
        MaxPool2dParams {
            kernel: (3, 3),
            stride: (2, 2),
            padding: p(1, 1),
            dilation: (1, 1),
            ceil_mode: false,
        },
        MaxPool2dParams {
            kernel: (2, 3),
            stride: (2, 1),
            padding: p(1, 0),
            dilation: (2, 1),
            ceil_mode: true,
        },
        MaxPool2dParams {
            kernel: (2, 2),
            stride: (2, 2),
            padding: Padding2d::ZERO,
            dilation: (1, 1),
            ceil_mode: true,
        },
    ];
    let avgs = [
        AvgPool2dParams {
            kernel: (3, 3),
            stride: (2, 2),
            padding: p(1, 1),
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        },
        AvgPool2dParams {
            kernel: (3, 2),
            stride: (2, 2),
            padding: p(1, 1),
            ceil_mode: true,
            count_include_pad: false,
            divisor_override: None,
        },
        AvgPool2dParams {
            kernel: (2, 2),
            stride: (1, 1),
            padding: Padding2d::ZERO,
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: Some(3),
        },
    ];
    let mut x: Array4<f32> = rng.array((3, 4, 9, 7));
    x[[1, 2, 3, 3]] = f32::NAN;
    let xt_store: Array4<f32> = rng.array((3, 4, 7, 9));
    let xt = xt_store.view().permuted_axes([0, 1, 3, 2]);
    for xv in [x.view(), xt] {
        for (i, mp) in maxes.iter().enumerate() {
            check_into(
                &format!("max_pool2d {i}"),
                &max_pool2d(xv, mp).unwrap(),
                false,
                |out| max_pool2d_into(xv, mp, out),
            );
        }
        for (i, ap) in avgs.iter().enumerate() {
            check_into(
                &format!("avg_pool2d {i}"),
                &avg_pool2d(xv, ap).unwrap(),
                false,
                |out| avg_pool2d_into(xv, ap, out),
            );
        }
        check_into(
            "global_avg_pool",
            &global_avg_pool(xv).unwrap(),
            false,
            |out| global_avg_pool_into(xv, out),
        );
    }
    // Empty input with padding-only windows: the output must be all zeros,
    // not the stale contents of `out`.
    let empty = Array4::<f32>::zeros((1, 2, 0, 0));
    let mp = MaxPool2dParams {
        kernel: (1, 1),
        stride: (1, 1),
        padding: p(1, 1),
        dilation: (1, 1),
        ceil_mode: false,
    };
    let want = max_pool2d(empty.view(), &mp).unwrap();
    assert!(!want.is_empty() && want.iter().all(|&v| v == 0.0));
    check_into("max_pool2d empty input", &want, false, |out| {
        max_pool2d_into(empty.view(), &mp, out)
    });
    let ap = AvgPool2dParams {
        kernel: (1, 1),
        stride: (1, 1),
        padding: p(1, 1),
        ceil_mode: false,
        count_include_pad: true,
        divisor_override: None,
    };
    let want = avg_pool2d(empty.view(), &ap).unwrap();
    check_into("avg_pool2d empty input", &want, false, |out| {
        avg_pool2d_into(empty.view(), &ap, out)
    });
    // Global pooling keeps the [N, C, 1, 1] shape; [N, C] is a shape error.
    let mut flat = Array4::<f32>::zeros((3, 4, 1, 2));
    assert_shape_err(
        global_avg_pool_into(x.view(), flat.view_mut()),
        "global_avg_pool out",
    );
    let mut any = Array4::<f32>::zeros((1, 2, 1, 1));
    assert!(global_avg_pool_into(empty.view(), any.view_mut()).is_err());
}

// ------------------------------------------------------- add, concat, flatten

#[test]
fn add_into_and_add_assign_match() {
    let mut rng = Rng::new(8);
    for shape in [vec![2, 3, 4, 5], vec![4, 1 << 14], vec![7]] {
        let a: Array<f32, IxDyn> = rng.array(IxDyn(&shape));
        let b: Array<f32, IxDyn> = rng.array(IxDyn(&shape));
        let c: Array<f32, IxDyn> = rng.array(IxDyn(&shape));
        for inputs in [
            vec![a.view()],
            vec![a.view(), b.view()],
            vec![a.view(), b.view(), c.view()],
        ] {
            let want = add(&inputs).unwrap();
            check_into(
                &format!("add {shape:?} x{}", inputs.len()),
                &want,
                true,
                |out| add_into(&inputs, out),
            );
            // add_assign: acc = inputs[0]; acc += rest.
            let mut acc = inputs[0].to_owned();
            add_assign(acc.view_mut(), &inputs[1..]).unwrap();
            assert_bits_eq(acc.view(), want.view(), "add_assign");
            // ... also into a column-major accumulator.
            let mut acc_f = Array::from_elem(a.raw_dim().f(), 0.0f32);
            acc_f.assign(&inputs[0]);
            add_assign(acc_f.view_mut(), &inputs[1..]).unwrap();
            assert_bits_eq(acc_f.view(), want.view(), "add_assign column-major");
        }
    }
    let a = Array2::<f32>::ones((2, 3));
    let b = Array2::<f32>::ones((3, 2));
    let mut out = Array2::<f32>::zeros((2, 3));
    assert_shape_err(
        add_into(&[a.view(), b.view()], out.view_mut()),
        "add mismatch",
    );
    assert_shape_err(add_into::<ndarray::Ix2>(&[], out.view_mut()), "add empty");
    assert_shape_err(
        add_assign(out.view_mut(), &[b.view()]),
        "add_assign mismatch",
    );
    add_assign(out.view_mut(), &[]).unwrap();
    assert!(out.iter().all(|&v| v == 0.0));
}

#[test]
fn concat_into_matches() {
    let mut rng = Rng::new(9);
    let a: Array4<f32> = rng.array((2, 3, 4, 5));
    let b: Array4<f32> = rng.array((2, 1, 4, 5));
    let e = Array4::<f32>::zeros((2, 0, 4, 5));
    let ct_store: Array4<f32> = rng.array((2, 2, 5, 4));
    let ct = ct_store.view().permuted_axes([0, 1, 3, 2]);
    let inputs = [a.view(), e.view(), b.view(), ct];
    let want = concat_channels(&inputs).unwrap();
    assert_eq!(want.shape(), &[2, 6, 4, 5]);
    check_into("concat 4d", &want, true, |out| concat_into(&inputs, out));
    // [N, F] features.
    let f1: Array2<f32> = rng.array((3, 4));
    let f2: Array2<f32> = rng.array((3, 7));
    let want2 = ndarray::concatenate(Axis(1), &[f1.view(), f2.view()]).unwrap();
    let want2 = want2.as_standard_layout().into_owned();
    check_into("concat 2d", &want2, true, |out| {
        concat_into(&[f1.view(), f2.view()], out)
    });
    // Errors.
    let d = Array4::<f32>::zeros((2, 3, 4, 6));
    let mut out = Array4::<f32>::zeros((2, 6, 4, 5));
    assert_shape_err(
        concat_into(&[a.view(), d.view()], out.view_mut()),
        "concat mismatch",
    );
    assert_shape_err(
        concat_into::<ndarray::Ix4>(&[], out.view_mut()),
        "concat empty",
    );
    let v = Array1::<f32>::zeros(3);
    let mut vo = Array1::<f32>::zeros(6);
    assert_shape_err(
        concat_into(&[v.view(), v.view()], vo.view_mut()),
        "concat 1d",
    );
    assert!(concat_channels(&[a.view(), d.view()]).is_err());
}

#[test]
fn mul_into_matches() {
    let mut rng = Rng::new(12);
    let x: Array4<f32> = rng.array((2, 3, 4, 5));
    let xt_store: Array4<f32> = rng.array((2, 3, 5, 4));
    let xt = xt_store.view().permuted_axes([0, 1, 3, 2]);
    for gs in [(2, 3, 1, 1), (2, 3, 4, 5), (1, 1, 4, 1)] {
        let g: Array4<f32> = rng.array(gs);
        for (what, xv) in [("x", x.view()), ("permuted x", xt)] {
            let want = mul(xv, g.view()).unwrap();
            check_into(&format!("mul {what} * {gs:?}"), &want, true, |out| {
                mul_into(xv, g.view(), out)
            });
            check_into(&format!("mul {gs:?} * {what}"), &want, true, |out| {
                mul_into(g.view(), xv, out)
            });
        }
    }
    // Above the parallel threshold.
    let big: Array4<f32> = rng.array((2, 16, 32, 32));
    let gate: Array4<f32> = rng.array((2, 16, 1, 1));
    let want = mul(big.view(), gate.view()).unwrap();
    check_into("mul parallel", &want, true, |out| {
        mul_into(big.view(), gate.view(), out)
    });
    // Shapes that do not broadcast, or an `out` of the inputs' shape but not
    // the broadcast one.
    let bad: Array4<f32> = rng.array((2, 2, 1, 1));
    let mut out = Array4::<f32>::zeros((2, 3, 4, 5));
    assert_shape_err(
        mul_into(x.view(), bad.view(), out.view_mut()),
        "mul mismatch",
    );
    let a: Array4<f32> = rng.array((2, 3, 1, 1));
    let mut small = Array4::<f32>::zeros((2, 3, 1, 1));
    assert_shape_err(
        mul_into(a.view(), x.view(), small.view_mut()),
        "mul out too small",
    );
}

#[test]
fn pad_channels_into_matches() {
    let mut rng = Rng::new(13);
    let x: Array4<f32> = rng.array((2, 3, 4, 5));
    let xt_store: Array4<f32> = rng.array((2, 3, 5, 4));
    let xt = xt_store.view().permuted_axes([0, 1, 3, 2]);
    for (what, xv) in [("x", x.view()), ("permuted x", xt)] {
        for (before, after) in [(2, 2), (0, 3), (1, 0)] {
            let want = pad_channels(xv, before, after).unwrap();
            check_into(
                &format!("pad_channels {what} ({before}, {after})"),
                &want,
                true,
                |out| pad_channels_into(xv, before, after, out),
            );
        }
    }
    let mut out = Array4::<f32>::zeros((2, 6, 4, 5));
    assert_shape_err(
        pad_channels_into(x.view(), 2, 2, out.view_mut()),
        "pad_channels wrong out",
    );
}

#[test]
fn flatten_into_matches() {
    let mut rng = Rng::new(10);
    let x: Array4<f32> = rng.array((3, 4, 5, 2));
    let xt = x.view().permuted_axes([0, 2, 1, 3]);
    for (what, xv) in [("flatten", x.view()), ("flatten permuted", xt)] {
        check_into(what, &flatten(xv).unwrap(), true, |out| {
            flatten_into(xv, out)
        });
    }
    let v: Array1<f32> = rng.array(6);
    check_into("flatten 1d", &flatten(v.view()).unwrap(), true, |out| {
        flatten_into(v.view(), out)
    });
    let z = Array::<f32, IxDyn>::zeros(IxDyn(&[]));
    let mut o = Array2::<f32>::zeros((1, 1));
    assert_shape_err(flatten_into(z.view(), o.view_mut()), "flatten 0d");
}

// -------------------------------------------------------------- allocations

/// After a warm-up call, the `_into` kernels allocate nothing on small
/// standard-layout inputs. Everything runs inside a one-thread rayon pool so
/// that the always-parallel kernels (pools, batchnorm) stay on the counting
/// thread and no work is handed to other threads.
#[test]
fn upsample_into_matches() {
    let mut rng = Rng::new(13);
    for (shape, size) in [
        ((2, 3, 5, 4), (10, 8)),
        ((1, 2, 6, 6), (44, 31)),
        ((2, 4, 1, 1), (5, 3)),
        ((1, 2, 9, 8), (4, 5)),
    ] {
        let x: Array4<f32> = rng.array(shape);
        for mode in [Interpolation::Nearest, Interpolation::Bilinear] {
            let want = upsample2d(x.view(), size, mode).unwrap();
            check_into(
                &format!("upsample2d {mode:?} {size:?}"),
                &want,
                false,
                |out| upsample2d_into(x.view(), size, mode, out),
            );
        }
    }
    // An empty input or output size is an error, not a panic.
    let empty = Array4::<f32>::zeros((1, 1, 0, 3));
    assert!(upsample2d(empty.view(), (2, 2), Interpolation::Bilinear).is_err());
    let x: Array4<f32> = rng.array((1, 1, 2, 2));
    assert!(upsample2d(x.view(), (0, 2), Interpolation::Nearest).is_err());
}

#[test]
fn conv_transpose2d_into_matches() {
    let mut rng = Rng::new(17);
    let cases = [
        (
            [2, 4, 5, 6],
            [4, 3, 3, 3],
            (2, 2),
            (1, 1),
            (1, 1),
            (1, 1),
            1,
            true,
        ),
        (
            [1, 6, 4, 5],
            [6, 2, 3, 2],
            (3, 2),
            (2, 0),
            (1, 0),
            (2, 3),
            3,
            false,
        ),
        (
            [3, 8, 7, 7],
            [8, 5, 4, 4],
            (2, 2),
            (1, 1),
            (0, 0),
            (1, 1),
            1,
            true,
        ),
    ];
    for (xs, ws, stride, padding, output_padding, dilation, groups, bias) in cases {
        let x: Array4<f32> = rng.array(xs);
        let w: Array4<f32> = rng.array(ws);
        let b: Array1<f32> = rng.array(ws[1] * groups);
        let params = ConvTranspose2dParams {
            stride,
            padding,
            output_padding,
            dilation,
            groups,
        };
        let b = bias.then_some(b.view());
        let want = conv_transpose2d(x.view(), w.view(), b, &params).unwrap();
        check_into(&format!("conv_transpose2d {xs:?}"), &want, false, |out| {
            conv_transpose2d_into(x.view(), w.view(), b, &params, out)
        });
    }
    // Bad parameters and shapes are errors, not panics.
    let x: Array4<f32> = rng.array((1, 4, 3, 3));
    let w: Array4<f32> = rng.array((4, 2, 3, 3));
    let bad = |p: ConvTranspose2dParams| conv_transpose2d(x.view(), w.view(), None, &p).is_err();
    let ok = ConvTranspose2dParams::default();
    assert!(!bad(ok));
    assert!(bad(ConvTranspose2dParams {
        stride: (0, 1),
        ..ok
    }));
    assert!(bad(ConvTranspose2dParams { groups: 0, ..ok }));
    assert!(bad(ConvTranspose2dParams { groups: 3, ..ok }));
    assert!(bad(ConvTranspose2dParams {
        output_padding: (1, 0),
        ..ok
    }));
    assert!(bad(ConvTranspose2dParams {
        padding: (3, 0),
        ..ok
    }));
    let short: Array4<f32> = rng.array((1, 3, 3, 3));
    assert!(conv_transpose2d(short.view(), w.view(), None, &ok).is_err());
}

#[test]
fn into_kernels_do_not_allocate() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut rng = Rng::new(11);
    let x: Array4<f32> = rng.array((2, 4, 8, 8));
    let y: Array4<f32> = rng.array((2, 4, 8, 8));
    let stats = BatchNormStats::random(&mut rng, 4);
    let bn = stats.params();
    let mp = MaxPool2dParams {
        kernel: (3, 3),
        stride: (2, 2),
        padding: Padding2d::symmetric(1, 1),
        dilation: (1, 1),
        ceil_mode: false,
    };
    let ap = AvgPool2dParams {
        kernel: (2, 2),
        stride: (2, 2),
        padding: Padding2d::ZERO,
        ceil_mode: false,
        count_include_pad: true,
        divisor_override: None,
    };
    let logits: Array2<f32> = rng.array((2, 10));
    let w: Array4<f32> = rng.array((6, 4, 3, 3));
    let b: Array1<f32> = rng.array(6);
    let cp = Conv2dParams {
        padding: Padding2d::symmetric(1, 1),
        activation: Activation::Relu,
        ..Conv2dParams::default()
    };
    let dx: Array2<f32> = rng.array((2, 256));
    let dw: Array2<f32> = rng.array((10, 256));
    let db: Array1<f32> = rng.array(10);

    let mut o_same = Array4::<f32>::zeros((2, 4, 8, 8));
    let mut o_max = Array4::<f32>::zeros((2, 4, 4, 4));
    let mut o_avg = Array4::<f32>::zeros((2, 4, 4, 4));
    let mut o_gap = Array4::<f32>::zeros((2, 4, 1, 1));
    let mut o_cat = Array4::<f32>::zeros((2, 8, 8, 8));
    let mut o_flat = Array2::<f32>::zeros((2, 256));
    let mut o_soft = Array2::<f32>::zeros((2, 10));
    let mut o_conv = Array4::<f32>::zeros((2, 6, 8, 8));
    let mut o_conv1 = Array4::<f32>::zeros((1, 6, 8, 8));
    let mut o_dense = Array2::<f32>::zeros((2, 10));
    let mut o_up = Array4::<f32>::zeros((2, 4, 13, 16));
    let tw: Array4<f32> = rng.array((4, 3, 4, 4));
    let tp = ConvTranspose2dParams {
        stride: (2, 2),
        padding: (1, 1),
        ..ConvTranspose2dParams::default()
    };
    let mut o_convt = Array4::<f32>::zeros((2, 3, 16, 16));
    let mut o_convt1 = Array4::<f32>::zeros((1, 3, 16, 16));
    let x1 = x.slice(s![0..1, .., .., ..]);

    pool.install(|| {
        // The counter works: the allocating version allocates its result.
        assert!(count_allocs(|| drop(relu(x.view()))) >= 1);
        let zero_alloc = |name: &str, f: &mut dyn FnMut()| {
            f(); // warm-up (thread-locals, rayon's deque, …)
            let n = count_allocs(&mut *f);
            assert_eq!(n, 0, "{name}: {n} allocations after warm-up");
        };
        zero_alloc("relu_into", &mut || {
            relu_into(x.view(), o_same.view_mut()).unwrap()
        });
        zero_alloc("add_into", &mut || {
            add_into(&[x.view(), y.view()], o_same.view_mut()).unwrap()
        });
        zero_alloc("add_assign", &mut || {
            add_assign(o_same.view_mut(), &[x.view(), y.view()]).unwrap()
        });
        zero_alloc("max_pool2d_into", &mut || {
            max_pool2d_into(x.view(), &mp, o_max.view_mut()).unwrap()
        });
        zero_alloc("avg_pool2d_into", &mut || {
            avg_pool2d_into(x.view(), &ap, o_avg.view_mut()).unwrap()
        });
        zero_alloc("global_avg_pool_into", &mut || {
            global_avg_pool_into(x.view(), o_gap.view_mut()).unwrap()
        });
        zero_alloc("concat_into", &mut || {
            concat_into(&[x.view(), y.view()], o_cat.view_mut()).unwrap()
        });
        zero_alloc("mul_into", &mut || {
            mul_into(x.view(), o_gap.view(), o_same.view_mut()).unwrap()
        });
        zero_alloc("pad_channels_into", &mut || {
            pad_channels_into(x.view(), 2, 2, o_cat.view_mut()).unwrap()
        });
        zero_alloc("flatten_into", &mut || {
            flatten_into(x.view(), o_flat.view_mut()).unwrap()
        });
        zero_alloc("softmax_dim1_into", &mut || {
            softmax_dim1_into(logits.view(), o_soft.view_mut()).unwrap()
        });
        zero_alloc("softmax_dim1_into 4d", &mut || {
            softmax_dim1_into(x.view(), o_same.view_mut()).unwrap()
        });
        zero_alloc("batchnorm_into", &mut || {
            batchnorm_into(x.view(), &bn, o_same.view_mut()).unwrap()
        });
        zero_alloc("upsample2d_into nearest", &mut || {
            upsample2d_into(x.view(), (13, 16), Interpolation::Nearest, o_up.view_mut()).unwrap()
        });
        zero_alloc("upsample2d_into bilinear", &mut || {
            upsample2d_into(x.view(), (13, 16), Interpolation::Bilinear, o_up.view_mut()).unwrap()
        });

        // GEMM kernels: resnetc's own packed GEMM keeps its packing buffers
        // per thread.
        zero_alloc("conv2d_into (N=2, per-item path)", &mut || {
            conv2d_into(x.view(), w.view(), Some(b.view()), &cp, o_conv.view_mut()).unwrap()
        });
        zero_alloc("conv2d_into (N=1, sequential path)", &mut || {
            conv2d_into(x1, w.view(), Some(b.view()), &cp, o_conv1.view_mut()).unwrap()
        });
        zero_alloc("conv_transpose2d_into (N=2, per-item path)", &mut || {
            conv_transpose2d_into(x.view(), tw.view(), None, &tp, o_convt.view_mut()).unwrap()
        });
        zero_alloc("conv_transpose2d_into (N=1, sequential path)", &mut || {
            conv_transpose2d_into(x1, tw.view(), None, &tp, o_convt1.view_mut()).unwrap()
        });
        zero_alloc("dense_into", &mut || {
            dense_into(
                dx.view(),
                dw.view(),
                Some(db.view()),
                Activation::Relu,
                o_dense.view_mut(),
            )
            .unwrap()
        });
        // The packed kernels the back ends run: the thread's scratch kept
        // between calls, or the caller's.
        let packed_dense = PackedDense::new(dw.view(), Some(db.view()), Activation::Relu).unwrap();
        let mut dense_scratch = vec![0.0; packed_dense.scratch_len(2).unwrap()];
        zero_alloc("PackedDense::run_into", &mut || {
            packed_dense
                .run_into(dx.view(), o_dense.view_mut())
                .unwrap()
        });
        zero_alloc("PackedDense::run_in_scratch", &mut || {
            packed_dense
                .run_in_scratch(dx.view(), o_dense.view_mut(), &mut dense_scratch)
                .unwrap()
        });
        let pw = Array4::<f32>::zeros((6, 4, 1, 1));
        let pointwise =
            PackedConv2d::new(pw.view(), Some(b.view()), &Conv2dParams::default()).unwrap();
        zero_alloc("PackedConv2d::run_into (pointwise)", &mut || {
            pointwise
                .run_into(x.view(), Residual::None, o_conv.view_mut())
                .unwrap()
        });
        let packed3 = PackedConv2d::new(w.view(), Some(b.view()), &cp).unwrap();
        zero_alloc("PackedConv2d::run_into (direct)", &mut || {
            packed3
                .run_into(x.view(), Residual::None, o_conv.view_mut())
                .unwrap()
        });
    });
}

/// Output sizes whose padded input or dilated kernel overflows `usize` are
/// errors, never a wrapped size or a panic, for every conv kernel.
#[test]
fn conv_sizes_that_overflow_are_errors() {
    let huge = Conv2dParams {
        padding: Padding2d {
            top: usize::MAX,
            left: 0,
            bottom: 1,
            right: 0,
        },
        ..Conv2dParams::default()
    };
    assert!(matches!(
        conv2d_output_hw((8, 8), (3, 3), &huge),
        Err(KernelError::Shape(_))
    ));
    let dilated = Conv2dParams {
        dilation: (usize::MAX, 1),
        ..Conv2dParams::default()
    };
    assert!(conv2d_output_hw((8, 8), (3, 3), &dilated).is_err());
    let w = Array4::<f32>::zeros((4, 2, 3, 3));
    let packed = PackedConv2d::new(w.view(), None, &huge).expect("packs");
    assert!(packed.output_shape([1, 2, 8, 8]).is_err());
    assert_eq!(packed.scratch_len([1, 2, 8, 8]), None);
    assert_eq!(
        conv2d_scratch_len([1, 2, 8, 8], [4, 2, 3, 3], &huge, 1, true),
        None
    );
}
