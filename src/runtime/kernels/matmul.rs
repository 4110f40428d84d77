//! resnetc's own packed GEMM (crate-internal): the pointwise convolution's
//! microkernels (`direct/pointwise/`, 6 rows × 16 or 32 columns) driven
//! over arbitrary strided operands.
//!
//! A single-threaded product `y[m×n] = a[m×k] · b[k×n]` runs over blocks
//! of at most [`MC`] rows of `a`, within one over chunks of at most [`KC`]
//! of the inner dimension (equal chunks but for the last): the block's
//! chunk of `a` is packed in panels of [`MR`] rows (`[panel][kc][MR]`,
//! zero rows past `m`), then for every tile of `NR` columns the chunk of
//! `b` is packed (`[kc][NR]`, in L1) and every panel runs across it. The
//! first chunk starts from zero, later ones add onto the partial sums in
//! the output, so each value is accumulated in one fixed order (the inner
//! index ascending), whatever the thread count and the split. Packing
//! buffers are per thread and only grow: after a warm-up a product
//! allocates nothing.

use std::cell::RefCell;
use std::sync::OnceLock;

use ndarray::{ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

use crate::runtime::kernels::activation::Activation;
use crate::runtime::kernels::direct::ConvIsa;
use crate::runtime::kernels::direct::pointwise::tile::{AddEnd, MR, PwTile, Start};
use crate::runtime::kernels::direct::pointwise::{avx2, avx512, pack_tiles, portable};
use crate::runtime::kernels::thread_buffer::with_thread_buffer;

/// Most of the inner dimension per chunk: a packed `[KC][NR]` tile of `b`
/// and a `[KC][MR]` panel of `a` fit L1 together.
const KC: usize = 256;
/// Most rows of `a` per packed block (a multiple of [`MR`]; the block,
/// at most `MC·KC` floats, stays in L2).
const MC: usize = 192;

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

/// The microkernel of every product: the fastest this CPU supports,
/// detected once.
fn detected_isa() -> ConvIsa {
    static ISA: OnceLock<ConvIsa> = OnceLock::new();
    *ISA.get_or_init(ConvIsa::detect)
}

/// `dst = a · b` where `dst` is row-major contiguous `a.rows × b.cols`.
///
/// `parallel` splits the product across rayon's threads; use `false` when
/// already running inside a parallel loop.
///
/// # Panics
/// Panics if the dimensions/slices are inconsistent: callers validate shapes
/// beforehand, so this is an internal invariant.
pub(crate) fn matmul(dst: &mut [f32], a: Mat<'_>, b: Mat<'_>, parallel: bool) {
    matmul_with(detected_isa(), dst, a, b, parallel);
}

/// [`matmul`] with the microkernel `isa` (which the CPU must support).
fn matmul_with(isa: ConvIsa, dst: &mut [f32], a: Mat<'_>, b: Mat<'_>, parallel: bool) {
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
    // Block sizes and buffer lengths from the whole product, the same for
    // every block of a split (so a thread's buffers fit any of them).
    let plan = Plan::new(isa, m, k);
    // Parallel products are split into one block per thread, each a
    // single-threaded GEMM: by columns when the product is wide (early layers,
    // n = H·W large), by rows otherwise (deep layers, n = 7·7).
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
            let b = Mat {
                data: &b.data[c0 * b.cs..],
                cols: c1 - c0,
                ..b
            };
            // SAFETY: `dst` is m×n row-major, exactly m·n elements (checked
            // above), and stays mutably borrowed by this call; the view
            // addresses rows `< m` (row stride `n`) and columns
            // `[c0, c1) ⊂ [0, n)` of it, so it lies inside `dst`, and the
            // column blocks of different tasks are disjoint: no element is
            // reached through two views.
            let mut y =
                unsafe { ArrayViewMut2::from_shape_ptr((m, c1 - c0).strides((n, 1)), d.0.add(c0)) };
            gemm(&plan, a, b, &mut y);
        });
        return;
    }
    if threads > 1 && m >= 8 * threads {
        let rows = m.div_ceil(threads);
        dst.par_chunks_mut(rows * n).enumerate().for_each(|(t, d)| {
            let r0 = t * rows;
            let r = d.len() / n;
            let a = Mat {
                data: &a.data[r0 * a.rs..],
                rows: r,
                ..a
            };
            gemm(&plan, a, b, &mut row_major(d, r, n));
        });
        return;
    }
    gemm(&plan, a, b, &mut row_major(dst, m, n));
}

