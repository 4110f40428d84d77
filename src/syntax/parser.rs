//! The `nom` parser for `.rn` files.
//!
//! Each function implements one rule of `grammar/resnet.ebnf` and names it in
//! a `/// rule: name` line; `syntax::coverage` checks that the two stay in step.
//! Every token parser skips the white space and comments before it, so an error
//! points at the offending token, never at the blank before it.
//!
//! Errors: parsers return `nom::Err::Error` while an alternative may still
//! match, and `nom::Err::Failure` (through [`cut`]) once a construct is
//! committed, so the reported position is the real culprit. Alternatives merge
//! their expectations ("expected `)` or `,`"), keeping the furthest position.

use std::cell::Cell;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Input, Parser};
use nom_locate::LocatedSpan;

use super::ast::*;
use super::error::SyntaxError;
use crate::span::{FileId, Span};

/// How deeply expressions may nest before the parser gives up (instead of
/// overflowing the stack on hostile input).
pub const MAX_NESTING: u32 = 64;

/// Parser state shared through the input.
#[derive(Debug)]
pub struct State {
    file: FileId,
    depth: Cell<u32>,
    /// The last blank skipped by [`ws`]: from, to, newline crossed. Every
    /// alternative tried at a position skips the same blank (and comments).
    blank: Cell<(usize, usize, bool)>,
    #[cfg(test)]
    pub(crate) hits: std::cell::RefCell<std::collections::BTreeSet<&'static str>>,
}

type In<'a> = LocatedSpan<&'a str, &'a State>;
type PResult<'a, T> = IResult<In<'a>, T, PError>;

/// The parser's internal error: the furthest position reached and what was
/// expected there.
#[derive(Debug, Clone, Default)]
pub struct PError {
    offset: usize,
    expected: Vec<&'static str>,
    message: Option<String>,
    hint: Option<String>,
    committed: bool,
}

impl PError {
    fn at(i: &In, expected: &'static str) -> Self {
        PError {
            offset: i.location_offset(),
            expected: vec![expected],
            ..Default::default()
        }
    }

    fn custom(offset: usize, message: impl Into<String>, hint: Option<String>) -> Self {
        PError {
            offset,
            message: Some(message.into()),
            hint,
            committed: true,
            ..Default::default()
        }
    }
}

impl<'a> ParseError<In<'a>> for PError {
    fn from_error_kind(input: In<'a>, _kind: ErrorKind) -> Self {
        PError {
            offset: input.location_offset(),
            ..Default::default()
        }
    }

    fn append(_input: In<'a>, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        if self.message.is_some() && self.offset >= other.offset {
            return self;
        }
        if other.message.is_some() && other.offset >= self.offset {
            return other;
        }
        match self.offset.cmp(&other.offset) {
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Equal => {
                let mut merged = self;
                for e in other.expected {
                    if !merged.expected.contains(&e) {
                        merged.expected.push(e);
                    }
                }
                merged
            }
        }
    }
}

fn error<T>(e: PError) -> PResult<'static, T> {
    Err(nom::Err::Error(e))
}

/// Turns a recoverable error into a committed one (nom's `cut`, keeping our error type).
fn cut<'a, T>(r: PResult<'a, T>) -> PResult<'a, T> {
    match r {
        Err(nom::Err::Error(mut e)) => {
            e.committed = true;
            Err(nom::Err::Failure(e))
        }
        other => other,
    }
}

fn record(_i: &In, _rule: &'static str) {
    #[cfg(test)]
    _i.extra.hits.borrow_mut().insert(_rule);
}

fn span_from(start: &In, end: &In) -> Span {
    Span::new(
        start.extra.file,
        start.location_offset(),
        end.location_offset(),
    )
}

/// Guards recursion depth; decrements on drop.
struct DepthGuard<'a>(&'a Cell<u32>);

impl<'a> DepthGuard<'a> {
    fn enter(i: &In<'a>) -> Result<Self, nom::Err<PError>> {
        let d = i.extra.depth.get() + 1;
        if d > MAX_NESTING {
            return Err(too_deep(i.location_offset()));
        }
        i.extra.depth.set(d);
        Ok(DepthGuard(&i.extra.depth))
    }
}

fn too_deep(offset: usize) -> nom::Err<PError> {
    nom::Err::Failure(PError::custom(
        offset,
        format!("expression nested more than {MAX_NESTING} levels deep"),
        Some("split the expression into named steps (`t = ...`)".into()),
    ))
}

/// The depth of a syntax tree. Trees are kept shallow by [`DepthGuard`] and
/// [`Chain`], so this recursion is too.
fn tree_depth(e: &Expr) -> u32 {
    let max = |it: &mut dyn Iterator<Item = &Expr>| it.map(tree_depth).max().unwrap_or(0);
    1 + match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Str(_)
        | ExprKind::Name(_) => 0,
        ExprKind::List(items) => max(&mut items.iter().map(|it| &it.value)),
        ExprKind::Call { callee, args } => {
            tree_depth(callee).max(max(&mut args.iter().map(|a| &a.value)))
        }
        ExprKind::Index { base, index } => tree_depth(base).max(tree_depth(index)),
        ExprKind::Unary { operand, .. } => tree_depth(operand),
        ExprKind::Binary { lhs, rhs, .. } => tree_depth(lhs).max(tree_depth(rhs)),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => tree_depth(cond)
            .max(body_depth(then))
            .max(body_depth(otherwise)),
        ExprKind::Pipe { input, stages } => {
            tree_depth(input).max(max(&mut stages.iter().map(|s| &s.expr)))
        }
    }
}

