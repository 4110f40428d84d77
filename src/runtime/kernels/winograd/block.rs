//! The contract between the product stage and its microkernels: one
//! *block* of `M[ξ] = U[ξ]·V[ξ]` is up to [`MR`] output channels × one or
//! two 8-float vectors of tiles ([`NV`] × 8 columns), accumulated over every
//! input channel, in increasing channel order, from zero.

/// Output channels per block: the packed `U[ξ]` holds, per block, `MR`
/// consecutive output channels for each input channel.
pub(crate) const MR: usize = 6;
/// Tiles per vector.
pub(crate) const LANES: usize = 8;

/// One block's operands.
pub(crate) struct Block<'a> {
    /// Packed `U[ξ]` of the block's output channels: `[c][MR]`.
    pub u: &'a [f32],
    /// `V[ξ]` from the block's first tile: row `ci` (input channel) at
    /// `ci·vs`, `nv·8` tiles per row.
    pub v: &'a [f32],
    /// Distance between two input channels' rows of `v`.
    pub vs: usize,
    /// Input channels (`≥ 1`).
    pub c: usize,
    /// `M[ξ]` from the block's first output channel and tile: row `r` at
    /// `r·ms`.
    pub m: &'a mut [f32],
    /// Distance between two output channels' rows of `m`.
    pub ms: usize,
    /// Output channels stored (`1..=MR`; the packed rows past them are
    /// zeros and their sums are dropped).
    pub rows: usize,
    /// Vectors of tiles (`1..=NV`).
    pub nv: usize,
}

/// Most vectors of tiles in one block.
pub(crate) const NV: usize = 2;

impl Block<'_> {
    /// Checks that every index a microkernel forms from this block is in
    /// bounds of its slices (each largest at its loop's last iteration); the
    /// microkernels rely on it for their unchecked loads and stores.
    ///
    /// # Panics
    /// When the driver built an inconsistent block (a bug in resnetc).
    pub fn check(&self) {
        let ok = self.c >= 1
            && (1..=MR).contains(&self.rows)
            && (1..=NV).contains(&self.nv)
            && self.u.len() >= self.c * MR
            && self.v.len() >= (self.c - 1) * self.vs + self.nv * LANES
            && self.m.len() >= (self.rows - 1) * self.ms + self.nv * LANES;
        assert!(
            ok,
            "winograd: product block out of bounds (c {}, rows {}, nv {}; a bug in resnetc)",
            self.c, self.rows, self.nv
        );
    }
}
