//! The grouped strategy of [`super::PackedConv2d`] (`1 < groups`, not
//! depthwise): the dense microkernels, each block of 16 output channels
//! reading only the input channel blocks its groups cover.
//!
//! Block `ob` (output channels `16·ob ..`) belongs to groups `g0..=g1`,
//! which read input channels `g0·cg .. (g1+1)·cg`; its weights are packed
//! like a dense convolution's over the input channel blocks that range
//! touches (`[ncb][kh][kw][cblk][16]`), zero wherever an input channel is
//! not in the output channel's group. A group width that is a multiple of
//! 16 then costs no extra arithmetic (each block reads exactly its group's
//! blocks); a narrower one (ResNeXt's 4 or 8 channels per group) becomes a
//! block-diagonal dense block, more multiply-adds but the fast kernel.
//!
//! A tile of the driver (up to [`super::tile::MAX_NB`] consecutive output
//! blocks) is split into runs of blocks that read the same input channel
//! blocks; each run is one dense tile.

use super::ConvIsa;
use super::tile::{BLOCK, Geo, Tile};

/// Where one output block's input channels and packed weights are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    /// First input channel block read.
    cb0: usize,
    /// Input channel blocks read.
    ncb: usize,
    /// Offset of the block's weights in the packed weights.
    w: usize,
}

/// Per output block, the input channel blocks it reads and where its packed
/// weights are.
#[derive(Debug, Clone)]
pub(crate) struct Grouped {
    spans: Vec<Span>,
}

impl Grouped {
    /// Packs OIHW grouped weights (`w`, `[o, cg, kh, kw]` row-major, `groups`
    /// groups, `cg` input channels per group, `o` divisible by `groups`) for
    /// an input channel-blocked by `cblk`; returns the plan and the weights.
    pub(crate) fn pack(
        w: &[f32],
        (o, cg, kh, kw): (usize, usize, usize, usize),
        groups: usize,
        cblk: usize,
    ) -> (Grouped, Vec<f32>) {
        let og = o / groups;
        let per_cb = kh * kw * cblk * BLOCK;
        let mut spans = Vec::with_capacity(o.div_ceil(BLOCK));
        let mut total = 0;
        for ob in 0..o.div_ceil(BLOCK) {
            let first = ob * BLOCK;
            let last = (first + BLOCK).min(o) - 1;
            let (g0, g1) = (first / og, last / og);
            let cb0 = g0 * cg / cblk;
            let ncb = ((g1 + 1) * cg).div_ceil(cblk) - cb0;
            spans.push(Span { cb0, ncb, w: total });
            total += ncb * per_cb;
        }
        let mut packed = vec![0.0f32; total];
        for oc in 0..o {
            let s = spans[oc / BLOCK];
            let base = (oc / og) * cg - s.cb0 * cblk;
            for icl in 0..cg {
                let ic = base + icl;
                for t in 0..kh * kw {
                    let dst =
                        s.w + ((ic / cblk * kh * kw + t) * cblk + ic % cblk) * BLOCK + oc % BLOCK;
                    packed[dst] = w[(oc * cg + icl) * kh * kw + t];
                }
            }
        }
        (Grouped { spans }, packed)
    }

    /// Computes the tile `t` of output blocks `ob0 .. ob0 + t.nb`, built by
    /// the driver as for a dense convolution except that `t.x` starts at
    /// input channel block 0, `t.w` holds all packed weights and `t.g`
    /// describes the whole input (`cb`, `c_last` of all its blocks).
    ///
    /// # Panics
    /// When the tile does not match the packed weights (a bug in resnetc);
    /// the microkernels check each sub-tile's bounds.
    pub(crate) fn tile(&self, isa: ConvIsa, t: &mut Tile<'_>, ob0: usize) {
        let g = t.g;
        let mut b = 0;
        while b < t.nb {
            let Some(&s) = self.spans.get(ob0 + b) else {
                panic!(
                    "grouped conv: no output block {} (a bug in resnetc)",
                    ob0 + b
                );
            };
            let mut run = 1;
            while b + run < t.nb
                && self.spans.get(ob0 + b + run).is_some_and(|n| {
                    n.cb0 == s.cb0 && n.ncb == s.ncb && n.w == s.w + run * s.ncb * g.w_cb
                })
            {
                run += 1;
            }
            assert!(
                s.ncb >= 1 && s.cb0 + s.ncb <= g.cb,
                "grouped conv: output block reads past the input (a bug in resnetc)"
            );
            let c_last = if s.cb0 + s.ncb == g.cb {
                g.c_last
            } else {
                g.cblk
            };
            let mut sub = Tile {
                x: &t.x[s.cb0 * g.x_cb..],
                w: &t.w[s.w..],
                bias: &t.bias[b * BLOCK..],
                out: &mut t.out[b * t.out_bstride..],
                out_bstride: t.out_bstride,
                nb: run,
                np: t.np,
                g: Geo {
                    cb: s.ncb,
                    c_last,
                    w_ob: s.ncb * g.w_cb,
                    ..g
                },
            };
            isa.tile(&mut sub);
            b += run;
        }
    }
}
