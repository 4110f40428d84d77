//! The Rust items: one struct + impl per block type and one for the model,
//! built with the `codegen` crate.

use codegen::{Function, Impl, Scope, Struct};

use super::EmitOptions;
use super::layers::{BodyCode, Ctx, array, view, view_mut};
use super::names::{Namer, camel, screaming, snake};
use super::text::call;
use crate::ir::Shape;
use crate::lower::blocks::{BlockType, Body};

/// A visibility marker for private associated consts, removed after formatting.
pub(crate) const PRIVATE: &str = "#private#";

/// A visibility marker for the `WORKSPACE` consts, replaced by their doc
/// comment and `pub` after formatting (`codegen` has no docs on consts).
pub(crate) const WORKSPACE_DOC: &str = "#workspace#";

/// Type names the file defines or imports besides the model's own: the
/// helpers', the public API's and the standard prelude's. No model or block
/// type may take one (a model named `loader` gets `LoaderModel`).
const RESERVED_TYPES: &[&str] = &[
    "Conv",
    "Dense",
    "BatchNorm",
    "Loader",
    "ForwardError",
    "Inputs",
    "Outputs",
    "OutputsMut",
    // The standard prelude and `Self`.
    "Self",
    "Vec",
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "Box",
    "Default",
    "Clone",
    "Copy",
    "Send",
    "Sync",
    "Sized",
    "Drop",
    "Fn",
    "FnMut",
    "FnOnce",
    "Iterator",
    "IntoIterator",
    "Extend",
    "From",
    "Into",
    "TryFrom",
    "TryInto",
    "AsRef",
    "AsMut",
    "ToString",
    "ToOwned",
    "PartialEq",
    "Eq",
    "PartialOrd",
    "Ord",
    "Debug",
    "Unpin",
    "FromIterator",
    "DoubleEndedIterator",
    "ExactSizeIterator",
];

/// The Rust type name of every block type, then of the model: all distinct
/// from each other and from every name in [`RESERVED_TYPES`] and the imports.
pub(crate) fn type_names(cx_g: &crate::ir::Graph, types: &[BlockType]) -> (Vec<String>, String) {
    let mut reserved: Vec<&str> = RESERVED_TYPES.to_vec();
    reserved.extend(super::prelude::imported_names());
    let mut namer = Namer::with_reserved(&reserved);
    let camel_model = camel(&cx_g.name);
    let model = if namer.is_free(&camel_model) {
        namer.fresh_type(&camel_model)
    } else {
        namer.fresh_type(&format!("{camel_model}Model"))
    };
    namer.fresh_type(&format!("{model}Workspace"));
    let base = |t: &BlockType| {
        let i = &cx_g.instances[t.first];
        let dims: Vec<String> = i.input_shape.0.iter().map(usize::to_string).collect();
        format!("{}{}", camel(&i.block), dims.join("x"))
    };
    let bases: Vec<String> = types.iter().map(base).collect();
    let args = |t: &BlockType| -> Vec<(String, String)> {
        cx_g.instances[t.first]
            .args
            .iter()
            .map(|a| (a.name.clone(), a.value.render()))
            .collect()
    };
    let names = types
        .iter()
        .zip(&bases)
        .map(|(t, b)| {
            let rivals: Vec<&BlockType> = types
                .iter()
                .zip(&bases)
                .filter(|(_, x)| *x == b)
                .map(|(r, _)| r)
                .collect();
            if rivals.len() == 1 {
                return namer.fresh_type(b);
            }
            // Several instantiations on the same input: add the arguments
            // that tell them apart (`planes=128, stride=2` → `P128S2`).
            let mine = args(t);
            let mut suffix = String::new();
            for (k, v) in &mine {
                if rivals
                    .iter()
                    .any(|r| !args(r).contains(&(k.clone(), v.clone())))
                {
                    let initial = k.chars().next().unwrap_or('A').to_ascii_uppercase();
                    let v: String = v.chars().filter(char::is_ascii_alphanumeric).collect();
                    suffix.push(initial);
                    suffix.push_str(&v);
                }
            }
            namer.fresh_type(&format!("{b}{suffix}"))
        })
        .collect();
    (names, model)
}

