//! Compile-time built-in functions: shape queries and list helpers.

use super::elab::Elab;
use super::error::{CheckError, CheckErrorKind as K};
use super::value::{CallArg, Value};
use crate::span::Span;

/// A built-in function, for documentation.
pub struct Builtin {
    /// Its name.
    pub name: &'static str,
    /// How it is called.
    pub signature: &'static str,
    /// What it returns.
    pub doc: &'static str,
}

/// Every built-in function.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "channels",
        signature: "channels(t)",
        doc: "the channel count C of a tensor N×C×… (its first non-batch dimension)",
    },
    Builtin {
        name: "height",
        signature: "height(t)",
        doc: "H of a tensor N×C×H×W",
    },
    Builtin {
        name: "width",
        signature: "width(t)",
        doc: "W of a tensor N×C×H×W",
    },
    Builtin {
        name: "like",
        signature: "like(t)",
        doc: "the height and width of a tensor N×C×H×W, as the `size` of `upsample`",
    },
    Builtin {
        name: "len",
        signature: "len(list)",
        doc: "the number of items of a list",
    },
    Builtin {
        name: "min",
        signature: "min(a, b, …)",
        doc: "the smallest of integers",
    },
    Builtin {
        name: "max",
        signature: "max(a, b, …)",
        doc: "the largest of integers",
    },
];

/// The built-in functions' section of `docs/ops.md`.
pub fn reference_markdown() -> String {
    let mut s = String::from("## Built-in functions\n\n| function | returns |\n|---|---|\n");
    for b in BUILTINS {
        s.push_str(&format!("| `{}` | {} |\n", b.signature, b.doc));
    }
    s
}

/// The built-ins' names.
pub const NAMES: &[&str] = &["channels", "height", "width", "like", "len", "min", "max"];

fn arity(e: &mut Elab, name: &str, args: &[CallArg], n: usize, span: Span) -> bool {
    if args.len() == n && args.iter().all(|a| a.name.is_none()) {
        return true;
    }
    e.report(
        CheckError::new(
            K::Arguments {
                callee: name.into(),
                message: format!(
                    "`{name}` takes {n} positional argument{}",
                    if n == 1 { "" } else { "s" }
                ),
            },
            span,
        )
        .label("wrong arguments"),
    );
    false
}

pub(crate) fn call(e: &mut Elab, name: &str, args: &[CallArg], span: Span) -> Value {
    if args.iter().any(|a| matches!(a.value, Value::Poison)) {
        return Value::Poison;
    }
    match name {
        "channels" | "height" | "width" | "like" => {
            if !arity(e, name, args, 1, span) {
                return Value::Poison;
            }
            let Value::Tensor(id) = args[0].value else {
                return e.report(CheckError::new(
                    K::Type {
                        expected: format!("a tensor for `{name}`"),
                        found: args[0].value.describe(),
                    },
                    args[0].span,
                ));
            };
            let shape = e.tensor_shape(id).clone();
            let dim = match name {
                "channels" => 0,
                "height" => 1,
                _ => 2,
            };
            match shape.0.get(dim) {
                Some(_) if name == "like" && shape.0.len() == 3 => {
                    Value::Like([shape.0[1], shape.0[2]], id)
                }
                Some(&d) if name == "channels" || shape.0.len() == 3 => Value::Int(d as i64),
                _ => e.report(
                    CheckError::new(
                        K::Rank { op: name.into(), expected: "a tensor N×C×H×W".into(), found: shape.to_string() },
                        args[0].span,
                    )
                    .label(format!("this is {shape}"))
                    .help(format!(
                        "`{name}` exists only for feature maps: query the tensor before `flatten` (or `dense`)"
                    )),
                ),
            }
        }
        "len" => {
            if !arity(e, name, args, 1, span) {
                return Value::Poison;
            }
            match &args[0].value {
                Value::List(l) => Value::Int(l.len() as i64),
                v => e.report(CheckError::new(
                    K::Type {
                        expected: "a list for `len`".into(),
                        found: v.describe(),
                    },
                    args[0].span,
                )),
            }
        }
        _ => {
            // min / max
            let mut ints = Vec::new();
            for a in args {
                match a.value {
                    Value::Int(i) if a.name.is_none() => ints.push(i),
                    ref v => {
                        return e.report(CheckError::new(
                            K::Type {
                                expected: format!("integers for `{name}`"),
                                found: v.describe(),
                            },
                            a.span,
                        ));
                    }
                }
            }
            let r = if name == "min" {
                ints.iter().min()
            } else {
                ints.iter().max()
            };
            match r {
                Some(&v) => Value::Int(v),
                None => e.report(CheckError::new(
                    K::Arguments {
                        callee: name.into(),
                        message: format!("`{name}` needs at least one integer"),
                    },
                    span,
                )),
            }
        }
    }
}
