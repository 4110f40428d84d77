//! The op set: defined once, read by the checker, the interpreter, the code
//! generator and the documentation (`resnetc ops`, `docs/ops.md`).
//!
//! [`OPS`] describes each op as the language sees it (name, arguments,
//! defaults, shape rule); [`Op`] is the op as it sits in the checked IR, with
//! every argument resolved to a concrete value.

use serde::Serialize;

/// Every op of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// 2-D convolution.
    Conv,
    /// Batch normalisation (inference: running statistics).
    BatchNorm,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// tanh(x).
    Tanh,
    /// x·Φ(x) (exact, erf form).
    Gelu,
    /// x if x > 0 else slope·x.
    LeakyRelu,
    /// Max pooling.
    MaxPool,
    /// Average pooling.
    AvgPool,
    /// Mean over H and W.
    GlobalAvgPool,
    /// N×C×H×W → N×(C·H·W).
    Flatten,
    /// Fully connected layer.
    Dense,
    /// Softmax over the channel / feature dimension.
    Softmax,
    /// Identity at inference.
    Dropout,
    /// Element-wise sum of equally shaped tensors (`a + b`).
    Add,
    /// Concatenation along channels.
    Concat,
    /// Passes its input through.
    Identity,
    /// Element-wise product with size-1 broadcasting (`a * b`).
    Mul,
    /// Zero channels added before and after the input's channels.
    PadChannels,
    /// Spatial upsampling (nearest or bilinear), PyTorch's `F.interpolate`.
    Upsample,
    /// Transposed 2-D convolution, PyTorch's `ConvTranspose2d`.
    ConvTranspose,
}

/// The type of an op argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgType {
    /// A positive integer.
    Int,
    /// An integer or `[h, w]`.
    IntPair,
    /// An integer, `[h, w]`, `[top, left, bottom, right]`, `same` or `valid`.
    Padding,
    /// `true` / `false`.
    Bool,
    /// A number.
    Float,
    /// An integer ≥ 0 or `[h, w]`.
    NonNegPair,
    /// A spatial size: `[h, w]` or `like(t)` (the height and width of tensor `t`).
    Size,
    /// An interpolation mode: `nearest` or `bilinear`.
    Mode,
}

/// The default of an op argument.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgDefault {
    /// The argument must be given.
    Required,
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// The value of another argument (pool `stride` defaults to `kernel`).
    SameAs(&'static str),
    /// Optional without a default (`upsample` takes `scale` or `size`).
    Absent,
    /// An interpolation mode.
    Mode(UpsampleMode),
}

/// One argument of an op.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ArgSpec {
    /// Its keyword (and its position among positional arguments).
    pub name: &'static str,
    /// Its type.
    pub ty: ArgType,
    /// Its default.
    pub default: ArgDefault,
    /// What it means.
    pub doc: &'static str,
}

/// How many tensor inputs an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arity {
    /// Exactly one.
    One,
    /// Two or more.
    Many,
    /// Exactly two.
    Two,
}

/// The language-level description of an op.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct OpSpec {
    /// Which op.
    pub kind: OpKind,
    /// Its name in `.rn` files.
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// One line on what it computes.
    pub summary: &'static str,
    /// Its shape rule.
    pub shape_rule: &'static str,
    /// Its learned parameters (PyTorch names).
    pub params: &'static str,
    /// Its arguments, in positional order.
    pub args: &'static [ArgSpec],
    /// How many tensors it consumes.
    pub arity: Arity,
}

const fn arg(name: &'static str, ty: ArgType, default: ArgDefault, doc: &'static str) -> ArgSpec {
    ArgSpec {
        name,
        ty,
        default,
        doc,
    }
}

use ArgDefault as D;
use ArgType as T;

const POOL_ARGS: &[ArgSpec] = &[
    arg("kernel", T::IntPair, D::Required, "window size"),
    arg(
        "stride",
        T::IntPair,
        D::SameAs("kernel"),
        "step between windows",
    ),
    arg(
        "pad",
        T::Padding,
        D::Int(0),
        "implicit padding (at most half the window)",
    ),
    arg(
        "dilation",
        T::IntPair,
        D::Int(1),
        "spacing of window elements (maxpool only)",
    ),
    arg(
        "ceil",
        T::Bool,
        D::Bool(false),
        "round the output size up (PyTorch ceil_mode)",
    ),
    arg(
        "count_pad",
        T::Bool,
        D::Bool(true),
        "avgpool: count padded zeros in the divisor",
    ),
];