/// The depth of a body: one level for the body, one for the statement.
fn body_depth(b: &Body) -> u32 {
    let stmt = |s: &Stmt| match s {
        Stmt::Input { shape, .. } => shape.iter().flatten().map(tree_depth).max().unwrap_or(0),
        Stmt::Output { .. } => 0,
        Stmt::Assign { value, .. } | Stmt::Expr(value) => tree_depth(value),
    };
    2 + b.stmts.iter().map(stmt).max().unwrap_or(0)
}

/// The depth of a left-leaning chain (`a + b + c`, `f(x)(y)`, `l[0][1]`).
///
/// Chains are parsed by loops, not recursion, so the nesting guard does not
/// see them; but they build trees as deep as they are long, and every later
/// pass over the tree (the checker, `Drop`) recurses. A chain therefore counts
/// against the same [`MAX_NESTING`] budget as the nesting around it.
#[derive(Default)]
struct Chain(Option<u32>);

impl Chain {
    /// Accounts for a new node over `lhs` (the chain so far) and `rhs`, at `offset`.
    fn grow<'e>(
        &mut self,
        i: &In,
        offset: usize,
        lhs: &Expr,
        rhs: impl IntoIterator<Item = &'e Expr>,
    ) -> Result<(), nom::Err<PError>> {
        let l = *self.0.get_or_insert_with(|| tree_depth(lhs));
        let r = rhs.into_iter().map(tree_depth).max().unwrap_or(0);
        let d = 1 + l.max(r);
        if d + i.extra.depth.get() > MAX_NESTING {
            return Err(too_deep(offset));
        }
        self.0 = Some(d);
        Ok(())
    }
}

impl Drop for DepthGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

// ----------------------------------------------------------------------------
// Tokens

/// Skips white space and `#` comments; reports whether a newline was crossed.
fn ws(i: In) -> PResult<bool> {
    let from = i.location_offset();
    let (cached_from, to, newline) = i.extra.blank.get();
    if cached_from == from {
        return Ok((i.take_from(to - from), newline));
    }
    let (rest, newline) = skip_blank(i)?;
    i.extra.blank.set((from, rest.location_offset(), newline));
    Ok((rest, newline))
}

fn skip_blank(mut i: In) -> PResult<bool> {
    let mut newline = false;
    loop {
        let (rest, blank) = take_while(|c: char| c.is_whitespace()).parse(i)?;
        newline |= blank.fragment().contains('\n');
        i = rest;
        if i.fragment().starts_with('#') {
            let (rest, _) = take_while(|c: char| c != '\n').parse(i)?;
            i = rest;
        } else {
            return Ok((i, newline));
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

const KEYWORDS: &[&str] = &[
    "model", "block", "input", "output", "import", "if", "else", "and", "or", "not", "true",
    "false",
];

/// A punctuation token. `what` is how it is named in "expected" lists.
fn sym<'a>(s: &'static str, what: &'static str) -> impl Fn(In<'a>) -> PResult<'a, Span> {
    move |i: In<'a>| {
        let (i, _) = ws(i)?;
        let start = i;
        let r: PResult<In> = tag(s).parse(i);
        match r {
            Ok((rest, _)) => {
                // `-` must not be the start of `->`, `=` of `==`, `<` of `<=`, ...
                let next = rest.fragment().chars().next();
                let clash = matches!(
                    (s, next),
                    ("-", Some('>')) | ("=", Some('=')) | ("<", Some('=')) | (">", Some('='))
                );
                if clash {
                    error(PError::at(&start, what))
                } else {
                    Ok((rest, span_from(&start, &rest)))
                }
            }
            Err(_) => error(PError::at(&start, what)),
        }
    }
}

/// A keyword (not followed by an identifier character).
fn kw<'a>(word: &'static str, what: &'static str) -> impl Fn(In<'a>) -> PResult<'a, Span> {
    move |i: In<'a>| {
        let (i, _) = ws(i)?;
        let start = i;
        let r: PResult<In> = tag(word).parse(i);
        match r {
            Ok((rest, _)) if !rest.fragment().starts_with(is_ident_char) => {
                Ok((rest, span_from(&start, &rest)))
            }
            _ => error(PError::at(&start, what)),
        }
    }
}

/// rule: ident
fn ident(i: In) -> PResult<Ident> {
    let (i, _) = ws(i)?;
    let start = i;
    let r: PResult<In> =
        recognize((take_while1(is_ident_start), take_while(is_ident_char))).parse(i);
    let (rest, text) = match r {
        Ok(ok) => ok,
        Err(_) => return error(PError::at(&start, "an identifier")),
    };
    if KEYWORDS.contains(text.fragment()) {
        return error(PError::at(&start, "an identifier"));
    }
    record(&start, "ident");
    Ok((
        rest,
        Ident {
            name: text.fragment().to_string(),
            span: span_from(&start, &rest),
        },
    ))
}

