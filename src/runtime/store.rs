//! Reading named f32 tensors from safetensors data (a file, owned bytes or
//! bytes embedded with `include_bytes!`).

use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};

use super::names::{NameMap, Role, permute};

/// Why weights could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be read.
    #[error("cannot read weights file `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The data is not a valid safetensors file.
    #[error("invalid safetensors data: {0}")]
    Format(String),
    /// Tensors are missing, mis-shaped or not f32 (every problem, one per line).
    #[error("the weights do not fit the model:\n{}", .0.join("\n"))]
    Mismatch(Vec<String>),
}

enum Bytes {
    Static(&'static [u8]),
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Static(b) => b,
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

/// Where one tensor lies in the buffer.
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    /// Byte range within the whole buffer.
    range: std::ops::Range<usize>,
}

/// A validated safetensors buffer from which tensors are read by name (the
/// header is parsed once).
pub struct TensorStore {
    bytes: Bytes,
    index: std::collections::HashMap<String, Entry>,
}

impl TensorStore {
    fn new(bytes: Bytes) -> Result<TensorStore, StoreError> {
        let (header_len, metadata) = SafeTensors::read_metadata(bytes.as_slice())
            .map_err(|e| StoreError::Format(e.to_string()))?;
        let start = 8 + header_len;
        let index = metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                let (a, b) = info.data_offsets;
                let entry = Entry {
                    dtype: info.dtype,
                    shape: info.shape.clone(),
                    range: start + a..start + b,
                };
                (name, entry)
            })
            .collect();
        Ok(TensorStore { bytes, index })
    }

    /// Memory-maps a safetensors file.
    pub fn open(path: &Path) -> Result<TensorStore, StoreError> {
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: read-only mapping of a file this process does not modify.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::new(Bytes::Mapped(map))
    }

    /// Uses bytes embedded in the program (`include_bytes!`), without copying them.
    pub fn from_static(bytes: &'static [u8]) -> Result<TensorStore, StoreError> {
        Self::new(Bytes::Static(bytes))
    }

    /// Takes ownership of safetensors bytes.
    pub fn from_vec(bytes: Vec<u8>) -> Result<TensorStore, StoreError> {
        Self::new(Bytes::Owned(bytes))
    }

    /// Checks that every `(name, shape)` is present as f32 with that shape;
    /// reports every problem at once.
    pub fn check(&self, expected: &[(&str, &[usize])]) -> Result<(), StoreError> {
        let mut problems = Vec::new();
        for (name, shape) in expected {
            match self.index.get(*name) {
                None => problems.push(format!("  - missing tensor `{name}` (shape {shape:?})")),
                Some(e) if e.dtype != Dtype::F32 => problems.push(format!(
                    "  - tensor `{name}` is {:?}, expected F32",
                    e.dtype
                )),
                Some(e) if e.shape != *shape => problems.push(format!(
                    "  - tensor `{name}` has shape {:?}, expected {shape:?}",
                    e.shape
                )),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Mismatch(problems))
        }
    }

    /// Reads resnetc's tensor `name` of `shape` through `map`: under the
    /// file's name for it, transposed from the file's layout for `role`.
    /// The interpreter's loader and generated code both read this way.
    pub fn tensor_mapped(
        &self,
        name: &str,
        shape: &[usize],
        map: &NameMap,
        role: Role,
    ) -> Result<ArrayD<f32>, StoreError> {
        let file_name = map.file_name(name);
        let Some(entry) = self.index.get(file_name) else {
            return Err(StoreError::Mismatch(vec![missing(name, file_name, shape)]));
        };
        let Some(perm) = map.layout.permutation(role, entry.shape.len()) else {
            return self.tensor(file_name, shape);
        };
        let stored: Vec<usize> = match invert(perm) {
            Some(inv) if shape.len() == perm.len() => inv.iter().map(|&k| shape[k]).collect(),
            _ => entry.shape.clone(),
        };
        let raw = self.tensor(file_name, &stored)?;
        let data = raw.as_slice().and_then(|d| permute(d, &stored, perm));
        data.and_then(|d| ArrayD::from_shape_vec(IxDyn(shape), d).ok())
            .ok_or_else(|| StoreError::Format(format!("tensor `{file_name}`: cannot transpose")))
    }

    /// Reads tensor `name`, which must be f32 of exactly `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<ArrayD<f32>, StoreError> {
        self.check(&[(name, shape)])?;
        let range = self.index[name].range.clone();
        let data = f32s_from_le_bytes(&self.bytes.as_slice()[range]);
        ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| StoreError::Format(e.to_string()))
    }
}

/// The problem line of a tensor the file lacks.
fn missing(name: &str, file_name: &str, shape: &[usize]) -> String {
    if name == file_name {
        format!("  - missing tensor `{name}` (shape {shape:?})")
    } else {
        format!("  - missing tensor `{file_name}` (resnetc's `{name}`, shape {shape:?})")
    }
}

/// The inverse of a permutation (`None` if `perm` is not one).
fn invert(perm: &[usize]) -> Option<Vec<usize>> {
    let mut inv = vec![usize::MAX; perm.len()];
    for (k, &p) in perm.iter().enumerate() {
        *inv.get_mut(p)? = k;
    }
    inv.iter().all(|&i| i != usize::MAX).then_some(inv)
}

/// Decodes little-endian f32 data (safetensors' layout; any alignment).
pub(crate) fn f32s_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
