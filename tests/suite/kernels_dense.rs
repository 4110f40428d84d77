//! `PackedDense` (a dense layer with its weights packed once, run as the
//! pointwise convolution of the batch) against a naive f64 reference on
//! every microkernel this CPU supports: batch, feature and output tails,
//! more features than one chunk (512), every activation, a non-standard
//! input; the caller's scratch gives the thread's bits, and bad shapes and
//! short scratch are errors, never a panic.

use crate::common;

use common::{Rng, assert_close, isas};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use resnetc::runtime::kernels::*;

/// `act(x · Wᵀ + b)` in f64.
fn dense_ref(
    x: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    b: Option<ArrayView1<'_, f32>>,
    act: Activation,
) -> Array2<f32> {
    let (n, f) = x.dim();
    let o = w.nrows();
    Array2::from_shape_fn((n, o), |(i, j)| {
        let mut s = b.map_or(0.0, |b| f64::from(b[j]));
        for k in 0..f {
            s += f64::from(x[[i, k]]) * f64::from(w[[j, k]]);
        }
        act.apply(s as f32)
    })
}

#[test]
fn packed_dense_matches_the_reference() {
    let mut r = Rng::new(41);
    let acts = [Activation::None, Activation::Relu, Activation::Relu6];
    for (case, (n, f, o)) in [
        (1, 1, 1),
        (1, 7, 5),
        (3, 16, 13),
        (8, 64, 10),
        (5, 511, 7),
        (9, 513, 31),
        (17, 1100, 250),
        (2, 2048, 1000),
    ]
    .into_iter()
    .enumerate()
    {
        let x: Array2<f32> = r.array((n, f));
        let w: Array2<f32> = r.array((o, f));
        let b: Array1<f32> = r.array(o);
        let act = acts[case % 3];
        let bias = (case % 2 == 0).then(|| b.view());
        let want = dense_ref(x.view(), w.view(), bias, act);
        for isa in isas() {
            let what = format!("{isa:?} n {n} f {f} o {o} {act:?}");
            let d = PackedDense::with_isa(w.view(), bias, act, isa).expect(&what);
            let mut got = Array2::from_elem((n, o), f32::NAN);
            d.run_into(x.view(), got.view_mut()).expect(&what);
            assert_close(got.view(), want.view(), 1e-4, &what);
            // The caller's scratch (exactly `scratch_len`), the same bits;
            // one float less is an error.
            let len = d.scratch_len(n).expect("scratch length");
            assert_eq!(len, n * (f + o), "{what}");
            let mut given = Array2::from_elem((n, o), f32::NAN);
            let mut scratch = vec![f32::NAN; len];
            assert!(
                d.run_in_scratch(x.view(), given.view_mut(), &mut scratch[1..])
                    .is_err(),
                "{what}: short scratch"
            );
            d.run_in_scratch(x.view(), given.view_mut(), &mut scratch)
                .expect(&what);
            assert_eq!(given, got, "{what}: caller's scratch differs");
            // A transposed (non-standard) input: the same bits.
            let xt = x.t().to_owned();
            let mut from_t = Array2::from_elem((n, o), f32::NAN);
            d.run_into(xt.t(), from_t.view_mut()).expect(&what);
            assert_eq!(from_t, got, "{what}: transposed input differs");
        }
    }
}

#[test]
fn packed_dense_rejects_bad_shapes() {
    let mut r = Rng::new(43);
    let w: Array2<f32> = r.array((4, 6));
    let d = PackedDense::new(w.view(), None, Activation::None).expect("pack");
    let x: Array2<f32> = r.array((2, 5));
    let mut out = Array2::<f32>::zeros((2, 4));
    assert!(
        d.run_into(x.view(), out.view_mut()).is_err(),
        "wrong features"
    );
    let x: Array2<f32> = r.array((2, 6));
    let mut wrong = Array2::<f32>::zeros((3, 4));
    assert!(
        d.run_into(x.view(), wrong.view_mut()).is_err(),
        "wrong batch"
    );
    let mut t = Array2::<f32>::zeros((4, 2));
    assert!(
        d.run_into(x.view(), t.view_mut().reversed_axes()).is_err(),
        "not standard"
    );
    let b: Array1<f32> = r.array(3);
    assert!(
        PackedDense::new(w.view(), Some(b.view()), Activation::None).is_err(),
        "bias"
    );
    let empty = Array2::<f32>::zeros((0, 6));
    assert!(
        PackedDense::new(empty.view(), None, Activation::None).is_err(),
        "empty"
    );
    // An empty batch writes nothing and is not an error.
    let x0 = Array2::<f32>::zeros((0, 6));
    let mut out0 = Array2::<f32>::zeros((0, 4));
    d.run_into(x0.view(), out0.view_mut()).expect("empty batch");
}
