//! The fixed helper items of generated code (`helpers.rs.in`, rustfmt-clean
//! Rust split into sections by `//@ name` lines), and the `use` lines: only
//! what the generated model uses is emitted, so it compiles warning-free:
//! the helpers as recorded by the emitter ([`Helper`]), the imports by the
//! paths its code (not its comments or strings) names.

use std::collections::BTreeSet;

const HELPERS: &str = include_str!("helpers.rs.in");

/// A helper item of generated code: one `//@ name` section of
/// `helpers.rs.in`. The emitter records each helper where it writes a call
/// to it; [`helpers`] adds what those need, so exactly the used ones are
/// emitted (an unused one would be a warning under `#![deny(warnings)]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Helper {
    /// `ForwardError` and the argument checks of `forward_into`.
    ForwardError,
    /// `kernel_error`: a kernel's error as a `ForwardError`.
    KernelError,
    /// `tensor`: a view of a workspace slot.
    Tensor,
    /// `tensor_mut`: a mutable view of a workspace slot.
    TensorMut,
    /// `reshaped`: a view under another shape.
    Reshaped,
    /// `reshaped_mut`: a mutable view under another shape.
    ReshapedMut,
    /// `aligned`: the workspace from a 64-byte boundary.
    Aligned,
    /// `split`: a slot carved from the workspace.
    Split,
    /// `chain`: a loop over identical chained blocks.
    Chain,
    /// `Loader`, reading a store.
    Loader,
    /// `Loader` for a model without weights (it holds no store).
    LoaderWeightless,
    /// `Loader::finish`.
    LoaderFinish,
    /// `Loader::tensor`: reading a tensor.
    LoaderTensor,
    /// `Loader::failed`: whether a problem was found (batch-norm folding).
    LoaderFailed,
    /// `scope`: the name prefix of a nested block.
    Scope,
    /// `load_many`: the blocks of a loop.
    LoadMany,
    /// `Conv`, `conv_params`.
    Conv,
    /// `Conv::folded`.
    ConvFolded,
    /// `Conv::winograd`.
    ConvWinograd,
    /// `op_conv`: a convolution.
    ConvOp,
    /// `op_conv_residual`: a convolution with a residual add in its epilogue.
    ConvResidual,
    /// `padding2d`.
    Padding2d,
    /// `Dense`, `op_dense`.
    Dense,
    /// `BatchNorm`, `op_batchnorm`.
    BatchNorm,
    /// `op_max_pool`, `max_pool_params`.
    MaxPool,
    /// `op_avg_pool`, `avg_pool_params`.
    AvgPool,
    /// `op_global_avg_pool`.
    GlobalAvgPool,
    /// `op_flatten`.
    Flatten,
    /// `op_softmax`.
    Softmax,
    /// `op_add`.
    Add,
    /// `op_add_assign`.
    AddAssign,
    /// `op_concat`.
    Concat,
    /// `op_mul`.
    Mul,
    /// `op_pad_channels`.
    PadChannels,
    /// `ConvTranspose`, `op_conv_transpose`, `conv_transpose_params`.
    ConvTranspose,
    /// `op_upsample`.
    Upsample,
}

impl Helper {
    /// Every helper, in the order they are emitted.
    pub(crate) const ALL: [Helper; 36] = {
        use Helper::*;
        [
            ForwardError,
            KernelError,
            Tensor,
            TensorMut,
            Reshaped,
            ReshapedMut,
            Aligned,
            Split,
            Chain,
            Loader,
            LoaderWeightless,
            LoaderFinish,
            LoaderTensor,
            LoaderFailed,
            Scope,
            LoadMany,
            Conv,
            ConvFolded,
            ConvWinograd,
            ConvOp,
            ConvResidual,
            Padding2d,
            Dense,
            BatchNorm,
            MaxPool,
            AvgPool,
            GlobalAvgPool,
            Flatten,
            Softmax,
            Add,
            AddAssign,
            Concat,
            Mul,
            PadChannels,
            ConvTranspose,
            Upsample,
        ]
    };

