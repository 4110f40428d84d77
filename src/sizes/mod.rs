//! Which input heights and widths a model accepts (`resnetc sizes`).
//!
//! The answer is computed with the checker itself: a size is valid exactly
//! when the model compiles with it. What makes a finite number of
//! compilations a proof for every size is this argument.
//!
//! **Each dimension on its own.** Every shape rule treats height and width
//! separately (a window has a kernel, stride and padding per dimension; `+`
//! and `concat` compare height with height, width with width), so the valid
//! (H, W) pairs are the valid heights times the valid widths, each found with
//! the other dimension at its declared size.
//!
//! **Each op maps a size `n` to `floor((n + a) / s) + b`** (a convolution or
//! pooling with stride `s`; `pad: same` is `ceil(n / s)`; `ceil: true` is a
//! ceiling with a correction that depends only on `n mod s`), to `n · u`
//! (flatten), to `n`, or to a constant (global pooling, dense): the table is
//! [`scale::scale`]. So along a path of ops with stride product `S`, the size
//! `f(n)` satisfies `f(n + S) = f(n) + r·S` for the path's rate `r` (the
//! product of its `u`s over `S`), and the same holds with any multiple of `S`.
//! Let `P` be the lcm, over every path from the input, of the stride products
//! ([`scale::rates`]). Then for every node `f(n + P) = f(n) + r·P`.
//!
//! **The two kinds of size error.** A window fits (`n + pad ≥ extent`) on an
//! up-set of sizes, since every map is non-decreasing: if all windows fit at
//! `n`, they fit at every `m ≥ n`. A join (`a + b`, `concat`) needs equal
//! sizes: when its operands have the same rate, `f₁(n) − f₂(n)` is periodic
//! with period `P`, so whether the join holds depends only on `n mod P`
//! (and a padding that `same` computes depends only on `n mod s`).
//!
//! **Hence**, from any valid size `b` (the declared one) on, validity is
//! periodic with period `P`: compiling `b .. b + P` gives the valid residues,
//! and `b + P .. b + 2P` confirms them (a disagreement is a bug in resnetc and
//! reported as such). Below `b`, a size with a valid residue is valid exactly
//! when every window fits, an up-set, so the least valid size is found by a
//! binary search over those sizes. The result is exact for every size up to
//! the 2^40-element limit of a tensor.
//!
//! **Where the argument does not apply**, the answer says so and lists the
//! valid sizes among `1..=max(512, b)` instead: a model whose structure
//! depends on its sizes (`height(x)`, `width(x)`), or whose joins combine
//! paths with different rates (then only finitely many sizes can be valid).

pub mod formula;
pub mod maps;
mod queries;
pub mod scale;

use serde::Serialize;

pub use formula::DimSizes;

use crate::check::{self, CheckOptions};
use crate::syntax::Program;

/// Periods above this are not enumerated (each residue costs a compilation).
const MAX_PERIOD: u128 = 4096;
/// The range listed when no formula can be proven: at least 1..=512, and
/// up to the declared size if that is larger, but never past 4096 sizes.
const CHECKED_RANGE: usize = 512;
/// The largest range compiled size by size.
const CHECKED_MAX: usize = 4096;

/// The valid sizes of one C×H×W input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InputSizes {
    /// The input's name.
    pub input: String,
    /// Its declared (or `--input`) shape, C×H×W.
    pub shape: Vec<usize>,
    /// Valid heights.
    pub height: DimSizes,
    /// Valid widths.
    pub width: DimSizes,
}

impl InputSizes {
    /// One line: `x: H ≥ 29, W ≥ 29`.
    pub fn line(&self) -> String {
        format!(
            "{}: {}, {}",
            self.input,
            self.height.formula("H"),
            self.width.formula("W")
        )
    }
}

/// The valid input sizes of a model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelSizes {
    /// The model.
    pub model: String,
    /// Every C×H×W input (flat inputs have no height or width).
    pub inputs: Vec<InputSizes>,
    /// How many compilations the analysis took (0 when the size maps
    /// decide alone, see [`maps`]).
    pub compilations: usize,
}

/// Why the sizes could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model does not compile at its declared sizes.
    #[error(transparent)]
    Compile(#[from] crate::Error),
    /// A broken invariant: a bug in resnetc.
    #[error("{0} (this is a bug in resnetc)")]
    Internal(String),
}

/// The valid input sizes of the model of `path` chosen by `options` (its
/// `input_shapes` set the other dimension and the starting size).
pub fn of_file(path: &std::path::Path, options: &CheckOptions) -> Result<ModelSizes, Error> {
    let compiled = crate::compile_file(path, options)?;
    let (program, syntax_errors) = crate::syntax::load(path).map_err(|source| {
        Error::Compile(crate::Error::Io {
            path: path.display().to_string(),
            source,
        })
    })?;
    if !syntax_errors.is_empty() {
        return Err(Error::Internal(
            "the file parsed once and then failed to parse".into(),
        ));
    }
    of_program(&program, options, compiled.model.graph())
}

