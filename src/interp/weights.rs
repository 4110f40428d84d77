//! Weights: reading safetensors files (memory-mapped), matching them to a
//! checked model by hierarchical name, and deterministic initialisation.
//!
//! Every problem of a file — missing, unexpected or mis-shaped tensors, wrong
//! dtypes — is collected and reported at once, each with the `.rn` span of
//! the layer that owns the tensor; nothing runs half-loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use safetensors::{Dtype, SafeTensors};

use super::memory::OutOfMemory;
use crate::diag::{Code, Diagnostic};
use crate::ir::{CheckedModel, Op, ParamKind};
use crate::span::Span;

/// A learned tensor in memory (row-major f32, PyTorch layout).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its elements.
    pub data: Vec<f32>,
}

/// All learned tensors of a model, by resnetc parameter name.
#[derive(Clone, Debug, Default)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// The tensor named `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Takes the tensor named `name` out.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Inserts a tensor (used by tests and converters).
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Writes the weights as a safetensors file, atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), WeightsError> {
        let data = self
            .to_safetensors()
            .map_err(|reason| WeightsError::Format {
                path: path.display().to_string(),
                reason,
            })?;
        crate::atomic::write(path, &data).map_err(|source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// The weights as safetensors bytes (tensors sorted by name).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, String> {
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = names
            .iter()
            .map(|n| {
                let t = &self.tensors[*n];
                let b: Vec<u8> = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                ((*n).clone(), b, t.shape.clone())
            })
            .collect();
        let mut entries = Vec::with_capacity(bytes.len());
        for (n, b, s) in &bytes {
            let view = safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b)
                .map_err(|e| e.to_string())?;
            entries.push((n.clone(), view));
        }
        safetensors::serialize(entries, None).map_err(|e| e.to_string())
    }
}

/// One way a weights file does not fit a model.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightProblem {
    /// The model needs a tensor the file lacks.
    Missing {
        /// The tensor's resnetc name.
        name: String,
        /// The name looked up in the file (differs under a name map).
        file_name: String,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// The layer that owns it.
        span: Span,
    },
    /// The file has a tensor the model does not use.
    Unexpected {
        /// The name in the file.
        file_name: String,
        /// Its shape in the file.
        shape: Vec<usize>,
    },
    /// A tensor with the wrong shape.
    Shape {
        /// The tensor's resnetc name.
        name: String,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// Its shape in the file (after any layout conversion).
        found: Vec<usize>,
        /// The layer that owns it.
        span: Span,
    },
    /// A tensor that is not f32.
    Dtype {
        /// The tensor's resnetc name.
        name: String,
        /// Its dtype in the file.
        found: String,
        /// The layer that owns it.
        span: Span,
    },
}

fn dims(s: &[usize]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl std::fmt::Display for WeightProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightProblem::Missing {
                name,
                file_name,
                expected,
                ..
            } if name == file_name => {
                write!(f, "missing tensor `{name}` (shape {})", dims(expected))
            }
            WeightProblem::Missing {
                name,
                file_name,
                expected,
                ..
            } => {
                write!(
                    f,
                    "missing tensor `{file_name}` for `{name}` (shape {})",
                    dims(expected)
                )
            }
            WeightProblem::Unexpected { file_name, shape } => {
                write!(
                    f,
                    "unexpected tensor `{file_name}` (shape {}): the model has no such parameter",
                    dims(shape)
                )
            }
            WeightProblem::Shape {
                name,
                expected,
                found,
                ..
            } => write!(
                f,
                "tensor `{name}` has shape {} in the file, but the model needs {}",
                dims(found),
                dims(expected)
            ),
            WeightProblem::Dtype { name, found, .. } => {
                write!(f, "tensor `{name}` is {found}, but resnetc needs F32")
            }
        }
    }
}

