//! The abstract syntax tree of a `.rn` file, as written (before elaboration).
//!
//! Each node carries the [`Span`] it was parsed from. Rule names in the doc
//! comments refer to `grammar/resnet.ebnf`.

use crate::span::Span;

/// A parsed source file (rule `file`).
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// The top-level items in source order.
    pub items: Vec<Item>,
}

/// A name with the place it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The identifier text.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A top-level item (rule `item`).
#[derive(Clone, Debug)]
pub enum Item {
    /// `import "path.rn"`.
    Import(Import),
    /// `block name(params) { ... }`.
    Block(BlockDef),
    /// `model name(params) { ... }` or `model name = other(args)`.
    Model(ModelDef),
}

/// `import "path"` (rule `import`): makes the blocks and models of another file visible.
#[derive(Clone, Debug)]
pub struct Import {
    /// The path, relative to the importing file's directory.
    pub path: String,
    /// The span of the whole import.
    pub span: Span,
}

/// A formal parameter (rule `param`), with an optional default.
#[derive(Clone, Debug)]
pub struct Param {
    /// The parameter's name.
    pub name: Ident,
    /// The default value, evaluated in the definition's scope at instantiation.
    pub default: Option<Expr>,
}

/// A reusable, parametrized block (rule `block_def`).
#[derive(Clone, Debug)]
pub struct BlockDef {
    /// The block's name.
    pub name: Ident,
    /// Its parameters, in order.
    pub params: Vec<Param>,
    /// Its body: one `input` declaration, statements, and a final expression.
    pub body: Body,
    /// The span of the header (`block name(...)`).
    pub header: Span,
}

/// A model (rule `model_def`).
#[derive(Clone, Debug)]
pub struct ModelDef {
    /// The model's name.
    pub name: Ident,
    /// A body of its own, or an alias of another model with arguments.
    pub kind: ModelKind,
    /// The span of the header (`model name(...)`).
    pub header: Span,
}

/// How a model is defined.
#[derive(Clone, Debug)]
pub enum ModelKind {
    /// `model name(params) { body }`.
    Body {
        /// Parameters (all need defaults to be compiled on their own).
        params: Vec<Param>,
        /// Input declarations, statements and outputs.
        body: Body,
    },
    /// `model name = target(args)` (rule `model_alias`).
    Alias {
        /// The model being specialised.
        target: Ident,
        /// The arguments bound to its parameters.
        args: Vec<Arg>,
    },
}

/// A `{ ... }` sequence of statements (rules `body`, `block_expr`).
#[derive(Clone, Debug)]
pub struct Body {
    /// The statements in order.
    pub stmts: Vec<Stmt>,
    /// The span from `{` to `}`.
    pub span: Span,
}

/// A statement (rule `stmt`).
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `input x: [3, 224, 224]` in a model, `input x` in a block.
    Input {
        /// The tensor's name.
        name: Ident,
        /// The declared shape without the batch dimension (models only).
        shape: Option<Vec<Expr>>,
        /// The whole declaration.
        span: Span,
    },
    /// `output a, b`: the model's outputs, in order.
    Output {
        /// The tensors to output.
        names: Vec<Ident>,
        /// The whole declaration.
        span: Span,
    },
    /// `name = expr`.
    Assign {
        /// The variable.
        name: Ident,
        /// Its value.
        value: Expr,
    },
    /// An expression; the last one in a body is the body's value.
    Expr(Expr),
}

/// An expression with its span (rule `expr` and below).
#[derive(Clone, Debug)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-e`
    Neg,
    /// `not e`
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`: integer addition, or a residual add of two tensors.
    Add,
    /// `-`
    Sub,
    /// `*`: integer product, or repetition of a stage (`basic(64) * 3`).
    Mul,
    /// `/`: integer division (truncating).
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and`
    And,
    /// `or`
    Or,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }
}

/// The kinds of expression.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// An integer literal.
    Int(i64),
    /// A floating-point literal (used for `eps`, slopes, probabilities).
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A string literal.
    Str(String),
    /// A name: a variable, parameter, block, op or constant like `same`.
    Name(String),
    /// `[a, label: b, ...]`: a list of values, or a sequence of stages.
    List(Vec<ListItem>),
    /// `callee(args)`.
    Call {
        /// What is called.
        callee: Box<Expr>,
        /// Positional and keyword arguments.
        args: Vec<Arg>,
    },
    /// `base[index]`.
    Index {
        /// The list.
        base: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
    /// A unary operation.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Expr>,
    },
    /// A binary operation.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The operator's own span.
        op_span: Span,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `if cond { ... } else { ... }`, decided at compile time.
    If {
        /// A boolean condition.
        cond: Box<Expr>,
        /// Taken when the condition holds.
        then: Body,
        /// Taken otherwise (`else if` nests here).
        otherwise: Body,
    },
    /// `input -> stage -> stage`.
    Pipe {
        /// The tensor fed into the first stage.
        input: Box<Expr>,
        /// The stages, applied left to right.
        stages: Vec<Stage>,
    },
}

/// One stage of a pipeline (rule `stage`), optionally labelled.
#[derive(Clone, Debug)]
pub struct Stage {
    /// `label:` naming the layers this stage creates.
    pub label: Option<Ident>,
    /// The stage: a layer, block call, sequence or repetition.
    pub expr: Expr,
}

/// An item of a list literal (rule `list_item`).
#[derive(Clone, Debug)]
pub struct ListItem {
    /// An optional label (used when the list is a sequence of stages).
    pub label: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// A call argument (rule `arg`): positional, or `name: value`.
#[derive(Clone, Debug)]
pub struct Arg {
    /// The keyword, for a keyword argument.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}
