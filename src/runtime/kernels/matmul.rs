//! Safe wrapper around the `gemm-f32` kernels (crate-internal).

use gemm_common::Parallelism;
use rayon::prelude::*;

/// A read-only strided matrix view over a slice.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Stride (in elements) between consecutive rows.
    pub rs: usize,
    /// Stride (in elements) between consecutive columns.
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major contiguous `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// True if every addressed element lies inside `data`.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.rs)
            .and_then(|a| (self.cols - 1).checked_mul(self.cs).map(|b| (a, b)))
            .and_then(|(a, b)| a.checked_add(b));
        matches!(last, Some(l) if l < self.data.len())
    }
}

/// A raw pointer shared by threads that write disjoint parts of one buffer.
struct SendPtr(*mut f32);
// SAFETY: only used to write disjoint column blocks from different threads.
unsafe impl Sync for SendPtr {}
unsafe impl Send for SendPtr {}

/// `dst = a · b` where `dst` is row-major contiguous `a.rows × b.cols`.
///
/// `parallel` selects rayon-parallel GEMM; use `false` when already running
/// inside a parallel loop.
///
/// # Panics
/// Panics if the dimensions/slices are inconsistent: callers validate shapes
/// beforehand, so this is an internal invariant.
pub(crate) fn matmul(dst: &mut [f32], a: Mat<'_>, b: Mat<'_>, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "matmul: inner dimensions differ");
    assert_eq!(dst.len(), m * n, "matmul: dst has wrong length");
    assert!(
        a.in_bounds() && b.in_bounds(),
        "matmul: operand out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst.fill(0.0);
        return;
    }
    // Parallel products are split into one block per thread, each a
    // single-threaded GEMM: by columns when the product is wide (early layers,
    // n = H·W large), by rows otherwise (deep layers, n = 7·7). This keeps
    // every thread busy where gemm's own splitting leaves threads idle.
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    if threads > 1 && n >= m && n >= 32 * threads {
        let width = n.div_ceil(threads).div_ceil(16) * 16;
        let dst_ptr = SendPtr(dst.as_mut_ptr());
        (0..n.div_ceil(width)).into_par_iter().for_each(|t| {
            let c0 = t * width;
            let c1 = (c0 + width).min(n);
            let d = &dst_ptr;
            // SAFETY: the blocks [c0, c1) of different threads are disjoint
            // columns of `dst` (m×n row-major, bounds-checked above), and `b`
            // is read from column c0 within its checked bounds.
            unsafe {
                raw_gemm(
                    (m, c1 - c0, k),
                    d.0.add(c0),
                    n,
                    a,
                    b.data.as_ptr().add(c0 * b.cs),
                    b,
                    Parallelism::None,
                )
            };
        });
        return;
    }
    if threads > 1 && m >= 8 * threads {
        let rows = m.div_ceil(threads);
        dst.par_chunks_mut(rows * n).enumerate().for_each(|(t, d)| {
            let r0 = t * rows;
            let r = d.len() / n;
            let sub = Mat {
                data: &a.data[r0 * a.rs..],
                rows: r,
                ..a
            };
            matmul(d, sub, b, false);
        });
        return;
    }
    let par = if parallel {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    // SAFETY: all three matrices were bounds-checked above against their
    // slices (dst is m×n row-major of exactly m*n elements); `dst` is a unique
    // borrow so it does not alias `a` or `b`.
    unsafe { raw_gemm((m, n, k), dst.as_mut_ptr(), n, a, b.data.as_ptr(), b, par) };
}

/// `dst[m×n] = a[m×k] · b[k×n]` through `gemm` (previous `dst` ignored).
///
/// # Safety
/// `dst` must address an m×n row-major block with row stride `dst_rs` that no
/// one else accesses; `a` and `b_ptr` (with `b`'s strides) must address m×k
/// and k×n matrices inside live allocations.
unsafe fn raw_gemm(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    a: Mat<'_>,
    b_ptr: *const f32,
    b: Mat<'_>,
    par: Parallelism,
) {
    // The microkernels want a column-major destination, so the row-major
    // product is computed as its transpose, dstᵀ = bᵀ·aᵀ: the operands swap
    // and every row stride becomes a column stride (what `gemm::gemm` does
    // before it dispatches; all strides here are non-negative).
    // SAFETY: guaranteed by the caller; the transposed description addresses
    // exactly the same elements.
    unsafe {
        gemm_f32::gemm::f32::get_gemm_fn()(
            n,
            m,
            k,
            dst,
            dst_rs as isize,
            1,
            false,
            b_ptr,
            b.rs as isize,
            b.cs as isize,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        );
    }
}

/// A strided description of `a` if its elements lie in one slice with
/// non-negative strides (as ndarray's standard and transposed layouts do).
/// (For [`matmul_views`], which only the gradients use.)
#[cfg(feature = "compiler")]
fn mat_of<'a>(a: &ndarray::ArrayView2<'a, f32>) -> Option<Mat<'a>> {
    let (rows, cols) = a.dim();
    let [rs, cs] = [a.strides()[0], a.strides()[1]];
    let rs = if rows == 1 {
        0
    } else {
        usize::try_from(rs).ok()?
    };
    let cs = if cols == 1 {
        0
    } else {
        usize::try_from(cs).ok()?
    };
    let data = a.to_slice_memory_order()?;
    Some(Mat {
        data,
        rows,
        cols,
        rs,
        cs,
    })
}

/// `a · b` as a new row-major matrix, through [`matmul`] (rayon-parallel; the
/// split depends only on the thread count, so the result does too).
/// Operands in neither standard nor transposed layout are copied first.
/// Only the gradients (`grad`, part of the compiler) use it: generated code,
/// which builds the runtime alone, has no dead code.
#[cfg(feature = "compiler")]
pub(crate) fn matmul_views(
    a: ndarray::ArrayView2<'_, f32>,
    b: ndarray::ArrayView2<'_, f32>,
) -> ndarray::Array2<f32> {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert_eq!(b.nrows(), k, "matmul_views: inner dimensions differ");
    let mut out = ndarray::Array2::<f32>::zeros((m, n));
    if m == 0 || n == 0 || k == 0 {
        return out;
    }
    let a_owned;
    let a_mat = match mat_of(&a) {
        Some(mat) => mat,
        None => {
            a_owned = a.as_standard_layout().into_owned();
            Mat::row_major(a_owned.as_slice().expect("standard layout"), m, k)
        }
    };
    let b_owned;
    let b_mat = match mat_of(&b) {
        Some(mat) => mat,
        None => {
            b_owned = b.as_standard_layout().into_owned();
            Mat::row_major(b_owned.as_slice().expect("standard layout"), k, n)
        }
    };
    let dst = out
        .as_slice_mut()
        .expect("a new array is in standard layout");
    matmul(dst, a_mat, b_mat, true);
    out
}
