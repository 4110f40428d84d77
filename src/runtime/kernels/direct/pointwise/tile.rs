//! The contract between the pointwise driver and its microkernels: one
//! *tile* is up to [`MR`] output channels × up to `NR` pixels (16 for
//! AVX2+FMA and portable, 32 for AVX-512F), accumulated over one chunk of
//! input channels.
//!
//! The input rows are `xs` apart (the pointwise driver's packed tiles,
//! or a GEMM operand read in place); the weights are one packed panel
//! `[c][MR]`; the results go to output rows whose pixels are contiguous:
//! the NCHW output rows of one image, or the pointwise driver's temporary
//! for a tile whose pixels span images.

use ndarray::ArrayViewMut2;

use crate::runtime::kernels::activation::Activation;

/// Output channels per weight panel and per tile.
pub(crate) const MR: usize = 6;

/// Where a tile's accumulators start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The bias (first chunk).
    Bias,
    /// The partial sums in the output (a later chunk).
    Out,
}

/// What the last chunk adds to the sum before the activation (the
/// residual operand), so that a fused residual gives the bits of the
/// convolution and the add run apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddEnd {
    /// Nothing.
    Nothing,
    /// `skip` (rows `ss` apart).
    Skip,
    /// The values in the output before the store (a residual in place).
    Out,
}

/// One tile's operands.
pub(crate) struct PwTile<'a, 'b> {
    /// Input from the tile's first channel and first pixel; channel `ci`'s
    /// pixel `p` at `ci·xs + p`.
    pub x: &'a [f32],
    /// Distance between two input channels (the image's pixel count).
    pub xs: usize,
    /// Packed weights of the tile's panel from its first channel:
    /// `w[ci·MR + r]` for output row `r`.
    pub w: &'a [f32],
    /// Input channels in this chunk (≥ 1).
    pub kc: usize,
    /// Bias of the panel's `MR` output channels.
    pub bias: &'a [f32],
    /// The work unit's output, `[output channels][pixels]`, pixels
    /// contiguous.
    pub y: &'a mut ArrayViewMut2<'b, f32>,
    /// Row and column of the tile's first value in `y`.
    pub y0: (usize, usize),
    /// Valid output rows (`1..=MR`); the others are computed and dropped.
    pub rows: usize,
    /// Valid pixels (`1..=NR`).
    pub np: usize,
    /// The residual operand from the tile's first value, rows `ss` apart
    /// (read only when `add` is [`AddEnd::Skip`]).
    pub skip: &'a [f32],
    /// Distance between two rows of `skip` (≥ `np`).
    pub ss: usize,
    /// Where the accumulators start.
    pub start: Start,
    /// `Some` on the last chunk: the activation applied before the store.
    pub act: Option<Activation>,
    /// What the last chunk adds before the activation
    /// ([`AddEnd::Nothing`] on the other chunks).
    pub add: AddEnd,
}

impl PwTile<'_, '_> {
    /// Checks every index a microkernel forms from this tile for at most
    /// `nr` pixels: input `(kc-1)·xs + np - 1`, weights `kc·MR - 1`, bias
    /// `MR - 1`, skip `(rows-1)·ss + np - 1` (and a residual only on the last chunk), output rows `y0.0 + rows` and
    /// columns `y0.1 + np` inside `y`, whose pixels are contiguous. The
    /// microkernels rely on it for their unchecked loads and stores, and
    /// read or write pixels `np..nr` of no row.
    ///
    /// # Panics
    /// When the driver built an inconsistent tile (a bug in resnetc).
    pub fn check(&self, nr: usize) {
        let (yr, yc) = self.y.dim();
        let strides = self.y.strides();
        let ok = self.kc >= 1
            && (1..=MR).contains(&self.rows)
            && (1..=nr).contains(&self.np)
            && self.np <= self.xs
            && (self.kc - 1) * self.xs + self.np <= self.x.len()
            && self.kc * MR <= self.w.len()
            && MR <= self.bias.len()
            && (self.add == AddEnd::Nothing || self.act.is_some())
            && (self.add != AddEnd::Skip
                || (self.np <= self.ss && (self.rows - 1) * self.ss + self.np <= self.skip.len()))
            && self.y0.0 + self.rows <= yr
            && self.y0.1 + self.np <= yc
            && strides[1] == 1
            && strides[0] >= 1;
        assert!(
            ok,
            "pointwise conv: bad tile (kc {}, rows {}, np {}, y {:?}) (a bug in resnetc)",
            self.kc,
            self.rows,
            self.np,
            self.y.dim()
        );
    }

    /// Distance between two output rows in `y` (positive, checked by
    /// [`PwTile::check`]).
    pub fn ys(&self) -> usize {
        self.y.strides()[0].unsigned_abs()
    }
}