const fn simple(kind: OpKind, name: &'static str, summary: &'static str) -> OpSpec {
    OpSpec {
        kind,
        name,
        aliases: &[],
        summary,
        shape_rule: "output shape = input shape",
        params: "none",
        args: &[],
        arity: Arity::One,
    }
}

/// The op table: the single definition of the language's ops.
pub const OPS: &[OpSpec] = &[
    OpSpec {
        kind: OpKind::Conv,
        name: "conv",
        aliases: &[],
        summary: "2-D convolution (cross-correlation), PyTorch semantics",
        shape_rule: "C×H×W → out×H'×W', H' = ⌊(H + pad_top + pad_bottom − dilation·(kernel−1) − 1) / stride⌋ + 1 (likewise W'); groups divides C and out",
        params: "weight [out, C/groups, kh, kw]; bias [out] when bias: true",
        args: &[
            arg("out", T::Int, D::Required, "output channels"),
            arg("kernel", T::IntPair, D::Required, "kernel size"),
            arg("stride", T::IntPair, D::Int(1), "stride"),
            arg(
                "pad",
                T::Padding,
                D::Int(0),
                "padding: n, [h, w], [top, left, bottom, right], same or valid",
            ),
            arg("dilation", T::IntPair, D::Int(1), "dilation"),
            arg(
                "groups",
                T::Int,
                D::Int(1),
                "channel groups (C for depthwise)",
            ),
            arg("bias", T::Bool, D::Bool(true), "add a learned bias"),
        ],
        arity: Arity::One,
    },
    OpSpec {
        kind: OpKind::BatchNorm,
        name: "bn",
        aliases: &["batchnorm"],
        summary: "batch normalisation with running statistics (inference)",
        shape_rule: "output shape = input shape (rank 2 or 3: C or C×H×W)",
        params: "weight (γ), bias (β) [C] trainable; running_mean, running_var [C] non-trainable",
        args: &[arg(
            "eps",
            T::Float,
            D::Float(1e-5),
            "added to the variance (Keras uses 0.001)",
        )],
        arity: Arity::One,
    },
    simple(OpKind::Relu, "relu", "max(x, 0)"),
    simple(OpKind::Relu6, "relu6", "min(max(x, 0), 6)"),
    simple(OpKind::Sigmoid, "sigmoid", "1 / (1 + exp(−x))"),
    simple(OpKind::Tanh, "tanh", "hyperbolic tangent"),
    simple(OpKind::Gelu, "gelu", "x·Φ(x), exact (erf) form"),
    OpSpec {
        args: &[arg("slope", T::Float, D::Float(0.01), "slope for x < 0")],
        ..simple(OpKind::LeakyRelu, "leaky_relu", "x if x > 0 else slope·x")
    },
    OpSpec {
        kind: OpKind::MaxPool,
        name: "maxpool",
        aliases: &[],
        summary: "max over each window (padding never wins)",
        shape_rule: "C×H×W → C×H'×W', H' as for conv (rounded up with ceil: true, the last window starting inside the input)",
        params: "none",
        args: POOL_ARGS,
        arity: Arity::One,
    },
    OpSpec {
        kind: OpKind::AvgPool,
        name: "avgpool",
        aliases: &[],
        summary: "mean over each window",
        shape_rule: "C×H×W → C×H'×W', as maxpool",
        params: "none",
        args: POOL_ARGS,
        arity: Arity::One,
    },
    OpSpec {
        shape_rule: "C×H×W → C×1×1",
        ..simple(
            OpKind::GlobalAvgPool,
            "global_avgpool",
            "mean over height and width",
        )
    },
    OpSpec {
        shape_rule: "C×H×W → (C·H·W)",
        ..simple(
            OpKind::Flatten,
            "flatten",
            "all dimensions but the batch into one",
        )
    },
    OpSpec {
        kind: OpKind::Dense,
        name: "dense",
        aliases: &["linear"],
        summary: "fully connected layer: x·Wᵀ + b",
        shape_rule: "F → out (input must be N×F: flatten first)",
        params: "weight [out, F]; bias [out] when bias: true",
        args: &[
            arg("out", T::Int, D::Required, "output features"),
            arg("bias", T::Bool, D::Bool(true), "add a learned bias"),
        ],
        arity: Arity::One,
    },
    simple(
        OpKind::Softmax,
        "softmax",
        "softmax over dimension 1 (channels / features)",
    ),
    OpSpec {
        args: &[arg(
            "p",
            T::Float,
            D::Float(0.5),
            "drop probability in training, 0 ≤ p < 1",
        )],
        ..simple(OpKind::Dropout, "dropout", "identity at inference")
    },
    OpSpec {
        kind: OpKind::Add,
        name: "add",
        aliases: &[],
        summary: "element-wise sum, written `a + b`: the skip connection",
        shape_rule: "all inputs have exactly equal shapes (no broadcasting); output the same",
        params: "none",
        args: &[],
        arity: Arity::Many,
    },
    OpSpec {
        kind: OpKind::Concat,
        name: "concat",
        aliases: &[],
        summary: "concatenation along channels",
        shape_rule: "Cᵢ×H×W → (ΣCᵢ)×H×W; all other dimensions equal",
        params: "none",
        args: &[],
        arity: Arity::Many,
    },
    simple(OpKind::Identity, "identity", "passes its input through"),
    OpSpec {
        kind: OpKind::Mul,
        name: "mul",
        aliases: &[],
        summary: "element-wise product, written `a * b`: a gate scaling a feature map (squeeze-and-excitation)",
        shape_rule: "equal ranks; in every dimension the sizes are equal or one of them is 1, which broadcasts (C×1×1 against C×H×W, either side); output the larger size in each dimension. `+` never broadcasts: a skip connection whose shapes differ is a mistake, a gate is not",
        params: "none",
        args: &[],
        arity: Arity::Two,
    },
    OpSpec {
        kind: OpKind::PadChannels,
        name: "pad_channels",
        aliases: &[],
        summary: "zero channels added before and after the input's (PyTorch `F.pad(x, (0, 0, 0, 0, before, after))`): the option-A shortcut of He et al. (2015)",
        shape_rule: "C×H×W → (before + C + after)×H×W (any rank: the first dimension grows)",
        params: "none",
        args: &[
            arg(
                "before",
                T::Int,
                D::Required,
                "zero channels before the input's, 0 or more",
            ),
            arg(
                "after",
                T::Int,
                D::Required,
                "zero channels after the input's, 0 or more",
            ),
        ],
        arity: Arity::One,
    },
    OpSpec {
        kind: OpKind::Upsample,
        name: "upsample",
        aliases: &["interpolate"],
        summary: "spatial upsampling by an integer `scale` or to a `size`, PyTorch's `F.interpolate(…, align_corners=False)` (`nearest` is PyTorch's legacy `nearest`: source index ⌊dst·H/H'⌋)",
        shape_rule: "C×H×W → C×H'×W': H' = scale·H (likewise W'), or [H', W'] = size; exactly one of `scale` and `size`",
        params: "none",
        args: &[
            arg(
                "scale",
                T::Int,
                D::Absent,
                "integer scale factor for height and width",
            ),
            arg(
                "size",
                T::Size,
                D::Absent,
                "output [h, w], or `like(t)`: the height and width of tensor t",
            ),
            arg(
                "mode",
                T::Mode,
                D::Mode(UpsampleMode::Nearest),
                "`nearest` or `bilinear` (align_corners=False)",
            ),
        ],
        arity: Arity::One,
    },
    OpSpec {
        kind: OpKind::ConvTranspose,
        name: "conv_transpose",
        aliases: &[],
        summary: "transposed 2-D convolution (the gradient of `conv`), PyTorch's `ConvTranspose2d`",
        shape_rule: "C×H×W → out×H'×W', H' = (H − 1)·stride − 2·pad + dilation·(kernel − 1) + output_pad + 1 (likewise W'), at least 1; groups divides C and out; output_pad < stride or < dilation",
        params: "weight [C, out/groups, kh, kw]; bias [out] when bias: true",
        args: &[
            arg("out", T::Int, D::Required, "output channels"),
            arg("kernel", T::IntPair, D::Required, "kernel size"),
            arg("stride", T::IntPair, D::Int(1), "stride"),
            arg(
                "pad",
                T::NonNegPair,
                D::Int(0),
                "padding removed from each side of the output",
            ),
            arg(
                "output_pad",
                T::NonNegPair,
                D::Int(0),
                "extra rows / columns added to one side of the output",
            ),
            arg("groups", T::Int, D::Int(1), "channel groups"),
            arg("dilation", T::IntPair, D::Int(1), "dilation"),
            arg("bias", T::Bool, D::Bool(true), "add a learned bias"),
        ],
        arity: Arity::One,
    },
];