/// rule: keyword
///
/// A keyword read as a plain name (labels only).
fn keyword_as_name(i: In) -> PResult<Ident> {
    let (i, _) = ws(i)?;
    let start = i;
    let (rest, text) = take_while1(is_ident_char).parse(i)?;
    if !KEYWORDS.contains(text.fragment()) {
        return error(PError::at(&start, "an identifier"));
    }
    record(&start, "keyword");
    Ok((
        rest,
        Ident {
            name: text.fragment().to_string(),
            span: span_from(&start, &rest),
        },
    ))
}

/// rule: int, float, exponent
fn number(i: In) -> PResult<Expr> {
    let (i, _) = ws(i)?;
    let start = i;
    let digits =
        |i| recognize((digit1, take_while(|c: char| c.is_ascii_digit() || c == '_'))).parse(i);
    let exponent = |i| recognize((one_of("eE"), opt(one_of("+-")), digit1)).parse(i);
    let r: PResult<In> = recognize((
        digits,
        alt((
            recognize((char('.'), digit1, opt(exponent))),
            exponent,
            tag(""),
        )),
    ))
    .parse(i);
    let (rest, text) = match r {
        Ok(ok) => ok,
        Err(_) => return error(PError::at(&start, "a number")),
    };
    if rest.fragment().starts_with(is_ident_char) {
        return Err(nom::Err::Failure(PError::custom(
            rest.location_offset(),
            "invalid number literal",
            Some("put a space or operator between a number and a name".into()),
        )));
    }
    let span = span_from(&start, &rest);
    let t = text.fragment().replace('_', "");
    let kind = if t.contains(['.', 'e', 'E']) {
        record(&start, "float");
        if t.contains(['e', 'E']) {
            record(&start, "exponent");
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => ExprKind::Float(v),
            _ => {
                return Err(nom::Err::Failure(PError::custom(
                    start.location_offset(),
                    "floating-point literal out of range",
                    None,
                )));
            }
        }
    } else {
        record(&start, "int");
        match t.parse::<i64>() {
            Ok(v) => ExprKind::Int(v),
            Err(_) => {
                return Err(nom::Err::Failure(PError::custom(
                    start.location_offset(),
                    "integer literal too large",
                    Some(format!("integers must be at most {}", i64::MAX)),
                )));
            }
        }
    };
    Ok((rest, Expr { kind, span }))
}

/// rule: string
fn string(i: In) -> PResult<(String, Span)> {
    let (i, _) = ws(i)?;
    let start = i;
    let (i, _) = match char::<In, PError>('"').parse(i) {
        Ok(ok) => ok,
        Err(_) => return error(PError::at(&start, "a string")),
    };
    let (i, body) = take_while(|c: char| c != '"' && c != '\n').parse(i)?;
    match char::<In, PError>('"').parse(i) {
        Ok((rest, _)) => {
            record(&start, "string");
            Ok((
                rest,
                (body.fragment().to_string(), span_from(&start, &rest)),
            ))
        }
        Err(_) => Err(nom::Err::Failure(PError::custom(
            start.location_offset(),
            "unterminated string",
            Some("close the string with `\"` on the same line".into()),
        ))),
    }
}

// ----------------------------------------------------------------------------
// Items

/// rule: file
///
/// Parses a whole file, recovering at the next top-level keyword after an
/// error so that every syntax error of the file is reported in one run.
pub fn parse_module(file: FileId, text: &str) -> (Module, Vec<SyntaxError>) {
    let state = State {
        file,
        depth: Cell::new(0),
        blank: Cell::new((usize::MAX, 0, false)),
        #[cfg(test)]
        hits: Default::default(),
    };
    let r = parse_with_state(&state, text);
    #[cfg(test)]
    super::coverage::record_hits(&state.hits.borrow());
    r
}

fn parse_with_state(state: &State, text: &str) -> (Module, Vec<SyntaxError>) {
    let mut input = LocatedSpan::new_extra(text, state);
    let mut module = Module::default();
    let mut errors = Vec::new();
    record(&input, "file");
    while let Ok((i, _)) = ws(input) {
        input = i;
        if input.fragment().is_empty() {
            break;
        }
        match item(input) {
            Ok((rest, it)) => {
                module.items.push(it);
                input = rest;
            }
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
                errors.push(to_syntax_error(state.file, text, e));
                state.depth.set(0);
                input = resync(input);
            }
            Err(nom::Err::Incomplete(_)) => break,
        }
        if errors.len() >= 50 {
            break;
        }
    }
    (module, errors)
}

/// Skips to the start of the next line that begins with an item keyword.
fn resync(input: In) -> In {
    let text = *input.fragment();
    let mut offset = 0;
    let mut first = true;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let starts_item = ["block", "model", "import"]
            .iter()
            .any(|k| trimmed.starts_with(k) && !trimmed[k.len()..].starts_with(is_ident_char));
        if !first && starts_item {
            break;
        }
        first = false;
        offset += line.len();
    }
    input.take_from(offset)
}

