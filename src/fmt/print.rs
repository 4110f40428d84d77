//! From a syntax tree and the comments of its source to a [`Doc`].
//!
//! Comments are placed as the tree is walked in source order: before an
//! item, statement, parameter, argument, list item or pipeline stage go the
//! comments that start before it (each on its own line); after it, a comment
//! on the same line (a trailing comment), and any comment left inside it that
//! had no place of its own (for instance between the operands of `+`), which
//! moves to the end of the element's last line. Every comment is printed
//! exactly once, in source order.

use super::comments::Comment;
use super::doc::{Doc, concat, text};
use crate::syntax::ast::*;

/// Columns per indentation level.
const INDENT: usize = 2;

/// Precedence levels, loosest first (the grammar's `expr` down to `primary`).
const PIPE: u8 = 0;
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const COMPARE: u8 = 4;
const SUM: u8 = 5;
const PRODUCT: u8 = 6;
const NEG: u8 = 7;
const POSTFIX: u8 = 8;
const PRIMARY: u8 = 9;

/// One line of a sequence of items or statements.
struct Entry {
    /// A blank line precedes it in the source (kept, at most one).
    blank: bool,
    doc: Doc,
}

/// Walks a tree, taking the comments of its source in order.
pub(super) struct Printer<'a> {
    src: &'a str,
    comments: Vec<Comment>,
    /// The first comment not yet printed.
    next: usize,
}

impl<'a> Printer<'a> {
    pub(super) fn new(src: &'a str, comments: Vec<Comment>) -> Self {
        Printer {
            src,
            comments,
            next: 0,
        }
    }

    /// The document of a whole file (without its final newline), or `None`
    /// for a file without items and comments.
    pub(super) fn module(&mut self, m: &Module) -> Option<Doc> {
        let spans: Vec<(usize, usize)> = m.items.iter().map(item_span).collect();
        let entries = self.lines(&spans, self.src.len(), &mut |p, k| p.item(&m.items[k]));
        if entries.is_empty() {
            None
        } else {
            Some(join(entries))
        }
    }

    // ------------------------------------------------------------------
    // Comments