fn dims_const(s: &Shape) -> (String, String) {
    let v: Vec<String> = s.0.iter().map(usize::to_string).collect();
    (
        format!("[usize; {}]", s.0.len()),
        format!("[{}]", v.join(", ")),
    )
}

fn rank(cx: &Ctx<'_>, node: usize) -> usize {
    cx.g.nodes[node].shape.0.len() + 1
}

fn add_fields(s: &mut Struct, code: &BodyCode) {
    for (name, ty, doc) in &code.fields {
        let f = s.new_field(name, ty);
        if snake(doc) != *name {
            f.doc(format!("`{doc}`"));
        }
    }
}

fn load_fn(code: &BodyCode) -> Function {
    let mut f = Function::new("load");
    let unused = if code.fields.is_empty() { "_" } else { "" };
    f.arg(format!("{unused}l"), "&mut Loader<'_>")
        .arg(format!("{unused}at"), "&str")
        .ret("Self");
    if code.fields.is_empty() {
        f.line("Self {}");
    } else {
        f.line("Self {");
        for l in &code.load {
            f.line(format!("    {l}"));
        }
        f.line("}");
    }
    f
}

fn add_consts(im: &mut Impl, code: &BodyCode) {
    for (name, ty, value) in &code.consts {
        // rustfmt moves a right-hand side that does not fit to the next line.
        let line = format!("    const {name}: {ty} = {value};");
        let value = if line.chars().count() > 100 {
            format!("\n    {value}")
        } else {
            value.clone()
        };
        // `codegen` writes `{vis} const`; PRIVATE is removed in `mod.rs`.
        im.associate_const(name, ty.as_str(), value, PRIVATE);
    }
}

/// `1048576` → `1,048,576`.
fn thousands(v: usize) -> String {
    crate::report::group(v as u64)
}

/// The scratch `f32` per sample of each block type: its slots, then room
/// for the largest block it calls (nested calls use the space after the
/// caller's slots, one at a time).
pub(crate) fn workspace_sizes(codes: &[BodyCode]) -> Vec<usize> {
    fn size(t: usize, codes: &[BodyCode], memo: &mut [Option<usize>]) -> usize {
        if let Some(s) = memo[t] {
            return s;
        }
        let s = scratch(&codes[t], |c| size(c, codes, memo));
        memo[t] = Some(s);
        s
    }
    let mut memo = vec![None; codes.len()];
    (0..codes.len())
        .map(|t| size(t, codes, &mut memo))
        .collect()
}

/// The scratch `f32` per sample of a body, given its children's sizes.
pub(crate) fn body_workspace_size(code: &BodyCode, sizes: &[usize]) -> usize {
    scratch(code, |c| sizes[c])
}

/// A body's slots plus the largest `child_size` of the blocks it calls.
fn scratch(code: &BodyCode, mut child_size: impl FnMut(usize) -> usize) -> usize {
    let own: usize = code.slots.iter().sum();
    own + code
        .children
        .iter()
        .map(|&c| child_size(c))
        .max()
        .unwrap_or(0)
}

/// `check_input("x", &Self::INPUT, n, x.shape())?;`: a port's check.
fn check_line(check: &str, port: &str, shape_const: &str, value: &str) -> String {
    format!("{check}({port:?}, &Self::{shape_const}, n, {value})?;")
}

/// The model's workspace: one buffer for every slot of every body.
fn workspace(scope: &mut Scope, name: &str, model: &str, doc: String, size: usize) {
    let s = scope.new_struct(name).vis("pub").doc(doc);
    s.new_field("batch", "usize");
    // No scratch at all: no buffer (it would be a field never read).
    if size > 0 {
        s.new_field("buf", "Vec<f32>");
    }
    let im = scope.new_impl(name);
    let f = im
        .new_fn("new")
        .doc("Buffers for batches of up to `batch` samples.")
        .vis("pub")
        .arg("batch", "usize")
        .ret("Self")
        .line("Self {")
        .line("    batch,");
    if size > 0 {
        // 16 more, to start on a 64-byte boundary (`aligned`).
        f.line(format!(
            "    buf: vec![0.0; batch * {model}::WORKSPACE + 16],"
        ));
    }
    f.line("}");
    im.new_fn("batch")
        .doc("The largest batch these buffers hold.")
        .vis("pub")
        .arg_ref_self()
        .ret("usize")
        .line("self.batch");
}

