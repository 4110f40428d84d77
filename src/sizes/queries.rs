//! Does a program ask for a tensor's height or width? Then its structure may
//! depend on the input size, and the periodicity argument does not apply.

use crate::syntax::Program;
use crate::syntax::ast::{Body, Expr, ExprKind, Item, ModelKind, Stmt};

/// The built-ins whose value depends on a spatial size.
const SIZE_QUERIES: &[&str] = &["height", "width"];

/// Whether any file of `program` calls `height` or `width`, or names them as
/// a value where no parameter or variable of that name exists (the built-in
/// could then be passed to a block and called there).
pub(crate) fn uses_size_queries(program: &Program) -> bool {
    mentions(program, SIZE_QUERIES)
}

/// Whether any file of `program` names `same` (padding that depends on the
/// input size) where no parameter or variable of that name exists.
pub(crate) fn uses_same_padding(program: &Program) -> bool {
    mentions(program, &["same"])
}

fn mentions(program: &Program, names: &[&str]) -> bool {
    let declared = declared_names(program);
    let cx = Cx {
        names,
        declared: &declared,
    };
    let expr = |e: &Expr| expr(e, &cx);
    let body = |b: &Body| body(b, &cx);
    program.modules.iter().any(|(_, module)| {
        module.items.iter().any(|item| match item {
            Item::Block(b) => {
                b.params.iter().filter_map(|p| p.default.as_ref()).any(expr) || body(&b.body)
            }
            Item::Model(m) => match &m.kind {
                ModelKind::Body { params, body: b } => {
                    params.iter().filter_map(|p| p.default.as_ref()).any(expr) || body(b)
                }
                ModelKind::Alias { args, .. } => args.iter().any(|a| expr(&a.value)),
            },
            Item::Import(_) => false,
        })
    })
}

/// Every parameter, input and variable name of the program.
fn declared_names(program: &Program) -> Vec<String> {
    let mut names = Vec::new();
    fn body_names(b: &Body, names: &mut Vec<String>) {
        for s in &b.stmts {
            match s {
                Stmt::Input { name, .. } | Stmt::Assign { name, .. } => {
                    names.push(name.name.clone())
                }
                Stmt::Output { .. } | Stmt::Expr(_) => {}
            }
        }
    }
    for (_, module) in &program.modules {
        for item in &module.items {
            match item {
                Item::Block(b) => {
                    names.extend(b.params.iter().map(|p| p.name.name.clone()));
                    body_names(&b.body, &mut names);
                }
                Item::Model(m) => {
                    if let ModelKind::Body { params, body } = &m.kind {
                        names.extend(params.iter().map(|p| p.name.name.clone()));
                        body_names(body, &mut names);
                    }
                }
                Item::Import(_) => {}
            }
        }
    }
    names
}

/// The names looked for, and the program's own names (which shadow them).
struct Cx<'a> {
    names: &'a [&'a str],
    declared: &'a [String],
}

fn body(b: &Body, cx: &Cx) -> bool {
    let expr = |e: &Expr| expr(e, cx);
    b.stmts.iter().any(|s| match s {
        Stmt::Input { shape, .. } => shape.iter().flatten().any(expr),
        Stmt::Output { .. } => false,
        Stmt::Assign { value, .. } => expr(value),
        Stmt::Expr(e) => expr(e),
    })
}

fn expr(e: &Expr, cx: &Cx) -> bool {
    let body = |b: &Body| body(b, cx);
    let expr = |e: &Expr| expr(e, cx);
    let query = |n: &str| cx.names.contains(&n);
    let declared = cx.declared;
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => false,
        ExprKind::Name(n) => query(n) && !declared.iter().any(|d| d == n),
        ExprKind::Call { callee, .. } if matches!(&callee.kind, ExprKind::Name(n) if query(n)) => {
            true
        }
        ExprKind::List(items) => items.iter().any(|i| expr(&i.value)),
        ExprKind::Call { callee, args } => expr(callee) || args.iter().any(|a| expr(&a.value)),
        ExprKind::Index { base, index } => expr(base) || expr(index),
        ExprKind::Unary { operand, .. } => expr(operand),
        ExprKind::Binary { lhs, rhs, .. } => expr(lhs) || expr(rhs),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => expr(cond) || body(then) || body(otherwise),
        ExprKind::Pipe { input, stages } => expr(input) || stages.iter().any(|s| expr(&s.expr)),
    }
}

#[cfg(test)]
mod tests {
    use super::{uses_same_padding, uses_size_queries};
    use crate::syntax::Program;

    #[test]
    fn finds_height_and_width() {
        let q = "model m { input x: [3, 8, 8]\n x -> conv(height(x), 1) }";
        assert!(uses_size_queries(&Program::from_source("q.rn", q).0));
        let w = "block b(width = 4) { input x\n x -> conv(width, 1) }\nmodel m { input x: [3, 8, 8]\n x -> b }";
        assert!(!uses_size_queries(&Program::from_source("w.rn", w).0));
        let passed = "block b(f) { input x\n x -> conv(f(x), 1) }\nmodel m { input x: [3, 8, 8]\n x -> b(width) }";
        assert!(uses_size_queries(&Program::from_source("p.rn", passed).0));
        let same = "model m { input x: [3, 8, 8]\n x -> conv(4, 3, pad: same) }";
        assert!(uses_same_padding(&Program::from_source("s.rn", same).0));
        assert!(!uses_same_padding(&Program::from_source("q.rn", q).0));
    }
}