/// `d` as a row-major `rows × cols` matrix (`d` has exactly that length).
fn row_major(d: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols).strides((cols, 1)), d)
        .expect("matmul: destination of the wrong length (a bug in resnetc)")
}

/// Block sizes of one product.
#[derive(Debug, Clone, Copy)]
struct Plan {
    /// The microkernel.
    isa: ConvIsa,
    /// Rows of `a` per block (a multiple of [`MR`]).
    mc: usize,
    /// Inner dimension per chunk.
    kc: usize,
}

impl Plan {
    /// Equal blocks of at most [`MC`] rows and chunks of at most [`KC`]
    /// (for a product with `m ≥ 1` rows and inner dimension `k ≥ 1`).
    fn new(isa: ConvIsa, m: usize, k: usize) -> Plan {
        Plan {
            isa,
            mc: m.div_ceil(m.div_ceil(MC)).div_ceil(MR) * MR,
            kc: k.div_ceil(k.div_ceil(KC)),
        }
    }

    /// Floats of the packed `a` block, then of one packed tile of `b`.
    fn buffer_lens(&self) -> (usize, usize) {
        let nr = match self.isa {
            ConvIsa::Avx512 => avx512::NR,
            ConvIsa::Avx2Fma => avx2::NR,
            ConvIsa::Portable => portable::NR,
        };
        (self.mc * self.kc, self.kc * nr)
    }
}

/// `y = a · b` on one thread (`y` is `a.rows × b.cols`, its columns
/// contiguous; `a.cols == b.rows ≥ 1`; the previous values of `y` are
/// ignored).
fn gemm(plan: &Plan, a: Mat<'_>, b: Mat<'_>, y: &mut ArrayViewMut2<'_, f32>) {
    match plan.isa {
        ConvIsa::Avx512 => gemm_nr::<{ avx512::NR }>(plan, a, b, y, avx512::tile),
        ConvIsa::Avx2Fma => gemm_nr::<{ avx2::NR }>(plan, a, b, y, avx2::tile),
        ConvIsa::Portable => gemm_nr::<{ portable::NR }>(plan, a, b, y, portable::tile),
    }
}

/// [`gemm`] with the microkernel `tile`, `NR` columns per tile.
fn gemm_nr<const NR: usize>(
    plan: &Plan,
    a: Mat<'_>,
    b: Mat<'_>,
    y: &mut ArrayViewMut2<'_, f32>,
    tile: fn(&mut PwTile<'_, '_>),
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && k >= 1 && y.dim() == (m, n),
        "matmul: a {m}×{k}, b {}×{n} and y {:?} disagree (a bug in resnetc)",
        b.rows,
        y.dim()
    );
    let (a_len, b_len) = plan.buffer_lens();
    let zero = [0.0f32; MR];
    // `b` read in place (no copy) when its rows are contiguous and at most
    // four panels run across each tile (at most 24 rows: the tile's `kc`
    // rows of `NR` columns stay in L1 from the first panel to the last;
    // measured 1.25× faster than packing at 8×72×784, as fast at 16×144×196).
    let b_in_place = b.cs == 1 && b.rs >= n;
    with_thread_buffer(&PACKED, a_len + b_len, |buf| {
        let (a_buf, b_buf) = buf.split_at_mut(a_len);
        for r0 in (0..m).step_by(plan.mc) {
            let mc = plan.mc.min(m - r0);
            for k0 in (0..k).step_by(plan.kc) {
                let kc = plan.kc.min(k - k0);
                pack_a(a, r0..r0 + mc, k0..k0 + kc, a_buf);
                let start = if k0 == 0 { Start::Bias } else { Start::Out };
                let act = (k0 + kc == k).then_some(Activation::None);
                for c0 in (0..n).step_by(NR) {
                    let np = NR.min(n - c0);
                    let (x, xs): (&[f32], usize) = if b_in_place && mc <= 4 * MR {
                        (&b.data[k0 * b.rs + c0..], b.rs)
                    } else {
                        pack_b::<NR>(b, k0..k0 + kc, c0..c0 + np, b_buf);
                        (&b_buf[..kc * NR], NR)
                    };
                    for p0 in (0..mc).step_by(MR) {
                        tile(&mut PwTile {
                            x,
                            xs,
                            w: &a_buf[p0 * kc..][..kc * MR],
                            kc,
                            bias: &zero,
                            y,
                            y0: (r0 + p0, c0),
                            rows: MR.min(mc - p0),
                            np,
                            skip: &[],
                            ss: 0,
                            start,
                            act,
                            add: AddEnd::Nothing,
                        });
                    }
                }
            }
        }
    });
}

