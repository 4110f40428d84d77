//! How the tensors of a weights file are named and laid out: the one
//! description that the interpreter's loader and generated code's `Loader`
//! both apply, so that a file one of them accepts the other accepts too.

use std::collections::BTreeMap;

/// How kernels are laid out in a weights file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "compiler",
    derive(serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Layout {
    /// PyTorch: conv OIHW, dense [out, in].
    #[default]
    Torch,
    /// Keras / TensorFlow: conv HWIO, dense [in, out].
    Keras,
}

/// What a learned tensor is, as far as its layout is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A convolution's kernel (OIHW in resnetc), or a transposed
    /// convolution's (IOHW): both are HW-first in Keras.
    ConvKernel,
    /// A dense layer's weight matrix ([out, in] in resnetc).
    DenseWeight,
    /// Anything else (biases, batch-norm vectors): stored as is.
    Other,
}

impl Layout {
    /// For a tensor of `role` stored with `rank` axes in this layout: which
    /// file axis becomes each of resnetc's axes (`None`: the same order).
    pub fn permutation(self, role: Role, rank: usize) -> Option<&'static [usize]> {
        match (self, role, rank) {
            // HWIO → OIHW
            (Layout::Keras, Role::ConvKernel, 4) => Some(&[3, 2, 0, 1]),
            // [in, out] → [out, in]
            (Layout::Keras, Role::DenseWeight, 2) => Some(&[1, 0]),
            _ => None,
        }
    }
}

/// A map from resnetc's parameter names to the names in a weights file, and
/// the file's layout. Parameters not listed keep their own names.
///
/// `resnetc run --names MAP.yaml` reads one from YAML
/// (`interp::NameMap::from_file`); generated code takes one in
/// `from_store_with`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "compiler",
    derive(serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct NameMap {
    /// The file's kernel layout.
    #[cfg_attr(feature = "compiler", serde(default))]
    pub layout: Layout,
    /// resnetc name → file name.
    #[cfg_attr(feature = "compiler", serde(default))]
    pub names: BTreeMap<String, String>,
}

impl NameMap {
    /// An empty map for files in `layout`.
    pub fn new(layout: Layout) -> NameMap {
        NameMap {
            layout,
            names: BTreeMap::new(),
        }
    }

    /// Adds one renaming: resnetc's `name` is `file_name` in the file.
    pub fn rename(mut self, name: impl Into<String>, file_name: impl Into<String>) -> NameMap {
        self.names.insert(name.into(), file_name.into());
        self
    }

    /// The name of resnetc's parameter `name` in the file.
    pub fn file_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.names.get(name).map_or(name, String::as_str)
    }
}

/// Transposes row-major `data` of `shape`: output axis k is input axis
/// `perm[k]`. `None` if `data` does not hold `shape`'s elements.
pub(crate) fn permute(data: &[f32], shape: &[usize], perm: &[usize]) -> Option<Vec<f32>> {
    let view = ndarray::ArrayViewD::from_shape(shape, data).ok()?;
    Some(view.permuted_axes(perm).iter().copied().collect())
}
