//! The two reorders of the direct convolution: OIHW weights to the packed
//! filter-block layout (once, at pack time) and an NCHW input to the padded
//! channel-blocked layout (per call, into scratch).

use rayon::prelude::*;

use super::tile::BLOCK;

/// Packs OIHW weights `[o, c, kh, kw]` as `[ob][cb][kh][kw][cblk][16]`
/// (`ob = ⌈o/16⌉`, `cb = ⌈c/cblk⌉`), zero where a channel does not exist.
pub(crate) fn pack_weights(
    w: &[f32],
    (o, c, kh, kw): (usize, usize, usize, usize),
    cblk: usize,
) -> Vec<f32> {
    let ob = o.div_ceil(BLOCK);
    let cb = c.div_ceil(cblk);
    let mut packed = vec![0.0f32; ob * cb * kh * kw * cblk * BLOCK];
    for oc in 0..o {
        for ic in 0..c {
            for ki in 0..kh {
                for kj in 0..kw {
                    let dst = ((((oc / BLOCK * cb + ic / cblk) * kh + ki) * kw + kj) * cblk
                        + ic % cblk)
                        * BLOCK
                        + oc % BLOCK;
                    packed[dst] = w[((oc * c + ic) * kh + ki) * kw + kj];
                }
            }
        }
    }
    packed
}

/// Shape of the padded channel-blocked input of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Padded {
    /// Input channels.
    pub c: usize,
    /// Input rows and columns.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Channels per block in memory.
    pub cblk: usize,
    /// Channel blocks.
    pub cb: usize,
    /// Padded rows (`top + h + bottom`).
    pub hp: usize,
    /// Padded columns (`left + w + right`).
    pub wp: usize,
    /// Rows of zeros above.
    pub top: usize,
    /// Columns of zeros to the left.
    pub left: usize,
}

impl Padded {
    /// Elements of one channel block of one image.
    pub fn plane(&self) -> usize {
        self.hp * self.wp * self.cblk
    }
}

/// Writes the NCHW input `x` (`n` images) as `[n][cb][hp][wp][cblk]` into
/// `dst` (exactly `n·cb·plane` elements): zeros in the padding, the input
/// inside. Channels past `c` in the last block are left as they are (the
/// kernels never read them). One rayon task per image and channel block.
pub(crate) fn reorder_input(x: &[f32], p: &Padded, dst: &mut [f32]) {
    let plane = p.plane();
    let hw = p.h * p.w;
    dst.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(i, chunk)| {
            let (ni, cbi) = (i / p.cb, i % p.cb);
            let c0 = cbi * p.cblk;
            let cn = p.cblk.min(p.c - c0);
            let row = p.wp * p.cblk;
            chunk[..p.top * row].fill(0.0);
            chunk[(p.top + p.h) * row..].fill(0.0);
            for ih in 0..p.h {
                let r = &mut chunk[(p.top + ih) * row..(p.top + ih + 1) * row];
                r[..p.left * p.cblk].fill(0.0);
                r[(p.left + p.w) * p.cblk..].fill(0.0);
                let inner = &mut r[p.left * p.cblk..(p.left + p.w) * p.cblk];
                for ch in 0..cn {
                    let src = &x[(ni * p.c + c0 + ch) * hw + ih * p.w..][..p.w];
                    for (d, s) in inner[ch..].iter_mut().step_by(p.cblk).zip(src) {
                        *d = *s;
                    }
                }
            }
        });
}
