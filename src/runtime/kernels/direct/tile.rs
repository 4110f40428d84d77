//! The contract between the convolution driver and its microkernels: one
//! *tile* is up to [`MAX_NB`] blocks of 16 output channels × up to
//! [`MAX_NP`] output pixels of one output row, accumulated over every input
//! channel and kernel tap.

/// Output channels per filter block (one AVX-512 register of `f32`).
pub(crate) const BLOCK: usize = 16;
/// Most filter blocks in one tile (AVX-512: 4 × 6 = 24 accumulators).
pub(crate) const MAX_NB: usize = 4;
/// Most output pixels in one tile.
pub(crate) const MAX_NP: usize = 6;

/// Geometry of one convolution call in the units the microkernels step by
/// (all offsets in `f32` elements of the padded, channel-blocked input and of
/// the packed weights).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geo {
    /// Input channel blocks.
    pub cb: usize,
    /// Input channels per block in memory (16, or the channel count if smaller).
    pub cblk: usize,
    /// Input channels actually present in the last block (`1..=cblk`).
    pub c_last: usize,
    /// Kernel rows.
    pub kh: usize,
    /// Kernel columns.
    pub kw: usize,
    /// Distance between two input channel blocks (`Hp·Wp·cblk`).
    pub x_cb: usize,
    /// Distance between two kernel rows (`dh·Wp·cblk`).
    pub x_row: usize,
    /// Distance between two kernel columns (`dw·cblk`).
    pub x_col: usize,
    /// Distance between two neighbouring output pixels (`sw·cblk`).
    pub x_px: usize,
    /// Distance between two filter blocks in the packed weights.
    pub w_ob: usize,
    /// Distance between two input channel blocks in the packed weights
    /// (`kh·kw·cblk·16`).
    pub w_cb: usize,
}

/// One tile's operands. `x` starts at input channel 0, kernel tap (0, 0) of
/// the tile's first pixel; `w` at the tile's first filter block; `bias` holds
/// `nb·16` values; the result for block `b`, pixel `p` goes to
/// `out[b·out_bstride + p·16 ..][..16]`.
pub(crate) struct Tile<'a> {
    /// Padded channel-blocked input from the tile's first tap.
    pub x: &'a [f32],
    /// Packed weights from the tile's first filter block.
    pub w: &'a [f32],
    /// Bias of the tile's filter blocks.
    pub bias: &'a [f32],
    /// Result rows, `[nb][..][np][16]`.
    pub out: &'a mut [f32],
    /// Distance between two blocks' results in `out`.
    pub out_bstride: usize,
    /// Filter blocks in this tile (`1..=MAX_NB`).
    pub nb: usize,
    /// Output pixels in this tile (`1..=MAX_NP`).
    pub np: usize,
    /// The call's geometry.
    pub g: Geo,
}

impl Tile<'_> {
    /// Checks that every index a microkernel computes from this tile is in
    /// bounds of its slices. Every read index is a sum of per-loop terms,
    /// each largest at its loop's last iteration, so the largest index is the
    /// sum of the largest terms; the microkernels rely on this check for the
    /// safety of their unchecked loads and stores.
    ///
    /// # Panics
    /// When the driver built an inconsistent tile (a bug in resnetc).
    pub fn check(&self) {
        let g = &self.g;
        let ok = (1..=MAX_NB).contains(&self.nb)
            && (1..=MAX_NP).contains(&self.np)
            && g.cb >= 1
            && g.kh >= 1
            && g.kw >= 1
            && (1..=g.cblk).contains(&g.c_last)
            && g.cblk <= BLOCK;
        assert!(ok, "direct conv: bad tile {:?} (a bug in resnetc)", g);
        let x_max = (g.cb - 1) * g.x_cb
            + (g.kh - 1) * g.x_row
            + (g.kw - 1) * g.x_col
            + (self.np - 1) * g.x_px
            + (g.cblk - 1);
        let w_max = (self.nb - 1) * g.w_ob
            + (g.cb - 1) * g.w_cb
            + (g.kh * g.kw - 1) * g.cblk * BLOCK
            + (g.cblk - 1) * BLOCK
            + (BLOCK - 1);
        let out_end = (self.nb - 1) * self.out_bstride + self.np * BLOCK;
        assert!(
            x_max < self.x.len()
                && w_max < self.w.len()
                && out_end <= self.out.len()
                && self.nb * BLOCK <= self.bias.len(),
            "direct conv: tile out of bounds (a bug in resnetc)"
        );
    }

    /// Input channels read from channel block `cb`.
    #[inline(always)]
    pub fn channels_in(&self, cb: usize) -> usize {
        if cb + 1 == self.g.cb {
            self.g.c_last
        } else {
            self.g.cblk
        }
    }
}
