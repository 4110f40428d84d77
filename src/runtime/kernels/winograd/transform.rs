//! The F(4×4, 3×3) Winograd transforms, on the interpolation points
//! 0, 1, −1, 2, −2 and ∞ (Lavin & Gray, "Fast Algorithms for Convolutional
//! Neural Networks", 2015):
//!
//! ```text
//!        ⎡ 4   0  −5   0   1   0 ⎤          ⎡  1/4     0     0  ⎤
//!        ⎢ 0  −4  −4   1   1   0 ⎥          ⎢ −1/6  −1/6  −1/6  ⎥
//!   Bᵀ = ⎢ 0   4  −4  −1   1   0 ⎥      G = ⎢ −1/6   1/6  −1/6  ⎥
//!        ⎢ 0  −2  −1   2   1   0 ⎥          ⎢ 1/24  1/12   1/6  ⎥
//!        ⎢ 0   2  −1  −2   1   0 ⎥          ⎢ 1/24 −1/12   1/6  ⎥
//!        ⎣ 0   4   0  −5   0   1 ⎦          ⎣   0     0     1  ⎦
//!
//!        ⎡ 1   1   1   1   1   0 ⎤
//!   Aᵀ = ⎢ 0   1  −1   2  −2   0 ⎥
//!        ⎢ 0   1   1   4   4   0 ⎥
//!        ⎣ 0   1  −1   8  −8   1 ⎦
//! ```
//!
//! so that a 4×4 output tile of the correlation of a 6×6 input tile `d`
//! with a 3×3 filter `g` is `Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`.
//!
//! Numerics: the filter transform, the only one with non-dyadic
//! coefficients (1/6, 1/12, 1/24), runs in `f64` and is rounded to `f32`
//! once per value. `Bᵀ` and `Aᵀ` have small integer coefficients (exact in
//! `f32`); their rows are evaluated through shared sums and differences
//! (`d1 ± d2`, `d3 ± d4`, …), which add fewer rounding steps than the
//! matrix rows written out.
//!
//! The input and output transforms work on one *tile row* segment at a
//! time and are vectorised across its tiles: each applies its matrix first
//! down the columns (contiguous rows of floats, one lane per column), then
//! along the rows (stride 4 between neighbouring tiles).

/// Side of an input tile.
pub(crate) const TILE_IN: usize = 6;
/// Side of an output tile (the stride between tiles).
pub(crate) const TILE_OUT: usize = 4;
/// Values per transformed tile (`6 × 6`): the number of independent
/// products of the GEMM stage.
pub(crate) const XI: usize = TILE_IN * TILE_IN;

/// `G g Gᵀ` for one 3×3 filter `g` (row-major), in `f64`: the 6×6
/// transformed filter, row-major.
pub(crate) fn filter(g: &[f32; 9]) -> [f64; XI] {
    // `G·v` for a column `v` of three values.
    fn gv(v: [f64; 3]) -> [f64; 6] {
        let [a, b, c] = v;
        [
            a / 4.0,
            -(a + b + c) / 6.0,
            -(a - b + c) / 6.0,
            a / 24.0 + b / 12.0 + c / 6.0,
            a / 24.0 - b / 12.0 + c / 6.0,
            c,
        ]
    }
    let g = g.map(f64::from);
    // t = G·g (6×3), column by column.
    let mut t = [[0.0f64; 3]; 6];
    for j in 0..3 {
        let col = gv([g[j], g[3 + j], g[6 + j]]);
        for (i, v) in col.into_iter().enumerate() {
            t[i][j] = v;
        }
    }
    // u = t·Gᵀ: row i of u is G·(row i of t).
    let mut u = [0.0f64; XI];
    for (i, row) in t.iter().enumerate() {
        u[i * 6..i * 6 + 6].copy_from_slice(&gv(*row));
    }
    u
}

