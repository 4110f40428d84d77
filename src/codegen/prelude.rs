//! The fixed helper items of generated code (`helpers.rs.in`, rustfmt-clean
//! Rust split into sections by `//@ name` lines), and the `use` lines: only
//! what the generated model uses is emitted, so it compiles warning-free.

const HELPERS: &str = include_str!("helpers.rs.in");

/// Sections of [`HELPERS`] with the text that makes each one needed.
const NEEDS: &[(&str, &str)] = &[
    ("ForwardError", ""),
    ("Loader", ""),
    ("scope", "&scope("),
    ("load_many", "load_many("),
    ("Conv", "Conv::"),
    ("Conv_folded", "Conv::folded("),
    ("padding2d", "padding2d("),
    ("Dense", "Dense::load("),
    ("BatchNorm", "BatchNorm::load("),
    ("op_max_pool", "op_max_pool("),
    ("op_avg_pool", "op_avg_pool("),
    ("op_global_avg_pool", "op_global_avg_pool("),
    ("op_flatten", "op_flatten("),
    ("op_softmax", "op_softmax("),
    ("op_add", "op_add("),
    ("op_add_assign", "op_add_assign("),
    ("op_concat", "op_concat("),
    ("tensor", "tensor("),
    ("tensor_mut", "tensor_mut("),
    ("reshaped", "reshaped("),
    ("reshaped_mut", "reshaped_mut("),
    ("aligned", "aligned("),
    ("split", "split("),
    ("chain", "chain("),
];

fn section(name: &str) -> &'static str {
    let marker = format!("//@ {name}\n");
    let Some(start) = HELPERS.find(&marker).map(|i| i + marker.len()) else {
        return "";
    };
    let end = HELPERS[start..]
        .find("//@ ")
        .map_or(HELPERS.len(), |e| start + e);
    &HELPERS[start..end]
}

/// The helper items `code` needs, in a fixed order.
pub(crate) fn helpers(code: &str) -> Vec<&'static str> {
    let mut text = code.to_string();
    let mut chosen = vec![false; NEEDS.len()];
    // Helpers may need other helpers (`Conv` uses `padding2d`): iterate.
    loop {
        let mut changed = false;
        for (i, (name, needle)) in NEEDS.iter().enumerate() {
            if !chosen[i] && text.contains(needle) {
                chosen[i] = true;
                text.push_str(section(name));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    NEEDS
        .iter()
        .zip(chosen)
        .filter(|(_, c)| *c)
        .map(|((name, _), _)| section(name).trim_end())
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
    ("resnetc::runtime::StoreError", "StoreError"),
    ("resnetc::runtime::TensorStore", "TensorStore"),
    ("std::path::Path", "&Path"),
];

/// The `use` lines `code` needs, sorted as rustfmt sorts them.
pub(crate) fn imports(code: &str) -> String {
    let mut lines: Vec<String> = IMPORTS
        .iter()
        .filter(|(_, needle)| {
            code.match_indices(needle).any(|(i, _)| {
                // A whole identifier: not preceded by an identifier character.
                !code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
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