impl WeightProblem {
    /// The problem as a diagnostic pointing at the owning layer.
    pub fn to_diagnostic(&self, file: &str) -> Diagnostic {
        let (code, span, help) = match self {
            WeightProblem::Missing {
                span,
                name,
                file_name,
                ..
            } if name != file_name => (
                Code::E0300,
                Some(*span),
                "the name map sends this parameter to a name the file does not have: fix its entry under `names:`",
            ),
            WeightProblem::Missing { span, .. } => (
                Code::E0300,
                Some(*span),
                "check that the file was saved from the same architecture (`state_dict()` names), or use a name map",
            ),
            WeightProblem::Unexpected { .. } => (
                Code::E0301,
                None,
                "the file was saved from a different model, or a layer is missing from the .rn file",
            ),
            WeightProblem::Shape { .. } => (
                Code::E0302,
                self.span(),
                "the layer's arguments (channels, kernel, groups) differ from the model that saved the file",
            ),
            WeightProblem::Dtype { .. } => (
                Code::E0303,
                self.span(),
                "convert the checkpoint to float32 before saving (`{k: v.float() for k, v in sd.items()}`)",
            ),
        };
        let mut d = Diagnostic::error(code, format!("{self} ({file})")).help(help);
        if let Some(s) = span {
            d = d.primary(s, "this layer owns the tensor");
        }
        d
    }

    /// A one-line count of problems by kind, e.g. `100 unexpected, 8 missing`
    /// (used to summarise the problems that are not shown one by one).
    pub fn summarize(problems: &[WeightProblem]) -> String {
        let mut counts = [0usize; 4];
        for p in problems {
            counts[match p {
                WeightProblem::Missing { .. } => 0,
                WeightProblem::Unexpected { .. } => 1,
                WeightProblem::Shape { .. } => 2,
                WeightProblem::Dtype { .. } => 3,
            }] += 1;
        }
        let kinds = ["missing", "unexpected", "mis-shaped", "not F32"];
        let mut parts: Vec<(usize, &str)> = counts
            .iter()
            .copied()
            .zip(kinds)
            .filter(|(n, _)| *n > 0)
            .collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.0));
        parts
            .iter()
            .map(|(n, k)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn span(&self) -> Option<Span> {
        match self {
            WeightProblem::Missing { span, .. }
            | WeightProblem::Shape { span, .. }
            | WeightProblem::Dtype { span, .. } => Some(*span),
            WeightProblem::Unexpected { .. } => None,
        }
    }
}

