//! Elaboration: evaluating a model's body at compile time into a flat graph.
//!
//! Blocks are instantiated (parameters bound, `if`s decided, repetitions
//! unrolled), every op is built through the op table, and every shape rule is
//! checked as the node is created. Errors do not stop elaboration: a failed
//! expression yields [`Value::Poison`], which silently propagates, so one run
//! reports every independent error.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::error::{CheckError, CheckErrorKind as K, Frame};
use super::shapes::{MAX_ELEMENTS, bind, broadcast, build_op, validate_args};
use super::value::{CallArg, PadKeyword, SeqItem, Stage, Value};
use super::{Globals, builtins, hints};
use crate::ir::{
    Input, Instance, InstanceArg, InstanceId, Node, NodeId, Op, OpKind, Output, Param, Sequence,
    SequenceId, SequenceItem, Shape, TensorBinding,
};
use crate::span::Span;
use crate::syntax::ast::{
    Arg, BinaryOp, Body, Expr, ExprKind, Ident, ModelKind, Param as AstParam, Stmt, UnaryOp,
};

/// How deeply blocks may instantiate blocks.
const MAX_INSTANCE_DEPTH: usize = 64;
/// How long a repetition may be.
const MAX_REPEAT: i64 = 10_000;
/// How many layers one sequence may hold once repetitions are unrolled.
const MAX_SEQUENCE: usize = 100_000;
/// How many errors one run reports before giving up.
const MAX_ERRORS: usize = 100;
/// How many nodes a graph may have.
const MAX_NODES: usize = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BindKind {
    Param,
    Local,
    Input,
}

#[derive(Debug)]
struct Binding {
    value: Value,
    span: Span,
    used: bool,
    kind: BindKind,
}

/// Lexical environment: a stack of scopes.
#[derive(Default)]
pub(crate) struct Env {
    scopes: Vec<HashMap<String, Binding>>,
}

/// Marks every name a branch not taken mentions as used: a parameter used
/// only there is still used by the body (no W0002 for it).
fn mention_body(env: &mut Env, body: &Body) {
    for stmt in &body.stmts {
        match stmt {
            Stmt::Input { shape, .. } => {
                for e in shape.iter().flatten() {
                    mention(env, e);
                }
            }
            Stmt::Output { names, .. } => {
                for n in names {
                    env.lookup(&n.name);
                }
            }
            Stmt::Assign { value, .. } | Stmt::Expr(value) => mention(env, value),
        }
    }
}

/// [`mention_body`] for one expression.
fn mention(env: &mut Env, e: &Expr) {
    match &e.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => {}
        ExprKind::Name(n) => {
            env.lookup(n);
        }
        ExprKind::List(items) => {
            for it in items {
                mention(env, &it.value);
            }
        }
        ExprKind::Call { callee, args } => {
            mention(env, callee);
            for a in args {
                mention(env, &a.value);
            }
        }
        ExprKind::Index { base, index } => {
            mention(env, base);
            mention(env, index);
        }
        ExprKind::Unary { operand, .. } => mention(env, operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            mention(env, lhs);
            mention(env, rhs);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            mention(env, cond);
            mention_body(env, then);
            mention_body(env, otherwise);
        }
        ExprKind::Pipe { input, stages } => {
            mention(env, input);
            for st in stages {
                mention(env, &st.expr);
            }
        }
    }
}

impl Env {
    fn new() -> Self {
        Env {
            scopes: vec![HashMap::new()],
        }
    }

    fn bind(&mut self, name: &str, value: Value, span: Span, kind: BindKind) -> Option<Binding> {
        let scope = self.scopes.last_mut()?;
        scope.insert(
            name.to_string(),
            Binding {
                value,
                span,
                used: false,
                kind,
            },
        )
    }

    fn lookup(&mut self, name: &str) -> Option<Value> {
        for s in self.scopes.iter_mut().rev() {
            if let Some(b) = s.get_mut(name) {
                b.used = true;
                return Some(b.value.clone());
            }
        }
        None
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.scopes.iter().flat_map(|s| s.keys())
    }

    /// Where `name` is bound and how, without marking it used.
    fn binding(&self, name: &str) -> Option<(Span, BindKind)> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.get(name))
            .map(|b| (b.span, b.kind))
    }

    /// The name of the parameter (outermost scope) whose value is the integer `v`.
    fn param_with_value(&self, v: i64) -> Option<&str> {
        let mut found: Vec<&str> = self
            .scopes
            .first()?
            .iter()
            .filter(|(_, b)| {
                b.kind == BindKind::Param && matches!(b.value, Value::Int(i) if i == v)
            })
            .map(|(n, _)| n.as_str())
            .collect();
        found.sort_unstable();
        (found.len() == 1).then(|| found[0])
    }

    fn has_param(&self, name: &str) -> bool {
        self.scopes
            .first()
            .and_then(|s| s.get(name))
            .is_some_and(|b| b.kind == BindKind::Param)
    }
}

struct ActiveFrame {
    block: usize,
    frame: Frame,
    instance: InstanceId,
}

/// The state of one model's elaboration.
pub(crate) struct Elab<'p> {
    g: &'p Globals<'p>,
    pub nodes: Vec<Node>,
    pub instances: Vec<Instance>,
    pub sequences: Vec<Sequence>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    pub bindings: Vec<TensorBinding>,
    claimed: HashMap<String, Span>,
    auto: HashMap<String, usize>,
    pub errors: Vec<CheckError>,
    /// The integer arithmetic evaluated so far, for hints.
    arith: super::hints::Arithmetic,
    /// Errors not recorded because [`MAX_ERRORS`] were already.
    pub suppressed: usize,
    reported: HashSet<(crate::diag::Code, Span)>,
    stack: Vec<ActiveFrame>,
    scope: String,
    models_active: Vec<usize>,
    overrides: &'p [(Option<String>, Vec<usize>)],
}

/// `basic` from "block `basic`".
fn callee_name(callee: &str) -> &str {
    callee
        .trim_start_matches("block ")
        .trim_start_matches("model ")
        .trim_matches('`')
}

use crate::ir::join_name as join;

impl<'p> Elab<'p> {
    pub fn new(g: &'p Globals<'p>, overrides: &'p [(Option<String>, Vec<usize>)]) -> Self {
        Elab {
            g,
            nodes: Vec::new(),
            instances: Vec::new(),
            sequences: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            bindings: Vec::new(),
            claimed: HashMap::new(),
            auto: HashMap::new(),
            errors: Vec::new(),
            arith: Default::default(),
            suppressed: 0,
            reported: HashSet::new(),
            stack: Vec::new(),
            scope: String::new(),
            models_active: Vec::new(),
            overrides,
        }
    }

    /// Records an error with the current instantiation chain; one report per place.
    fn err(&mut self, mut e: CheckError) -> Value {
        if self.errors.len() >= MAX_ERRORS {
            self.suppressed += 1;
            return Value::Poison;
        }
        if self.reported.insert((e.kind.code(), e.span)) {
            e = self.arith.explain(e);
            e.chain = self.stack.iter().rev().map(|f| f.frame.clone()).collect();
            self.errors.push(e);
        }
        Value::Poison
    }

    fn shape(&self, id: NodeId) -> &Shape {
        &self.nodes[id.0 as usize].shape
    }

    // ------------------------------------------------------------------
    // Names

    fn claim(&mut self, name: String, span: Span) -> String {
        if let Some(first) = self.claimed.get(&name).copied() {
            self.err(
                CheckError::new(K::DuplicateName { name: name.clone() }, span)
                    .label("second layer with this name")
                    .with(first, "first layer with this name")
                    .help("give one of them a different label (`name: layer`)"),
            );
            return format!("{name}#{}", self.nodes.len());
        }
        self.claimed.insert(name.clone(), span);
        name
    }

    fn auto_name(&mut self, base: &str, span: Span) -> String {
        let key = join(&self.scope, base);
        let mut k = self.auto.get(&key).copied().unwrap_or(0);
        loop {
            let candidate = if k == 0 {
                key.clone()
            } else {
                format!("{key}_{k}")
            };
            k += 1;
            if !self.claimed.contains_key(&candidate) {
                self.auto.insert(key, k);
                self.claimed.insert(candidate.clone(), span);
                return candidate;
            }
        }
    }

    // ------------------------------------------------------------------
    // Nodes