/// Looks an op up by its name or an alias.
pub fn lookup(name: &str) -> Option<&'static OpSpec> {
    OPS.iter()
        .find(|s| s.name == name || s.aliases.contains(&name))
}

impl OpKind {
    /// The op's table entry.
    pub fn spec(self) -> &'static OpSpec {
        OPS.iter()
            .find(|s| s.kind == self)
            .expect("every OpKind has a row in OPS")
    }

    /// The op's name in `.rn` files.
    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

/// Per-side padding: `[top, left, bottom, right]`.
pub type Padding4 = [usize; 4];

/// The arguments of a convolution, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConvParams {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub padding: Padding4,
    /// `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// Whether a bias is added.
    pub bias: bool,
}

/// The arguments of batch normalisation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchNormParams {
    /// Channels.
    pub channels: usize,
    /// Added to the variance.
    pub eps: f64,
}

/// The arguments of max / average pooling, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolParams {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub padding: Padding4,
    /// `[dh, dw]` (max pooling only; 1 for average pooling).
    pub dilation: [usize; 2],
    /// PyTorch `ceil_mode`.
    pub ceil_mode: bool,
    /// Average pooling: whether padded zeros count in the divisor.
    pub count_include_pad: bool,
}

/// The arguments of a dense layer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DenseParams {
    /// Input features.
    pub in_features: usize,
    /// Output features.
    pub out_features: usize,
    /// Whether a bias is added.
    pub bias: bool,
}