/// The body of a `forward_into`: `let n` if it is used, the slots carved
/// from the front of `ws` (the rest is for the blocks it calls), the code.
fn forward_lines(f: &mut Function, code: &BodyCode, first_param: &str, define_n: bool) {
    let uses_n = !code.slots.is_empty() || code.forward.iter().any(|l| l.contains("[n, "));
    if define_n && uses_n {
        f.line(format!("let n = {first_param}.shape()[0];"));
    }
    let last = code.slots.len();
    for (i, len) in code.slots.iter().enumerate() {
        let rest = if i + 1 == last && code.children.is_empty() {
            "_"
        } else {
            "ws"
        };
        f.line(format!("let (s{i}, {rest}) = split(ws, n * {len})?;"));
    }
    for l in &code.forward {
        f.line(l);
    }
}

/// Whether the model has weights to load (else its `Loader` holds no store).
pub(crate) fn has_weights(g: &crate::ir::Graph) -> bool {
    g.params().next().is_some()
}

/// Whether the code needs the workspace.
fn uses_workspace(code: &BodyCode) -> bool {
    !code.slots.is_empty() || !code.children.is_empty()
}

/// One block type: its struct, impl and workspace.
pub(crate) fn block_type(
    scope: &mut Scope,
    cx: &Ctx<'_>,
    t: usize,
    bt: &BlockType,
    code: &BodyCode,
    ws_size: usize,
) {
    let g = cx.g;
    let name = &cx.type_names[t];
    let inst = &g.instances[bt.first];
    let body: &Body = &cx.st.bodies[bt.first];
    let (params, outs) = block_params(body);
    let names: Vec<&str> = bt
        .instances
        .iter()
        .map(|&i| g.instances[i].name.as_str())
        .collect();
    let shown = if names.len() > 4 {
        format!("{}, … ({} instances)", names[..3].join("`, `"), names.len())
    } else {
        names.join("`, `")
    };
    let out_shapes: Vec<String> = body
        .outputs
        .iter()
        .map(|&o| g.nodes[o].shape.to_string())
        .collect();
    let doc = format!(
        "Block `{}({})` on {} → {}: `{}`.",
        inst.block,
        inst.args_text(),
        inst.input_shape,
        out_shapes.join(", "),
        shown
    );
    let s = scope.new_struct(name).vis("pub").doc(doc);
    add_fields(s, code);
    let im = scope.new_impl(name);
    let (ty, value) = dims_const(&inst.input_shape);
    im.associate_const("INPUT", ty.as_str(), value, "pub");
    if let [o] = body.outputs.as_slice() {
        let (ty, value) = dims_const(&g.nodes[*o].shape);
        im.associate_const("OUTPUT", ty.as_str(), value, "pub");
    }
    im.associate_const("WORKSPACE", "usize", ws_size.to_string(), WORKSPACE_DOC);
    add_consts(im, code);
    im.push_fn(load_fn(code));
    let mut f = Function::new("forward_into");
    f.doc(
        "Runs the block on a batch of N, writing its output into `out` (standard \
         layout, the batch's shape) and its intermediate values into `ws` (at least \
         N × `WORKSPACE` elements).",
    )
    .vis("pub")
    .arg_ref_self();
    for (p, &x) in params.iter().zip(&body.inputs) {
        f.arg(p, view(rank(cx, x)));
    }
    for (o, &v) in outs.iter().zip(&body.outputs) {
        f.arg(format!("mut {o}"), view_mut(rank(cx, v)));
    }
    let ws = if uses_workspace(code) { "ws" } else { "_ws" };
    f.arg(ws, "&mut [f32]");
    f.ret("Result<(), ForwardError>");
    forward_lines(&mut f, code, &params[0], true);
    im.push_fn(f);
}

