//! The Rust back end: specialised Rust source for one checked model.
//!
//! [`emit`] turns a [`CheckedModel`] into one self-contained Rust file that
//! depends only on `resnetc::runtime` (`resnetc = { default-features =
//! false }`). The file keeps the model's structure: one struct with a
//! `forward` fn per distinct block instantiation (block, arguments, input
//! shape — see [`crate::ir::Instance`]), nested as the instances nest, with
//! runs of identical chained instances (`layer3.1` … `layer3.35`) held in a
//! `Vec` and called in a loop, so the code grows with the number of distinct
//! blocks, not with depth.
//!
//! # The generated API
//!
//! For a model `resnet18` (struct `Resnet18`, from the model's name):
//!
//! - `Resnet18::INPUT: [usize; 3]` and `Resnet18::OUTPUT: [usize; 1]`, the
//!   shapes without the batch (`INPUT_IMAGE`, `OUTPUT_LOGITS`, … by name when
//!   there are several); each block struct has `INPUT` (and `OUTPUT`).
//! - `from_path(&Path)`, `from_bytes(&'static [u8])`, `from_store(&TensorStore)`
//!   → `Result<Self, StoreError>`, and `embedded()` when
//!   [`EmitOptions::embed_weights`] is set (`include_bytes!` of that path,
//!   as given, relative to the generated file). Tensors have the
//!   interpreter's names; batch norms after convolutions are folded in at
//!   load time; every problem is reported at once (`StoreError::Mismatch`).
//! - `forward(&self, x: ArrayView4<'_, f32>) -> Result<Array2<f32>, ForwardError>`
//!   for a batch of any N ≥ 1 (the array ranks follow the model's inputs
//!   and outputs). With several inputs or outputs, `forward` takes the
//!   tuple `Inputs<'_>` and returns the tuple `Outputs`, in declaration
//!   order. A wrong input shape is `ForwardError::InputShape`, never a panic.
//! - `forward_into(&self, x, out: ArrayViewMut2<'_, f32>, ws: &mut
//!   Resnet18Workspace) -> Result<(), ForwardError>` writes into caller-owned
//!   outputs (standard layout; `OutputsMut<'_>` when there are several) and
//!   keeps every intermediate value in the workspace, made once with
//!   `Resnet18Workspace::new(max_batch)`; it allocates nothing itself. The
//!   buffers are planned at compile time (`lower/buffers.rs`).
//!
//! Layer code calls `resnetc::runtime::kernels` with its parameters as
//! consts (`const CONV1: k::Conv2dParams = conv_params([1, 1], …)`) and the
//! same fusions as the interpreter (conv + bn + relu/relu6, dense + relu),
//! limited to layers of the same block; each layer is preceded by the `.rn`
//! line it comes from.
//!
//! The output is deterministic, starts with a `// @generated` header naming
//! [`EmitOptions::source_name`], contains no absolute path, is rustfmt-clean
//! and has no inner attributes, so it can be `include!`d or used as a module
//! file; it compiles under `#![deny(warnings)]` and clippy when its public
//! items are reachable (a library, or `#[allow(dead_code)]` in a binary that
//! does not call every constructor).

mod items;
mod layers;
mod names;
mod prelude;
mod text;

use std::collections::BTreeSet;
use std::path::PathBuf;

use prelude::Helper;

use crate::ir::CheckedModel;
use crate::span::SourceMap;

/// What to emit.
#[derive(Clone, Debug, Default)]
pub struct EmitOptions {
    /// The `.rn` file as named in the generated header (a relative path, never absolute).
    pub source_name: String,
    /// Embed these weights with `include_bytes!` (the path as the generated code should see it).
    pub embed_weights: Option<PathBuf>,
    /// Run the convolutions `lower::algorithm::winograd_eligible` accepts with
    /// Winograd F(4×4, 3×3) (`resnetc emit --winograd`), as the
    /// interpreter's `RunOptions::winograd` does: off by default.
    pub winograd: bool,
}

/// The code generator found one of its own invariants broken: never the
/// model's fault.
#[derive(Debug, thiserror::Error)]
#[error(
    "internal error in the code generator for model `{model}`: {message}; \
     this is a bug in resnetc, please report it with the model"
)]
pub struct EmitError {
    /// The model being emitted.
    pub model: String,
    /// What went wrong.
    pub message: String,
}

/// Emits the Rust source of `model` (deterministic: same input, same bytes).
pub fn emit(
    model: &CheckedModel,
    sources: &SourceMap,
    options: &EmitOptions,
) -> Result<String, EmitError> {
    let g = model.graph();
    let internal = |message: String| EmitError {
        model: g.name.clone(),
        message,
    };
    let lowered = crate::lower::plans::blocks(g).map_err(|e| internal(e.message))?;
    let st = &lowered.structure;
    let (type_names, model_name) = items::type_names(g, &st.types);
    let cx = layers::Ctx {
        g,
        st,
        sources,
        type_names: &type_names,
        winograd: options.winograd,
    };
    let codes: Vec<layers::BodyCode> = st
        .types
        .iter()
        .zip(&lowered.type_plans)
        .map(|(bt, plan)| {
            let body = st
                .bodies
                .get(bt.first)
                .ok_or_else(|| format!("block type of instance {} has no body", bt.first))?;
            let (params, outs) = items::block_params(body);
            layers::emit_body(&cx, Some(bt.first), body, plan, &params, &outs)
        })
        .collect::<Result<_, _>>()
        .map_err(internal)?;
    let sizes = items::workspace_sizes(&codes);
    let (params, outs) = items::model_params(g);
    let top =
        layers::emit_body(&cx, None, &st.top, &lowered.top, &params, &outs).map_err(internal)?;
    let top_size = items::body_workspace_size(&top, &sizes);
    let mut scope = codegen::Scope::new();
    items::model(&mut scope, &cx, &model_name, options, &top, top_size);
    for (t, bt) in st.types.iter().enumerate() {
        items::block_type(&mut scope, &cx, t, bt, &codes[t], sizes[t]);
    }
    let body = scope
        .to_string()
        .replace(&format!("{} const", items::PRIVATE), "const")
        .replace(
            &format!("{} const", items::WORKSPACE_DOC),
            "/// The scratch `forward_into` needs, in `f32` per sample.\n    pub const",
        )
        .replace(" = \n", " =\n");
    let body = text::wrap_signatures(&body);
    // The helpers every body recorded, and those of the model's own items.
    let mut used: BTreeSet<Helper> = codes
        .iter()
        .chain([&top])
        .flat_map(|c| c.helpers.iter().copied())
        .collect();
    used.insert(Helper::ForwardError);
    used.insert(if items::has_weights(g) {
        Helper::Loader
    } else {
        Helper::LoaderWeightless
    });
    if top_size > 0 {
        used.insert(Helper::Aligned);
    }
    let helpers = prelude::helpers(&used);
    let mut all = body.clone();
    for h in &helpers {
        all.push_str(h);
    }
    let source = text::display_name(sources, &options.source_name);
    let mut out = format!(
        "// @generated by resnetc from {source}; do not edit.\n\
         //\n\
         // Model `{}`: see the documentation of `{model_name}` for its API.\n\n",
        g.name
    );
    out.push_str(&prelude::imports(&all));
    out.push_str("\n\n");
    out.push_str(&body);
    for h in helpers {
        out.push('\n');
        out.push_str(h);
        out.push('\n');
    }
    Ok(out)
}
