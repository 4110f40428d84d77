//! The portable pointwise microkernel: plain Rust, no `unsafe`; 6 output
//! channels × 16 pixels of accumulators, which the compiler vectorises for
//! the baseline target. Pixel tails run on a zero-padded copy of the
//! input row.

use super::tile::{AddEnd, MR, PwTile, Start};

/// Pixels per tile.
pub(crate) const NR: usize = 16;

/// Computes one tile.
///
/// # Panics
/// On an inconsistent tile (a bug in resnetc).
pub(crate) fn tile(t: &mut PwTile<'_, '_>) {
    t.check(NR);
    let (np, xs, rows) = (t.np, t.xs, t.rows);
    let (r0, p0) = t.y0;
    let mut acc = [[0.0f32; NR]; MR];
    for (r, a) in acc.iter_mut().enumerate() {
        let b = t.bias[r];
        for (p, a) in a.iter_mut().enumerate().take(np) {
            *a = match t.start {
                Start::Bias => b,
                Start::Out if r < rows => t.y[[r0 + r, p0 + p]],
                Start::Out => 0.0,
            };
        }
    }
    let mut xv = [0.0f32; NR];
    for ci in 0..t.kc {
        xv[..np].copy_from_slice(&t.x[ci * xs..ci * xs + np]);
        let w = &t.w[ci * MR..(ci + 1) * MR];
        for (a, &wr) in acc.iter_mut().zip(w) {
            for (a, &x) in a.iter_mut().zip(&xv) {
                *a += wr * x;
            }
        }
    }
    for (r, a) in acc.iter().enumerate().take(rows) {
        for (p, &v) in a.iter().enumerate().take(np) {
            let v = match t.add {
                AddEnd::Nothing => v,
                AddEnd::Skip => v + t.skip[r * t.ss + p],
                AddEnd::Out => v + t.y[[r0 + r, p0 + p]],
            };
            t.y[[r0 + r, p0 + p]] = match t.act {
                Some(act) => act.apply(v),
                None => v,
            };
        }
    }
}
