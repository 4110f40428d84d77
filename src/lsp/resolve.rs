//! What the name under the cursor refers to, from the syntax trees alone (so
//! it works in files with errors and in blocks the model never instantiates).
//!
//! Scopes follow the checker's: a block's or model's parameters, then its
//! body; each `if` branch is a scope of its own; a name refers to the latest
//! `input` or assignment before it in the innermost scope that has one, else
//! to a block or model of the program (imports included), an op or a built-in.

use crate::check::builtins::{BUILTINS, Builtin};
use crate::ir::ops::{self, OpSpec};
use crate::span::{FileId, Span};
use crate::syntax::Program;
use crate::syntax::ast::{Body, Expr, ExprKind, Item, ModelKind, Param, Stmt};

/// How a local name was declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocalKind {
    /// `input x`.
    Input,
    /// `x = …`.
    Assign,
    /// A block's or model's parameter.
    Param,
}

/// What a name refers to.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// A local declared at `decl` (the declared name's span).
    Local {
        /// The declaring name.
        decl: Span,
        /// How it was declared.
        kind: LocalKind,
    },
    /// A block, by the span of its definition's name.
    Block(Span),
    /// A model, by the span of its definition's name.
    Model(Span),
    /// An op of the op table.
    Op(&'static OpSpec),
    /// A built-in function.
    Builtin(&'static Builtin),
}

/// A name at the cursor and what it refers to.
#[derive(Clone)]
pub(crate) struct Hit {
    /// The name as written.
    pub name: String,
    /// Where it is written.
    pub span: Span,
    /// What it refers to (a declaration refers to itself).
    pub target: Target,
}

/// The name at byte `offset` of `file`, if any, resolved.
pub(crate) fn at(program: &Program, file: FileId, offset: usize) -> Option<Hit> {
    let (_, module) = program.modules.iter().find(|(f, _)| *f == file)?;
    let mut w = Walker {
        program,
        file,
        offset,
        scopes: Vec::new(),
        hit: None,
    };
    for item in &module.items {
        w.item(item);
        if w.hit.is_some() {
            break;
        }
    }
    w.hit
}

struct Walker<'p> {
    program: &'p Program,
    file: FileId,
    offset: usize,
    scopes: Vec<Vec<(String, Span, LocalKind)>>,
    hit: Option<Hit>,
}

impl Walker<'_> {
    fn covers(&self, span: Span) -> bool {
        span.file == self.file
            && (span.start as usize) <= self.offset
            && self.offset <= span.end as usize
    }

    fn found(&mut self, name: &str, span: Span, target: Target) {
        if self.hit.is_none() {
            self.hit = Some(Hit {
                name: name.to_string(),
                span,
                target,
            });
        }
    }

    fn declare(&mut self, name: &str, span: Span, kind: LocalKind) {
        if self.covers(span) {
            self.found(name, span, Target::Local { decl: span, kind });
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.push((name.to_string(), span, kind));
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(_) => {}
            Item::Block(b) => {
                if self.covers(b.name.span) {
                    self.found(&b.name.name, b.name.span, Target::Block(b.name.span));
                }
                self.scopes.push(Vec::new());
                self.params(&b.params);
                self.body(&b.body);
                self.scopes.pop();
            }
            Item::Model(m) => {
                if self.covers(m.name.span) {
                    self.found(&m.name.name, m.name.span, Target::Model(m.name.span));
                }
                self.scopes.push(Vec::new());
                match &m.kind {
                    ModelKind::Body { params, body } => {
                        self.params(params);
                        self.body(body);
                    }
                    ModelKind::Alias { target, args } => {
                        if self.covers(target.span) {
                            self.resolve(&target.name, target.span);
                        }
                        for a in args {
                            self.expr(&a.value);
                        }
                    }
                }
                self.scopes.pop();
            }
        }
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            if let Some(d) = &p.default {
                self.expr(d);
            }
            self.declare(&p.name.name, p.name.span, LocalKind::Param);
        }
    }

    fn body(&mut self, body: &Body) {
        self.scopes.push(Vec::new());
        for stmt in &body.stmts {
            if self.hit.is_some() {
                break;
            }
            match stmt {
                Stmt::Input { name, shape, .. } => {
                    for e in shape.iter().flatten() {
                        self.expr(e);
                    }
                    self.declare(&name.name, name.span, LocalKind::Input);
                }
                Stmt::Output { names, .. } => {
                    for n in names {
                        if self.covers(n.span) {
                            self.resolve(&n.name, n.span);
                        }
                    }
                }
                Stmt::Assign { name, value } => {
                    self.expr(value);
                    self.declare(&name.name, name.span, LocalKind::Assign);
                }
                Stmt::Expr(e) => self.expr(e),
            }
        }
        self.scopes.pop();
    }

    fn expr(&mut self, e: &Expr) {
        if self.hit.is_some() || !self.covers(e.span) {
            return;
        }
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => {}
            ExprKind::Name(n) => self.resolve(n, e.span),
            ExprKind::List(items) => {
                for it in items {
                    self.expr(&it.value);
                }
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                for a in args {
                    self.expr(&a.value);
                }
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.body(then);
                self.body(otherwise);
            }
            ExprKind::Pipe { input, stages } => {
                self.expr(input);
                for s in stages {
                    self.expr(&s.expr);
                }
            }
        }
    }

    fn resolve(&mut self, name: &str, span: Span) {
        let local = self
            .scopes
            .iter()
            .rev()
            .find_map(|scope| scope.iter().rev().find(|(n, _, _)| n == name));
        if let Some(&(_, decl, kind)) = local {
            self.found(name, span, Target::Local { decl, kind });
            return;
        }
        let items = self.program.modules.iter().flat_map(|(_, m)| &m.items);
        for item in items {
            match item {
                Item::Block(b) if b.name.name == name => {
                    return self.found(name, span, Target::Block(b.name.span));
                }
                Item::Model(m) if m.name.name == name => {
                    return self.found(name, span, Target::Model(m.name.span));
                }
                _ => {}
            }
        }
        if let Some(op) = ops::lookup(name) {
            self.found(name, span, Target::Op(op));
        } else if let Some(b) = BUILTINS.iter().find(|b| b.name == name) {
            self.found(name, span, Target::Builtin(b));
        }
    }
}