    /// Its section's name in `helpers.rs.in`.
    fn section_name(self) -> &'static str {
        use Helper::*;
        match self {
            ForwardError => "ForwardError",
            KernelError => "kernel_error",
            Tensor => "tensor",
            TensorMut => "tensor_mut",
            Reshaped => "reshaped",
            ReshapedMut => "reshaped_mut",
            Aligned => "aligned",
            Split => "split",
            Chain => "chain",
            Loader => "Loader",
            LoaderWeightless => "Loader_weightless",
            LoaderFinish => "Loader_finish",
            LoaderTensor => "Loader_tensor",
            LoaderFailed => "Loader_failed",
            Scope => "scope",
            LoadMany => "load_many",
            Conv => "Conv",
            ConvFolded => "Conv_folded",
            ConvWinograd => "Conv_winograd",
            ConvOp => "op_conv",
            ConvResidual => "op_conv_residual",
            Padding2d => "padding2d",
            Dense => "Dense",
            BatchNorm => "BatchNorm",
            MaxPool => "op_max_pool",
            AvgPool => "op_avg_pool",
            GlobalAvgPool => "op_global_avg_pool",
            Flatten => "op_flatten",
            Softmax => "op_softmax",
            Add => "op_add",
            AddAssign => "op_add_assign",
            Concat => "op_concat",
            Mul => "op_mul",
            PadChannels => "op_pad_channels",
            ConvTranspose => "ConvTranspose",
            Upsample => "op_upsample",
        }
    }

    /// The helpers its code calls.
    fn needs(self) -> &'static [Helper] {
        use Helper::*;
        match self {
            ForwardError | Scope | Padding2d | LoaderFinish => &[],
            Loader | LoaderWeightless => &[LoaderFinish],
            KernelError | Tensor | TensorMut | Reshaped | ReshapedMut | Split | Chain => {
                &[ForwardError]
            }
            Aligned => &[],
            LoaderTensor | LoaderFailed => &[Loader],
            LoadMany => &[],
            Conv => &[LoaderTensor, LoaderFailed, KernelError, Padding2d],
            ConvFolded | ConvWinograd | ConvOp | ConvResidual => &[Conv],
            Dense => &[LoaderTensor, LoaderFailed, KernelError],
            BatchNorm => &[LoaderTensor, KernelError],
            MaxPool | AvgPool => &[KernelError, Padding2d],
            ConvTranspose => &[LoaderTensor, KernelError],
            GlobalAvgPool | Flatten | Softmax | Add | AddAssign | Concat | Mul | PadChannels
            | Upsample => &[KernelError],
        }
    }

    /// Its text.
    fn text(self) -> &'static str {
        section(self.section_name())
            .unwrap_or_else(|| panic!("helpers.rs.in has no section `{}`", self.section_name()))
    }
}

/// The text of section `name`, without its `//@` line.
fn section(name: &str) -> Option<&'static str> {
    let marker = format!("//@ {name}\n");
    let start = HELPERS.find(&marker)? + marker.len();
    let end = HELPERS[start..]
        .find("//@ ")
        .map_or(HELPERS.len(), |e| start + e);
    Some(&HELPERS[start..end])
}

/// The text of the `used` helpers and of those they need, in a fixed order.
pub(crate) fn helpers(used: &BTreeSet<Helper>) -> Vec<&'static str> {
    let mut all = used.clone();
    let mut todo: Vec<Helper> = used.iter().copied().collect();
    while let Some(h) = todo.pop() {
        for &n in h.needs() {
            if all.insert(n) {
                todo.push(n);
            }
        }
    }
    Helper::ALL
        .iter()
        .filter(|h| all.contains(h))
        .map(|h| h.text().trim_end())
        .collect()
}