/// The parameter and output names of a block's `forward_into`.
pub(crate) fn block_params(body: &Body) -> (Vec<String>, Vec<String>) {
    let numbered = |base: &str, n: usize| -> Vec<String> {
        if n == 1 {
            vec![base.to_string()]
        } else {
            (0..n).map(|k| format!("{base}{k}")).collect()
        }
    };
    (
        numbered("x", body.inputs.len()),
        numbered("out", body.outputs.len()),
    )
}

/// The names of the model's shape consts, inputs then outputs: `INPUT` and
/// `OUTPUT` for a single port, else `INPUT_<NAME>` / `OUTPUT_<NAME>`, made
/// distinct (`output y, y` gives `OUTPUT_Y` and `OUTPUT_Y_2`).
pub(crate) fn port_consts(g: &crate::ir::Graph) -> (Vec<String>, Vec<String>) {
    let mut namer = Namer::with_reserved(&["WORKSPACE"]);
    let mut names = |kind: &str, ports: Vec<&str>| -> Vec<String> {
        if ports.len() == 1 {
            return vec![namer.fresh(kind)];
        }
        ports
            .iter()
            .map(|p| namer.fresh(&format!("{kind}_{}", screaming(p))))
            .collect()
    };
    let inputs = names("INPUT", g.inputs.iter().map(|i| i.name.as_str()).collect());
    let outputs = names(
        "OUTPUT",
        g.outputs.iter().map(|o| o.name.as_str()).collect(),
    );
    (inputs, outputs)
}