/// Element-wise activations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
    /// Logistic sigmoid.
    Sigmoid,
    /// tanh.
    Tanh,
    /// Exact GELU.
    Gelu,
    /// Leaky ReLU with this slope.
    LeakyRelu {
        /// Slope for negative inputs.
        slope: f64,
    },
}

/// How `upsample` interpolates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsampleMode {
    /// PyTorch's legacy `nearest`: source index ⌊dst · in / out⌋.
    Nearest,
    /// Bilinear with `align_corners=False` (half-pixel centres).
    Bilinear,
}

impl UpsampleMode {
    /// Its name in `.rn` files.
    pub fn name(self) -> &'static str {
        match self {
            UpsampleMode::Nearest => "nearest",
            UpsampleMode::Bilinear => "bilinear",
        }
    }
}

/// The arguments of `upsample`, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpsampleParams {
    /// Output `[h, w]`.
    pub size: [usize; 2],
    /// The integer scale factor, when the size was given as one.
    pub scale: Option<usize>,
    /// The tensor whose height and width `size` is, when given as `like(t)`
    /// (the size analysis follows it when the input size varies).
    pub like: Option<crate::ir::NodeId>,
    /// Nearest or bilinear.
    pub mode: UpsampleMode,
}

/// The arguments of a transposed convolution, resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConvTransposeParams {
    /// Input channels.
    pub in_channels: usize,
    /// Input `[h, w]` (for the multiply-add count).
    pub in_hw: [usize; 2],
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[ph, pw]`, removed from both sides of the output.
    pub padding: [usize; 2],
    /// `[oh, ow]`, added to the bottom / right of the output.
    pub output_padding: [usize; 2],
    /// `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
    /// Whether a bias is added.
    pub bias: bool,
}