    fn add_node(
        &mut self,
        name: String,
        op: Op,
        inputs: Vec<NodeId>,
        shape: Shape,
        span: Span,
    ) -> Value {
        if self.nodes.len() >= MAX_NODES {
            return self.err(CheckError::new(
                K::TooLarge {
                    what: format!("a model of more than {MAX_NODES} layers"),
                },
                span,
            ));
        }
        if shape.checked_elements().is_none_or(|e| e > MAX_ELEMENTS) {
            let what = if matches!(op, Op::Input) {
                format!("input `{name}` ({shape})")
            } else {
                format!("the output of `{}` ({shape})", op.name())
            };
            let count = shape
                .0
                .iter()
                .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
                .map_or_else(|| "more than 2^128".to_string(), |n| n.to_string());
            let dims: Vec<String> = shape.0.iter().map(usize::to_string).collect();
            return self.err(
                CheckError::new(K::TooLarge { what }, span)
                    .label(format!(
                        "{} = {count} elements per sample",
                        dims.join(" × ")
                    ))
                    .note(format!(
                        "a tensor may have at most 2^40 = {MAX_ELEMENTS} elements per sample"
                    )),
            );
        }
        let params: Vec<Param> = op
            .param_specs()
            .into_iter()
            .map(|p| Param {
                name: format!("{name}.{}", p.suffix),
                shape: p.shape,
                trainable: p.trainable,
                kind: p.kind,
            })
            .collect();
        if let Some(p) = params.iter().find(|p| {
            crate::ir::cost::product(p.shape.iter().copied()).is_none_or(|e| e > MAX_ELEMENTS)
        }) {
            return self.err(tensor_too_large(&op, p, span));
        }
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(Node {
            name,
            op,
            inputs,
            shape,
            params,
            instance: self.stack.last().map(|f| f.instance),
            span,
        });
        Value::Tensor(id)
    }

    // ------------------------------------------------------------------
    // Models

    /// Elaborates model `mi` with the given arguments (an alias's, or none).
    pub fn model(&mut self, mi: usize, args: &[CallArg], call: Span) {
        let def = self.g.models[mi].0;
        if self.models_active.contains(&mi) || self.models_active.len() > 16 {
            self.err(
                CheckError::new(
                    K::Recursion {
                        block: def.name.name.clone(),
                        cycle: "model aliases form a cycle".into(),
                    },
                    call,
                )
                .label("aliases itself"),
            );
            return;
        }
        self.models_active.push(mi);
        match &def.kind {
            ModelKind::Alias {
                target,
                args: alias_args,
            } => {
                let mut env = Env::new();
                let evaluated = self.eval_args(&mut env, alias_args);
                match self.g.model_index.get(&target.name) {
                    Some(&ti) => self.model(ti, &evaluated, target.span),
                    None => {
                        let e = self.undefined(&target.name, target.span, &env);
                        self.err(e);
                    }
                }
            }
            ModelKind::Body { params, body } => {
                if !body.stmts.iter().any(|s| matches!(s, Stmt::Input { .. })) {
                    // Without an input every use of the input's name would be
                    // reported as undefined: report the cause once instead.
                    self.err(
                        CheckError::new(
                            K::Body {
                                message: format!("model `{}` declares no input", def.name.name),
                            },
                            def.name.span,
                        )
                        .label("this model has no `input`")
                        .help("declare one at the top of the body: `input x: [3, 224, 224]` (channels, height, width; the batch is implicit)"),
                    );
                    self.models_active.pop();
                    return;
                }
                let mut env = Env::new();
                let callee = format!("model `{}`", def.name.name);
                if self.bind_params(&mut env, &callee, params, args, call, true) {
                    self.model_body(&mut env, body);
                    self.warn_unused(&mut env);
                }
            }
        }
        self.models_active.pop();
    }

    fn model_body(&mut self, env: &mut Env, body: &Body) {
        let mut last: Option<(Value, Span)> = None;
        let mut explicit_outputs = false;
        for stmt in &body.stmts {
            last = None;
            match stmt {
                Stmt::Input { name, shape, span } => {
                    self.model_input(env, name, shape.as_deref(), *span)
                }
                Stmt::Output { names, .. } => {
                    explicit_outputs = true;
                    for n in names {
                        match env.lookup(&n.name) {
                            Some(Value::Tensor(id)) => self.outputs.push(Output {
                                name: n.name.clone(),
                                node: id,
                            }),
                            Some(Value::Poison) => {}
                            Some(v) => {
                                self.err(
                                    CheckError::new(
                                        K::Type {
                                            expected: "a tensor to output".into(),
                                            found: v.describe(),
                                        },
                                        n.span,
                                    )
                                    .label("not a tensor"),
                                );
                            }
                            None => {
                                let e = self.undefined(&n.name, n.span, env);
                                self.err(e);
                            }
                        }
                    }
                }
                Stmt::Assign { name, value } => self.assign(env, name, value),
                Stmt::Expr(e) => {
                    let v = self.eval(env, e);
                    last = Some((v, e.span));
                }
            }
        }
        if !explicit_outputs {
            match last {
                Some((Value::Tensor(id), _)) => self.outputs.push(Output {
                    name: "output".into(),
                    node: id,
                }),
                Some((Value::Poison, _)) => {}
                Some((v, span)) => {
                    self.err(
                        CheckError::new(
                            K::Type {
                                expected: "a tensor as the model's result".into(),
                                found: v.describe(),
                            },
                            span,
                        )
                        .label("the model's last expression")
                        .help("apply it to a tensor: `x -> ...`"),
                    );
                }
                None => {
                    self.err(
                        CheckError::new(
                            K::NoResult {
                                message: "this model has no output".into(),
                            },
                            body.span,
                        )
                        .help("end the model with an expression such as `x -> ...`, or declare `output y`"),
                    );
                }
            }
        }
    }