/// Names the generated code may import, by path.
const IMPORTS: &[(&str, &str)] = &[
    ("resnetc::runtime::kernels as k", "k::"),
    ("resnetc::runtime::ndarray::Array", "Array<"),
    ("resnetc::runtime::ndarray::Array1", "Array1<"),
    ("resnetc::runtime::ndarray::Array2", "Array2<"),
    ("resnetc::runtime::ndarray::Array3", "Array3<"),
    ("resnetc::runtime::ndarray::Array4", "Array4<"),
    ("resnetc::runtime::ndarray::Array5", "Array5<"),
    ("resnetc::runtime::ndarray::Array6", "Array6<"),
    ("resnetc::runtime::ndarray::ArrayD", "ArrayD<"),
    ("resnetc::runtime::ndarray::ArrayView", "ArrayView<"),
    ("resnetc::runtime::ndarray::ArrayView2", "ArrayView2<"),
    ("resnetc::runtime::ndarray::ArrayView3", "ArrayView3<"),
    ("resnetc::runtime::ndarray::ArrayView4", "ArrayView4<"),
    ("resnetc::runtime::ndarray::ArrayView5", "ArrayView5<"),
    ("resnetc::runtime::ndarray::ArrayView6", "ArrayView6<"),
    ("resnetc::runtime::ndarray::ArrayViewD", "ArrayViewD<"),
    ("resnetc::runtime::ndarray::ArrayViewMut", "ArrayViewMut<"),
    ("resnetc::runtime::ndarray::ArrayViewMut2", "ArrayViewMut2<"),
    ("resnetc::runtime::ndarray::ArrayViewMut3", "ArrayViewMut3<"),
    ("resnetc::runtime::ndarray::ArrayViewMut4", "ArrayViewMut4<"),
    ("resnetc::runtime::ndarray::ArrayViewMut5", "ArrayViewMut5<"),
    ("resnetc::runtime::ndarray::ArrayViewMut6", "ArrayViewMut6<"),
    ("resnetc::runtime::ndarray::ArrayViewMutD", "ArrayViewMutD<"),
    ("resnetc::runtime::ndarray::IntoDimension", "IntoDimension"),
    ("resnetc::runtime::ndarray::Axis", "Axis("),
    ("resnetc::runtime::ndarray::Dimension", "Dimension"),
    ("resnetc::runtime::ndarray::RemoveAxis", "RemoveAxis"),
    ("resnetc::runtime::ndarray::concatenate", "concatenate("),
    ("resnetc::runtime::NameMap", "NameMap"),
    ("resnetc::runtime::Role", "Role::"),
    ("resnetc::runtime::StoreError", "StoreError"),
    ("resnetc::runtime::TensorStore", "TensorStore"),
    ("std::path::Path", "&Path"),
];

/// The names [`IMPORTS`] brings into scope: no generated type may take one.
pub(crate) fn imported_names() -> impl Iterator<Item = &'static str> {
    IMPORTS
        .iter()
        .map(|(path, _)| path.rsplit([' ', ':']).next().unwrap_or(path))
}

/// `code` without its comments and string literals: the text of its
/// paths and calls, where a name from a user's `.rn` file cannot make an
/// import look used.
fn code_only(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut in_string = false;
        let mut escaped = false;
        for c in line.chars() {
            if in_string {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => escaped = false,
                }
            } else if c == '"' {
                in_string = true;
                out.push_str("\"\"");
            } else {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The `use` lines `code` needs, sorted as rustfmt sorts them.
pub(crate) fn imports(code: &str) -> String {
    let code = code_only(code);
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut lines: Vec<String> = IMPORTS
        .iter()
        .filter(|(_, needle)| {
            code.match_indices(needle).any(|(i, _)| {
                // A whole identifier: not part of a longer one.
                let after = &code[i + needle.len()..];
                let longer = needle.ends_with(ident) && after.starts_with(ident);
                !(code[..i].ends_with(ident) || longer)
            })
        })
        .map(|(path, _)| format!("use {path};"))
        .collect();
    // rustfmt orders paths segment by segment, lower-case names (modules,
    // functions) before capitalised ones (types).
    lines.sort_by_key(|l| {
        l.trim_end_matches(';')
            .split("::")
            .map(|seg| {
                (
                    seg.starts_with(|c: char| c.is_ascii_uppercase()),
                    seg.to_string(),
                )
            })
            .collect::<Vec<_>>()
    });
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::{HELPERS, Helper, section};

    #[test]
    fn every_section_is_one_helper() {
        let names: Vec<&str> = HELPERS
            .lines()
            .filter_map(|l| l.strip_prefix("//@ "))
            .collect();
        let helpers: Vec<&str> = Helper::ALL.iter().map(|h| h.section_name()).collect();
        assert_eq!(names, helpers, "sections of helpers.rs.in, in order");
        for h in Helper::ALL {
            assert!(section(h.section_name()).is_some_and(|t| !t.trim().is_empty()));
        }
    }
}