    /// Pops the comments that start before `pos`.
    fn take_before(&mut self, pos: usize) -> Vec<Comment> {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            out.push(c.clone());
            self.next += 1;
        }
        out
    }

    /// The comments before `pos`, each on its own line, to put before an element.
    fn leading(&mut self, pos: usize) -> Doc {
        concat(
            self.take_before(pos)
                .into_iter()
                .flat_map(|c| [Doc::LineComment(c.text), Doc::HardLine]),
        )
    }

    /// The comments to put after an element ending at `end`: those left
    /// inside it, and one on the same line before `limit` (where the next
    /// element starts). Returns them and where the last one ends.
    fn trailing(&mut self, end: usize, limit: usize) -> (Doc, usize) {
        let mut docs = Vec::new();
        let mut last = end;
        while let Some(c) = self.comments.get(self.next) {
            let inside = c.start < end;
            let same_line = !inside && c.start < limit && !self.src[end..c.start].contains('\n');
            if !inside && !same_line {
                break;
            }
            if docs.is_empty() {
                docs.push(Doc::LineComment(format!(" {}", c.text)));
            } else {
                docs.push(Doc::HardLine);
                docs.push(Doc::LineComment(c.text.clone()));
            }
            last = c.end;
            self.next += 1;
            if same_line {
                break;
            }
        }
        (concat(docs), last)
    }

    /// Whether the source between `last` and `next` contains a blank line.
    fn blank(&self, last: Option<usize>, next: usize) -> bool {
        let Some(last) = last else {
            return false;
        };
        if last >= next {
            return false;
        }
        let mut lines: Vec<&str> = self.src[last..next].split('\n').collect();
        // The first piece ends the line of `last`; the last begins the line of `next`.
        lines.pop();
        lines.iter().skip(1).any(|l| l.trim().is_empty())
    }

    /// Items or statements, one per line, with the comments around them,
    /// up to `end` (the end of the file or the closing `}`).
    fn lines(
        &mut self,
        spans: &[(usize, usize)],
        end: usize,
        print: &mut dyn FnMut(&mut Self, usize) -> Doc,
    ) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut last: Option<usize> = None;
        for (k, &(start, stop)) in spans.iter().enumerate() {
            for c in self.take_before(start) {
                out.push(Entry {
                    blank: self.blank(last, c.start),
                    doc: Doc::LineComment(c.text),
                });
                last = Some(c.end);
            }
            let blank = self.blank(last, start);
            let doc = print(self, k);
            let limit = spans.get(k + 1).map_or(end, |s| s.0);
            let (trailing, t_end) = self.trailing(stop, limit);
            out.push(Entry {
                blank,
                doc: concat([doc, trailing]),
            });
            last = Some(t_end);
        }
        for c in self.take_before(end) {
            out.push(Entry {
                blank: self.blank(last, c.start),
                doc: Doc::LineComment(c.text),
            });
            last = Some(c.end);
        }
        out
    }

    /// `open item, item close`: flat when it fits, otherwise one item per
    /// line with a trailing comma. `close_at` is the offset of `close`.
    fn comma_list(
        &mut self,
        open: &str,
        close: &str,
        spans: &[(usize, usize)],
        close_at: usize,
        print: &mut dyn FnMut(&mut Self, usize) -> Doc,
    ) -> Doc {
        let mut inner = vec![Doc::SoftLine];
        for (k, &(start, stop)) in spans.iter().enumerate() {
            inner.push(self.leading(start));
            inner.push(print(self, k));
            let last = k + 1 == spans.len();
            inner.push(if last { Doc::IfBreak(",") } else { text(",") });
            let limit = spans.get(k + 1).map_or(close_at, |s| s.0);
            inner.push(self.trailing(stop, limit).0);
            if !last {
                inner.push(Doc::Line);
            }
        }
        let dangling = self.take_before(close_at);
        if spans.is_empty() && dangling.is_empty() {
            return text(format!("{open}{close}"));
        }
        for (k, c) in dangling.into_iter().enumerate() {
            if k > 0 || !spans.is_empty() {
                inner.push(Doc::HardLine);
            }
            inner.push(Doc::LineComment(c.text));
        }
        concat([
            text(open),
            concat(inner).nest(INDENT),
            Doc::SoftLine,
            text(close),
        ])
        .group()
    }

    // ------------------------------------------------------------------
    // Items and statements

    fn item(&mut self, item: &Item) -> Doc {
        match item {
            Item::Import(imp) => text(format!("import \"{}\"", imp.path)),
            Item::Block(b) => {
                let params = self.params(&b.params, (b.header.end as usize).saturating_sub(1));
                let body = self.item_body(&b.body);
                concat([
                    text(format!("block {}", b.name.name)),
                    params,
                    text(" "),
                    body,
                ])
            }
            Item::Model(m) => match &m.kind {
                ModelKind::Body { params, body } => {
                    let params = if params.is_empty() {
                        Doc::Nil
                    } else {
                        self.params(params, (m.header.end as usize).saturating_sub(1))
                    };
                    let body = self.item_body(body);
                    concat([
                        text(format!("model {}", m.name.name)),
                        params,
                        text(" "),
                        body,
                    ])
                }
                ModelKind::Alias { target, args } => {
                    let args = self.args(args, (m.header.end as usize).saturating_sub(1));
                    concat([
                        text(format!("model {} = {}", m.name.name, target.name)),
                        args,
                    ])
                }
            },
        }
    }

    fn params(&mut self, params: &[Param], close_at: usize) -> Doc {
        let spans: Vec<(usize, usize)> = params
            .iter()
            .map(|p| {
                let end = p.default.as_ref().map_or(p.name.span.end, |d| d.span.end);
                (p.name.span.start as usize, end as usize)
            })
            .collect();
        self.comma_list("(", ")", &spans, close_at, &mut |pr, k| {
            let p = &params[k];
            match &p.default {
                Some(d) => concat([text(format!("{} = ", p.name.name)), pr.expr(d, PIPE)]),
                None => text(p.name.name.clone()),
            }
        })
    }

    fn args(&mut self, args: &[Arg], close_at: usize) -> Doc {
        let spans: Vec<(usize, usize)> = args
            .iter()
            .map(|a| {
                let start = a.name.as_ref().map_or(a.value.span.start, |n| n.span.start);
                (start as usize, a.value.span.end as usize)
            })
            .collect();
        self.comma_list("(", ")", &spans, close_at, &mut |pr, k| {
            let a = &args[k];
            let value = pr.expr(&a.value, PIPE);
            match &a.name {
                Some(n) => concat([text(format!("{}: ", n.name)), value]),
                None => value,
            }
        })
    }

    /// The statements of a body, one entry per line.
    fn body_lines(&mut self, body: &Body) -> Vec<Entry> {
        let spans: Vec<(usize, usize)> = body.stmts.iter().map(stmt_span).collect();
        // The closing `}` is the body's last byte.
        let end = (body.span.end as usize).saturating_sub(1);
        self.lines(&spans, end, &mut |p, k| p.stmt(&body.stmts[k]))
    }

    /// The body of a block or model: always one statement per line.
    fn item_body(&mut self, body: &Body) -> Doc {
        let entries = self.body_lines(body);
        if entries.is_empty() {
            return text("{}");
        }
        concat([
            text("{"),
            concat([Doc::HardLine, join(entries)]).nest(INDENT),
            Doc::HardLine,
            text("}"),
        ])
    }

    /// The body of an `if` branch: `{ x }` when the whole `if` fits on one line.
    fn branch_body(&mut self, body: &Body) -> Doc {
        let entries = self.body_lines(body);
        if entries.is_empty() {
            return text("{}");
        }
        concat([
            text("{"),
            concat([Doc::Line, join(entries)]).nest(INDENT),
            Doc::Line,
            text("}"),
        ])
    }

    fn stmt(&mut self, s: &Stmt) -> Doc {
        match s {
            Stmt::Input { name, shape, span } => match shape {
                None => text(format!("input {}", name.name)),
                Some(dims) => {
                    let spans: Vec<(usize, usize)> = dims.iter().map(expr_span).collect();
                    let list = self.comma_list(
                        "[",
                        "]",
                        &spans,
                        (span.end as usize).saturating_sub(1),
                        &mut |p, k| p.expr(&dims[k], PIPE),
                    );
                    concat([text(format!("input {}: ", name.name)), list])
                }
            },
            Stmt::Output { names, .. } => {
                let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
                text(format!("output {}", names.join(", ")))
            }
            Stmt::Assign { name, value } => {
                concat([text(format!("{} = ", name.name)), self.expr(value, PIPE)])
            }
            Stmt::Expr(e) => {
                // A statement starting with `-` would continue the previous
                // one (`a` then `-b` reads as `a - b`).
                if starts_with_minus(e, PIPE) {
                    concat([text("("), self.expr(e, PIPE), text(")")])
                } else {
                    self.expr(e, PIPE)
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Expressions

    /// `e`, in parentheses if it binds more loosely than `min` allows here.
    fn expr(&mut self, e: &Expr, min: u8) -> Doc {
        if precedence(e) < min {
            concat([text("("), self.expr_bare(e), text(")")])
        } else {
            self.expr_bare(e)
        }
    }

    fn expr_bare(&mut self, e: &Expr) -> Doc {
        match &e.kind {
            ExprKind::Int(v) => {
                let src = self.source(e.span);
                let written =
                    !src.is_empty() && src.bytes().all(|b| b.is_ascii_digit() || b == b'_');
                text(if written {
                    src.to_string()
                } else {
                    v.to_string()
                })
            }
            ExprKind::Float(v) => {
                let src = self.source(e.span);
                text(if is_float_literal(src) {
                    src.to_string()
                } else {
                    format!("{v:?}")
                })
            }
            ExprKind::Bool(b) => text(b.to_string()),
            ExprKind::Str(s) => text(format!("\"{s}\"")),
            ExprKind::Name(n) => text(n.clone()),
            ExprKind::List(items) => {
                let spans: Vec<(usize, usize)> = items
                    .iter()
                    .map(|it| {
                        let start = it
                            .label
                            .as_ref()
                            .map_or(it.value.span.start, |l| l.span.start);
                        (start as usize, it.value.span.end as usize)
                    })
                    .collect();
                let close_at = (e.span.end as usize).saturating_sub(1);
                self.comma_list("[", "]", &spans, close_at, &mut |p, k| {
                    let it = &items[k];
                    let value = p.expr(&it.value, PIPE);
                    match &it.label {
                        Some(l) => concat([text(format!("{}: ", l.name)), value]),
                        None => value,
                    }
                })
            }
            ExprKind::Call { callee, args } => {
                let callee = self.expr(callee, POSTFIX);
                let args = self.args(args, (e.span.end as usize).saturating_sub(1));
                concat([callee, args])
            }
            ExprKind::Index { base, index } => concat([
                self.expr(base, POSTFIX),
                text("["),
                self.expr(index, PIPE),
                text("]"),
            ]),
            ExprKind::Unary { op, operand } => match op {
                // `-(-x)`, not `--x`.
                UnaryOp::Neg if is_neg(operand) => {
                    concat([text("-("), self.expr(operand, PIPE), text(")")])
                }
                UnaryOp::Neg => concat([text("-"), self.expr(operand, NEG)]),
                UnaryOp::Not => concat([text("not "), self.expr(operand, NOT)]),
            },
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let (l, r) = operand_precedence(*op);
                concat([
                    self.expr(lhs, l),
                    text(format!(" {} ", op.symbol())),
                    self.expr(rhs, r),
                ])
            }
            ExprKind::If { .. } => self.if_chain(e).group(),
            ExprKind::Pipe { input, stages } => self.pipe(input, stages),
        }
    }

    /// `if c { … } else if d { … } else { … }`, all branches in one group:
    /// either all on one line or all broken.
    fn if_chain(&mut self, e: &Expr) -> Doc {
        let ExprKind::If {
            cond,
            then,
            otherwise,
        } = &e.kind
        else {
            return self.expr_bare(e);
        };
        let cond = self.expr(cond, PIPE);
        let then = self.branch_body(then);
        let otherwise = match else_if(otherwise) {
            Some(nested) => self.if_chain(nested),
            None => self.branch_body(otherwise),
        };
        concat([
            text("if "),
            cond,
            text(" "),
            then,
            text(" else "),
            otherwise,
        ])
    }

    /// `x -> a -> b` on one line, or broken before every `->`, the arrows
    /// aligned under the first one.
    fn pipe(&mut self, input: &Expr, stages: &[Stage]) -> Doc {
        let input = self.expr(input, OR);
        let starts: Vec<usize> = stages
            .iter()
            .map(|s| s.label.as_ref().map_or(s.expr.span.start, |l| l.span.start) as usize)
            .collect();
        let mut chain = Vec::new();
        for (k, s) in stages.iter().enumerate() {
            if k > 0 {
                chain.push(Doc::Line);
            }
            chain.push(self.leading(starts[k]));
            chain.push(text("-> "));
            if let Some(l) = &s.label {
                chain.push(text(format!("{}: ", l.name)));
            }
            chain.push(self.expr(&s.expr, OR));
            if let Some(&next) = starts.get(k + 1) {
                chain.push(self.trailing(s.expr.span.end as usize, next).0);
            }
        }
        let chain = concat(chain);
        // With one stage there is no arrow to align, and a list or call that
        // breaks indents from the statement: `x -> [` … `]`.
        let chain = if stages.len() == 1 {
            chain
        } else {
            chain.align()
        };
        concat([input, text(" "), chain]).group()
    }

    /// The source text of a span (empty if the span is not in the text).
    fn source(&self, span: crate::span::Span) -> &str {
        self.src.get(span.range()).unwrap_or("")
    }
}

/// Lines separated by newlines, with at most one blank line kept.
fn join(entries: Vec<Entry>) -> Doc {
    let mut out = Vec::new();
    for (k, e) in entries.into_iter().enumerate() {
        if k > 0 {
            out.push(Doc::HardLine);
            if e.blank {
                out.push(Doc::HardLine);
            }
        }
        out.push(e.doc);
    }
    concat(out)
}

/// The nested `if` of an `else if` (parsed as an `else` body holding only it).
fn else_if(otherwise: &Body) -> Option<&Expr> {
    match otherwise.stmts.as_slice() {
        [Stmt::Expr(e)] if matches!(e.kind, ExprKind::If { .. }) && e.span == otherwise.span => {
            Some(e)
        }
        _ => None,
    }
}

fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Pipe { .. } => PIPE,
        ExprKind::Binary { op, .. } => match op {
            BinaryOp::Or => OR,
            BinaryOp::And => AND,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => COMPARE,
            BinaryOp::Add | BinaryOp::Sub => SUM,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => PRODUCT,
        },
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => NOT,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => NEG,
        ExprKind::Call { .. } | ExprKind::Index { .. } => POSTFIX,
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Str(_)
        | ExprKind::Name(_)
        | ExprKind::List(_)
        | ExprKind::If { .. } => PRIMARY,
    }
}