/// An op in the checked IR, with every argument resolved.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A model input.
    Input,
    /// Convolution.
    Conv(ConvParams),
    /// Batch normalisation.
    BatchNorm(BatchNormParams),
    /// An element-wise activation.
    Activation(Activation),
    /// Max pooling.
    MaxPool(PoolParams),
    /// Average pooling.
    AvgPool(PoolParams),
    /// Global average pooling.
    GlobalAvgPool,
    /// Flatten all but the batch dimension.
    Flatten,
    /// Fully connected layer.
    Dense(DenseParams),
    /// Softmax over dimension 1.
    Softmax,
    /// Dropout (identity at inference).
    Dropout {
        /// The training-time drop probability.
        p: f64,
    },
    /// Element-wise sum.
    Add,
    /// Channel concatenation.
    Concat,
    /// Identity.
    Identity,
    /// Element-wise product, size-1 dimensions broadcast.
    Mul,
    /// Zero channels around the input's.
    PadChannels {
        /// Zero channels before the input's.
        before: usize,
        /// Zero channels after the input's.
        after: usize,
    },
    /// Spatial upsampling.
    Upsample(UpsampleParams),
    /// Transposed convolution.
    ConvTranspose(ConvTransposeParams),
}

impl Op {
    /// The language name of the op (`input` for model inputs).
    pub fn name(&self) -> &'static str {
        match self.kind() {
            Some(k) => k.name(),
            None => "input",
        }
    }

    /// The table entry's kind (`None` for model inputs).
    pub fn kind(&self) -> Option<OpKind> {
        Some(match self {
            Op::Input => return None,
            Op::Conv(_) => OpKind::Conv,
            Op::BatchNorm(_) => OpKind::BatchNorm,
            Op::Activation(a) => match a {
                Activation::Relu => OpKind::Relu,
                Activation::Relu6 => OpKind::Relu6,
                Activation::Sigmoid => OpKind::Sigmoid,
                Activation::Tanh => OpKind::Tanh,
                Activation::Gelu => OpKind::Gelu,
                Activation::LeakyRelu { .. } => OpKind::LeakyRelu,
            },
            Op::MaxPool(_) => OpKind::MaxPool,
            Op::AvgPool(_) => OpKind::AvgPool,
            Op::GlobalAvgPool => OpKind::GlobalAvgPool,
            Op::Flatten => OpKind::Flatten,
            Op::Dense(_) => OpKind::Dense,
            Op::Softmax => OpKind::Softmax,
            Op::Dropout { .. } => OpKind::Dropout,
            Op::Add => OpKind::Add,
            Op::Concat => OpKind::Concat,
            Op::Identity => OpKind::Identity,
            Op::Mul => OpKind::Mul,
            Op::PadChannels { .. } => OpKind::PadChannels,
            Op::Upsample(_) => OpKind::Upsample,
            Op::ConvTranspose(_) => OpKind::ConvTranspose,
        })
    }

    /// The learned tensors of the op: `(suffix, shape, trainable)`, in
    /// PyTorch `state_dict` order.
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        let p = |kind: ParamKind, shape: Vec<usize>, trainable| ParamSpec {
            suffix: kind.suffix(),
            shape,
            trainable,
            kind,
        };
        match self {
            Op::Conv(c) => {
                let mut v = vec![p(
                    ParamKind::Weight,
                    vec![
                        c.out_channels,
                        c.in_channels / c.groups.max(1),
                        c.kernel[0],
                        c.kernel[1],
                    ],
                    true,
                )];
                if c.bias {
                    v.push(p(ParamKind::Bias, vec![c.out_channels], true));
                }
                v
            }
            Op::ConvTranspose(c) => {
                let mut v = vec![p(
                    ParamKind::Weight,
                    vec![
                        c.in_channels,
                        c.out_channels / c.groups.max(1),
                        c.kernel[0],
                        c.kernel[1],
                    ],
                    true,
                )];
                if c.bias {
                    v.push(p(ParamKind::Bias, vec![c.out_channels], true));
                }
                v
            }
            Op::BatchNorm(b) => vec![
                p(ParamKind::Gamma, vec![b.channels], true),
                p(ParamKind::Beta, vec![b.channels], true),
                p(ParamKind::RunningMean, vec![b.channels], false),
                p(ParamKind::RunningVar, vec![b.channels], false),
            ],
            Op::Dense(d) => {
                let mut v = vec![p(
                    ParamKind::Weight,
                    vec![d.out_features, d.in_features],
                    true,
                )];
                if d.bias {
                    v.push(p(ParamKind::Bias, vec![d.out_features], true));
                }
                v
            }
            _ => Vec::new(),
        }
    }
}

