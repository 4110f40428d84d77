//! The portable product microkernel: plain Rust, no `unsafe`.

use super::block::{Block, LANES, MR, NV};

/// Computes one block.
pub(crate) fn block(b: &mut Block<'_>) {
    b.check();
    let n = b.nv * LANES;
    let mut acc = [[0.0f32; NV * LANES]; MR];
    for ci in 0..b.c {
        let v = &b.v[ci * b.vs..][..n];
        let u = &b.u[ci * MR..][..MR];
        for (a, &uv) in acc.iter_mut().zip(u) {
            for (l, &x) in a.iter_mut().zip(v) {
                *l += uv * x;
            }
        }
    }
    for (r, a) in acc.iter().take(b.rows).enumerate() {
        b.m[r * b.ms..][..n].copy_from_slice(&a[..n]);
    }
}
