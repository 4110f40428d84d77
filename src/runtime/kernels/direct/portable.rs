//! The portable microkernel: plain Rust, no `unsafe`; the compiler
//! vectorises the 16-lane inner loops for the baseline target.

use super::tile::{BLOCK, Tile};

/// Computes one tile (any `nb`, `np` within bounds), one filter block at a time.
pub(crate) fn tile(t: &mut Tile<'_>) {
    t.check();
    let g = t.g;
    for b in 0..t.nb {
        let mut acc = [[0.0f32; BLOCK]; super::tile::MAX_NP];
        for a in acc.iter_mut().take(t.np) {
            a.copy_from_slice(&t.bias[b * BLOCK..(b + 1) * BLOCK]);
        }
        for cb in 0..g.cb {
            let cn = t.channels_in(cb);
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let xo = cb * g.x_cb + ki * g.x_row + kj * g.x_col;
                    let wo = b * g.w_ob + cb * g.w_cb + (ki * g.kw + kj) * g.cblk * BLOCK;
                    for ci in 0..cn {
                        let wv = &t.w[wo + ci * BLOCK..wo + (ci + 1) * BLOCK];
                        for (p, a) in acc.iter_mut().take(t.np).enumerate() {
                            let xv = t.x[xo + p * g.x_px + ci];
                            for (l, w) in a.iter_mut().zip(wv) {
                                *l += w * xv;
                            }
                        }
                    }
                }
            }
        }
        for (p, a) in acc.iter().take(t.np).enumerate() {
            let o = b * t.out_bstride + p * BLOCK;
            t.out[o..o + BLOCK].copy_from_slice(a);
        }
    }
}