fn to_syntax_error(file: FileId, text: &str, e: PError) -> SyntaxError {
    let offset = e.offset.min(text.len());
    let found = describe_token(&text[offset..]);
    let len = if offset >= text.len() {
        0
    } else {
        token_len(&text[offset..])
    };
    let span = Span::new(file, offset, offset + len);
    if let Some(message) = e.message {
        return SyntaxError::Invalid {
            message,
            hint: e.hint,
            span,
        };
    }
    let mut expected = e.expected;
    expected.dedup();
    SyntaxError::Unexpected {
        expected: expected.iter().map(|s| s.to_string()).collect(),
        found,
        span,
        hint: e.hint.or_else(|| hint_for(&expected, &text[offset..])),
    }
}

fn hint_for(expected: &[&str], rest: &str) -> Option<String> {
    let next = rest.chars().next();
    if expected.contains(&"`}`") && next.is_none() {
        return Some("a `{` is not closed: add the matching `}`".into());
    }
    if expected.contains(&"`)`") && next.is_none() {
        return Some("a `(` is not closed: add the matching `)`".into());
    }
    if next == Some(';') {
        return Some("statements are separated by new lines; remove the `;`".into());
    }
    if expected.contains(&"an item (`block`, `model` or `import`)") {
        return Some(
            "only `block`, `model` and `import` may appear at the top level of a file".into(),
        );
    }
    None
}

fn token_len(rest: &str) -> usize {
    let mut chars = rest.char_indices();
    match chars.next() {
        None => 0,
        Some((_, c)) if is_ident_char(c) => {
            rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len())
        }
        Some((_, c)) => c.len_utf8(),
    }
}

fn describe_token(rest: &str) -> String {
    let len = token_len(rest);
    if len == 0 {
        "end of file".into()
    } else {
        let t = &rest[..len];
        if t.chars().all(|c| c.is_whitespace()) {
            "white space".into()
        } else {
            format!("`{}`", t.escape_debug())
        }
    }
}

/// rule: item
fn item(i: In) -> PResult<Item> {
    let r = alt((
        |i| import(i).map(|(i, v)| (i, Item::Import(v))),
        |i| block_def(i).map(|(i, v)| (i, Item::Block(v))),
        |i| model_def(i).map(|(i, v)| (i, Item::Model(v))),
    ))
    .parse(i);
    match r {
        Err(nom::Err::Error(e)) if e.offset <= ws(i)?.0.location_offset() => {
            let (at, _) = ws(i)?;
            let mut e = PError::at(&at, "an item (`block`, `model` or `import`)");
            e.committed = true;
            Err(nom::Err::Failure(e))
        }
        Ok((rest, v)) => {
            record(&i, "item");
            Ok((rest, v))
        }
        other => other,
    }
}

/// rule: import
fn import(i: In) -> PResult<Import> {
    let (i, kw_span) = kw("import", "`import`")(i)?;
    let (i, (path, path_span)) = cut(string(i))?;
    record(&i, "import");
    Ok((
        i,
        Import {
            path,
            span: kw_span.to(path_span),
        },
    ))
}

/// rule: block_def
fn block_def(i: In) -> PResult<BlockDef> {
    let (i, kw_span) = kw("block", "`block`")(i)?;
    let (i, name) = cut(ident(i))?;
    let (i, params) = cut(param_list(i))?;
    let header = kw_span.to(span_from(&i, &i));
    let (i, body) = cut(body(i))?;
    record(&i, "block_def");
    Ok((
        i,
        BlockDef {
            name,
            params,
            body,
            header: Span {
                end: header.end,
                ..kw_span
            },
        },
    ))
}

/// rule: model_def
fn model_def(i: In) -> PResult<ModelDef> {
    let (i, kw_span) = kw("model", "`model`")(i)?;
    let (i, name) = cut(ident(i))?;
    if let Ok((i, _)) = sym("=", "`=`")(i) {
        // rule: model_alias
        let (i, target) = cut(ident(i))?;
        let (i, args) = cut(arg_list(i))?;
        record(&i, "model_alias");
        record(&i, "model_def");
        let header = kw_span.to(span_from(&i, &i));
        return Ok((
            i,
            ModelDef {
                name,
                kind: ModelKind::Alias { target, args },
                header: Span {
                    end: header.end,
                    ..kw_span
                },
            },
        ));
    }
    let (i, params) = match param_list(i) {
        Ok((i, p)) => (i, p),
        Err(nom::Err::Error(e)) => {
            if sym("{", "`{`")(i).is_err() {
                let at = ws(i)?.0;
                let mut e = e.or(PError::at(&at, "`=`")).or(PError::at(&at, "`{`"));
                e.committed = true;
                return Err(nom::Err::Failure(e));
            }
            (i, Vec::new())
        }
        Err(e) => return Err(e),
    };
    let header = kw_span.to(span_from(&i, &i));
    let (i, body) = cut(body(i))?;
    record(&i, "model_def");
    Ok((
        i,
        ModelDef {
            name,
            kind: ModelKind::Body { params, body },
            header: Span {
                end: header.end,
                ..kw_span
            },
        },
    ))
}

