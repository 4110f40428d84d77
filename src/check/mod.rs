//! Elaboration and shape checking: from syntax trees to a [`CheckedModel`].
//!
//! [`check`] resolves the program's blocks and models, elaborates the chosen
//! model (instantiating blocks, deciding `if`s, unrolling repetitions) and
//! checks every shape rule, collecting every error instead of stopping at the
//! first. It is the only producer of [`CheckedModel`].

// A `CheckError` carries its labels, notes and instantiation chain; errors
// are the cold path, so they are returned unboxed.
#![allow(clippy::result_large_err)]

pub mod builtins;
mod elab;
mod error;
mod hints;
mod shapes;
mod suggest;
mod value;

use std::collections::HashMap;

pub use error::{CheckError, CheckErrorKind, Frame};
pub use shapes::MAX_ELEMENTS;
pub(crate) use shapes::window_out;

use crate::diag::Diagnostic;
use crate::ir::{CheckedModel, Costs, Graph, Overflow};
use crate::span::{FileId, Span};
use crate::syntax::Program;
use crate::syntax::ast::{BlockDef, Item, ModelDef};

/// What to compile.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// The model to compile (`--model`); by default the first model of the main file.
    pub model: Option<String>,
    /// Input shape overrides (`--input 3x32x32` or `--input x=3x32x32`), without the batch.
    pub input_shapes: Vec<(Option<String>, Vec<usize>)>,
}

/// The outcome of a successful check.
#[derive(Debug)]
pub struct Checked {
    /// The checked model.
    pub model: CheckedModel,
    /// Warnings (unused tensors and parameters).
    pub warnings: Vec<Diagnostic>,
}