/// A learned tensor of an op.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSpec {
    /// The name's last segment (`weight`, `running_mean`, ...).
    pub suffix: &'static str,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Trained by gradient descent (false for running statistics).
    pub trainable: bool,
    /// What the tensor is to the op.
    pub kind: ParamKind,
}

/// What a learned tensor is to its op: back ends match on this, never on
/// the parameter's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// The kernel of a conv, transposed conv or dense layer.
    Weight,
    /// The bias of a conv, transposed conv or dense layer.
    Bias,
    /// A batch norm's scale γ (named `weight`, as in PyTorch).
    Gamma,
    /// A batch norm's shift β (named `bias`).
    Beta,
    /// A batch norm's running mean.
    RunningMean,
    /// A batch norm's running variance.
    RunningVar,
}

impl ParamKind {
    /// The last segment of the parameter's name (PyTorch's `state_dict` key).
    pub fn suffix(self) -> &'static str {
        match self {
            ParamKind::Weight | ParamKind::Gamma => "weight",
            ParamKind::Bias | ParamKind::Beta => "bias",
            ParamKind::RunningMean => "running_mean",
            ParamKind::RunningVar => "running_var",
        }
    }
}

/// The op reference as Markdown, generated from [`OPS`] (`resnetc ops`
/// appends the built-in functions; committed as `docs/ops.md` and kept in
/// sync by a test).
pub fn reference_markdown() -> String {
    use std::fmt::Write;
    let mut s = String::from(
        "# resnetc op reference\n\n\
         Generated from the op table in `src/ir/ops.rs` by `resnetc ops`; do not edit.\n\
         Shapes exclude the batch dimension N. Arguments may be given by position (in the\n\
         order listed) or by keyword (`stride: 2`).\n\n",
    );
    for op in OPS {
        let _ = writeln!(s, "## `{}`\n", op.name);
        let _ = writeln!(s, "{}.\n", capitalise(op.summary));
        if !op.aliases.is_empty() {
            let _ = writeln!(
                s,
                "Also written: {}.\n",
                op.aliases
                    .iter()
                    .map(|a| format!("`{a}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(
            s,
            "- Inputs: {}",
            match op.arity {
                Arity::One => "one tensor (`x -> op` or `op(x)`)",
                Arity::Many => "two or more tensors (`op(a, b, ...)`)",
                Arity::Two => "two tensors (`op(a, b)`)",
            }
        );
        let _ = writeln!(s, "- Shape rule: {}", op.shape_rule);
        let _ = writeln!(s, "- Parameters: {}\n", op.params);
        if !op.args.is_empty() {
            s.push_str("| argument | type | default | meaning |\n|---|---|---|---|\n");
            for a in op.args {
                let ty = match a.ty {
                    ArgType::Int => "int",
                    ArgType::IntPair => "int or [h, w]",
                    ArgType::Padding => "int, [h, w], [t, l, b, r], `same`, `valid`",
                    ArgType::Bool => "bool",
                    ArgType::Float => "number",
                    ArgType::NonNegPair => "int ≥ 0 or [h, w]",
                    ArgType::Size => "[h, w] or `like(t)`",
                    ArgType::Mode => "`nearest` or `bilinear`",
                };
                let default = match a.default {
                    ArgDefault::Required => "required".to_string(),
                    ArgDefault::Int(i) => i.to_string(),
                    ArgDefault::Float(f) => f.to_string(),
                    ArgDefault::Bool(b) => b.to_string(),
                    ArgDefault::SameAs(o) => format!("= `{o}`"),
                    ArgDefault::Absent => "—".to_string(),
                    ArgDefault::Mode(m) => format!("`{}`", m.name()),
                };
                let _ = writeln!(s, "| `{}` | {} | {} | {} |", a.name, ty, default, a.doc);
            }
            s.push('\n');
        }
    }
    s
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