/// The parameter and output names of the model's `forward_into`.
pub(crate) fn model_params(g: &crate::ir::Graph) -> (Vec<String>, Vec<String>) {
    let mut reserved = vec!["self", "k", "l", "at", "block", "n", "ws"];
    // The tuples of several inputs or outputs are named `inputs`, `outputs`.
    if g.inputs.len() != 1 || g.outputs.len() != 1 {
        reserved.extend(["inputs", "outputs"]);
    }
    let mut namer = Namer::with_reserved(&reserved);
    // `s0`, `s1`, … name the workspace's slots.
    let slot_like = |s: &str| {
        s.strip_prefix('s')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    let params: Vec<String> = g
        .inputs
        .iter()
        .map(|i| {
            let s = snake(&i.name);
            namer.fresh(&if slot_like(&s) { format!("{s}_") } else { s })
        })
        .collect();
    let outs: Vec<String> = if g.outputs.len() == 1 {
        vec![namer.fresh("out")]
    } else {
        g.outputs
            .iter()
            .map(|o| namer.fresh(&format!("out_{}", snake(&o.name))))
            .collect()
    };
    (params, outs)
}

/// The model: its struct, constructors, `forward`, `forward_into` and workspace.
pub(crate) fn model(
    scope: &mut Scope,
    cx: &Ctx<'_>,
    name: &str,
    options: &EmitOptions,
    code: &BodyCode,
    ws_size: usize,
) {
    let g = cx.g;
    let (params, outs) = model_params(g);
    let in_ranks: Vec<usize> = g
        .inputs
        .iter()
        .map(|i| rank(cx, i.node.0 as usize))
        .collect();
    let out_ranks: Vec<usize> = g
        .outputs
        .iter()
        .map(|o| rank(cx, o.node.0 as usize))
        .collect();
    let many_in = g.inputs.len() != 1;
    let many_out = g.outputs.len() != 1;
    let (in_consts, out_consts) = port_consts(g);
    let in_sig = if many_in {
        "Inputs<'_>".to_string()
    } else {
        view(in_ranks[0])
    };
    let out_sig = if many_out {
        "Outputs".to_string()
    } else {
        array(out_ranks[0])
    };
    let out_mut_sig = if many_out {
        "OutputsMut<'_>".to_string()
    } else {
        view_mut(out_ranks[0])
    };
    let list = |names: Vec<String>| names.join(", ");
    let in_names = list(g.inputs.iter().map(|i| format!("`{}`", i.name)).collect());
    let out_names = list(g.outputs.iter().map(|o| format!("`{}`", o.name)).collect());
    if many_in {
        let v: Vec<String> = in_ranks
            .iter()
            .map(|&r| view(r).replace("'_", "'a"))
            .collect();
        scope.raw(format!(
            "/// The inputs of [`{name}::forward`], in declaration order ({in_names}).\npub type Inputs<'a> = ({});",
            v.join(", ")
        ));
    }
    if many_out {
        let v: Vec<String> = out_ranks.iter().map(|&r| array(r)).collect();
        scope.raw(format!(
            "/// The outputs of [`{name}::forward`], in declaration order ({out_names}).\npub type Outputs = ({});",
            v.join(", ")
        ));
        let v: Vec<String> = out_ranks
            .iter()
            .map(|&r| view_mut(r).replace("'_", "'a"))
            .collect();
        scope.raw(format!(
            "/// The output buffers of [`{name}::forward_into`], in declaration order ({out_names}).\npub type OutputsMut<'a> = ({});",
            v.join(", ")
        ));
    }
    // `image`: N×3×224×224 (`Model::INPUT_IMAGE`)
    let port_doc = |port: &str, node: crate::ir::NodeId, konst: &str| {
        format!("`{port}`: {} (`{name}::{konst}`)", g.node(node).shape)
    };
    let inputs_doc: Vec<String> = g
        .inputs
        .iter()
        .zip(&in_consts)
        .map(|(i, k)| port_doc(&i.name, i.node, k))
        .collect();
    let outputs_doc: Vec<String> = g
        .outputs
        .iter()
        .zip(&out_consts)
        .map(|(o, k)| port_doc(&o.name, o.node, k))
        .collect();
    let example_in = if many_in {
        "(a.view(), b.view())"
    } else {
        "x.view()"
    };
    let example_out = if many_out {
        "(ya.view_mut(), yb.view_mut())"
    } else {
        "y.view_mut()"
    };
    let ws_type = format!("{name}Workspace");
    let doc = format!(
        "Model `{model}` from `{src}`, compiled by resnetc.\n\
         \n\
         - Inputs: {ins}.\n\
         - Outputs: {outs}.\n\
         \n\
         Weights are safetensors f32 tensors with the interpreter's names \
         (`resnetc init`, a PyTorch `state_dict`), read through \
         `resnetc::runtime::TensorStore` by [`{name}::from_path`] (memory-mapped), \
         [`{name}::from_bytes`] (`&'static [u8]`, e.g. `include_bytes!`) or \
         [`{name}::from_store`]; files with other names or the Keras layout load through \
         [`{name}::from_store_with`] and a `resnetc::runtime::NameMap` (what \
         `resnetc run --names` reads from YAML). Every batch norm that follows a convolution is folded \
         into it when loading. Every missing or mis-shaped tensor is reported at once \
         (`StoreError::Mismatch`); extra tensors are ignored.\n\
         \n\
         [`{name}::forward`] runs a batch of any size N ≥ 1 ({many}) and returns \
         [`ForwardError::InputShape`] for an input of the wrong shape. \
         [`{name}::forward_into`] writes into caller-owned outputs (standard layout) \
         and keeps every intermediate value in a [`{ws_type}`] made once for the \
         largest batch ({per_sample} `f32` per sample): it allocates nothing itself.\n\
         \n\
         ```ignore\n\
         let model = {name}::from_path(\"weights.safetensors\".as_ref())?;\n\
         let y = model.forward({example_in})?;\n\
         // Or, with buffers made once and reused for every batch of up to 8:\n\
         let mut ws = {ws_type}::new(8);\n\
         model.forward_into({example_in}, {example_out}, &mut ws)?;\n\
         ```",
        model = g.name,
        src = options.source_name,
        ins = inputs_doc.join(", "),
        outs = outputs_doc.join(", "),
        per_sample = thousands(ws_size),
        many = match (many_in, many_out) {
            (false, false) => "one array in, one array out",
            (true, false) => "the inputs as the tuple [`Inputs`]",
            (false, true) => "the outputs as the tuple [`Outputs`]",
            (true, true) => "inputs and outputs as the tuples [`Inputs`] and [`Outputs`]",
        },
    );
    let s = scope.new_struct(name).vis("pub").doc(doc);
    add_fields(s, code);
    let im = scope.new_impl(name);
    for (i, k) in g.inputs.iter().zip(&in_consts) {
        let (ty, value) = dims_const(&g.nodes[i.node.0 as usize].shape);
        im.associate_const(k, ty.as_str(), value, "pub");
    }
    for (o, k) in g.outputs.iter().zip(&out_consts) {
        let (ty, value) = dims_const(&g.nodes[o.node.0 as usize].shape);
        im.associate_const(k, ty.as_str(), value, "pub");
    }
    im.associate_const("WORKSPACE", "usize", ws_size.to_string(), WORKSPACE_DOC);
    add_consts(im, code);
    im.new_fn("from_path")
        .doc("Loads the weights from a safetensors file (memory-mapped).")
        .vis("pub")
        .arg("path", "&Path")
        .ret("Result<Self, StoreError>")
        .line("Self::from_store(&TensorStore::open(path)?)");
    im.new_fn("from_bytes")
        .doc("Loads the weights from safetensors bytes, e.g. `include_bytes!`.")
        .vis("pub")
        .arg("bytes", "&'static [u8]")
        .ret("Result<Self, StoreError>")
        .line("Self::from_store(&TensorStore::from_static(bytes)?)");
    if let Some(path) = &options.embed_weights {
        let p = path.display().to_string().replace('\\', "/");
        im.new_fn("embedded")
            .doc(format!(
                "Loads the weights embedded in the program from `{p}`."
            ))
            .vis("pub")
            .ret("Result<Self, StoreError>")
            .line(format!("Self::from_bytes(include_bytes!({p:?}))"));
    }
    let weights = has_weights(g);
    im.new_fn("from_store")
        .doc("Loads the weights from a tensor store, folding batch norms into convolutions.")
        .vis("pub")
        .arg("store", "&TensorStore")
        .ret("Result<Self, StoreError>")
        .line("Self::from_store_with(store, &NameMap::default())");
    im.new_fn("from_store_with")
        .doc(
            "Loads the weights from a tensor store whose names and layout `map` describes \
             (as `resnetc run --names`), folding batch norms into convolutions.",
        )
        .vis("pub")
        .arg(if weights { "store" } else { "_store" }, "&TensorStore")
        .arg(if weights { "map" } else { "_map" }, "&NameMap")
        .ret("Result<Self, StoreError>")
        .line("let mut l = Loader {")
        .line(if weights {
            "    store,\n    map,"
        } else {
            "    _store: std::marker::PhantomData,"
        })
        .line("    problems: Vec::new(),")
        .line("    error: None,")
        .line("};")
        .line("let model = Self::load(&mut l, \"\");")
        .line("l.finish(model)");
    im.push_fn(load_fn(code));
    // forward: buffers for this batch, then forward_into.
    let inputs_arg = if many_in {
        "inputs".to_string()
    } else {
        params[0].clone()
    };
    let zeros = |o: &crate::ir::Output, r: usize| {
        let mut d = vec!["n".to_string()];
        d.extend(
            g.nodes[o.node.0 as usize]
                .shape
                .0
                .iter()
                .map(usize::to_string),
        );
        format!(
            "{}::zeros([{}])",
            array(r).trim_end_matches("<f32>"),
            d.join(", ")
        )
    };
    // input_batch: the batch size, once every input is checked.
    let mut f = Function::new("input_batch");
    f.doc("The batch size N of the inputs, if each is N × its `INPUT` shape with N ≥ 1.")
        .arg(&inputs_arg, in_sig.clone())
        .ret("Result<usize, ForwardError>");
    if many_in {
        f.line(format!("let ({}) = {inputs_arg};", params.join(", ")));
    }
    f.line(format!("let n = {}.shape()[0];", params[0]));
    for ((i, p), k) in g.inputs.iter().zip(&params).zip(&in_consts) {
        f.line(check_line(
            "check_input",
            &i.name,
            k,
            &format!("{p}.shape()"),
        ));
    }
    f.line("Ok(n)");
    im.push_fn(f);
    let mut f = Function::new("forward");
    f.doc("Runs the model on a batch of any size N ≥ 1.")
        .vis("pub")
        .arg_ref_self()
        .arg(&inputs_arg, in_sig.clone())
        .ret(format!("Result<{out_sig}, ForwardError>"));
    f.line(format!("let n = Self::input_batch({inputs_arg})?;"));
    f.line(format!("let mut ws = {ws_type}::new(n);"));
    if many_out {
        let z: Vec<String> = g
            .outputs
            .iter()
            .zip(&out_ranks)
            .map(|(o, &r)| zeros(o, r))
            .collect();
        for l in call(8, "let mut outputs = ", "", &z, ";") {
            f.line(l);
        }
        let views: Vec<String> = (0..g.outputs.len())
            .map(|k| format!("outputs.{k}.view_mut()"))
            .collect();
        for l in call(
            8,
            "",
            "self.forward_into",
            &[
                inputs_arg.clone(),
                format!("({})", views.join(", ")),
                "&mut ws".into(),
            ],
            "?;",
        ) {
            f.line(l);
        }
        f.line("Ok(outputs)");
    } else {
        f.line(format!(
            "let mut out = {};",
            zeros(&g.outputs[0], out_ranks[0])
        ));
        f.line(format!(
            "self.forward_into({inputs_arg}, out.view_mut(), &mut ws)?;"
        ));
        f.line("Ok(out)");
    }
    im.push_fn(f);
    // forward_into: check the arguments, then the body.
    let mut f = Function::new("forward_into");
    f.doc(
        "Runs the model on a batch of N ≥ 1 samples, writing the outputs into \
         caller-owned buffers of shape N × `OUTPUT` in standard layout and every \
         intermediate value into `ws`, made for a batch of at least N. Allocates nothing.",
    )
    .vis("pub")
    .arg_ref_self();
    if many_in {
        f.arg("inputs", in_sig.clone());
    } else {
        f.arg(&params[0], view(in_ranks[0]));
    }
    if many_out {
        f.arg("outputs", out_mut_sig);
    } else {
        f.arg(format!("mut {}", outs[0]), out_mut_sig);
    }
    f.arg("ws", format!("&mut {ws_type}"));
    f.ret("Result<(), ForwardError>");
    f.line(format!("let n = Self::input_batch({inputs_arg})?;"));
    if many_in {
        // An input the code never reads (unused, or read only by layers
        // whose values are unused; the checker only warns, W0001) is bound
        // to `_`: an unused variable would warn.
        let bound: Vec<&str> = params
            .iter()
            .enumerate()
            .map(|(k, p)| {
                if code.params_read.contains(&k) {
                    p.as_str()
                } else {
                    "_"
                }
            })
            .collect();
        f.line(format!("let ({}) = inputs;", bound.join(", ")));
    }
    if many_out {
        let m: Vec<String> = outs.iter().map(|o| format!("mut {o}")).collect();
        f.line(format!("let ({}) = outputs;", m.join(", ")));
    }
    for ((o, v), k) in g.outputs.iter().zip(&outs).zip(&out_consts) {
        f.line(check_line("check_output", &o.name, k, &format!("&{v}")));
    }
    f.line("check_batch(n, ws.batch)?;");
    if ws_size > 0 {
        f.line("let ws = aligned(&mut ws.buf);");
    } else if uses_workspace(code) {
        // Blocks that need no scratch still take a (empty) workspace slice.
        f.line("let ws: &mut [f32] = &mut [];");
    }
    forward_lines(&mut f, code, &params[0], false);
    im.push_fn(f);
    let doc = format!(
        "The buffers of [`{name}::forward_into`], made once for batches of up to a \
         given size: {} `f32` per sample.",
        thousands(ws_size)
    );
    workspace(scope, &ws_type, name, doc, ws_size);
}