/// The least precedence each operand of `op` may have without parentheses:
/// operators are left-associative, comparisons do not chain.
fn operand_precedence(op: BinaryOp) -> (u8, u8) {
    match op {
        BinaryOp::Or => (OR, AND),
        BinaryOp::And => (AND, NOT),
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            (SUM, SUM)
        }
        BinaryOp::Add | BinaryOp::Sub => (SUM, PRODUCT),
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => (PRODUCT, NEG),
    }
}

fn is_neg(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Unary {
            op: UnaryOp::Neg,
            ..
        }
    )
}

/// Whether `e`, printed where `min` is required, starts with a `-`.
fn starts_with_minus(e: &Expr, min: u8) -> bool {
    if precedence(e) < min {
        return false; // printed in parentheses
    }
    match &e.kind {
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => true,
        ExprKind::Binary { op, lhs, .. } => starts_with_minus(lhs, operand_precedence(*op).0),
        ExprKind::Pipe { input, .. } => starts_with_minus(input, OR),
        ExprKind::Call { callee: base, .. } | ExprKind::Index { base, .. } => {
            starts_with_minus(base, POSTFIX)
        }
        _ => false,
    }
}

/// Whether `s` is a float literal exactly as the grammar writes one
/// (`digit {digit|_} ( "." digits [exponent] | exponent )`).
fn is_float_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, underscore: bool| {
        let from = *i;
        while *i < b.len() && (b[*i].is_ascii_digit() || (underscore && *i > from && b[*i] == b'_'))
        {
            *i += 1;
        }
        *i > from
    };
    if !digits(&mut i, true) {
        return false;
    }
    let mut fraction = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i, false) {
            return false;
        }
        fraction = true;
    }
    let mut exponent = false;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i, false) {
            return false;
        }
        exponent = true;
    }
    i == b.len() && (fraction || exponent)
}