/// Packs rows `rows` × columns `ks` of `a` in panels of [`MR`] rows,
/// `dst[(q·kc + p)·MR + r]` = `a[rows.start + q·MR + r][ks.start + p]`,
/// zeros for rows past `rows.end`.
fn pack_a(a: Mat<'_>, rows: std::ops::Range<usize>, ks: std::ops::Range<usize>, dst: &mut [f32]) {
    let kc = ks.len();
    let panels = rows.len().div_ceil(MR);
    for (q, panel) in dst[..panels * MR * kc]
        .chunks_exact_mut(MR * kc)
        .enumerate()
    {
        for r in 0..MR {
            let i = rows.start + q * MR + r;
            let lane = panel[r..].iter_mut().step_by(MR);
            if i >= rows.end {
                lane.for_each(|d| *d = 0.0);
            } else if a.cs == 1 {
                let src = &a.data[i * a.rs + ks.start..][..kc];
                lane.zip(src).for_each(|(d, s)| *d = *s);
            } else {
                for (p, d) in lane.enumerate() {
                    *d = a.data[i * a.rs + (ks.start + p) * a.cs];
                }
            }
        }
    }
}

/// Packs rows `ks` × columns `cols` (at most `NR`) of `b` as one tile,
/// `dst[p·NR + j]` = `b[ks.start + p][cols.start + j]` (columns past
/// `cols.end` are left as they are: the microkernels read none).
fn pack_b<const NR: usize>(
    b: Mat<'_>,
    ks: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    let kc = ks.len();
    let np = cols.len();
    if b.cs == 1 {
        pack_tiles::<NR>(&b.data[ks.start * b.rs..], b.rs, kc, cols, dst);
    } else if b.rs == 1 {
        // A transposed matrix: each column is contiguous.
        for j in 0..np {
            let src = &b.data[(cols.start + j) * b.cs + ks.start..][..kc];
            dst[j..]
                .iter_mut()
                .step_by(NR)
                .zip(src)
                .for_each(|(d, s)| *d = *s);
        }
    } else {
        for (p, row) in dst[..kc * NR].chunks_exact_mut(NR).enumerate() {
            let at = (ks.start + p) * b.rs + cols.start * b.cs;
            for (j, d) in row[..np].iter_mut().enumerate() {
                *d = b.data[at + j * b.cs];
            }
        }
    }
}