/// `Bᵀ·d` for one column `d` of six values (one lane per element of the
/// slices): `out[i] = Σ_k Bᵀ[i][k]·d[k]`.
#[inline(always)]
fn bt(d: [f32; 6]) -> [f32; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    let s12 = d1 + d2;
    let m12 = d1 - d2;
    let s34 = d3 + d4;
    let m43 = d4 - d3;
    let m31 = d3 - d1;
    let m42 = d4 - d2;
    [
        4.0 * d0 - 5.0 * d2 + d4,
        s34 - 4.0 * s12,
        m43 + 4.0 * m12,
        m42 + 2.0 * m31,
        m42 - 2.0 * m31,
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// `Aᵀ·m` for one column `m` of six values: `out[a] = Σ_i Aᵀ[a][i]·m[i]`.
#[inline(always)]
fn at(m: [f32; 6]) -> [f32; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let s12 = m1 + m2;
    let d12 = m1 - m2;
    let s34 = m3 + m4;
    let d34 = m3 - m4;
    [
        m0 + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + m5,
    ]
}

/// Most tiles in one tile-row segment (the stack buffers' size).
pub(crate) const MAX_COLS: usize = 64;
/// Input columns of a segment of [`MAX_COLS`] tiles.
const MAX_WT: usize = TILE_OUT * MAX_COLS + 2;

/// Where one tile-row segment of one input channel plane lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InSeg {
    /// Plane height.
    pub h: usize,
    /// Plane width.
    pub w: usize,
    /// First input row of the segment's tiles (may be negative: padding).
    pub y0: isize,
    /// First input column of the segment's first tile (may be negative).
    pub x0: isize,
    /// Tiles in the segment (`1..=MAX_COLS`).
    pub cols: usize,
}

/// `V = Bᵀ d B` for every tile of one segment of one channel: `plane` is
/// the channel's `h × w` values; the value `ξ = 6i + j` of tile `m` goes to
/// `v[ξ·stride + m]`. Values outside the plane are zeros (padding, and the
/// right/bottom tails whose outputs are cropped).
///
/// # Panics
/// On an inconsistent segment (a bug in resnetc): `plane` shorter than
/// `h·w`, more than [`MAX_COLS`] tiles, or `v` too short.
pub(crate) fn input_segment(plane: &[f32], s: &InSeg, v: &mut [f32], stride: usize) {
    let cols = s.cols;
    assert!(
        (1..=MAX_COLS).contains(&cols)
            && plane.len() >= s.h * s.w
            && stride >= cols
            && v.len() >= (XI - 1) * stride + cols,
        "winograd: bad input segment {s:?} (a bug in resnetc)"
    );
    let wt = TILE_OUT * cols + 2;
    // The segment's six input rows, zero outside the plane.
    let mut d = [[0.0f32; MAX_WT]; TILE_IN];
    // Columns [lo, hi) of the segment lie inside the plane.
    let lo = (-s.x0).clamp(0, wt as isize) as usize;
    let hi = (s.w as isize - s.x0).clamp(lo as isize, wt as isize) as usize;
    for (k, row) in d.iter_mut().enumerate() {
        let y = s.y0 + k as isize;
        if y < 0 || y >= s.h as isize || lo == hi {
            continue;
        }
        let src0 = y as usize * s.w + (s.x0 + lo as isize) as usize;
        row[lo..hi].copy_from_slice(&plane[src0..src0 + (hi - lo)]);
    }
    // Down the columns: t[i][x] = Σ_k Bᵀ[i][k]·d[k][x].
    let mut t = [[0.0f32; MAX_WT]; TILE_IN];
    for x in 0..wt {
        let col = bt([d[0][x], d[1][x], d[2][x], d[3][x], d[4][x], d[5][x]]);
        for (ti, c) in t.iter_mut().zip(col) {
            ti[x] = c;
        }
    }
    // Along the rows: v[6i + j][m] = Σ_k Bᵀ[j][k]·t[i][4m + k].
    for (i, ti) in t.iter().enumerate() {
        for m in 0..cols {
            let e = &ti[TILE_OUT * m..TILE_OUT * m + TILE_IN];
            let r = bt([e[0], e[1], e[2], e[3], e[4], e[5]]);
            for (j, val) in r.into_iter().enumerate() {
                v[(i * TILE_IN + j) * stride + m] = val;
            }
        }
    }
}

/// `Y = Aᵀ M A` for every tile of one segment of one output channel: the
/// value `ξ = 6i + j` of tile `m` is `mv[ξ·stride + m]`; row `a` of the
/// segment's output (`4·cols` values, tile `m` at columns `4m..4m+4`) goes
/// to `y[a]`.
///
/// # Panics
/// On an inconsistent segment (a bug in resnetc).
pub(crate) fn output_segment(
    mv: &[f32],
    stride: usize,
    cols: usize,
    y: &mut [[f32; TILE_OUT * MAX_COLS]; TILE_OUT],
) {
    assert!(
        (1..=MAX_COLS).contains(&cols) && stride >= cols && mv.len() >= (XI - 1) * stride + cols,
        "winograd: bad output segment of {cols} tiles (a bug in resnetc)"
    );
    // Along the rows of M: q[i][b][m] = Σ_j M[6i + j][m]·A[j][b].
    let mut q = [[[0.0f32; MAX_COLS]; TILE_OUT]; TILE_IN];
    for (i, qi) in q.iter_mut().enumerate() {
        let r = |j: usize| &mv[(i * TILE_IN + j) * stride..][..cols];
        let (r0, r1, r2, r3, r4, r5) = (r(0), r(1), r(2), r(3), r(4), r(5));
        for m in 0..cols {
            let o = at([r0[m], r1[m], r2[m], r3[m], r4[m], r5[m]]);
            for (qb, val) in qi.iter_mut().zip(o) {
                qb[m] = val;
            }
        }
    }
    // Down the columns: Y[a][b][m] = Σ_i Aᵀ[a][i]·q[i][b][m], stored at
    // row a, column 4m + b.
    for b in 0..TILE_OUT {
        for m in 0..cols {
            let o = at([
                q[0][b][m], q[1][b][m], q[2][b][m], q[3][b][m], q[4][b][m], q[5][b][m],
            ]);
            for (ya, val) in y.iter_mut().zip(o) {
                ya[TILE_OUT * m + b] = val;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The transforms reproduce a 3×3 correlation on one 6×6 tile.
    #[test]
    fn one_tile_is_a_correlation() {
        let d: Vec<f32> = (0..36).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
        let g: [f32; 9] = std::array::from_fn(|i| ((i * 5 % 7) as f32 - 3.0) / 8.0);
        let u = filter(&g);
        let s = InSeg {
            h: 6,
            w: 6,
            y0: 0,
            x0: 0,
            cols: 1,
        };
        let mut v = vec![0.0f32; XI];
        input_segment(&d, &s, &mut v, 1);
        let mv: Vec<f32> = v
            .iter()
            .zip(u)
            .map(|(a, b)| (f64::from(*a) * b) as f32)
            .collect();
        let mut y = [[0.0f32; TILE_OUT * MAX_COLS]; TILE_OUT];
        output_segment(&mv, 1, 1, &mut y);
        for a in 0..4 {
            for b in 0..4 {
                let mut want = 0.0f64;
                for p in 0..3 {
                    for q in 0..3 {
                        want += f64::from(d[(a + p) * 6 + b + q]) * f64::from(g[p * 3 + q]);
                    }
                }
                let got = f64::from(y[a][b]);
                assert!((got - want).abs() < 1e-5, "({a},{b}): {got} vs {want}");
            }
        }
    }
}
