//! The Rust items: one struct + impl per block type and one for the model,
//! built with the `codegen` crate.

use codegen::{Function, Impl, Scope, Struct};

use super::EmitOptions;
use super::blocks::{BlockType, Body};
use super::layers::{BodyCode, Ctx, array, emit_body, view};
use super::names::{Namer, camel, screaming, snake};
use crate::ir::Shape;

/// A visibility marker for private associated consts, removed after formatting.
pub(crate) const PRIVATE: &str = "#private#";

/// Names the helpers and the model take; block types avoid them.
const RESERVED_TYPES: &[&str] = &[
    "Conv",
    "Dense",
    "BatchNorm",
    "Loader",
    "ForwardError",
    "Inputs",
    "Outputs",
];

/// The Rust type name of every block type, then of the model.
pub(crate) fn type_names(cx_g: &crate::ir::Graph, types: &[BlockType]) -> (Vec<String>, String) {
    let model = camel(&cx_g.name);
    let mut reserved: Vec<&str> = RESERVED_TYPES.to_vec();
    reserved.push(&model);
    let mut namer = Namer::with_reserved(&reserved);
    let base = |t: &BlockType| {
        let i = &cx_g.instances[t.first];
        let dims: Vec<String> = i.input_shape.0.iter().map(usize::to_string).collect();
        format!("{}{}", camel(&i.block), dims.join("x"))
    };
    let bases: Vec<String> = types.iter().map(base).collect();
    let args = |t: &BlockType| -> Vec<(String, String)> {
        cx_g.instances[t.first]
            .args
            .split(", ")
            .filter_map(|a| a.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
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
                return namer.fresh(b);
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
            namer.fresh(&format!("{b}{suffix}")).replace('_', "V")
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

fn tuple_or_one(items: Vec<String>) -> String {
    if items.len() == 1 {
        items.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", items.join(", "))
    }
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

/// One block type: its struct and impl.
pub(crate) fn block_type(scope: &mut Scope, cx: &Ctx<'_>, t: usize, bt: &BlockType) {
    let g = cx.g;
    let name = &cx.type_names[t];
    let inst = &g.instances[bt.first];
    let body: &Body = &cx.st.bodies[bt.first];
    let params: Vec<String> = if body.inputs.len() == 1 {
        vec!["x".into()]
    } else {
        (0..body.inputs.len()).map(|k| format!("x{k}")).collect()
    };
    let code = emit_body(cx, Some(bt.first), body, &params);
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
        inst.args,
        inst.input_shape,
        out_shapes.join(", "),
        shown
    );
    let s = scope.new_struct(name).vis("pub").doc(doc);
    add_fields(s, &code);
    let im = scope.new_impl(name);
    let (ty, value) = dims_const(&inst.input_shape);
    im.associate_const("INPUT", ty.as_str(), value, "pub");
    if let [o] = body.outputs.as_slice() {
        let (ty, value) = dims_const(&g.nodes[*o].shape);
        im.associate_const("OUTPUT", ty.as_str(), value, "pub");
    }
    add_consts(im, &code);
    im.push_fn(load_fn(&code));
    let mut f = Function::new("forward");
    f.doc("Runs the block on a batch.")
        .vis("pub")
        .arg_ref_self();
    let views: Vec<String> = body.inputs.iter().map(|&x| view(rank(cx, x))).collect();
    f.arg(tuple_or_one(params.clone()), tuple_or_one(views));
    let outs: Vec<String> = body.outputs.iter().map(|&o| array(rank(cx, o))).collect();
    f.ret(format!("Result<{}, ForwardError>", tuple_or_one(outs)));
    for l in &code.forward {
        f.line(l);
    }
    im.push_fn(f);
}

/// The model: its struct, constructors and `forward`.
pub(crate) fn model(scope: &mut Scope, cx: &Ctx<'_>, name: &str, options: &EmitOptions) {
    let g = cx.g;
    let mut namer = Namer::with_reserved(&["self", "k", "l", "at", "block"]);
    let params: Vec<String> = g
        .inputs
        .iter()
        .map(|i| namer.fresh(&snake(&i.name)))
        .collect();
    let code = emit_body(cx, None, &cx.st.top, &params);
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
    let const_name = |kind: &str, n: &str, many: bool| {
        if many {
            format!("{kind}_{}", screaming(n))
        } else {
            kind.to_string()
        }
    };
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
    if many_in {
        let v: Vec<String> = in_ranks
            .iter()
            .map(|&r| view(r).replace("'_", "'a"))
            .collect();
        scope.raw(format!(
            "/// The inputs of [`{name}::forward`], in declaration order ({}).\npub type Inputs<'a> = ({});",
            g.inputs.iter().map(|i| format!("`{}`", i.name)).collect::<Vec<_>>().join(", "),
            v.join(", ")
        ));
    }
    if many_out {
        let v: Vec<String> = out_ranks.iter().map(|&r| array(r)).collect();
        scope.raw(format!(
            "/// The outputs of [`{name}::forward`], in declaration order ({}).\npub type Outputs = ({});",
            g.outputs.iter().map(|o| format!("`{}`", o.name)).collect::<Vec<_>>().join(", "),
            v.join(", ")
        ));
    }
    let inputs_doc: Vec<String> = g
        .inputs
        .iter()
        .map(|i| {
            format!(
                "`{}`: {} (`{name}::{}`)",
                i.name,
                g.nodes[i.node.0 as usize].shape,
                const_name("INPUT", &i.name, many_in)
            )
        })
        .collect();
    let outputs_doc: Vec<String> = g
        .outputs
        .iter()
        .map(|o| {
            format!(
                "`{}`: {} (`{name}::{}`)",
                o.name,
                g.nodes[o.node.0 as usize].shape,
                const_name("OUTPUT", &o.name, many_out)
            )
        })
        .collect();
    let example_in = if many_in {
        "(a.view(), b.view())"
    } else {
        "x.view()"
    };
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
         [`{name}::from_store`]. Every batch norm that follows a convolution is folded \
         into it when loading. Every missing or mis-shaped tensor is reported at once \
         (`StoreError::Mismatch`); extra tensors are ignored.\n\
         \n\
         [`{name}::forward`] runs a batch of any size N ≥ 1 ({many}) and returns \
         [`ForwardError::InputShape`] for an input of the wrong shape.\n\
         \n\
         ```ignore\n\
         let model = {name}::from_path(\"weights.safetensors\".as_ref())?;\n\
         let y = model.forward({example_in})?;\n\
         ```",
        model = g.name,
        src = options.source_name,
        ins = inputs_doc.join(", "),
        outs = outputs_doc.join(", "),
        many = match (many_in, many_out) {
            (false, false) => "one array in, one array out",
            (true, false) => "the inputs as the tuple [`Inputs`]",
            (false, true) => "the outputs as the tuple [`Outputs`]",
            (true, true) => "inputs and outputs as the tuples [`Inputs`] and [`Outputs`]",
        },
    );
    let s = scope.new_struct(name).vis("pub").doc(doc);
    add_fields(s, &code);
    let im = scope.new_impl(name);
    for i in &g.inputs {
        let (ty, value) = dims_const(&g.nodes[i.node.0 as usize].shape);
        im.associate_const(
            const_name("INPUT", &i.name, many_in),
            ty.as_str(),
            value,
            "pub",
        );
    }
    for o in &g.outputs {
        let (ty, value) = dims_const(&g.nodes[o.node.0 as usize].shape);
        im.associate_const(
            const_name("OUTPUT", &o.name, many_out),
            ty.as_str(),
            value,
            "pub",
        );
    }
    add_consts(im, &code);
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
    im.new_fn("from_store")
        .doc("Loads the weights from a tensor store, folding batch norms into convolutions.")
        .vis("pub")
        .arg("store", "&TensorStore")
        .ret("Result<Self, StoreError>")
        .line("let mut l = Loader {")
        .line("    store,")
        .line("    problems: Vec::new(),")
        .line("    error: None,")
        .line("};")
        .line("let model = Self::load(&mut l, \"\");")
        .line("l.finish(model)");
    im.push_fn(load_fn(&code));
    let mut f = Function::new("forward");
    f.doc("Runs the model on a batch of any size N ≥ 1.")
        .vis("pub")
        .arg_ref_self()
        .arg(tuple_or_one(params.clone()), in_sig)
        .ret(format!("Result<{out_sig}, ForwardError>"));
    for (i, p) in g.inputs.iter().zip(&params) {
        f.line(format!(
            "check_input({:?}, &Self::{}, {p}.shape())?;",
            i.name,
            const_name("INPUT", &i.name, many_in)
        ));
    }
    for l in &code.forward {
        f.line(l);
    }
    im.push_fn(f);
}
