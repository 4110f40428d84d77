//! The depthwise strategy of [`super::PackedConv2d`] (`groups` = input
//! channels = output channels): every output channel reads only its own
//! input channel, so in the padded NCHW16c layout block `b` of 16 output
//! channels reads only input block `b`, and one pixel of it is
//! `out[p][0..16] = bias + Σ_taps x[p + tap][0..16] · w[tap][0..16]`,
//! vectorised across the 16 channels (no broadcasts).
//!
//! Weights are packed as `[⌈c/16⌉][kh][kw][16]`, zero past the last channel.
//! The input layout always has 16 channels per block here (also for fewer
//! than 16 channels), so that a pixel's 16 lanes are one vector; the lanes
//! past the last channel hold whatever the scratch held and their results
//! are never written out (the epilogue stores only existing channels).
//!
//! A *depthwise tile* is up to [`MAX_NB`] channel blocks × a run of output
//! pixels of one output row; the microkernels (`depthwise_avx512.rs`,
//! `depthwise_avx2.rs`, the portable loop below) walk it a few pixels at a
//! time. Each output value is `bias` then the taps in row-major order, so
//! results do not depend on how pixels are grouped or threads split.

use super::ConvIsa;
use super::tile::{BLOCK, MAX_NB};

/// Geometry of one depthwise call (offsets in `f32` elements of the padded
/// 16-channel-blocked input).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DwGeo {
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Distance between two channel blocks (`Hp·Wp·16`).
    pub x_cb: usize,
    /// Distance between two kernel rows (`dh·Wp·16`).
    pub x_row: usize,
    /// Distance between two kernel columns (`dw·16`).
    pub x_col: usize,
    /// Distance between two neighbouring output pixels (`sw·16`).
    pub x_px: usize,
}

/// One depthwise tile's operands. `x` starts at the first block's tap
/// (0, 0) of the first pixel; `w` at the first block's packed weights
/// (`kh·kw·16` per block); `bias` holds `nb·16` values; the result for block
/// `b`, pixel `p` goes to `out[b·out_bstride + p·16 ..][..16]`.
pub(crate) struct DwTile<'a> {
    /// Padded channel-blocked input from the tile's first tap.
    pub x: &'a [f32],
    /// Packed weights from the tile's first block.
    pub w: &'a [f32],
    /// Bias of the tile's blocks.
    pub bias: &'a [f32],
    /// Result rows, `[nb][..][np][16]`.
    pub out: &'a mut [f32],
    /// Distance between two blocks' results in `out`.
    pub out_bstride: usize,
    /// Channel blocks in this tile (`1..=MAX_NB`).
    pub nb: usize,
    /// Output pixels in this tile (`>= 1`).
    pub np: usize,
    /// The call's geometry.
    pub g: DwGeo,
}

impl DwTile<'_> {
    /// Checks that every index a microkernel forms from this tile is in
    /// bounds of its slices: each index is a sum of per-loop terms, largest
    /// at each loop's last iteration, so the largest index is the sum of the
    /// largest terms. The microkernels rely on this for their unchecked
    /// loads and stores.
    ///
    /// # Panics
    /// When the driver built an inconsistent tile (a bug in resnetc).
    pub fn check(&self) {
        let g = &self.g;
        assert!(
            (1..=MAX_NB).contains(&self.nb) && self.np >= 1 && g.kh >= 1 && g.kw >= 1,
            "depthwise conv: bad tile {g:?} nb {} np {} (a bug in resnetc)",
            self.nb,
            self.np
        );
        let x_max = (self.nb - 1) * g.x_cb
            + (g.kh - 1) * g.x_row
            + (g.kw - 1) * g.x_col
            + (self.np - 1) * g.x_px
            + (BLOCK - 1);
        let w_end = self.nb * g.kh * g.kw * BLOCK;
        let out_end = (self.nb - 1) * self.out_bstride + self.np * BLOCK;
        assert!(
            x_max < self.x.len()
                && w_end <= self.w.len()
                && out_end <= self.out.len()
                && self.nb * BLOCK <= self.bias.len(),
            "depthwise conv: tile out of bounds (a bug in resnetc)"
        );
    }
}

/// Packs depthwise weights `[c, 1, kh, kw]` (`w`, row-major) as
/// `[⌈c/16⌉][kh][kw][16]`, zero past channel `c`.
pub(crate) fn pack_weights(w: &[f32], (c, kh, kw): (usize, usize, usize)) -> Vec<f32> {
    let mut packed = vec![0.0f32; c.div_ceil(BLOCK) * kh * kw * BLOCK];
    for ch in 0..c {
        for t in 0..kh * kw {
            packed[((ch / BLOCK) * kh * kw + t) * BLOCK + ch % BLOCK] = w[ch * kh * kw + t];
        }
    }
    packed
}

/// Computes one depthwise tile with the microkernel of `isa`.
pub(crate) fn tile(isa: ConvIsa, t: &mut DwTile<'_>) {
    match isa {
        ConvIsa::Avx512 => super::depthwise_avx512::tile(t),
        ConvIsa::Avx2Fma => super::depthwise_avx2::tile(t),
        ConvIsa::Portable => portable(t),
    }
}

/// The portable microkernel: plain Rust, 16-lane loops the compiler
/// vectorises for the baseline target.
fn portable(t: &mut DwTile<'_>) {
    t.check();
    let g = t.g;
    for b in 0..t.nb {
        let w = &t.w[b * g.kh * g.kw * BLOCK..][..g.kh * g.kw * BLOCK];
        let bias = &t.bias[b * BLOCK..][..BLOCK];
        for p in 0..t.np {
            let mut acc = [0.0f32; BLOCK];
            acc.copy_from_slice(bias);
            for ki in 0..g.kh {
                for kj in 0..g.kw {
                    let xo = b * g.x_cb + ki * g.x_row + kj * g.x_col + p * g.x_px;
                    let xv = &t.x[xo..xo + BLOCK];
                    let wv = &w[(ki * g.kw + kj) * BLOCK..][..BLOCK];
                    for ((a, x), w) in acc.iter_mut().zip(xv).zip(wv) {
                        *a += x * w;
                    }
                }
            }
            let o = b * t.out_bstride + p * BLOCK;
            t.out[o..o + BLOCK].copy_from_slice(&acc);
        }
    }
}