/// rule: param_list
fn param_list(i: In) -> PResult<Vec<Param>> {
    let (mut i, _) = sym("(", "`(`")(i)?;
    let mut params = Vec::new();
    loop {
        if let Ok((rest, _)) = sym(")", "`)`")(i) {
            record(&i, "param_list");
            return Ok((rest, params));
        }
        // rule: param
        let (rest, name) = cut(ident(i)
            .map_err(|e| e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`)`")))))?;
        let (rest, default) = match sym("=", "`=`")(rest) {
            Ok((rest, _)) => {
                let (rest, e) = cut(expr(rest))?;
                (rest, Some(e))
            }
            Err(_) => (rest, None),
        };
        record(&i, "param");
        params.push(Param { name, default });
        i = rest;
        match sym(",", "`,`")(i) {
            Ok((rest, _)) => i = rest,
            Err(_) => {
                let (rest, _) = cut(sym(")", "`)`")(i).map_err(|e| {
                    e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`,`")))
                }))?;
                record(&i, "param_list");
                return Ok((rest, params));
            }
        }
    }
}

/// rule: body
fn body(i: In) -> PResult<Body> {
    let (i, b) = braced_stmts(i)?;
    record(&i, "body");
    Ok((i, b))
}

/// rule: block_expr
fn block_expr(i: In) -> PResult<Body> {
    let (i, b) = braced_stmts(i)?;
    record(&i, "block_expr");
    Ok((i, b))
}

fn braced_stmts(i: In) -> PResult<Body> {
    let (i, _) = ws(i)?;
    let start = i;
    let (mut i, _) = sym("{", "`{`")(i)?;
    let mut stmts = Vec::new();
    loop {
        if let Ok((rest, _)) = sym("}", "`}`")(i) {
            return Ok((
                rest,
                Body {
                    stmts,
                    span: span_from(&start, &rest),
                },
            ));
        }
        let (rest, s) = cut(stmt(i)
            .map_err(|e| e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`}`")))))?;
        stmts.push(s);
        i = rest;
    }
}

/// rule: stmt
fn stmt(i: In) -> PResult<Stmt> {
    let r = alt((input_decl, output_decl, assign, |i| {
        expr(i).map(|(i, e)| (i, Stmt::Expr(e)))
    }))
    .parse(i);
    if r.is_ok() {
        record(&i, "stmt");
    }
    r
}

/// rule: input_decl
fn input_decl(i: In) -> PResult<Stmt> {
    let (i, kw_span) = kw("input", "`input`")(i)?;
    let (i, name) = cut(ident(i))?;
    let (i, shape) = match sym(":", "`:`")(i) {
        Ok((i, _)) => {
            let (i, s) = cut(shape(i))?;
            (i, Some(s))
        }
        Err(_) => (i, None),
    };
    record(&i, "input_decl");
    let span = kw_span.to(span_from(&i, &i));
    Ok((
        i,
        Stmt::Input {
            name,
            shape,
            span: Span {
                end: span.end,
                ..kw_span
            },
        },
    ))
}

/// rule: shape
fn shape(i: In) -> PResult<Vec<Expr>> {
    let (mut i, _) = sym("[", "`[`")(i)?;
    let mut dims = Vec::new();
    loop {
        let close = if dims.is_empty() {
            None
        } else {
            sym("]", "`]`")(i).ok()
        };
        if let Some((rest, _)) = close {
            record(&i, "shape");
            return Ok((rest, dims));
        }
        let (rest, e) = cut(expr(i))?;
        dims.push(e);
        i = rest;
        match sym(",", "`,`")(i) {
            Ok((rest, _)) => i = rest,
            Err(_) => {
                let (rest, _) = cut(sym("]", "`]`")(i).map_err(|e| {
                    e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`,`")))
                }))?;
                record(&i, "shape");
                return Ok((rest, dims));
            }
        }
    }
}

/// rule: output_decl
fn output_decl(i: In) -> PResult<Stmt> {
    let (i, kw_span) = kw("output", "`output`")(i)?;
    let (mut i, first) = cut(ident(i))?;
    let mut names = vec![first];
    while let Ok((rest, _)) = sym(",", "`,`")(i) {
        let (rest, n) = cut(ident(rest))?;
        names.push(n);
        i = rest;
    }
    record(&i, "output_decl");
    let end = names.last().map_or(kw_span.end, |n| n.span.end);
    Ok((
        i,
        Stmt::Output {
            names,
            span: Span { end, ..kw_span },
        },
    ))
}

/// rule: assign
fn assign(i: In) -> PResult<Stmt> {
    let (i, name) = ident(i)?;
    let (i, _) = sym("=", "`=`")(i)?;
    let (i, value) = cut(expr(i))?;
    record(&i, "assign");
    Ok((i, Stmt::Assign { name, value }))
}

// ----------------------------------------------------------------------------
// Expressions

/// Runs one level of the parser's recursion on a stack with room for it.
///
/// [`MAX_NESTING`] bounds the depth, but not the bytes a level takes: an
/// unoptimised build (a `build.rs` dependency, `cargo test`) spends tens of
/// kilobytes of stack per nesting level, more than a 2 MiB thread has for 64
/// levels. With less than the red zone left, the rest of the parse continues
/// on a new heap-allocated segment.
fn with_stack<T>(parse: impl FnOnce() -> T) -> T {
    const RED_ZONE: usize = 256 * 1024;
    const SEGMENT: usize = 4 * 1024 * 1024;
    stacker::maybe_grow(RED_ZONE, SEGMENT, parse)
}

/// rule: expr
pub(crate) fn expr(i: In) -> PResult<Expr> {
    with_stack(|| expr_unguarded(i))
}

fn expr_unguarded(i: In) -> PResult<Expr> {
    let _guard = DepthGuard::enter(&ws(i)?.0)?;
    let (mut i, first) = or_expr(i)?;
    let mut stages = Vec::new();
    while let Ok((rest, _)) = sym("->", "`->`")(i) {
        let (rest, s) = cut(stage(rest))?;
        stages.push(s);
        i = rest;
    }
    record(&i, "expr");
    if stages.is_empty() {
        return Ok((i, first));
    }
    let span = first
        .span
        .to(stages.last().map_or(first.span, |s| s.expr.span));
    Ok((
        i,
        Expr {
            kind: ExprKind::Pipe {
                input: Box::new(first),
                stages,
            },
            span,
        },
    ))
}

/// rule: label
fn label(i: In) -> PResult<Ident> {
    // A numeric name (`0: [conv(...), bn]`) names a branch as PyTorch names
    // the items of a `ModuleList`; only stages and list items take one.
    let numeric = |i| -> PResult<Ident> {
        let (i, _) = ws(i)?;
        let start = i;
        let (rest, text) = digit1(i)?;
        Ok((
            rest,
            Ident {
                name: text.fragment().to_string(),
                span: span_from(&start, &rest),
            },
        ))
    };
    let (i, name) = match numeric(i) {
        Ok(ok) => ok,
        Err(_) => return name_label(i),
    };
    let (i, _) = sym(":", "`:`")(i)?;
    record(&i, "label");
    Ok((i, name))
}

/// A name and `:`: a label or a keyword argument's name.
fn name_label(i: In) -> PResult<Ident> {
    // Keywords are allowed as labels (`block: ...`, as PyTorch modules are often named).
    let (i, name) = match ident(i) {
        Ok(ok) => ok,
        Err(e) => keyword_as_name(i).map_err(|_| e)?,
    };
    let (i, _) = sym(":", "`:`")(i)?;
    record(&i, "label");
    Ok((i, name))
}

/// rule: stage
fn stage(i: In) -> PResult<Stage> {
    let (i, label) = opt(label).parse(i)?;
    let (i, expr) = if label.is_some() {
        cut(or_expr(i))?
    } else {
        or_expr(i)?
    };
    record(&i, "stage");
    Ok((i, Stage { label, expr }))
}

fn binary(op: BinaryOp, op_span: Span, lhs: Expr, rhs: Expr) -> Expr {
    Expr {
        span: lhs.span.to(rhs.span),
        kind: ExprKind::Binary {
            op,
            op_span,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
    }
}

/// A binary operator token of one precedence level.
struct OpToken {
    text: &'static str,
    what: &'static str,
    op: BinaryOp,
    keyword: bool,
}

const fn op(text: &'static str, what: &'static str, op: BinaryOp, keyword: bool) -> OpToken {
    OpToken {
        text,
        what,
        op,
        keyword,
    }
}

/// One left-associative precedence level: `operand { op operand }`.
fn left_assoc<'a>(
    i: In<'a>,
    rule: &'static str,
    operand: fn(In<'a>) -> PResult<'a, Expr>,
    ops: &[OpToken],
) -> PResult<'a, Expr> {
    let (mut i, mut lhs) = operand(i)?;
    let mut chain = Chain::default();
    'chain: loop {
        for t in ops {
            let matched = if t.keyword {
                kw(t.text, t.what)(i)
            } else {
                sym(t.text, t.what)(i)
            };
            if let Ok((rest, op_span)) = matched {
                let (rest, rhs) = cut(operand(rest))?;
                chain.grow(&rest, op_span.start as usize, &lhs, [&rhs])?;
                lhs = binary(t.op, op_span, lhs, rhs);
                i = rest;
                continue 'chain;
            }
        }
        break;
    }
    record(&i, rule);
    Ok((i, lhs))
}

/// rule: or_expr
fn or_expr(i: In) -> PResult<Expr> {
    left_assoc(
        i,
        "or_expr",
        and_expr,
        &[op("or", "`or`", BinaryOp::Or, true)],
    )
}

/// rule: and_expr
fn and_expr(i: In) -> PResult<Expr> {
    left_assoc(
        i,
        "and_expr",
        not_expr,
        &[op("and", "`and`", BinaryOp::And, true)],
    )
}

/// rule: not_expr
fn not_expr(i: In) -> PResult<Expr> {
    if let Ok((rest, op_span)) = kw("not", "`not`")(i) {
        let _guard = DepthGuard::enter(&rest)?;
        let (rest, operand) = cut(with_stack(|| not_expr(rest)))?;
        record(&i, "not_expr");
        return Ok((
            rest,
            Expr {
                span: op_span.to(operand.span),
                kind: ExprKind::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(operand),
                },
            },
        ));
    }
    let r = comparison(i)?;
    record(&i, "not_expr");
    Ok(r)
}

/// rule: compare_op
fn compare_op(i: In) -> PResult<(BinaryOp, Span)> {
    let ops = [
        ("==", BinaryOp::Eq),
        ("!=", BinaryOp::Ne),
        ("<=", BinaryOp::Le),
        (">=", BinaryOp::Ge),
        ("<", BinaryOp::Lt),
        (">", BinaryOp::Gt),
    ];
    for (s, op) in ops {
        if let Ok((rest, span)) = sym(s, "a comparison")(i) {
            record(&i, "compare_op");
            return Ok((rest, (op, span)));
        }
    }
    error(PError::at(&ws(i)?.0, "a comparison"))
}

/// rule: comparison
fn comparison(i: In) -> PResult<Expr> {
    let (i, lhs) = sum(i)?;
    record(&i, "comparison");
    match compare_op(i) {
        Ok((rest, (op, op_span))) => {
            let (rest, rhs) = cut(sum(rest))?;
            Chain::default().grow(&rest, op_span.start as usize, &lhs, [&rhs])?;
            Ok((rest, binary(op, op_span, lhs, rhs)))
        }
        Err(_) => Ok((i, lhs)),
    }
}

/// rule: sum
fn sum(i: In) -> PResult<Expr> {
    left_assoc(
        i,
        "sum",
        product,
        &[
            op("+", "`+`", BinaryOp::Add, false),
            op("-", "`-`", BinaryOp::Sub, false),
        ],
    )
}

/// rule: product
fn product(i: In) -> PResult<Expr> {
    left_assoc(
        i,
        "product",
        unary,
        &[
            op("*", "`*`", BinaryOp::Mul, false),
            op("/", "`/`", BinaryOp::Div, false),
            op("%", "`%`", BinaryOp::Rem, false),
        ],
    )
}

/// rule: unary
fn unary(i: In) -> PResult<Expr> {
    if let Ok((rest, op_span)) = sym("-", "`-`")(i) {
        let _guard = DepthGuard::enter(&rest)?;
        let (rest, operand) = cut(with_stack(|| unary(rest)))?;
        record(&i, "unary");
        return Ok((
            rest,
            Expr {
                span: op_span.to(operand.span),
                kind: ExprKind::Unary {
                    op: UnaryOp::Neg,
                    operand: Box::new(operand),
                },
            },
        ));
    }
    let r = postfix(i)?;
    record(&i, "unary");
    Ok(r)
}

/// rule: postfix
///
/// A call's `(` and an index's `[` must be on the same line as what precedes
/// them, so that a statement starting with `(` or `[` is never read as a call.
fn postfix(i: In) -> PResult<Expr> {
    let (mut i, mut e) = primary(i)?;
    let mut chain = Chain::default();
    loop {
        let (_, newline) = ws(i)?;
        if newline {
            break;
        }
        // Each of `arg_list` and `index` is tried once: retrying one to see
        // whether it failed for good would make nested calls exponential.
        // A committed error inside the argument list or index must surface.
        match arg_list(i) {
            Ok((rest, args)) => {
                let at = ws(i)?.0.location_offset();
                chain.grow(&rest, at, &e, args.iter().map(|a| &a.value))?;
                e = Expr {
                    span: e.span.to(span_from(&rest, &rest)),
                    kind: ExprKind::Call {
                        callee: Box::new(e),
                        args,
                    },
                };
                let end = rest.location_offset() as u32;
                e.span.end = end;
                i = rest;
                continue;
            }
            Err(f @ nom::Err::Failure(_)) => return Err(f),
            Err(_) => {}
        }
        match index(i) {
            Ok((rest, idx)) => {
                let at = ws(i)?.0.location_offset();
                chain.grow(&rest, at, &e, [&idx])?;
                let end = rest.location_offset() as u32;
                e = Expr {
                    span: Span { end, ..e.span },
                    kind: ExprKind::Index {
                        base: Box::new(e),
                        index: Box::new(idx),
                    },
                };
                i = rest;
            }
            Err(f @ nom::Err::Failure(_)) => return Err(f),
            Err(_) => break,
        }
    }
    record(&i, "postfix");
    Ok((i, e))
}

/// rule: arg_list
fn arg_list(i: In) -> PResult<Vec<Arg>> {
    let (mut i, _) = sym("(", "`(`")(i)?;
    let _guard = DepthGuard::enter(&i)?;
    let mut args = Vec::new();
    loop {
        if let Ok((rest, _)) = sym(")", "`)`")(i) {
            record(&i, "arg_list");
            return Ok((rest, args));
        }
        let (rest, a) = cut(arg(i)
            .map_err(|e| e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`)`")))))?;
        args.push(a);
        i = rest;
        match sym(",", "`,`")(i) {
            Ok((rest, _)) => i = rest,
            Err(_) => {
                let (rest, _) = cut(sym(")", "`)`")(i).map_err(|e| {
                    e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`,`")))
                }))?;
                record(&i, "arg_list");
                return Ok((rest, args));
            }
        }
    }
}

/// rule: arg
fn arg(i: In) -> PResult<Arg> {
    let (i, name) = opt(name_label).parse(i)?;
    let (i, value) = if name.is_some() {
        cut(expr(i))?
    } else {
        expr(i)?
    };
    record(&i, "arg");
    Ok((i, Arg { name, value }))
}

/// rule: index
fn index(i: In) -> PResult<Expr> {
    let (i, _) = sym("[", "`[`")(i)?;
    let (i, e) = cut(expr(i))?;
    let (i, _) = cut(sym("]", "`]`")(i))?;
    record(&i, "index");
    Ok((i, e))
}

/// rule: primary, bool
fn primary(i: In) -> PResult<Expr> {
    let (i, _) = ws(i)?;
    let start = i;
    let r = alt((
        number,
        |i| {
            let (i, s) = kw("true", "`true`")(i)?;
            record(&i, "bool");
            Ok((
                i,
                Expr {
                    kind: ExprKind::Bool(true),
                    span: s,
                },
            ))
        },
        |i| {
            let (i, s) = kw("false", "`false`")(i)?;
            record(&i, "bool");
            Ok((
                i,
                Expr {
                    kind: ExprKind::Bool(false),
                    span: s,
                },
            ))
        },
        |i| {
            string(i).map(|(i, (s, span))| {
                (
                    i,
                    Expr {
                        kind: ExprKind::Str(s),
                        span,
                    },
                )
            })
        },
        if_expr,
        list,
        paren,
        |i| {
            ident(i).map(|(i, id)| {
                (
                    i,
                    Expr {
                        kind: ExprKind::Name(id.name),
                        span: id.span,
                    },
                )
            })
        },
    ))
    .parse(i);
    match r {
        Ok(ok) => {
            record(&start, "primary");
            Ok(ok)
        }
        Err(nom::Err::Error(e)) if e.offset <= start.location_offset() => {
            error(PError::at(&start, "an expression"))
        }
        Err(e) => Err(e),
    }
}

/// rule: paren
fn paren(i: In) -> PResult<Expr> {
    let (i, open) = sym("(", "`(`")(i)?;
    let (i, mut e) = cut(expr(i))?;
    let (i, close) = cut(sym(")", "`)`")(i))?;
    record(&i, "paren");
    e.span = open.to(close);
    Ok((i, e))
}

/// rule: list
fn list(i: In) -> PResult<Expr> {
    let (mut i, open) = sym("[", "`[`")(i)?;
    let _guard = DepthGuard::enter(&i)?;
    let mut items = Vec::new();
    loop {
        if let Ok((rest, close)) = sym("]", "`]`")(i) {
            record(&i, "list");
            return Ok((
                rest,
                Expr {
                    kind: ExprKind::List(items),
                    span: open.to(close),
                },
            ));
        }
        // rule: list_item
        let (rest, label) = opt(label).parse(i)?;
        let (rest, value) = cut(expr(rest)
            .map_err(|e| e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`]`")))))?;
        record(&i, "list_item");
        items.push(ListItem { label, value });
        i = rest;
        match sym(",", "`,`")(i) {
            Ok((rest, _)) => i = rest,
            Err(_) => {
                let (rest, close) = cut(sym("]", "`]`")(i).map_err(|e| {
                    e.map(|e| e.or(PError::at(&ws(i).map(|x| x.0).unwrap_or(i), "`,`")))
                }))?;
                record(&i, "list");
                return Ok((
                    rest,
                    Expr {
                        kind: ExprKind::List(items),
                        span: open.to(close),
                    },
                ));
            }
        }
    }
}

/// rule: if_expr
fn if_expr(i: In) -> PResult<Expr> {
    let (i, if_span) = kw("if", "`if`")(i)?;
    let _guard = DepthGuard::enter(&i)?;
    let (i, cond) = cut(expr(i))?;
    let (i, then) = cut(block_expr(i))?;
    let (i, _) = cut(kw("else", "`else`")(i).map_err(|e| {
        e.map(|mut e| {
            e.hint = Some("a compile-time `if` needs an `else` branch (write `else { x }` to pass the input through)".into());
            e
        })
    }))?;
    let (i, otherwise) = match if_expr(i) {
        Ok((i, nested)) => {
            let span = nested.span;
            (
                i,
                Body {
                    stmts: vec![Stmt::Expr(nested)],
                    span,
                },
            )
        }
        Err(nom::Err::Error(_)) => cut(block_expr(i))?,
        Err(e) => return Err(e),
    };
    record(&i, "if_expr");
    let span = if_span.to(otherwise.span);
    Ok((
        i,
        Expr {
            kind: ExprKind::If {
                cond: Box::new(cond),
                then,
                otherwise,
            },
            span,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> Module {
        let (m, errs) = parse_module(FileId(0), src);
        assert!(errs.is_empty(), "{errs:?}");
        m
    }

    #[test]
    fn parses_a_residual_block() {
        let m = parse_ok(
            "block basic(planes, stride = 1) {\n  input x\n  out = x -> c1: conv(planes, 3, stride: stride) -> relu\n  relu(out + x)\n}\n",
        );
        assert_eq!(m.items.len(), 1);
    }

    #[test]
    fn call_paren_on_next_line_is_a_new_statement() {
        let m = parse_ok("model m {\n input x: [3, 8, 8]\n y = x -> relu\n (y)\n}\n");
        let Item::Model(ModelDef {
            kind: ModelKind::Body { body, .. },
            ..
        }) = &m.items[0]
        else {
            panic!()
        };
        assert_eq!(body.stmts.len(), 3);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!(
            "model m {{ {}1{} }}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        let (_, errs) = parse_module(FileId(0), &src);
        assert_eq!(errs.len(), 1);
        assert!(format!("{:?}", errs[0]).contains("nested"), "{errs:?}");
    }

    #[test]
    fn reports_errors_in_several_items() {
        let (_, errs) = parse_module(FileId(0), "block a( {\n}\nmodel b { x -> }\nmodel c { }\n");
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