/// As [`of_file`], for in-memory source text (imports are not followed).
pub fn of_source(name: &str, text: &str, options: &CheckOptions) -> Result<ModelSizes, Error> {
    let compiled = crate::compile_source(name, text, options)
        .map_err(|e| Error::Compile(crate::Error::Compile(e)))?;
    let (program, _) = Program::from_source(name, text);
    of_program(&program, options, compiled.model.graph())
}

/// As [`of_file`], for a parsed program and the graph it compiled to with `options`.
pub fn of_program(
    program: &Program,
    options: &CheckOptions,
    graph: &crate::ir::Graph,
) -> Result<ModelSizes, Error> {
    let queries = queries::uses_size_queries(program);
    let by_maps = !queries && !queries::uses_same_padding(program);
    let base: Vec<(String, Vec<usize>)> = graph
        .inputs
        .iter()
        .map(|i| (i.name.clone(), graph.node(i.node).shape.0.clone()))
        .collect();
    let mut oracle = Oracle {
        program,
        graph: by_maps.then_some(graph),
        model: options.model.clone(),
        base: &base,
        compilations: 0,
    };
    let mut inputs = Vec::new();
    for (index, (name, shape)) in base.iter().enumerate() {
        let [_, h, w] = shape.as_slice() else {
            continue;
        };
        let mut dims = Vec::new();
        for (dim, declared) in [(0, *h), (1, *w)] {
            let rates = scale::rates(graph, index, dim).filter(|r| r.period <= MAX_PERIOD);
            let sizes = match rates {
                Some(r) if r.joins_agree && !queries => {
                    periodic(&mut oracle, index, dim, declared, r.period as usize)?
                }
                _ => checked(&mut oracle, index, dim, declared),
            };
            dims.push(sizes);
        }
        let width = dims
            .pop()
            .ok_or_else(|| Error::Internal("no width".into()))?;
        let height = dims
            .pop()
            .ok_or_else(|| Error::Internal("no height".into()))?;
        inputs.push(InputSizes {
            input: name.clone(),
            shape: shape.clone(),
            height,
            width,
        });
    }
    Ok(ModelSizes {
        model: graph.name.clone(),
        inputs,
        compilations: oracle.compilations,
    })
}

/// Compiles the model with one dimension of one input changed.
struct Oracle<'a> {
    program: &'a Program,
    /// Set when the size maps decide exactly (see [`maps`]).
    graph: Option<&'a crate::ir::Graph>,
    model: Option<String>,
    base: &'a [(String, Vec<usize>)],
    compilations: usize,
}

impl Oracle<'_> {
    fn valid(&mut self, input: usize, dim: usize, n: usize) -> bool {
        if let Some(g) = self.graph {
            return maps::valid(g, input, dim, n);
        }
        self.compilations += 1;
        let input_shapes = self
            .base
            .iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let mut s = shape.clone();
                if i == input {
                    s[1 + dim] = n;
                }
                (Some(name.clone()), s)
            })
            .collect();
        let options = CheckOptions {
            model: self.model.clone(),
            input_shapes,
        };
        check::check(self.program, &options).is_ok()
    }
}

/// The periodic case: residues from `declared .. declared + period`,
/// confirmed on the next period, and the least valid size by binary search.
fn periodic(
    oracle: &mut Oracle,
    input: usize,
    dim: usize,
    declared: usize,
    period: usize,
) -> Result<DimSizes, Error> {
    let v: Vec<bool> = (0..2 * period)
        .map(|k| oracle.valid(input, dim, declared + k))
        .collect();
    if v[..period] != v[period..] {
        return Err(Error::Internal(format!(
            "valid sizes of dimension {dim} are not periodic with period {period} from {declared}"
        )));
    }
    if !v[0] {
        return Err(Error::Internal(format!(
            "the declared size {declared} does not compile again"
        )));
    }
    let residue_ok = |n: usize| v[(n + period - declared % period) % period];
    // Below `declared`, sizes with a valid residue are valid exactly from the
    // least size where every window fits: binary search for it among them.
    // The k-th such size (from 0) is `(k / |R|)·P + R[k mod |R|]`, with the
    // residues R taken in 1..=P so that every size is at least 1.
    let mut residues: Vec<usize> = (1..=period).filter(|&r| residue_ok(r)).collect();
    residues.sort_unstable();
    let per = residues.len();
    let nth = |k: usize| (k / per) * period + residues[k % per];
    let below = {
        let m = declared - 1;
        (m / period) * per + residues.iter().filter(|&&r| r <= m % period).count()
    };
    let (mut lo, mut hi) = (0, below);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if oracle.valid(input, dim, nth(mid)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let least = if lo < below { nth(lo) } else { declared };
    let first: Vec<bool> = (0..period).map(|j| residue_ok(least + j)).collect();
    Ok(DimSizes::periodic(least, period, &first))
}

/// No periodicity argument: every size in `1..=max(512, declared)` (at most 4096).
fn checked(oracle: &mut Oracle, input: usize, dim: usize, declared: usize) -> DimSizes {
    let up_to = CHECKED_RANGE.max(declared).min(CHECKED_MAX);
    let valid = (1..=up_to)
        .filter(|&n| oracle.valid(input, dim, n))
        .collect();
    DimSizes::Checked {
        valid,
        checked_up_to: up_to,
    }
}