fn expr_span(e: &Expr) -> (usize, usize) {
    (e.span.start as usize, e.span.end as usize)
}

fn item_span(item: &Item) -> (usize, usize) {
    match item {
        Item::Import(i) => (i.span.start as usize, i.span.end as usize),
        Item::Block(b) => (b.header.start as usize, b.body.span.end as usize),
        Item::Model(m) => match &m.kind {
            ModelKind::Body { body, .. } => (m.header.start as usize, body.span.end as usize),
            ModelKind::Alias { .. } => (m.header.start as usize, m.header.end as usize),
        },
    }
}

fn stmt_span(s: &Stmt) -> (usize, usize) {
    match s {
        Stmt::Input { span, .. } | Stmt::Output { span, .. } => {
            (span.start as usize, span.end as usize)
        }
        Stmt::Assign { name, value } => (name.span.start as usize, value.span.end as usize),
        Stmt::Expr(e) => expr_span(e),
    }
}

#[cfg(test)]
mod tests {
    use super::is_float_literal;

    #[test]
    fn float_literals() {
        for ok in ["1.0", "1e-3", "2.5E+10", "1_000.5", "0.001"] {
            assert!(is_float_literal(ok), "{ok}");
        }
        for bad in ["1", "(1.0)", "1.", ".5", "1e", "1.0 ", "_1.0"] {
            assert!(!is_float_literal(bad), "{bad}");
        }
    }
}