/// All definitions visible to a compilation.
pub(crate) struct Globals<'p> {
    pub blocks: Vec<&'p BlockDef>,
    pub block_index: HashMap<String, usize>,
    pub models: Vec<(&'p ModelDef, FileId)>,
    pub model_index: HashMap<String, usize>,
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The closest candidate to a misspelt name, if any is close enough (case
/// is ignored: `Relu` suggests `relu`).
pub(crate) fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    suggest::closest(name, candidates)
}

fn collect_globals(program: &Program) -> (Globals<'_>, Vec<CheckError>) {
    let mut g = Globals {
        blocks: Vec::new(),
        block_index: HashMap::new(),
        models: Vec::new(),
        model_index: HashMap::new(),
    };
    let mut errors = Vec::new();
    let mut spans: HashMap<String, Span> = HashMap::new();
    for (file, module) in &program.modules {
        for item in &module.items {
            let (name, is_block) = match item {
                Item::Block(b) => (&b.name, true),
                Item::Model(m) => (&m.name, false),
                Item::Import(_) => continue,
            };
            if let Some(first) = spans.get(&name.name) {
                errors.push(
                    CheckError::new(
                        CheckErrorKind::Duplicate {
                            what: if is_block { "block" } else { "model" },
                            name: name.name.clone(),
                        },
                        name.span,
                    )
                    .label("defined again here")
                    .with(*first, "first defined here")
                    .help("blocks and models share one namespace: rename one of them"),
                );
                continue;
            }
            let is_op = crate::ir::ops::lookup(&name.name).is_some();
            if is_op || builtins::NAMES.contains(&name.name.as_str()) {
                let what = if is_block { "block" } else { "model" };
                let builtin = if is_op { "op" } else { "function" };
                errors.push(
                    CheckError::new(
                        CheckErrorKind::Reserved {
                            what,
                            name: name.name.clone(),
                        builtin,
                        },
                        name.span,
                    )
                    .label(format!("`{}` is already the built-in {builtin}", name.name))
                    .help(format!(
                        "built-in names cannot be redefined: rename the {what}, for example `{}_{what}`",
                        name.name
                    )),
                );
                continue;
            }
            spans.insert(name.name.clone(), name.span);
            match item {
                Item::Block(b) => {
                    g.block_index.insert(b.name.name.clone(), g.blocks.len());
                    g.blocks.push(b);
                    let inputs = b
                        .body
                        .stmts
                        .iter()
                        .filter(|s| matches!(s, crate::syntax::ast::Stmt::Input { .. }))
                        .count();
                    if inputs != 1 {
                        errors.push(
                            CheckError::new(
                                CheckErrorKind::Body {
                                    message: format!(
                                        "block `{}` must declare exactly one `input`, found {inputs}",
                                        b.name.name
                                    ),
                                },
                                b.name.span,
                            )
                            .label(if inputs == 0 { "this block has no `input`" } else { "several inputs" })
                            .help(if inputs == 0 {
                                "start the block's body with `input x`: the tensor the block is applied to"
                            } else {
                                "a block is applied to one tensor (`x -> block(...)`): keep a single `input`"
                            }),
                        );
                    }
                }
                Item::Model(m) => {
                    g.model_index.insert(m.name.name.clone(), g.models.len());
                    g.models.push((m, *file));
                }
                Item::Import(_) => {}
            }
        }
    }
    (g, errors)
}

/// Whether some file of `program` defines a model named `name`.
pub(crate) fn defines_model(program: &Program, name: &str) -> bool {
    program.modules.iter().any(|(_, module)| {
        module
            .items
            .iter()
            .any(|item| matches!(item, Item::Model(m) if m.name.name == name))
    })
}

/// Checks the program and returns the chosen model's checked graph, or every
/// error found (as diagnostics, warnings included).
pub fn check(program: &Program, options: &CheckOptions) -> Result<Checked, Vec<Diagnostic>> {
    let (globals, mut errors) = collect_globals(program);
    let main_file = program.modules.first().map(|(f, _)| *f);
    let chosen = match &options.model {
        Some(name) => match globals.model_index.get(name) {
            Some(&i) => Some(i),
            None => {
                let mut names: Vec<&str> = globals
                    .models
                    .iter()
                    .map(|(m, _)| m.name.name.as_str())
                    .collect();
                names.sort();
                let span = main_file.map(|f| Span::new(f, 0, 0)).unwrap_or_default();
                let mut e = CheckError::new(
                    CheckErrorKind::Model {
                        message: format!("no model named `{name}`"),
                    },
                    span,
                );
                if let Some(s) = suggest(name, names.iter().copied()) {
                    e = e.help(format!("did you mean `{s}`?"));
                }
                e = e.note(format!("models in this program: {}", names.join(", ")));
                errors.push(e);
                None
            }
        },
        None => {
            let first = globals
                .models
                .iter()
                .position(|(_, f)| Some(*f) == main_file);
            if first.is_none() {
                let span = main_file.map(|f| Span::new(f, 0, 0)).unwrap_or_default();
                errors.push(
                    CheckError::new(
                        CheckErrorKind::Model {
                            message: "this file defines no model".into(),
                        },
                        span,
                    )
                    .help("add `model name { input x: [3, 224, 224] ... }`, or pick an imported one with `--model NAME`"),
                );
            }
            first
        }
    };
    let mut graph = None;
    if let Some(mi) = chosen {
        let mut elab = elab::Elab::new(&globals, &options.input_shapes);
        let span = globals.models[mi].0.name.span;
        elab.model(mi, &[], span);
        errors.append(&mut elab.errors);
        if elab.suppressed > 0 {
            errors.push(
                CheckError::new(
                    CheckErrorKind::TooManyErrors {
                        count: elab.suppressed,
                    },
                    span,
                )
                .label("stopped reporting after this many errors in this model"),
            );
        }
        graph = Some(Graph {
            name: globals.models[mi].0.name.name.clone(),
            nodes: elab.nodes,
            instances: elab.instances,
            sequences: elab.sequences,
            inputs: elab.inputs,
            outputs: elab.outputs,
            bindings: elab.bindings,
        });
    }
    let mut diagnostics: Vec<Diagnostic> = errors.iter().map(CheckError::to_diagnostic).collect();
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let Some(g) = graph else {
        return Err(diagnostics);
    };
    match Costs::of(&g) {
        Ok(costs) => Ok(Checked {
            model: CheckedModel::new(g, costs),
            warnings: diagnostics,
        }),
        Err(overflow) => {
            diagnostics.push(overflow_error(&g, overflow).to_diagnostic());
            Err(diagnostics)
        }
    }
}

/// E0205 at the layer where a parameter count, multiply-add count or byte
/// total stops fitting in 64 bits.
fn overflow_error(g: &Graph, o: Overflow) -> CheckError {
    let node = g.node(o.node);
    CheckError::new(
        CheckErrorKind::TooLarge {
            what: format!("{} `{}`", o.figure.describe(), node.name),
        },
        node.span,
    )
    .label(format!("`{}` ({}) is here", node.name, node.op.name()))
    .note("parameter counts, multiply-adds and byte totals must fit in 64 bits")
    .help("use fewer channels or features, a smaller kernel, or downsample before this layer")
}