thread_local! {
    /// The packing buffers of the products this thread runs, kept between
    /// calls (they only grow, to at most `MC·KC + KC·NR` floats), so that
    /// a forward pass does not allocate.
    static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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

#[cfg(test)]
mod tests {
    use super::{Mat, matmul_with};
    use crate::runtime::kernels::direct::ConvIsa;

    /// Deterministic xorshift values in [-1, 1).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
        fn upto(&mut self, n: usize) -> usize {
            self.next();
            (self.0 % n as u64) as usize
        }
    }

    /// A `rows × cols` matrix with `layout` 0 row-major, 1 column-major
    /// (transposed), 2 row-major with padded rows, 3 strided both ways;
    /// zero strides for a single row or column when `zero_strides`.
    fn random_mat(
        rng: &mut Rng,
        (rows, cols): (usize, usize),
        layout: usize,
        zero_strides: bool,
    ) -> (Vec<f32>, usize, usize) {
        let (mut rs, mut cs) = match layout {
            0 => (cols, 1),
            1 => (1, rows),
            2 => (cols + 3, 1),
            _ => (2 * cols + 1, 2),
        };
        if zero_strides && rows == 1 {
            rs = 0;
        }
        if zero_strides && cols == 1 {
            cs = 0;
        }
        let len = (rows - 1) * rs + (cols - 1) * cs + 1 + layout;
        let data = (0..len).map(|_| rng.next()).collect();
        (data, rs, cs)
    }

    /// `a · b` with f64 sums.
    fn naive(a: Mat<'_>, b: Mat<'_>) -> Vec<f64> {
        let mut out = vec![0.0f64; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols)
                    .map(|p| {
                        f64::from(a.data[i * a.rs + p * a.cs])
                            * f64::from(b.data[p * b.rs + j * b.cs])
                    })
                    .sum();
            }
        }
        out
    }

    /// Every microkernel this CPU runs.
    fn isas() -> Vec<ConvIsa> {
        ConvIsa::ALL
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// One product against the f64 one: `max|d| ≤ 1e-5 · max(1, max|want|)`.
    fn check(
        pools: &[rayon::ThreadPool],
        rng: &mut Rng,
        (m, k, n): (usize, usize, usize),
        case: usize,
    ) {
        let (la, lb) = (case % 4, (case / 4) % 4);
        let zero_strides = case.is_multiple_of(3);
        let (ad, ars, acs) = random_mat(rng, (m, k), la, zero_strides);
        let (bd, brs, bcs) = random_mat(rng, (k, n), lb, zero_strides);
        let a = Mat {
            data: &ad,
            rows: m,
            cols: k,
            rs: ars,
            cs: acs,
        };
        let b = Mat {
            data: &bd,
            rows: k,
            cols: n,
            rs: brs,
            cs: bcs,
        };
        let want = naive(a, b);
        let scale = want.iter().fold(1.0f64, |s, v| s.max(v.abs()));
        for isa in isas() {
            for pool in pools {
                let threads = pool.current_num_threads();
                for parallel in [false, true] {
                    let mut dst = vec![f32::NAN; m * n];
                    pool.install(|| matmul_with(isa, &mut dst, a, b, parallel));
                    let worst = dst
                        .iter()
                        .zip(&want)
                        .map(|(&g, &w)| (f64::from(g) - w).abs())
                        .fold(
                            0.0f64,
                            |s, d| if d.is_nan() { f64::INFINITY } else { s.max(d) },
                        );
                    assert!(
                        worst <= 1e-5 * scale,
                        "{isa:?}, {threads} threads, parallel {parallel}: {m}×{k}·{k}×{n} \
                         (layouts {la}, {lb}, zero strides {zero_strides}): \
                         max |diff| {worst} > 1e-5 × {scale}"
                    );
                }
            }
        }
    }

    #[test]
    fn matmul_matches_f64_product() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let pools: Vec<rayon::ThreadPool> = (1..=3)
            .map(|t| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .unwrap()
            })
            .collect();
        for case in 0..150 {
            let dims = (1 + rng.upto(40), 1 + rng.upto(40), 1 + rng.upto(40));
            check(&pools, &mut rng, dims, case);
        }
        // Across the blocks of rows (192), the chunks (256) and the column
        // split, and the single-row and -column shapes of dense layers.
        let large = [
            (70, 300, 530),
            (200, 520, 45),
            (1, 600, 100),
            (8, 300, 70),
            (5, 40, 300),
            (300, 7, 1),
        ];
        for (case, dims) in large.into_iter().enumerate() {
            check(&pools, &mut rng, dims, case);
        }
    }

    #[test]
    fn matmul_edge_shapes() {
        let a = [1.0f32, 2.0];
        let mut dst = [f32::NAN; 2];
        // k = 0 writes zeros.
        matmul_with(
            ConvIsa::Portable,
            &mut dst,
            Mat::row_major(&a, 2, 0),
            Mat::row_major(&a, 0, 1),
            true,
        );
        assert_eq!(dst, [0.0, 0.0]);
        // m = 0 or n = 0: nothing.
        matmul_with(
            ConvIsa::Portable,
            &mut [],
            Mat::row_major(&a, 0, 2),
            Mat::row_major(&a, 2, 1),
            true,
        );
        matmul_with(
            ConvIsa::Portable,
            &mut [],
            Mat::row_major(&a, 1, 2),
            Mat::row_major(&a, 2, 0),
            true,
        );
    }
}