/// Why weights could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file cannot be read or written.
    #[error("cannot access weights file `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, hostile header, ...).
    #[error(
        "`{path}` is not a valid safetensors file: {reason}\n  help: re-save the weights with `safetensors.torch.save_file(model.state_dict(), path)`, or check that the copy is complete"
    )]
    Format {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The name map cannot be read.
    #[error("invalid name map `{path}`: {reason}")]
    NameMap {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The file's tensors do not fit the model.
    #[error("the weights in `{path}` do not fit model `{model}` ({} problem{}):\n{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, list_problems(problems))]
    Mismatch {
        /// The path.
        path: String,
        /// The model.
        model: String,
        /// Every problem found.
        problems: Vec<WeightProblem>,
    },
}

/// How many problems of a mismatch are listed one by one before the rest are
/// summarised by kind.
pub const SHOWN_PROBLEMS: usize = 20;

fn list_problems(problems: &[WeightProblem]) -> String {
    let mut lines: Vec<String> = problems
        .iter()
        .take(SHOWN_PROBLEMS)
        .map(|p| format!("  - {p}"))
        .collect();
    if problems.len() > SHOWN_PROBLEMS {
        let rest = &problems[SHOWN_PROBLEMS..];
        lines.push(format!(
            "  … and {} more: {}",
            rest.len(),
            WeightProblem::summarize(rest)
        ));
    }
    lines.join("\n")
}

/// Explains a safetensors parse error in terms of the file (`len` bytes).
fn describe_format_error(e: &safetensors::SafeTensorError, bytes: &[u8]) -> String {
    use safetensors::SafeTensorError as E;
    let len = bytes.len();
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    match (e, header_len) {
        (_, None) if len == 0 => "the file is empty".into(),
        (_, None) => format!("the file is {len} bytes long, too short for the 8-byte header length that starts a safetensors file"),
        (E::HeaderTooLarge | E::InvalidHeaderLength, Some(n)) if n > len as u64 - 8 => format!(
            "its first 8 bytes announce a {n}-byte JSON header, but the file is only {len} bytes long (truncated, or not a safetensors file)"
        ),
        (E::HeaderTooLarge, Some(n)) => format!("its first 8 bytes announce a {n}-byte JSON header, more than the 100 MB safetensors allows"),
        (E::MetadataIncompleteBuffer, _) => format!(
            "the header's tensor offsets do not cover the {len}-byte file exactly: it is truncated, or has extra bytes at the end"
        ),
        (E::ValidationOverflow, _) => "the header declares a tensor whose size overflows (hostile or corrupt shape)".into(),
        (E::TensorInvalidInfo, _) => "a tensor's shape, dtype and data offsets in the header disagree (hostile or corrupt header)".into(),
        (E::InvalidOffset(name), _) => {
            format!("the header's data offsets for tensor `{name}` do not match its shape and dtype, or overlap other tensors")
        }
        _ => e.to_string(),
    }
}

pub use crate::runtime::{Layout, NameMap};

/// The role of `op`'s parameters for the file layout (shared with generated
/// code through [`crate::runtime::Role`]). Exhaustive, so that a new op with
/// weights decides its layout here.
fn role(op: &Op) -> crate::runtime::Role {
    use crate::runtime::Role;
    match op {
        // A transposed convolution's kernel is stored like a convolution's
        // (Keras `Conv2DTranspose`: kh, kw, out, in; resnetc: in, out, kh, kw).
        Op::Conv(_) | Op::ConvTranspose(_) => Role::ConvKernel,
        Op::Dense(_) => Role::DenseWeight,
        Op::Input
        | Op::BatchNorm(_)
        | Op::Activation(_)
        | Op::MaxPool(_)
        | Op::AvgPool(_)
        | Op::GlobalAvgPool
        | Op::Flatten
        | Op::Softmax
        | Op::Dropout { .. }
        | Op::Add
        | Op::Concat
        | Op::Identity
        | Op::Mul
        | Op::PadChannels { .. }
        | Op::Upsample(_) => Role::Other,
    }
}

impl NameMap {
    /// Reads a name map from a YAML file:
    ///
    /// ```yaml
    /// layout: keras            # torch (default) or keras
    /// names:
    ///   conv.weight: conv2d/kernel
    ///   conv.bias: conv2d/bias
    /// ```
    /// Parameters not listed keep their own names.
    pub fn from_file(path: &Path) -> Result<NameMap, WeightsError> {
        let text = std::fs::read_to_string(path).map_err(|e| WeightsError::NameMap {
            path: path.display().to_string(),
            reason: format!("cannot read it: {e}"),
        })?;
        serde_yaml::from_str(&text).map_err(|e| WeightsError::NameMap {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

/// An open, memory-mapped safetensors file.
pub struct WeightsFile {
    path: PathBuf,
    map: memmap2::Mmap,
}

impl WeightsFile {
    /// Opens and maps a file; nothing but the header is read until tensors are loaded.
    pub fn open(path: &Path) -> Result<WeightsFile, WeightsError> {
        let io = |source| WeightsError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory: pass the .safetensors file inside it",
            )));
        }
        // SAFETY: the mapping is read-only; resnetc does not modify the file, and
        // a file truncated by another process while mapped is outside its contract
        // (as for every memory-mapped reader, e.g. safetensors' own Python loader).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let wf = WeightsFile {
            path: path.to_path_buf(),
            map,
        };
        wf.parse()?;
        Ok(wf)
    }

    fn parse(&self) -> Result<SafeTensors<'_>, WeightsError> {
        SafeTensors::deserialize(&self.map).map_err(|e| WeightsError::Format {
            path: self.path.display().to_string(),
            reason: describe_format_error(&e, &self.map),
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the file's header against the model: every problem, no data read.
    pub fn check(&self, model: &CheckedModel, map: &NameMap) -> Result<(), WeightsError> {
        self.load_inner(model, map, false).map(|_| ())
    }

    /// Checks and loads every tensor the model needs.
    pub fn load(&self, model: &CheckedModel, map: &NameMap) -> Result<Weights, WeightsError> {
        self.load_inner(model, map, true)
    }

    fn load_inner(
        &self,
        model: &CheckedModel,
        map: &NameMap,
        read: bool,
    ) -> Result<Weights, WeightsError> {
        let st = self.parse()?;
        let g = model.graph();
        let mut problems = Vec::new();
        let mut used: HashMap<String, bool> = st
            .names()
            .into_iter()
            .map(|n| (n.to_string(), false))
            .collect();
        let mut weights = Weights::default();
        for node in &g.nodes {
            for p in &node.params {
                let file_name = map.file_name(&p.name).to_string();
                let view = match st.tensor(&file_name) {
                    Ok(v) => v,
                    Err(_) => {
                        problems.push(WeightProblem::Missing {
                            name: p.name.clone(),
                            file_name,
                            expected: p.shape.clone(),
                            span: node.span,
                        });
                        continue;
                    }
                };
                used.insert(file_name.clone(), true);
                if view.dtype() != Dtype::F32 {
                    problems.push(WeightProblem::Dtype {
                        name: p.name.clone(),
                        found: format!("{:?}", view.dtype()),
                        span: node.span,
                    });
                    continue;
                }
                let permutation = map.layout.permutation(role(&node.op), view.shape().len());
                let found: Vec<usize> = match &permutation {
                    Some(perm) => perm.iter().map(|&i| view.shape()[i]).collect(),
                    None => view.shape().to_vec(),
                };
                if found != p.shape {
                    problems.push(WeightProblem::Shape {
                        name: p.name.clone(),
                        expected: p.shape.clone(),
                        found,
                        span: node.span,
                    });
                    continue;
                }
                if read && problems.is_empty() {
                    let raw = crate::runtime::f32s_from_le_bytes(view.data());
                    let data = match permutation {
                        Some(perm) => crate::runtime::names::permute(&raw, view.shape(), perm)
                            .ok_or_else(|| WeightsError::NameMap {
                                path: self.path.display().to_string(),
                                reason: format!("tensor `{file_name}` cannot be transposed"),
                            })?,
                        None => raw,
                    };
                    weights.insert(p.name.clone(), Tensor { shape: found, data });
                }
            }
        }
        let mut unexpected: Vec<(&String, &bool)> = used
            .iter()
            .filter(|(n, u)| !**u && !n.ends_with("num_batches_tracked"))
            .collect();
        unexpected.sort();
        for (n, _) in unexpected {
            let shape = st.tensor(n).map(|v| v.shape().to_vec()).unwrap_or_default();
            problems.push(WeightProblem::Unexpected {
                file_name: n.clone(),
                shape,
            });
        }
        if !problems.is_empty() {
            return Err(WeightsError::Mismatch {
                path: self.path.display().to_string(),
                model: g.name.clone(),
                problems,
            });
        }
        Ok(weights)
    }
}

/// Deterministic initial weights, as torchvision initialises a fresh model:
/// conv kernels Kaiming-normal (fan-out, ReLU gain), conv biases 0, batch norm
/// γ = 1, β = 0, running mean 0, running variance 1, dense layers and
/// transposed convolutions PyTorch's default uniform(±1/√fan_in). The same
/// seed gives the same weights.
///
/// Like `Vec::with_capacity`, this aborts if the weights cannot be
/// allocated; [`try_init`] returns an error instead.
pub fn init(model: &CheckedModel, seed: u64) -> Weights {
    match try_init(model, seed) {
        Ok(w) => w,
        Err(_) => std::alloc::handle_alloc_error(std::alloc::Layout::new::<f32>()),
    }
}

/// How a learned tensor starts (PyTorch's defaults).
enum Init {
    /// Every element this value.
    Const(f32),
    /// Normal(0, σ) (Kaiming, fan out).
    Normal(f32),
    /// Uniform(±bound).
    Uniform(f32),
}

/// [`init`], or an [`OutOfMemory`] error (the size in GiB and the largest
/// layer) when the weights do not fit in this machine's memory: checked
/// before anything is allocated, and every tensor allocated with `try_reserve`.
pub fn try_init(model: &CheckedModel, seed: u64) -> Result<Weights, OutOfMemory> {
    super::memory::check_weights(model)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = Weights::default();
    for node in &model.graph().nodes {
        for p in &node.params {
            // A checked model's tensors have at most 2^40 elements.
            let n = p.shape.iter().product::<usize>();
            let out_of_memory = |_| {
                let n = n as u128;
                super::memory::error(
                    model,
                    format!("tensor `{}`", p.name),
                    n,
                    &node.name,
                    n,
                    None,
                )
            };
            let uniform = |fan_in: usize| Init::Uniform(1.0 / (fan_in.max(1) as f32).sqrt());
            let init = match p.kind {
                ParamKind::Gamma | ParamKind::RunningVar => Init::Const(1.0),
                ParamKind::Beta | ParamKind::RunningMean => Init::Const(0.0),
                ParamKind::Weight | ParamKind::Bias => match &node.op {
                    Op::Conv(_) if p.kind == ParamKind::Bias => Init::Const(0.0),
                    Op::Conv(_) => {
                        let fan_out = (p.shape[0] * p.shape[2] * p.shape[3]).max(1);
                        Init::Normal((2.0 / fan_out as f64).sqrt() as f32)
                    }
                    Op::Dense(d) => uniform(d.in_features),
                    // PyTorch's default: uniform(±1/√fan_in), fan_in = out/groups·kh·kw.
                    Op::ConvTranspose(c) => {
                        uniform(c.out_channels / c.groups.max(1) * c.kernel[0] * c.kernel[1])
                    }
                    // No weight or bias (`ir::validate` checks every
                    // parameter against its op's `param_specs`).
                    Op::Input
                    | Op::BatchNorm(_)
                    | Op::Activation(_)
                    | Op::MaxPool(_)
                    | Op::AvgPool(_)
                    | Op::GlobalAvgPool
                    | Op::Flatten
                    | Op::Softmax
                    | Op::Dropout { .. }
                    | Op::Add
                    | Op::Concat
                    | Op::Identity
                    | Op::Mul
                    | Op::PadChannels { .. }
                    | Op::Upsample(_) => Init::Const(0.0),
                },
            };
            // Each arm fills with its own closure (no dynamic call per element).
            let data = match init {
                Init::Const(v) => super::memory::try_filled(n, || v),
                Init::Normal(std) => match Normal::new(0.0f32, std) {
                    Ok(d) => super::memory::try_filled(n, || d.sample(&mut rng)),
                    Err(_) => super::memory::try_filled(n, || 0.0),
                },
                Init::Uniform(bound) => match Uniform::new_inclusive(-bound, bound) {
                    Ok(u) => super::memory::try_filled(n, || u.sample(&mut rng)),
                    Err(_) => super::memory::try_filled(n, || 0.0),
                },
            }
            .map_err(out_of_memory)?;
            w.insert(
                p.name.clone(),
                Tensor {
                    shape: p.shape.clone(),
                    data,
                },
            );
        }
    }
    Ok(w)
}