    fn model_input(&mut self, env: &mut Env, name: &Ident, shape: Option<&[Expr]>, span: Span) {
        let Some(dims) = shape else {
            self.err(
                CheckError::new(
                    K::Body {
                        message: format!("model input `{}` needs a shape", name.name),
                    },
                    span,
                )
                .help(format!(
                    "write `input {}: [3, 224, 224]` (C, H, W)",
                    name.name
                )),
            );
            env.bind(&name.name, Value::Poison, name.span, BindKind::Input);
            return;
        };
        let mut shape = Vec::new();
        for d in dims {
            match self.eval(env, d) {
                Value::Int(v) if v > 0 && (v as u64) <= MAX_ELEMENTS => shape.push(v as usize),
                Value::Int(v) => {
                    self.err(
                        CheckError::new(
                            K::ArgValue {
                                op: "input".into(),
                                arg: "shape".into(),
                                message: format!("dimension {v} is not a positive size"),
                            },
                            d.span,
                        )
                        .label("must be between 1 and 2^40"),
                    );
                    shape.push(1);
                }
                Value::Poison => shape.push(1),
                v => {
                    self.err(CheckError::new(
                        K::Type {
                            expected: "an integer dimension".into(),
                            found: v.describe(),
                        },
                        d.span,
                    ));
                    shape.push(1);
                }
            }
        }
        let index = self.inputs.len();
        let over = self
            .overrides
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name.name.as_str()))
            .or_else(|| {
                self.overrides
                    .iter()
                    .filter(|(n, _)| n.is_none())
                    .nth(index)
            });
        if let Some((_, s)) = over {
            shape = s.clone();
        }
        let node_name = self.claim(name.name.clone(), name.span);
        let v = self.add_node(node_name, Op::Input, vec![], Shape(shape), span);
        if let Value::Tensor(id) = v {
            self.inputs.push(Input {
                name: name.name.clone(),
                node: id,
            });
        }
        self.record_binding(name.span, &v);
        if let Some(prev) = env.bind(&name.name, v, name.span, BindKind::Input) {
            self.err(
                CheckError::new(
                    K::Duplicate {
                        what: "input",
                        name: name.name.clone(),
                    },
                    name.span,
                )
                .with(prev.span, "first declared here"),
            );
        }
    }

    // ------------------------------------------------------------------
    // Parameters

    /// Binds `args` to `params` in `env`; reports and returns false on error.
    fn bind_params(
        &mut self,
        env: &mut Env,
        callee: &str,
        params: &[AstParam],
        args: &[CallArg],
        call: Span,
        is_model: bool,
    ) -> bool {
        let mut given: HashMap<&str, &CallArg> = HashMap::new();
        let mut positional = 0;
        let mut ok = true;
        let signature = || -> String {
            params
                .iter()
                .map(|p| {
                    if p.default.is_some() {
                        format!("{} = ...", p.name.name)
                    } else {
                        p.name.name.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Extra positional arguments are reported once, all underlined.
        let positionals: Vec<&CallArg> = args.iter().filter(|a| a.name.is_none()).collect();
        if positionals.len() > params.len() {
            let extra = &positionals[params.len()..];
            let span = extra[0].span.to(extra[extra.len() - 1].span);
            let n = extra.len();
            self.err(
                CheckError::new(
                    K::Arguments {
                        callee: callee.into(),
                        message: format!(
                            "{callee} takes {} parameter{}, but {} positional argument{} {} given",
                            params.len(),
                            if params.len() == 1 { "" } else { "s" },
                            positionals.len(),
                            if positionals.len() == 1 { "" } else { "s" },
                            if positionals.len() == 1 {
                                "was"
                            } else {
                                "were"
                            },
                        ),
                    },
                    span,
                )
                .label(if n == 1 {
                    "unexpected argument".to_string()
                } else {
                    format!("{n} unexpected arguments")
                })
                .note(format!(
                    "{callee} is declared as `{}({})`",
                    callee_name(callee),
                    signature()
                )),
            );
            ok = false;
        }
        for a in args {
            let target = match &a.name {
                Some(n) => match params.iter().find(|p| p.name.name == n.name) {
                    Some(p) => p,
                    None => {
                        let mut e = CheckError::new(
                            K::Arguments {
                                callee: callee.into(),
                                message: format!("{callee} has no parameter `{}`", n.name),
                            },
                            n.span,
                        )
                        .label("unknown parameter");
                        if let Some(s) =
                            super::suggest(&n.name, params.iter().map(|p| p.name.name.as_str()))
                        {
                            e = e.help(format!("did you mean `{s}`?"));
                        }
                        let list: Vec<&str> = params.iter().map(|p| p.name.name.as_str()).collect();
                        e = e.note(format!("{callee} takes: {}", list.join(", ")));
                        self.err(e);
                        ok = false;
                        continue;
                    }
                },
                None => match params.get(positional) {
                    Some(p) => {
                        positional += 1;
                        p
                    }
                    // Reported above.
                    None => continue,
                },
            };
            if let Some(first) = given.insert(target.name.name.as_str(), a) {
                self.err(
                    CheckError::new(
                        K::Arguments {
                            callee: callee.into(),
                            message: format!(
                                "parameter `{}` of {callee} is given twice",
                                target.name.name
                            ),
                        },
                        a.span,
                    )
                    .label("given again")
                    .with(first.span, "first given here"),
                );
                ok = false;
            }
        }
        let missing: Vec<&AstParam> = params
            .iter()
            .filter(|p| p.default.is_none() && !given.contains_key(p.name.name.as_str()))
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing
                .iter()
                .map(|p| format!("`{}`", p.name.name))
                .collect();
            let plural = if missing.len() == 1 { "" } else { "s" };
            let kind = if is_model {
                K::Model {
                    message: format!(
                        "{callee} needs a value for the parameter{plural} {}",
                        super::and_list(&names)
                    ),
                }
            } else {
                K::Arguments {
                    callee: callee.into(),
                    message: format!(
                        "{callee} is missing the argument{plural} {}",
                        super::and_list(&names)
                    ),
                }
            };
            let mut e =
                CheckError::new(kind, call).label(format!("{} missing", super::and_list(&names)));
            for p in &missing {
                e = e.with(p.name.span, "parameter declared here without a default");
            }
            let name = callee_name(callee);
            e = if is_model {
                let first = &missing[0].name.name;
                e.help(format!(
                    "give it a default (`{first} = ...`), or add `model m = {name}({first}: ...)` and compile it with `--model m`"
                ))
            } else {
                let required: Vec<&str> = params
                    .iter()
                    .filter(|p| p.default.is_none())
                    .map(|p| p.name.name.as_str())
                    .collect();
                e.help(format!(
                    "pass a value for every parameter without a default: `{name}({})`",
                    required.join(", ")
                ))
            };
            self.err(e);
            ok = false;
        }
        for p in params {
            let value = match given.get(p.name.name.as_str()) {
                Some(a) => {
                    self.arith.origin(p.name.span, a.span);
                    a.value.clone()
                }
                None => match &p.default {
                    Some(d) => {
                        self.arith.origin(p.name.span, d.span);
                        self.eval(env, d)
                    }
                    None => Value::Poison,
                },
            };
            if let Some(prev) = env.bind(&p.name.name, value, p.name.span, BindKind::Param)
                && prev.kind == BindKind::Param
            {
                self.err(
                    CheckError::new(
                        K::Duplicate {
                            what: "parameter",
                            name: p.name.name.clone(),
                        },
                        p.name.span,
                    )
                    .with(prev.span, "first declared here"),
                );
                ok = false;
            }
        }
        ok
    }

    fn warn_unused(&mut self, env: &mut Env) {
        let Some(scope) = env.scopes.last() else {
            return;
        };
        let mut unused: Vec<(&String, &Binding)> = scope
            .iter()
            .filter(|(n, b)| !b.used && !n.starts_with('_'))
            .collect();
        unused.sort_by_key(|(_, b)| (b.span.file, b.span.start));
        let mut warnings = Vec::new();
        for (name, b) in unused {
            match (b.kind, &b.value) {
                (BindKind::Param, _) => warnings.push(
                    CheckError::new(K::UnusedParam { name: name.clone() }, b.span)
                        .label("declared here but never used in the body")
                        .help(format!(
                            "remove it, or prefix it with an underscore: `_{name}`"
                        )),
                ),
                (BindKind::Local, Value::Tensor(_)) | (BindKind::Input, Value::Tensor(_)) => {
                    warnings.push(
                        CheckError::new(K::UnusedTensor { name: name.clone() }, b.span)
                            .label(if b.kind == BindKind::Input {
                                "the input is never used"
                            } else {
                                "computed here but never used"
                            })
                            .help(format!(
                                "remove it, or prefix it with an underscore: `_{name}`"
                            )),
                    )
                }
                _ => {}
            }
        }
        for w in warnings {
            self.err(w);
        }
    }

    // ------------------------------------------------------------------
    // Statements

    /// Remembers that the name at `span` holds `v`, if `v` is a tensor.
    fn record_binding(&mut self, span: Span, v: &Value) {
        if let Value::Tensor(node) = v {
            self.bindings.push(TensorBinding { span, node: *node });
        }
    }

    fn assign(&mut self, env: &mut Env, name: &Ident, value: &Expr) {
        let v = self.eval(env, value);
        self.record_binding(name.span, &v);
        if let Some(prev) = env.bind(&name.name, v, name.span, BindKind::Local)
            && !prev.used
            && matches!(prev.value, Value::Tensor(_))
            && prev.kind == BindKind::Local
        {
            self.err(
                CheckError::new(
                    K::UnusedTensor {
                        name: name.name.clone(),
                    },
                    prev.span,
                )
                .label("assigned here and overwritten before use")
                .with(name.span, "overwritten here"),
            );
        }
    }

    /// Runs a block body (or an `if` branch) in a new scope and returns its value.
    fn body(&mut self, env: &mut Env, body: &Body, input: Option<Value>) -> Value {
        env.scopes.push(HashMap::new());
        let mut last = None;
        for stmt in &body.stmts {
            last = None;
            match stmt {
                Stmt::Input { name, shape, span } => match (&input, shape) {
                    (Some(v), None) => {
                        self.record_binding(name.span, v);
                        env.bind(&name.name, v.clone(), name.span, BindKind::Input);
                    }
                    (Some(_), Some(s)) => {
                        let span = s.first().map_or(*span, |f| f.span.to(s[s.len() - 1].span));
                        self.err(
                            CheckError::new(
                                K::Body {
                                    message: "a block's input takes its shape from the caller"
                                        .into(),
                                },
                                span,
                            )
                            .label("remove this shape")
                            .help(format!("write `input {}`", name.name)),
                        );
                    }
                    (None, _) => {
                        self.err(
                            CheckError::new(
                                K::Misplaced {
                                    message:
                                        "`input` may only appear at the top of a block or model"
                                            .into(),
                                },
                                *span,
                            )
                            .label("not allowed here"),
                        );
                    }
                },
                Stmt::Output { span, .. } => {
                    self.err(
                        CheckError::new(
                            K::Misplaced {
                                message: "`output` may only appear in a model".into(),
                            },
                            *span,
                        )
                        .help("a block's value is its last expression"),
                    );
                }
                Stmt::Assign { name, value } => self.assign(env, name, value),
                Stmt::Expr(e) => last = Some(self.eval(env, e)),
            }
        }
        self.warn_unused(env);
        env.scopes.pop();
        match last {
            Some(v) => v,
            None => self.err(
                CheckError::new(
                    K::NoResult {
                        message: "this body has no resulting value".into(),
                    },
                    body.span,
                )
                .label("ends without an expression")
                .help("end it with an expression, for example the tensor it computes"),
            ),
        }
    }

    // ------------------------------------------------------------------
    // Expressions

    fn undefined(&self, name: &str, span: Span, env: &Env) -> CheckError {
        let locals: Vec<&str> = env.names().map(String::as_str).collect();
        let candidates = locals
            .into_iter()
            .chain(self.g.block_index.keys().map(String::as_str))
            .chain(crate::ir::ops::OPS.iter().map(|s| s.name))
            .chain(builtins::NAMES.iter().copied());
        let mut e =
            CheckError::new(K::UndefinedName { name: name.into() }, span).label("not found");
        if let Some(s) = super::suggest::name(name, candidates) {
            e = e.help(s.help);
        }
        e
    }

    fn eval_args(&mut self, env: &mut Env, args: &[Arg]) -> Vec<CallArg> {
        args.iter()
            .map(|a| CallArg {
                name: a.name.clone(),
                value: self.eval(env, &a.value),
                span: a
                    .name
                    .as_ref()
                    .map_or(a.value.span, |n| n.span.to(a.value.span)),
            })
            .collect()
    }

    pub fn eval(&mut self, env: &mut Env, e: &Expr) -> Value {
        match &e.kind {
            ExprKind::Int(v) => Value::Int(*v),
            ExprKind::Float(v) => Value::Float(*v),
            ExprKind::Bool(v) => Value::Bool(*v),
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Name(n) => self.name(env, n, e.span),
            ExprKind::List(items) => self.list(env, items, e.span),
            ExprKind::Call { callee, args } => {
                let f = self.eval(env, callee);
                let args = self.eval_args(env, args);
                self.call(env, f, args, callee, e.span)
            }
            ExprKind::Index { base, index } => {
                let b = self.eval(env, base);
                let i = self.eval(env, index);
                match (b, i) {
                    (Value::Poison, _) | (_, Value::Poison) => Value::Poison,
                    (Value::List(l), Value::Int(i)) => {
                        let idx = if i < 0 { i + l.len() as i64 } else { i };
                        match usize::try_from(idx).ok().and_then(|k| l.get(k)) {
                            Some(v) => v.clone(),
                            None => {
                                let n = l.len();
                                let mut err =
                                    CheckError::new(K::Index { index: i, len: n }, index.span)
                                        .label(format!(
                                            "index {i} of a list of {n} item{}",
                                            if n == 1 { "" } else { "s" }
                                        ))
                                        .with(
                                            base.span,
                                            format!(
                                                "this list has {n} item{}",
                                                if n == 1 { "" } else { "s" }
                                            ),
                                        );
                                err = if n == 0 {
                                    err.note("the list is empty: no index is valid")
                                } else {
                                    err.note(format!(
                                        "indices start at 0: valid ones are 0 to {} (or -{n} to -1, counting from the end)",
                                        n - 1
                                    ))
                                };
                                self.err(err)
                            }
                        }
                    }
                    (Value::List(_), v) => self.err(CheckError::new(
                        K::Type {
                            expected: "an integer index".into(),
                            found: v.describe(),
                        },
                        index.span,
                    )),
                    (v, _) => self.err(
                        CheckError::new(
                            K::Type {
                                expected: "a list to index".into(),
                                found: v.describe(),
                            },
                            base.span,
                        )
                        .label("cannot be indexed"),
                    ),
                }
            }
            ExprKind::Unary { op, operand } => {
                let v = self.eval(env, operand);
                match (op, v) {
                    (_, Value::Poison) => Value::Poison,
                    (UnaryOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Value::Int(n),
                        None => self.overflow(e.span),
                    },
                    (UnaryOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (op, v) => self.err(CheckError::new(
                        K::Type {
                            expected: if *op == UnaryOp::Neg {
                                "a number"
                            } else {
                                "a boolean"
                            }
                            .into(),
                            found: v.describe(),
                        },
                        operand.span,
                    )),
                }
            }
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.binary(env, *op, *op_span, lhs, rhs, e.span),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                match self.eval(env, cond) {
                    Value::Bool(true) => {
                        mention_body(env, otherwise);
                        self.body(env, then, None)
                    }
                    Value::Bool(false) => {
                        mention_body(env, then);
                        self.body(env, otherwise, None)
                    }
                    Value::Poison => Value::Poison,
                    v => {
                        let mut err = CheckError::new(
                            K::Type {
                                expected: "a boolean condition".into(),
                                found: v.describe(),
                            },
                            cond.span,
                        )
                        .label("must be `true` or `false` at compile time");
                        if let (Value::Int(_), ExprKind::Name(n)) = (&v, &cond.kind) {
                            err = err.help(format!(
                            "integers are not conditions: compare explicitly, for example `if {n} != 1` or `if {n} > 0`"
                        ));
                        } else if matches!(v, Value::Int(_)) {
                            err = err.help("integers are not conditions: compare explicitly, for example `!= 0`");
                        }
                        self.err(err)
                    }
                }
            }
            ExprKind::Pipe { input, stages } => {
                let mut v = self.eval(env, input);
                if !matches!(v, Value::Tensor(_) | Value::Poison) {
                    return self.err(
                        CheckError::new(
                            K::Type {
                                expected: "a tensor at the start of a pipeline".into(),
                                found: v.describe(),
                            },
                            input.span,
                        )
                        .label("pipelines start from a tensor: `x -> ...`"),
                    );
                }
                for s in stages {
                    let stage = self.eval(env, &s.expr);
                    let name = s.label.as_ref().map(|l| join(&self.scope, &l.name));
                    v = self.apply_value(
                        stage,
                        v,
                        name,
                        s.label.as_ref().map(|l| l.span),
                        s.expr.span,
                    );
                }
                v
            }
        }
    }

    fn overflow(&mut self, span: Span) -> Value {
        self.err(
            CheckError::new(
                K::Arithmetic {
                    message: "integer overflow".into(),
                },
                span,
            )
            .label("the result does not fit in 64 bits"),
        )
    }

    fn name(&mut self, env: &mut Env, n: &str, span: Span) -> Value {
        if let Some(v) = env.lookup(n) {
            if let Some((decl, BindKind::Param)) = env.binding(n) {
                self.arith.param_use(span, n, decl);
            }
            return v;
        }
        if let Some(&bi) = self.g.block_index.get(n) {
            return Value::Stage(Rc::new(Stage::Block {
                block: bi,
                args: Vec::new(),
                span,
            }));
        }
        if let Some(spec) = crate::ir::ops::lookup(n) {
            return Value::Stage(Rc::new(Stage::Op {
                kind: spec.kind,
                args: Vec::new(),
                span,
            }));
        }
        match n {
            "same" => return Value::Pad(PadKeyword::Same),
            "valid" => return Value::Pad(PadKeyword::Valid),
            "nearest" => return Value::Mode(crate::ir::UpsampleMode::Nearest),
            "bilinear" => return Value::Mode(crate::ir::UpsampleMode::Bilinear),
            _ => {}
        }
        if builtins::NAMES.contains(&n) {
            return Value::Str(format!("builtin:{n}"));
        }
        let e = self.undefined(n, span, env);
        let e = if self.g.model_index.contains_key(n) {
            e.note(format!("`{n}` is a model; models cannot be used inside other models, only aliased (`model m = {n}(...)`)"))
        } else {
            e
        };
        self.err(e)
    }

    fn list(&mut self, env: &mut Env, items: &[crate::syntax::ast::ListItem], span: Span) -> Value {
        let values: Vec<(Option<Ident>, Value, Span)> = items
            .iter()
            .map(|it| (it.label.clone(), self.eval(env, &it.value), it.value.span))
            .collect();
        if values.iter().any(|(_, v, _)| matches!(v, Value::Poison)) {
            return Value::Poison;
        }
        let is_seq = values
            .iter()
            .any(|(l, v, _)| l.is_some() || matches!(v, Value::Stage(_)));
        if !is_seq {
            return Value::List(Rc::new(values.into_iter().map(|(_, v, _)| v).collect()));
        }
        let mut seq = Vec::new();
        for (label, v, vspan) in values {
            match v {
                Value::Stage(s) => match (&*s, label) {
                    // Unlabelled nested sequences (repetitions) are spliced in.
                    (Stage::Seq { items, .. }, None) => seq.extend(items.iter().cloned()),
                    (_, label) => seq.push(SeqItem { label, stage: s }),
                },
                Value::List(l) if l.is_empty() => {}
                v => {
                    return self.err(
                        CheckError::new(
                            K::Type {
                                expected: "a layer in this sequence".into(),
                                found: v.describe(),
                            },
                            vspan,
                        )
                        .label("not a layer")
                        .note("a list containing layers is a sequence; every item must be a layer, block or sequence"),
                    )
                }
            }
        }
        if seq.len() > MAX_SEQUENCE {
            return self.err(CheckError::new(
                K::TooLarge {
                    what: format!(
                        "a sequence of {} layers (at most {MAX_SEQUENCE})",
                        seq.len()
                    ),
                },
                span,
            ));
        }
        Value::Stage(Rc::new(Stage::Seq { items: seq, span }))
    }

    fn binary(
        &mut self,
        env: &mut Env,
        op: BinaryOp,
        op_span: Span,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
    ) -> Value {
        // Short-circuit logic.
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let l = self.eval(env, lhs);
            let lb = match l {
                Value::Bool(b) => b,
                Value::Poison => return Value::Poison,
                v => {
                    return self.err(CheckError::new(
                        K::Type {
                            expected: format!("a boolean operand of `{}`", op.symbol()),
                            found: v.describe(),
                        },
                        lhs.span,
                    ));
                }
            };
            if (op == BinaryOp::And && !lb) || (op == BinaryOp::Or && lb) {
                return Value::Bool(lb);
            }
            return match self.eval(env, rhs) {
                Value::Bool(b) => Value::Bool(b),
                Value::Poison => Value::Poison,
                v => self.err(CheckError::new(
                    K::Type {
                        expected: format!("a boolean operand of `{}`", op.symbol()),
                        found: v.describe(),
                    },
                    rhs.span,
                )),
            };
        }
        let l = self.eval(env, lhs);
        let r = self.eval(env, rhs);
        let lhs_is_int = matches!(l, Value::Int(_));
        use BinaryOp::*;
        match (op, l, r) {
            (_, Value::Poison, _) | (_, _, Value::Poison) => Value::Poison,
            (Add, Value::Tensor(a), Value::Tensor(b)) => {
                self.residual_add(env, a, b, [lhs, rhs], op_span, span)
            }
            (Mul, Value::Tensor(a), Value::Tensor(b)) => {
                // Two tensors: the element-wise product (a gate); `layer * n` below repeats.
                let operands = [(a, lhs), (b, rhs)].map(|(id, e)| CallArg {
                    name: None,
                    value: Value::Tensor(id),
                    span: e.span,
                });
                self.apply_op(OpKind::Mul, &[], &[a, b], &operands, None, span)
            }
            (Mul, Value::Stage(s), Value::Int(n)) | (Mul, Value::Int(n), Value::Stage(s)) => {
                if !(0..=MAX_REPEAT).contains(&n) {
                    let count_expr = if lhs_is_int { lhs } else { rhs };
                    return self.err(
                        CheckError::new(
                            K::ArgValue {
                                op: "*".into(),
                                arg: "count".into(),
                                message: format!("a repetition count must be between 0 and {MAX_REPEAT}, got {n}"),
                            },
                            span,
                        )
                        .label(format!("repeated {n} times"))
                        .with(count_expr.span, format!("this is {n}"))
                        .help("`layer * n` repeats a layer n times (`* 0` gives no layer): check the arithmetic of the count"),
                    );
                }
                let unit = match &*s {
                    Stage::Seq { items: inner, .. } => inner.len(),
                    _ => 1,
                };
                if unit.saturating_mul(n as usize) > MAX_SEQUENCE {
                    return self.err(
                        CheckError::new(
                            K::TooLarge {
                                what: format!(
                                    "a sequence of {unit} × {n} layers (at most {MAX_SEQUENCE})"
                                ),
                            },
                            span,
                        )
                        .label("repeated here"),
                    );
                }
                let mut items = Vec::with_capacity(unit * n as usize);
                for _ in 0..n {
                    match &*s {
                        Stage::Seq { items: inner, .. } => items.extend(inner.iter().cloned()),
                        _ => items.push(SeqItem {
                            label: None,
                            stage: s.clone(),
                        }),
                    }
                }
                Value::Stage(Rc::new(Stage::Seq { items, span }))
            }
            (op, Value::Int(a), Value::Int(b)) => {
                let r = match op {
                    Add => a.checked_add(b).map(Value::Int),
                    Sub => a.checked_sub(b).map(Value::Int),
                    Mul => a.checked_mul(b).map(Value::Int),
                    Div | Rem if b == 0 => {
                        let mut err = CheckError::new(
                            K::Arithmetic {
                                message: "division by zero".into(),
                            },
                            rhs.span,
                        )
                        .label("this is zero");
                        // Where a zero parameter got its value.
                        if let ExprKind::Name(n) = &rhs.kind
                            && let Some((at, BindKind::Param)) = env.binding(n)
                        {
                            err = err.with(at, format!("parameter `{n}` is 0 in this instance"));
                        }
                        return self.err(err);
                    }
                    Div => a.checked_div(b).map(Value::Int),
                    Rem => a.checked_rem(b).map(Value::Int),
                    Eq => Some(Value::Bool(a == b)),
                    Ne => Some(Value::Bool(a != b)),
                    Lt => Some(Value::Bool(a < b)),
                    Le => Some(Value::Bool(a <= b)),
                    Gt => Some(Value::Bool(a > b)),
                    Ge => Some(Value::Bool(a >= b)),
                    And | Or => None,
                };
                if let Some(Value::Int(r)) = r
                    && matches!(op, Add | Sub | Mul | Div | Rem)
                {
                    self.arith.record(span, (lhs, op, rhs), a, b, r);
                }
                match r {
                    Some(v) => v,
                    None => self.overflow(span),
                }
            }
            (op, a @ (Value::Int(_) | Value::Float(_)), b @ (Value::Int(_) | Value::Float(_))) => {
                let f = |v: &Value| match v {
                    Value::Int(i) => *i as f64,
                    Value::Float(x) => *x,
                    _ => 0.0,
                };
                let (a, b) = (f(&a), f(&b));
                match op {
                    Add => Value::Float(a + b),
                    Sub => Value::Float(a - b),
                    Mul => Value::Float(a * b),
                    Div => Value::Float(a / b),
                    Rem => Value::Float(a % b),
                    Eq => Value::Bool(a == b),
                    Ne => Value::Bool(a != b),
                    Lt => Value::Bool(a < b),
                    Le => Value::Bool(a <= b),
                    Gt => Value::Bool(a > b),
                    Ge => Value::Bool(a >= b),
                    And | Or => Value::Poison,
                }
            }
            (Eq, Value::Bool(a), Value::Bool(b)) => Value::Bool(a == b),
            (Ne, Value::Bool(a), Value::Bool(b)) => Value::Bool(a != b),
            (op, a, b) => {
                let mut e = CheckError::new(
                    K::Type {
                        expected: format!("operands that support `{}`", op.symbol()),
                        found: format!("{} and {}", a.describe(), b.describe()),
                    },
                    op_span,
                )
                .label(format!("`{}` cannot combine these", op.symbol()))
                .with(lhs.span, a.describe())
                .with(rhs.span, b.describe());
                let number = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_));
                let tensor_expr = match (&a, &b) {
                    (Value::Tensor(_), v) if number(v) => Some(lhs),
                    (v, Value::Tensor(_)) if number(v) => Some(rhs),
                    _ => None,
                };
                if let Some(t) = tensor_expr {
                    // `x * 2` where `channels(x) * 2` was meant.
                    let t = match &t.kind {
                        ExprKind::Name(n) => n.as_str(),
                        _ => "x",
                    };
                    e = e.help(format!(
                        "arithmetic works on integers, not tensors: for a tensor's size use `channels({t})`, `height({t})` or `width({t})`"
                    ));
                } else if op == Add
                    && matches!((&a, &b), (Value::Tensor(_), _) | (_, Value::Tensor(_)))
                {
                    e = e.help("`+` adds two tensors of the same shape (a skip connection)");
                } else if op == Mul {
                    e = e.help("`layer * n` repeats a layer or block n times");
                }
                self.err(e)
            }
        }
    }

    /// `a + b` on tensors: a skip connection; shapes must be exactly equal.
    ///
    /// On a mismatch the error shows both shapes, where each operand got its
    /// shape (the block's input, the layers that changed the shape) and, for
    /// the classic mistake of a strided or widening block with an identity
    /// shortcut, the projection shortcut that fixes it.
    fn residual_add(
        &mut self,
        env: &Env,
        a: NodeId,
        b: NodeId,
        operands: [&Expr; 2],
        op_span: Span,
        span: Span,
    ) -> Value {
        let (sa, sb) = (self.shape(a).clone(), self.shape(b).clone());
        if sa == sb {
            let name = self.auto_name("add", span);
            return self.add_node(name, Op::Add, vec![a, b], sa, span);
        }
        let [lhs, rhs] = operands;
        let mut e = CheckError::new(
            K::AddShapes {
                shapes: vec![sa.to_string(), sb.to_string()],
            },
            op_span,
        )
        .label("shapes differ")
        .with(lhs.span, format!("this is {sa}"))
        .with(rhs.span, format!("this is {sb}"))
        .note("resnetc never broadcasts: both operands of `+` must have exactly the same shape");
        let in_model = self.stack.is_empty();
        let name_of = |x: &Expr| match &x.kind {
            ExprKind::Name(n) => Some(n.clone()),
            _ => None,
        };
        // Where an operand that is an input got its shape.
        for (x, shape) in [(lhs, &sa), (rhs, &sb)] {
            if let Some(n) = name_of(x)
                && let Some((at, BindKind::Input)) = env.binding(&n)
            {
                let whose = if in_model {
                    "the model's"
                } else {
                    "the block's"
                };
                e = e.with(at, format!("`{n}` is {whose} input, {shape}"));
            }
        }
        // The skip is the older tensor; the main path is computed from it.
        let (skip, skip_expr, main, main_expr) = if a < b {
            (a, lhs, b, rhs)
        } else {
            (b, rhs, a, lhs)
        };
        let (skip_shape, main_shape) = (self.shape(skip).clone(), self.shape(main).clone());
        // The layers that changed each operand's shape since the paths met.
        let on_skip: HashSet<NodeId> = hints::ancestors(&self.nodes, skip).into_iter().collect();
        let meet = hints::ancestors(&self.nodes, main)
            .into_iter()
            .find(|n| on_skip.contains(n));
        let stop = |n: NodeId| Some(n) == meet;
        let main_changes = hints::path_changes(&self.nodes, main, &stop);
        let skip_changes = hints::path_changes(&self.nodes, skip, &stop);
        let stride: usize = main_changes.iter().map(|c| c.stride).product();
        let culprit = main_changes
            .iter()
            .chain(&skip_changes)
            .position(|c| c.skips);
        for (k, c) in main_changes.iter().chain(&skip_changes).enumerate() {
            let shown = if k < main_changes.len() {
                main_changes.len() - k <= 3
            } else {
                skip_changes.len() - (k - main_changes.len()) <= 3
            };
            if Some(k) == culprit {
                e = e.with(
                    c.span,
                    format!("{}: its window is smaller than its stride", c.text),
                );
            } else if shown {
                e = e.with(c.span, c.text.clone());
            }
        }
        if hints::gate(&sa, &sb) {
            let (fm, g) = if sa.elements() >= sb.elements() {
                (lhs, rhs)
            } else {
                (rhs, lhs)
            };
            let (fm, g) = (
                name_of(fm).unwrap_or_else(|| "x".into()),
                name_of(g).unwrap_or_else(|| "gate".into()),
            );
            return self.err(e.help(format!(
                "if `{g}` is a gate (sigmoid weights, as in squeeze-and-excitation), scale by it: `{fm} * {g}`; `*` broadcasts size-1 dimensions, `+` never does"
            )));
        }
        if let Some(c) = culprit.and_then(|k| main_changes.iter().chain(&skip_changes).nth(k)) {
            e = e.note(format!(
                "{}: a window smaller than its stride skips input rows, which is rarely meant",
                c.text
            ));
            if let Some(h) = &c.swapped {
                e = e.help(h.clone());
            }
            return self.err(e);
        }
        if !skip_changes.is_empty() {
            return self.err(e.help(format!(
                "both paths change the shape since they split: make them agree, for example with the same total stride ({stride} on the path to {main_shape})"
            )));
        }
        let skip_name = name_of(skip_expr).unwrap_or_else(|| "x".into());
        if let ([sc, sh, sw], [mc, mh, mw]) = (skip_shape.0.as_slice(), main_shape.0.as_slice()) {
            let (sc, sh, sw, mc, mh, mw) = (*sc, *sh, *sw, *mc, *mh, *mw);
            let downsampled = mh <= sh && mw <= sw && mh > 0 && sh % mh == 0 && sw % mw.max(1) == 0;
            if mc >= sc && downsampled {
                // The classic mistake: a strided or widening block with an identity shortcut.
                let s = if stride > 1 && sh / mh == stride {
                    stride
                } else {
                    sh / mh
                };
                let stride_arg = if s > 1 {
                    format!(", stride: {s}")
                } else {
                    String::new()
                };
                e = e.help(format!(
                    "the shortcut must be projected to {main_shape}: replace `{skip_name}` with `{skip_name} -> [conv({mc}, 1{stride_arg}, bias: false), bn]` (a projection shortcut)"
                ));
                if !in_model {
                    let planes = env
                        .param_with_value(mc as i64)
                        .map_or_else(|| mc.to_string(), str::to_string);
                    let stride_param = env.has_param("stride");
                    let cond = if stride_param {
                        format!("stride != 1 or channels({skip_name}) != {planes}")
                    } else {
                        format!("channels({skip_name}) != {planes}")
                    };
                    let conv_stride = if stride_param {
                        ", stride: stride".to_string()
                    } else {
                        stride_arg
                    };
                    e = e.help(format!(
                        "to keep the identity shortcut where the shapes match, choose with an `if`: `shortcut = if {cond} {{ {skip_name} -> [conv({planes}, 1{conv_stride}, bias: false), bn] }} else {{ {skip_name} }}`"
                    ));
                }
            } else if mh == sh && mw == sw {
                let main_name = name_of(main_expr).unwrap_or_else(|| "the other operand".into());
                e = e.help(format!(
                    "`+` does not broadcast a {mc}-channel tensor over {sc} channels: map `{main_name}` to {sc} channels first, for example `{main_name} -> conv({sc}, 1)`"
                ));
            } else {
                e = e.help("bring both operands to the same shape before adding them");
            }
        }
        self.err(e)
    }

    // ------------------------------------------------------------------
    // Calls and application

    fn call(
        &mut self,
        env: &mut Env,
        f: Value,
        args: Vec<CallArg>,
        callee: &Expr,
        span: Span,
    ) -> Value {
        if let Value::Str(s) = &f
            && let Some(b) = s.strip_prefix("builtin:")
        {
            return builtins::call(self, b, &args, span);
        }
        if args.iter().any(|a| matches!(a.value, Value::Poison)) {
            return Value::Poison;
        }
        let stage = match f {
            Value::Stage(s) => s,
            Value::Poison => return Value::Poison,
            v => {
                return self.err(
                    CheckError::new(
                        K::Type {
                            expected: "a layer, block or built-in to call".into(),
                            found: v.describe(),
                        },
                        callee.span,
                    )
                    .label("cannot be called"),
                );
            }
        };
        let _ = env;
        // Leading positional tensors are the inputs: apply now.
        let n_tensors = args
            .iter()
            .take_while(|a| a.name.is_none() && matches!(a.value, Value::Tensor(_)))
            .count();
        let (tensors, rest) = args.split_at(n_tensors);
        let add_args = |old: &[CallArg]| -> Vec<CallArg> {
            old.iter().cloned().chain(rest.iter().cloned()).collect()
        };
        let new_stage = match &*stage {
            Stage::Op {
                kind, args: old, ..
            } => Stage::Op {
                kind: *kind,
                args: add_args(old),
                span,
            },
            Stage::Block {
                block, args: old, ..
            } => Stage::Block {
                block: *block,
                args: add_args(old),
                span,
            },
            Stage::Seq { .. } => {
                return self.err(
                    CheckError::new(
                        K::Type {
                            expected: "a layer or block to call".into(),
                            found: "a sequence".into(),
                        },
                        callee.span,
                    )
                    .help("apply a sequence with `->`: `x -> [a, b]`"),
                );
            }
        };
        if tensors.is_empty() {
            return Value::Stage(Rc::new(new_stage));
        }
        let ids: Vec<NodeId> = tensors
            .iter()
            .filter_map(|a| match a.value {
                Value::Tensor(id) => Some(id),
                _ => None,
            })
            .collect();
        if let Stage::Op { kind, args, .. } = &new_stage
            && let Some(e) = self.tensor_for_int(*kind, args, tensors)
        {
            return self.err(e);
        }
        match new_stage {
            Stage::Op { kind, args, span } => self.apply_op(kind, &args, &ids, tensors, None, span),
            Stage::Block { block, args, span } => {
                if ids.len() > 1 {
                    return self.err(
                        CheckError::new(
                            K::Arguments {
                                callee: format!("block `{}`", self.g.blocks[block].name.name),
                                message: "a block takes one input tensor".into(),
                            },
                            tensors[1].span,
                        )
                        .label("second tensor"),
                    );
                }
                self.instantiate(block, &args, Value::Tensor(ids[0]), None, span, None)
            }
            Stage::Seq { .. } => Value::Poison,
        }
    }

    /// `conv(x, 1)` where `x` is a tensor applies `conv` to `x` with
    /// `out = 1`. When that leaves a required argument of a one-input op
    /// missing, the tensor most likely went where an integer goes: say so.
    fn tensor_for_int(
        &self,
        kind: OpKind,
        args: &[CallArg],
        tensors: &[CallArg],
    ) -> Option<CheckError> {
        let spec = kind.spec();
        let [tensor] = tensors else {
            return None;
        };
        if spec.arity != crate::ir::ops::Arity::One {
            return None;
        }
        let positional = args.iter().filter(|a| a.name.is_none()).count();
        let given = |i: usize, name: &str| {
            i < positional
                || args
                    .iter()
                    .any(|a| a.name.as_ref().is_some_and(|n| n.name == name))
        };
        let missing: Vec<&str> = spec
            .args
            .iter()
            .enumerate()
            .filter(|(i, a)| {
                a.default == crate::ir::ops::ArgDefault::Required && !given(*i, a.name)
            })
            .map(|(_, a)| a.name)
            .collect();
        let first = spec.args.first()?;
        if missing.is_empty() {
            return None;
        }
        let Value::Tensor(id) = tensor.value else {
            return None;
        };
        let (t, shape) = (&self.nodes[id.0 as usize].name, self.shape(id));
        let op = spec.name;
        let required: Vec<&str> = spec
            .args
            .iter()
            .filter(|a| a.default == crate::ir::ops::ArgDefault::Required)
            .map(|a| a.name)
            .collect();
        let missing: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        Some(
            CheckError::new(
                K::Type {
                    expected: format!("an integer for `{}` of `{op}` ({})", first.name, first.doc),
                    found: format!("tensor `{t}` ({shape})"),
                },
                tensor.span,
            )
            .label(format!("a tensor, where `{op}` takes its `{}`", first.name))
            .note(format!(
                "a call whose first arguments are tensors applies the op to them: this applies `{op}` to `{t}` with the other arguments, which leaves {} missing",
                super::and_list(&missing)
            ))
            .help(format!(
                "in a pipeline the input comes from `->`: write `{op}({})`; for the channel count of `{t}`, write `channels({t})`",
                required.join(", ")
            )),
        )
    }

    fn apply_value(
        &mut self,
        stage: Value,
        input: Value,
        name: Option<String>,
        label_span: Option<Span>,
        span: Span,
    ) -> Value {
        match stage {
            Value::Poison => Value::Poison,
            Value::Stage(s) => {
                if matches!(input, Value::Poison) {
                    self.check_detached(&s);
                    return Value::Poison;
                }
                let name = name.map(|n| self.claim(n, label_span.unwrap_or(span)));
                self.apply(&s, input, name, span)
            }
            Value::List(l) if l.is_empty() => input,
            v => self.err(
                CheckError::new(
                    K::Type {
                        expected: "a layer, block or sequence after `->`".into(),
                        found: v.describe(),
                    },
                    span,
                )
                .label("cannot be applied to a tensor"),
            ),
        }
    }

    /// Applies a stage to a tensor; `name` is its claimed hierarchical name.
    fn apply(&mut self, stage: &Stage, input: Value, name: Option<String>, span: Span) -> Value {
        let Value::Tensor(id) = input else {
            return Value::Poison;
        };
        match stage {
            Stage::Op { kind, args, .. } => {
                let arg = CallArg {
                    name: None,
                    value: input.clone(),
                    span,
                };
                self.apply_op(
                    *kind,
                    args,
                    &[id],
                    std::slice::from_ref(&arg),
                    name,
                    stage.span(),
                )
            }
            Stage::Block { block, args, .. } => {
                self.instantiate(*block, args, input, name, stage.span(), None)
            }
            Stage::Seq { items, span } => {
                let base = name.unwrap_or_else(|| self.scope.clone());
                let sequence = SequenceId(self.sequences.len() as u32);
                self.sequences.push(Sequence {
                    name: base.clone(),
                    parent: self.stack.last().map(|f| f.instance),
                    len: items.len(),
                    span: *span,
                });
                let mut cur = input;
                for (k, item) in items.iter().enumerate() {
                    let seg = item
                        .label
                        .as_ref()
                        .map_or_else(|| k.to_string(), |l| l.name.clone());
                    let child = self.claim(
                        join(&base, &seg),
                        item.label.as_ref().map_or(item.stage.span(), |l| l.span),
                    );
                    cur = match &*item.stage {
                        Stage::Block { block, args, .. } => self.instantiate(
                            *block,
                            args,
                            cur,
                            Some(child),
                            item.stage.span(),
                            Some(SequenceItem {
                                sequence,
                                index: k,
                                labelled: item.label.is_some(),
                            }),
                        ),
                        _ => self.apply(&item.stage, cur, Some(child), item.stage.span()),
                    };
                    if matches!(cur, Value::Poison) {
                        for rest in &items[k + 1..] {
                            self.check_detached(&rest.stage);
                        }
                        break;
                    }
                }
                cur
            }
        }
    }

    /// Checks what can be checked of a stage applied to an erroneous input:
    /// its arguments, but not its shapes.
    fn check_detached(&mut self, stage: &Stage) {
        match stage {
            Stage::Op { kind, args, span } => {
                let checked = bind(kind.spec(), args, *span).and_then(|b| validate_args(*kind, &b));
                if let Err(e) = checked {
                    self.err(e);
                }
            }
            Stage::Block { block, args, span } => {
                let def = self.g.blocks[*block];
                let callee = format!("block `{}`", def.name.name);
                self.bind_params(&mut Env::new(), &callee, &def.params, args, *span, false);
            }
            Stage::Seq { items, .. } => {
                for item in items {
                    self.check_detached(&item.stage);
                }
            }
        }
    }

    fn apply_op(
        &mut self,
        kind: OpKind,
        args: &[CallArg],
        inputs: &[NodeId],
        input_args: &[CallArg],
        name: Option<String>,
        span: Span,
    ) -> Value {
        let spec = kind.spec();
        let bound = match bind(spec, args, span) {
            Ok(b) => b,
            Err(e) => return self.err(e),
        };
        let shapes: Vec<Shape> = inputs.iter().map(|&i| self.shape(i).clone()).collect();
        if kind == OpKind::Add && shapes.iter().any(|s| *s != shapes[0]) && input_args.len() >= 2 {
            let rendered: Vec<String> = shapes.iter().map(Shape::to_string).collect();
            let mut e =
                CheckError::new(K::AddShapes { shapes: rendered }, span).label("shapes differ");
            for (a, s) in input_args.iter().zip(&shapes) {
                e = e.with(a.span, format!("this is {s}"));
            }
            return self.err(e.note(
                "resnetc never broadcasts: the operands of `add` must have exactly the same shape",
            ));
        }
        if kind == OpKind::Mul
            && let [sa, sb] = shapes.as_slice()
            && broadcast(sa, sb).is_none()
        {
            return self.err(mul_shapes_error(sa, sb, input_args, span));
        }
        if kind == OpKind::Concat && shapes.len() >= 2 {
            let rest = |s: &Shape| s.0.get(1..).map(<[usize]>::to_vec);
            if shapes
                .iter()
                .any(|s| s.0.len() != shapes[0].0.len() || rest(s) != rest(&shapes[0]))
            {
                let rendered: Vec<String> = shapes.iter().map(Shape::to_string).collect();
                let mut e = CheckError::new(K::ConcatShapes { shapes: rendered }, span)
                    .label("shapes differ outside the channels");
                for (a, s) in input_args.iter().zip(&shapes) {
                    e = e.with(a.span, format!("this is {s}"));
                }
                return self.err(e.help(
                    "concat joins along channels: every input needs the same height and width",
                ));
            }
        }
        match build_op(kind, &bound, &shapes, span) {
            Ok((op, shape)) => {
                let name = match name {
                    Some(n) => n,
                    None => self.auto_name(kind.name(), span),
                };
                self.add_node(name, op, inputs.to_vec(), shape, span)
            }
            Err(e) => self.err(e),
        }
    }

    fn instantiate(
        &mut self,
        bi: usize,
        args: &[CallArg],
        input: Value,
        name: Option<String>,
        span: Span,
        sequence: Option<SequenceItem>,
    ) -> Value {
        let def = self.g.blocks[bi];
        if let Some(pos) = self.stack.iter().position(|f| f.block == bi) {
            let mut cycle: Vec<String> = self.stack[pos..]
                .iter()
                .map(|f| self.g.blocks[f.block].name.name.clone())
                .collect();
            cycle.push(def.name.name.clone());
            return self.err(
                CheckError::new(
                    K::Recursion {
                        block: def.name.name.clone(),
                        cycle: cycle.join(" -> "),
                    },
                    span,
                )
                .label("instantiated again here")
                .with(def.name.span, "block defined here")
                .help("blocks cannot instantiate themselves; repeat a block with `block(...) * n` instead"),
            );
        }
        if self.stack.len() >= MAX_INSTANCE_DEPTH {
            return self.err(CheckError::new(
                K::Recursion {
                    block: def.name.name.clone(),
                    cycle: format!("blocks nest more than {MAX_INSTANCE_DEPTH} levels deep"),
                },
                span,
            ));
        }
        let Value::Tensor(input_id) = input else {
            return Value::Poison;
        };
        if !def
            .body
            .stmts
            .iter()
            .any(|s| matches!(s, Stmt::Input { .. }))
        {
            // Reported once with the definition (E0105); elaborating the body
            // would only report its uses of the missing input as undefined.
            return Value::Poison;
        }
        let name = match name {
            Some(n) => n,
            None => self.auto_name(&def.name.name, span),
        };
        let mut env = Env::new();
        let callee = format!("block `{}`", def.name.name);
        if !self.bind_params(&mut env, &callee, &def.params, args, span, false) {
            return Value::Poison;
        }
        // Every parameter is bound (or an error was reported, and the model
        // is not checked): the values as typed data.
        let typed: Vec<InstanceArg> = def
            .params
            .iter()
            .filter_map(|p| {
                env.scopes[0].get(&p.name.name).and_then(|b| {
                    Some(InstanceArg {
                        name: p.name.name.clone(),
                        value: b.value.to_arg()?,
                    })
                })
            })
            .collect();
        let instance = InstanceId(self.instances.len() as u32);
        self.instances.push(Instance {
            block: def.name.name.clone(),
            name: name.clone(),
            parent: self.stack.last().map(|f| f.instance),
            args: typed,
            input_shape: self.shape(input_id).clone(),
            sequence,
            span,
        });
        self.stack.push(ActiveFrame {
            block: bi,
            frame: Frame {
                block: def.name.name.clone(),
                instance: name.clone(),
                call: span,
            },
            instance,
        });
        let saved = std::mem::replace(&mut self.scope, name);
        let v = self.body(&mut env, &def.body, Some(input));
        // Parameters live in the outermost scope of `env`.
        self.warn_unused(&mut env);
        self.scope = saved;
        self.stack.pop();
        match v {
            Value::Tensor(_) | Value::Poison => v,
            other => self.err(
                CheckError::new(
                    K::Type {
                        expected: format!("block `{}` to produce a tensor", def.name.name),
                        found: other.describe(),
                    },
                    def.body.span,
                )
                .label("the block's last expression is not a tensor")
                .with(span, "instantiated here"),
            ),
        }
    }

    /// A tensor's shape, for the shape-query built-ins.
    pub(crate) fn tensor_shape(&self, id: NodeId) -> &Shape {
        self.shape(id)
    }

    /// Reports an error from a built-in.
    pub(crate) fn report(&mut self, e: CheckError) -> Value {
        self.err(e)
    }
}

