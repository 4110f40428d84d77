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
//! time and are vectorised across its tiles: the values of a segment are
//! kept de-interleaved by their place in a tile (`[row][column in the
//! tile][tile]`), so that each pass, down the columns and along the rows,
//! reads and writes consecutive tiles.

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
pub(crate) const MAX_COLS: usize = 16;
/// Columns of the de-interleaved buffers: a segment's tiles plus one (the
/// last tile's columns 4 and 5 are the next one's 0 and 1).
const QCOLS: usize = MAX_COLS + 1;

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
/// The segment's input columns are first de-interleaved by their position
/// in a tile (`x = 4m + q`: tile `m`, phase `q`), so that both passes run
/// over consecutive tiles (unit stride, vectorised).
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
    let n1 = cols + 1;
    // d[k][q][m]: input row y0 + k, column x0 + 4m + q; zero outside.
    let mut d = [[[0.0f32; QCOLS]; TILE_OUT]; TILE_IN];
    for (k, dk) in d.iter_mut().enumerate() {
        let y = s.y0 + k as isize;
        if y < 0 || y >= s.h as isize {
            continue;
        }
        let row = &plane[y as usize * s.w..][..s.w];
        for (q, dq) in dk.iter_mut().enumerate() {
            for (m, e) in dq.iter_mut().take(n1).enumerate() {
                let x = s.x0 + (TILE_OUT * m + q) as isize;
                if x >= 0 && x < s.w as isize {
                    *e = row[x as usize];
                }
            }
        }
    }
    // Down the columns: t[i][q][m] = Σ_k Bᵀ[i][k]·d[k][q][m].
    let mut t = [[[0.0f32; QCOLS]; TILE_OUT]; TILE_IN];
    for q in 0..TILE_OUT {
        let [d0, d1, d2, d3, d4, d5] = d.each_ref().map(|dk| &dk[q][..n1]);
        let [t0, t1, t2, t3, t4, t5] = t.each_mut().map(|ti| &mut ti[q][..n1]);
        for m in 0..n1 {
            let r = bt([d0[m], d1[m], d2[m], d3[m], d4[m], d5[m]]);
            (t0[m], t1[m], t2[m], t3[m], t4[m], t5[m]) = (r[0], r[1], r[2], r[3], r[4], r[5]);
        }
    }
    // Along the rows: v[6i + j][m] = Σ_k Bᵀ[j][k]·t[i][4m + k], where
    // columns 4m + 4 and 4m + 5 are phases 0 and 1 of tile m + 1.
    let mut rows = v.chunks_mut(stride);
    for ti in &t {
        let [e0, e1, e2, e3] = ti.each_ref().map(|tq| &tq[..cols]);
        let (e4, e5) = (&ti[0][1..n1], &ti[1][1..n1]);
        let mut next = || match rows.next() {
            Some(r) if r.len() >= cols => &mut r[..cols],
            _ => unreachable!("v holds 36 rows of `stride` (checked above)"),
        };
        let [v0, v1, v2, v3, v4, v5] = [next(), next(), next(), next(), next(), next()];
        for m in 0..cols {
            let r = bt([e0[m], e1[m], e2[m], e3[m], e4[m], e5[m]]);
            (v0[m], v1[m], v2[m], v3[m], v4[m], v5[m]) = (r[0], r[1], r[2], r[3], r[4], r[5]);
        }
    }
}

/// The output of one segment of one channel: `y[a][b][m]` is row `a`,
/// column `4m + b` of the segment.
pub(crate) type OutSeg = [[[f32; MAX_COLS]; TILE_OUT]; TILE_OUT];

/// `Y = Aᵀ M A` for every tile of one segment of one output channel: the
/// value `ξ = 6i + j` of tile `m` is `mv[ξ·stride + m]`; the result, tile
/// by tile, goes to `y` (see [`OutSeg`]).
///
/// # Panics
/// On an inconsistent segment (a bug in resnetc).
pub(crate) fn output_segment(mv: &[f32], stride: usize, cols: usize, y: &mut OutSeg) {
    assert!(
        (1..=MAX_COLS).contains(&cols) && stride >= cols && mv.len() >= (XI - 1) * stride + cols,
        "winograd: bad output segment of {cols} tiles (a bug in resnetc)"
    );
    // Along the rows of M: q[i][b][m] = Σ_j M[6i + j][m]·A[j][b].
    let mut q = [[[0.0f32; MAX_COLS]; TILE_OUT]; TILE_IN];
    for (i, qi) in q.iter_mut().enumerate() {
        let r = |j: usize| &mv[(i * TILE_IN + j) * stride..][..cols];
        let (r0, r1, r2, r3, r4, r5) = (r(0), r(1), r(2), r(3), r(4), r(5));
        let [q0, q1, q2, q3] = qi.each_mut().map(|qb| &mut qb[..cols]);
        for m in 0..cols {
            let o = at([r0[m], r1[m], r2[m], r3[m], r4[m], r5[m]]);
            (q0[m], q1[m], q2[m], q3[m]) = (o[0], o[1], o[2], o[3]);
        }
    }
    // Down the columns: y[a][b][m] = Σ_i Aᵀ[a][i]·q[i][b][m].
    for b in 0..TILE_OUT {
        let [q0, q1, q2, q3, q4, q5] = q.each_ref().map(|qi| &qi[b][..cols]);
        let [y0, y1, y2, y3] = y.each_mut().map(|ya| &mut ya[b][..cols]);
        for m in 0..cols {
            let o = at([q0[m], q1[m], q2[m], q3[m], q4[m], q5[m]]);
            (y0[m], y1[m], y2[m], y3[m]) = (o[0], o[1], o[2], o[3]);
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
        let mut y = [[[0.0f32; MAX_COLS]; TILE_OUT]; TILE_OUT];
        output_segment(&mv, 1, 1, &mut y);
        for a in 0..4 {
            for b in 0..4 {
                let mut want = 0.0f64;
                for p in 0..3 {
                    for q in 0..3 {
                        want += f64::from(d[(a + p) * 6 + b + q]) * f64::from(g[p * 3 + q]);
                    }
                }
                let got = f64::from(y[a][b][0]);
                assert!((got - want).abs() < 1e-5, "({a},{b}): {got} vs {want}");
            }
        }
    }
}