/// E0205 for a learned tensor of more than 2^40 elements (`dense(2^40)`
/// after 2^40 features), with its exact size and how to shrink it.
/// `a * b` (or `mul(a, b)`) on shapes that do not broadcast: both shapes,
/// the dimensions that clash, and the rule.
fn mul_shapes_error(sa: &Shape, sb: &Shape, operands: &[CallArg], span: Span) -> CheckError {
    let mut e = CheckError::new(
        K::MulShapes {
            shapes: vec![sa.to_string(), sb.to_string()],
        },
        span,
    )
    .label("shapes do not broadcast");
    for (a, s) in operands.iter().zip([sa, sb]) {
        e = e.with(a.span, format!("this is {s}"));
    }
    e = e.note("`*` broadcasts size-1 dimensions only: the ranks must be equal and each dimension equal or 1 on one side (N×C×1×1 against N×C×H×W)");
    if sa.0.len() != sb.0.len() {
        e.help(format!(
            "the ranks differ ({} and {} dimensions besides N): bring both to N×C×H×W (a gate from `global_avgpool` keeps C×1×1; do not `flatten` it)",
            sa.0.len(),
            sb.0.len()
        ))
    } else {
        let clash: Vec<String> =
            sa.0.iter()
                .zip(&sb.0)
                .enumerate()
                .filter(|(_, (x, y))| x != y && **x != 1 && **y != 1)
                .map(|(d, (x, y))| {
                    let dim = ["channels", "height", "width"]
                        .get(d)
                        .map_or_else(|| format!("dimension {}", d + 1), |s| s.to_string());
                    format!("{dim}: {x} against {y}")
                })
                .collect();
        e = e.help(format!(
            "make these sizes equal, or 1 on one side: {}",
            clash.join(", ")
        ));
        // A gate (C'×1×1) with the wrong channel count for its feature map.
        let gate = |s: &Shape| s.0.len() == 3 && s.0[1] == 1 && s.0[2] == 1;
        let (map, g) = if gate(sb) { (sa, sb) } else { (sb, sa) };
        match (map.0.first(), g.0.first()) {
            (Some(&c), Some(&gc)) if gate(g) && !gate(map) && c != gc && gc != 1 => e.help(
                format!(
                    "the gate has {gc} channels and the feature map {c}: end the gate with `conv({c}, 1)` (then `sigmoid`)"
                ),
            ),
            _ => e,
        }
    }
}

fn tensor_too_large(op: &Op, p: &Param, span: Span) -> CheckError {
    let dims: Vec<String> = p.shape.iter().map(usize::to_string).collect();
    let count = p
        .shape
        .iter()
        .try_fold(1u128, |acc, &d| acc.checked_mul(d as u128))
        .map_or_else(|| "more than 2^128".to_string(), |n| n.to_string());
    let help = match op {
        Op::Dense(_) => {
            "use fewer output features, or fewer input features: pool before flattening (`-> global_avgpool -> flatten -> dense(...)`)"
        }
        Op::Conv(_) => "use fewer channels, more groups or a smaller kernel",
        _ => "use fewer channels",
    };
    CheckError::new(
        K::TooLarge {
            what: format!("parameter `{}`", p.name),
        },
        span,
    )
    .label(format!("{} = {count} elements", dims.join(" × ")))
    .note(format!(
        "a tensor may have at most 2^40 = {MAX_ELEMENTS} elements"
    ))
    .help(help)
}
