//! Binding op arguments and the shape rule of every op.
//!
//! The argument names, order and defaults come from [`crate::ir::ops::OPS`];
//! the shape rules implement the `shape_rule` text of each entry.

use std::collections::HashMap;

use super::error::{CheckError, CheckErrorKind as K};
use super::value::{CallArg, PadKeyword, Value};
use crate::ir::ops::{ArgDefault, BatchNormParams, OpSpec, Padding4};
use crate::ir::{
    Activation, ConvParams, ConvTransposeParams, DenseParams, Op, OpKind, PoolParams, Shape,
    UpsampleMode, UpsampleParams,
};
use crate::span::Span;

/// Largest number of elements per sample of any tensor.
pub const MAX_ELEMENTS: u64 = 1 << 40;

/// `upsample`'s `scale`, `size` and `mode`.
type UpsampleArgs = (Option<usize>, Option<[usize; 2]>, UpsampleMode);

/// Arguments bound to an op's parameters.
pub(crate) struct Bound<'a> {
    spec: &'static OpSpec,
    values: HashMap<&'static str, (&'a Value, Span)>,
    call: Span,
}

/// Binds positional and keyword arguments to the op's argument table.
pub(crate) fn bind<'a>(
    spec: &'static OpSpec,
    args: &'a [CallArg],
    call: Span,
) -> Result<Bound<'a>, CheckError> {
    let mut values: HashMap<&'static str, (&'a Value, Span)> = HashMap::new();
    let mut position = 0;
    // Every unknown keyword of the call, reported together.
    let unknown: Vec<&CallArg> = args
        .iter()
        .filter(|a| {
            a.name
                .as_ref()
                .is_some_and(|n| !spec.args.iter().any(|s| s.name == n.name))
        })
        .collect();
    if let Some(e) = unknown_keywords(spec, &unknown) {
        return Err(e);
    }
    for a in args {
        let target = match &a.name {
            Some(name) => match spec.args.iter().find(|s| s.name == name.name) {
                Some(s) => s,
                None => {
                    return Err(unknown_keywords(spec, &[a]).unwrap_or_else(|| {
                        CheckError::new(
                            K::Arguments {
                                callee: spec.name.into(),
                                message: format!(
                                    "`{}` has no argument `{}` (this is a bug in resnetc)",
                                    spec.name, name.name
                                ),
                            },
                            name.span,
                        )
                    }));
                }
            },
            None => {
                let Some(s) = spec.args.get(position) else {
                    return Err(CheckError::new(
                        K::Arguments {
                            callee: spec.name.into(),
                            message: format!(
                                "`{}` takes {} positional argument{}, but {} were given",
                                spec.name,
                                spec.args.len(),
                                if spec.args.len() == 1 { "" } else { "s" },
                                args.iter().filter(|a| a.name.is_none()).count(),
                            ),
                        },
                        a.span,
                    )
                    .label("unexpected argument")
                    .note(if spec.args.is_empty() {
                        format!("`{}` takes no arguments", spec.name)
                    } else {
                        format!(
                            "`{}` takes: {}",
                            spec.name,
                            spec.args
                                .iter()
                                .map(|s| s.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }));
                };
                position += 1;
                s
            }
        };
        if let Some((_, first)) = values.insert(target.name, (&a.value, a.span)) {
            return Err(CheckError::new(
                K::Arguments {
                    callee: spec.name.into(),
                    message: format!(
                        "argument `{}` of `{}` is given twice",
                        target.name, spec.name
                    ),
                },
                a.span,
            )
            .label("given again here")
            .with(first, "first given here"));
        }
    }
    let missing: Vec<_> = spec
        .args
        .iter()
        .filter(|s| s.default == ArgDefault::Required && !values.contains_key(s.name))
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|s| format!("`{}`", s.name)).collect();
        let described: Vec<String> = missing
            .iter()
            .map(|s| format!("`{}` ({})", s.name, s.doc))
            .collect();
        let plural = if missing.len() == 1 { "" } else { "s" };
        let required: Vec<&str> = spec
            .args
            .iter()
            .filter(|a| a.default == ArgDefault::Required)
            .map(|a| a.name)
            .collect();
        return Err(CheckError::new(
            K::Arguments {
                callee: spec.name.into(),
                message: format!(
                    "`{}` is missing the required argument{plural} {}",
                    spec.name,
                    super::and_list(&described)
                ),
            },
            call,
        )
        .label(format!("{} missing", super::and_list(&names)))
        .help(match example_call(spec.name) {
            Some(ex) => format!(
                "write `{}({})`, for example {ex}",
                spec.name,
                required.join(", ")
            ),
            None => format!("write `{}({})`", spec.name, required.join(", ")),
        }));
    }
    Ok(Bound { spec, values, call })
}

impl Bound<'_> {
    fn span_of(&self, name: &str) -> Span {
        self.values.get(name).map_or(self.call, |v| v.1)
    }

    fn bad(&self, name: &str, message: impl Into<String>) -> CheckError {
        let e = CheckError::new(
            K::ArgValue {
                op: self.spec.name.into(),
                arg: name.into(),
                message: message.into(),
            },
            self.span_of(name),
        );
        match arg_help(self.spec.name, name) {
            Some(h) => e.help(h),
            None => e,
        }
    }

    fn type_error(&self, name: &str, expected: &str, v: &Value) -> CheckError {
        CheckError::new(
            K::Type {
                expected: format!("{expected} for `{}` of `{}`", name, self.spec.name),
                found: v.describe(),
            },
            self.span_of(name),
        )
    }

    fn default_of(&self, name: &str) -> ArgDefault {
        self.spec
            .args
            .iter()
            .find(|a| a.name == name)
            .map_or(ArgDefault::Required, |a| a.default)
    }

    fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name).map(|v| v.0)
    }

    fn positive(&self, name: &str, v: i64) -> Result<usize, CheckError> {
        self.at_least(name, v, 1, "positive")
    }

    fn int(&self, name: &str) -> Result<usize, CheckError> {
        match self.raw(name) {
            Some(Value::Int(v)) => self.positive(name, *v),
            Some(v) => Err(self.type_error(name, "a positive integer", v)),
            None => match self.default_of(name) {
                ArgDefault::Int(v) => self.positive(name, v),
                ArgDefault::SameAs(other) => self.int(other),
                _ => Err(self.bad(name, "missing")),
            },
        }
    }

    fn pair(&self, name: &str) -> Result<[usize; 2], CheckError> {
        match self.raw(name) {
            Some(Value::Int(v)) => {
                let x = self.positive(name, *v)?;
                Ok([x, x])
            }
            Some(Value::List(l)) if l.len() == 2 => {
                let mut out = [0; 2];
                for (o, v) in out.iter_mut().zip(l.iter()) {
                    match v {
                        Value::Int(i) => *o = self.positive(name, *i)?,
                        v => return Err(self.type_error(name, "an integer or [h, w]", v)),
                    }
                }
                Ok(out)
            }
            Some(v) => Err(self.type_error(name, "an integer or [h, w]", v)),
            None => match self.default_of(name) {
                ArgDefault::Int(v) => {
                    let x = self.positive(name, v)?;
                    Ok([x, x])
                }
                ArgDefault::SameAs(other) => self.pair(other),
                _ => Err(self.bad(name, "missing")),
            },
        }
    }

    /// An integer ≥ 0 or `[h, w]` of them (`conv_transpose`'s `pad` and `output_pad`).
    fn non_negative_pair(&self, name: &str) -> Result<[usize; 2], CheckError> {
        let expected = "an integer ≥ 0 or [h, w]";
        match self.raw(name) {
            Some(Value::Int(v)) => {
                let x = self.non_negative(name, *v)?;
                Ok([x, x])
            }
            Some(Value::List(l)) if l.len() == 2 => {
                let mut out = [0; 2];
                for (o, v) in out.iter_mut().zip(l.iter()) {
                    match v {
                        Value::Int(i) => *o = self.non_negative(name, *i)?,
                        v => return Err(self.type_error(name, expected, v)),
                    }
                }
                Ok(out)
            }
            Some(v) => Err(self.type_error(name, expected, v)),
            None => match self.default_of(name) {
                ArgDefault::Int(v) => {
                    let x = self.non_negative(name, v)?;
                    Ok([x, x])
                }
                _ => Err(self.bad(name, "missing")),
            },
        }
    }

    /// An optional positive integer (no default).
    fn optional_int(&self, name: &str) -> Result<Option<usize>, CheckError> {
        match self.raw(name) {
            None => Ok(None),
            Some(_) => self.int(name).map(Some),
        }
    }

    /// An optional spatial size: `[h, w]` (positive) or `like(t)`.
    fn optional_size(&self, name: &str) -> Result<Option<[usize; 2]>, CheckError> {
        let expected = "[h, w] or `like(t)` (the height and width of tensor t)";
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Like(hw, _)) => Ok(Some(*hw)),
            Some(Value::List(l)) if l.len() == 2 => {
                let mut out = [0; 2];
                for (o, v) in out.iter_mut().zip(l.iter()) {
                    match v {
                        Value::Int(i) => *o = self.positive(name, *i)?,
                        v => return Err(self.type_error(name, expected, v)),
                    }
                }
                Ok(Some(out))
            }
            Some(v @ Value::Tensor(_)) => Err(self
                .type_error(name, expected, v)
                .help("write `like(t)` for the height and width of tensor `t`")),
            Some(v) => Err(self.type_error(name, expected, v)),
        }
    }

    /// An interpolation mode.
    fn mode(&self, name: &str) -> Result<UpsampleMode, CheckError> {
        match self.raw(name) {
            Some(Value::Mode(m)) => Ok(*m),
            Some(v) => Err(self
                .type_error(name, "`nearest` or `bilinear`", v)
                .help("write `mode: nearest` (PyTorch's default) or `mode: bilinear`")),
            None => match self.default_of(name) {
                ArgDefault::Mode(m) => Ok(m),
                _ => Err(self.bad(name, "missing")),
            },
        }
    }

    /// The tensor a `like(t)` argument `name` measures, if it is one.
    fn like_source(&self, name: &str) -> Option<crate::ir::NodeId> {
        match self.raw(name) {
            Some(Value::Like(_, t)) => Some(*t),
            _ => None,
        }
    }

    /// `upsample`'s arguments: exactly one of `scale` and `size`, and the mode.
    fn upsample_args(&self) -> Result<UpsampleArgs, CheckError> {
        let scale = self.optional_int("scale")?;
        let size = self.optional_size("size")?;
        let mode = self.mode("mode")?;
        match (scale, size) {
            (Some(_), Some(_)) => Err(self
                .bad("size", "`scale` and `size` are both given")
                .label("given with `scale`")
                .help("give either `scale: 2` or `size: like(t)` (or `size: [h, w]`)")),
            (None, None) => Err(CheckError::new(
                K::Arguments {
                    callee: "upsample".into(),
                    message: "`upsample` needs `scale` or `size`".into(),
                },
                self.call,
            )
            .label("neither `scale` nor `size` given")
            .help("write `upsample(2)`, `upsample(size: like(x))` or `upsample(size: [h, w])`")),
            _ => Ok((scale, size, mode)),
        }
    }

    /// `conv_transpose`'s arguments that do not depend on the input (the
    /// input channels and size are left 0).
    fn conv_transpose_args(&self) -> Result<ConvTransposeParams, CheckError> {
        let out = self.int("out")?;
        let kernel = self.pair("kernel")?;
        let stride = self.pair("stride")?;
        let pad = self.non_negative_pair("pad")?;
        let output_pad = self.non_negative_pair("output_pad")?;
        let groups = self.int("groups")?;
        let dilation = self.pair("dilation")?;
        let bias = self.boolean("bias")?;
        for d in 0..2 {
            if output_pad[d] >= stride[d].max(dilation[d]) {
                return Err(self
                    .bad(
                        "output_pad",
                        format!(
                            "output padding {} is not smaller than the stride {} or the dilation {}",
                            output_pad[d], stride[d], dilation[d]
                        ),
                    )
                    .label("must be smaller than the stride or the dilation")
                    .help("PyTorch requires output_padding < max(stride, dilation)"));
            }
        }
        Ok(ConvTransposeParams {
            in_channels: 0,
            in_hw: [0, 0],
            out_channels: out,
            kernel,
            stride,
            padding: pad,
            output_padding: output_pad,
            dilation,
            groups,
            bias,
        })
    }

    fn non_negative(&self, name: &str, v: i64) -> Result<usize, CheckError> {
        self.at_least(name, v, 0, "negative")
    }

    /// A required integer argument that may be 0 (`pad_channels`' counts).
    fn count(&self, name: &str) -> Result<usize, CheckError> {
        match self.raw(name) {
            Some(Value::Int(v)) => self.non_negative(name, *v),
            Some(v) => Err(self.type_error(name, "an integer, 0 or more", v)),
            None => Err(self.bad(name, "missing")),
        }
    }

    /// `v` as a size of at least `min` (and at most 2^40); `what` words the error.
    fn at_least(&self, name: &str, v: i64, min: i64, what: &str) -> Result<usize, CheckError> {
        if v < min {
            let message = if min == 1 {
                format!("must be {what}, got {v}")
            } else {
                format!("must not be {what}, got {v}")
            };
            return Err(self
                .bad(name, message)
                .label(format!("`{name}` must be {min} or more")));
        }
        usize::try_from(v)
            .ok()
            .filter(|&x| (x as u64) <= MAX_ELEMENTS)
            .ok_or_else(|| {
                self.bad(name, format!("{v} is too large"))
                    .label("at most 2^40")
            })
    }

    /// Padding: explicit, or `same` (needs the input size, kernel, stride, dilation).
    fn padding(
        &self,
        name: &str,
        input_hw: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<Padding4, CheckError> {
        let ints = |l: &[Value]| -> Result<Vec<usize>, CheckError> {
            l.iter()
                .map(|v| match v {
                    Value::Int(i) => self.non_negative(name, *i),
                    v => Err(self.type_error(name, "integers", v)),
                })
                .collect()
        };
        match self.raw(name) {
            None => Ok([0; 4]),
            Some(Value::Int(v)) => {
                let p = self.non_negative(name, *v)?;
                Ok([p; 4])
            }
            Some(Value::List(l)) if l.len() == 2 => {
                let v = ints(l)?;
                Ok([v[0], v[1], v[0], v[1]])
            }
            Some(Value::List(l)) if l.len() == 4 => {
                let v = ints(l)?;
                Ok([v[0], v[1], v[2], v[3]])
            }
            Some(Value::Pad(PadKeyword::Valid)) => Ok([0; 4]),
            Some(Value::Pad(PadKeyword::Same)) => {
                // TensorFlow's rule: output = ceil(input / stride); the odd pixel goes after.
                let mut p = [0; 4];
                for d in 0..2 {
                    let out = (input_hw[d] as u128).div_ceil(stride[d] as u128);
                    let needed =
                        (out.max(1) - 1) * stride[d] as u128 + extent(kernel[d], dilation[d]);
                    let total = needed.saturating_sub(input_hw[d] as u128);
                    let (before, after) = (total / 2, total - total / 2);
                    let fits = |v: u128| {
                        usize::try_from(v)
                            .ok()
                            .filter(|&v| v as u64 <= MAX_ELEMENTS)
                    };
                    let (Some(before), Some(after)) = (fits(before), fits(after)) else {
                        return Err(self
                            .bad(
                                name,
                                format!(
                                    "`same` would pad the {} with {total} zeros",
                                    ["height", "width"][d]
                                ),
                            )
                            .label("at most 2^40 on each side"));
                    };
                    p[d] = before;
                    p[d + 2] = after;
                }
                Ok(p)
            }
            Some(v) => Err(self.type_error(
                name,
                "an integer, [h, w], [top, left, bottom, right], `same` or `valid`",
                v,
            )),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, CheckError> {
        match self.raw(name) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.type_error(name, "`true` or `false`", v)),
            None => match self.default_of(name) {
                ArgDefault::Bool(b) => Ok(b),
                _ => Ok(false),
            },
        }
    }

    fn float(&self, name: &str) -> Result<f64, CheckError> {
        match self.raw(name) {
            Some(Value::Float(f)) => Ok(*f),
            Some(Value::Int(i)) => Ok(*i as f64),
            Some(v) => Err(self.type_error(name, "a number", v)),
            None => match self.default_of(name) {
                ArgDefault::Float(f) => Ok(f),
                _ => Ok(0.0),
            },
        }
    }

    /// Batch norm's `eps`: positive and finite.
    fn eps(&self) -> Result<f64, CheckError> {
        let eps = self.float("eps")?;
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(self
                .bad("eps", format!("must be positive, got {eps}"))
                .label("must be greater than 0"));
        }
        Ok(eps)
    }

    /// Dropout's `p`: a probability below 1.
    fn probability(&self) -> Result<f64, CheckError> {
        let p = self.float("p")?;
        if !(0.0..1.0).contains(&p) {
            return Err(self
                .bad("p", format!("must be in [0, 1), got {p}"))
                .label("a probability: 0 ≤ p < 1"));
        }
        Ok(p)
    }

    /// Leaky ReLU's `slope`: finite.
    fn slope(&self) -> Result<f64, CheckError> {
        let slope = self.float("slope")?;
        if !slope.is_finite() {
            return Err(self.bad("slope", "must be finite"));
        }
        Ok(slope)
    }
}

/// One error for all the unknown keyword arguments of a call (`None` if
/// there are none), each labelled with its suggestion.
fn unknown_keywords(spec: &'static OpSpec, unknown: &[&CallArg]) -> Option<CheckError> {
    // The common case first, without allocating: every op application binds.
    if unknown.is_empty() {
        return None;
    }
    let names: Vec<&str> = spec.args.iter().map(|s| s.name).collect();
    let idents: Vec<&crate::syntax::ast::Ident> =
        unknown.iter().filter_map(|a| a.name.as_ref()).collect();
    let (first, rest) = idents.split_first()?;
    let quoted: Vec<String> = idents.iter().map(|n| format!("`{}`", n.name)).collect();
    let message = if rest.is_empty() {
        format!("`{}` has no argument {}", spec.name, quoted[0])
    } else {
        format!(
            "`{}` has no arguments {}",
            spec.name,
            super::and_list(&quoted)
        )
    };
    let label = |n: &crate::syntax::ast::Ident| match super::suggest::argument(&n.name, &names) {
        Some(s) => (
            format!("unknown argument: did you mean `{}`?", s.name),
            Some(s.help),
        ),
        None => ("unknown argument".to_string(), None),
    };
    let (text, help) = label(first);
    let mut e = CheckError::new(
        K::Arguments {
            callee: spec.name.into(),
            message,
        },
        first.span,
    )
    .label(if rest.is_empty() {
        "unknown argument".to_string()
    } else {
        text
    });
    let mut helps: Vec<String> = help.into_iter().collect();
    for n in rest {
        let (text, help) = label(n);
        e = e.with(n.span, text);
        helps.extend(help);
    }
    for h in helps {
        e = e.help(h);
    }
    Some(e.note(if names.is_empty() {
        format!("`{}` takes no arguments", spec.name)
    } else {
        format!("`{}` takes: {}", spec.name, names.join(", "))
    }))
}

/// A typical call of an op with its required arguments.
fn example_call(op: &str) -> Option<&'static str> {
    Some(match op {
        "conv" => "`conv(64, 3)` (64 output channels, a 3×3 kernel)",
        "dense" => "`dense(1000)` (1000 output features)",
        "maxpool" => "`maxpool(3, stride: 2, pad: 1)`",
        "avgpool" => "`avgpool(2)`",
        _ => return None,
    })
}

/// A hint for an invalid value of argument `arg` of `op`.
fn arg_help(op: &str, arg: &str) -> Option<&'static str> {
    Some(match (op, arg) {
        ("conv_transpose", "stride") => "stride 2 doubles the height and width",
        ("conv_transpose", "pad") => {
            "a transposed convolution's padding crops its output: `pad: 0` keeps it whole"
        }
        (_, "stride") => "stride 1 keeps the height and width; stride 2 halves them",
        (_, "pad") => {
            "padding adds zeros around the input and cannot crop: use `pad: 0` (or `valid`) for none"
        }
        (_, "kernel") => "the kernel is the window size: 1, 3, 7, or `[h, w]`",
        (_, "dilation") => "dilation 1 is an ordinary (dense) window",
        (_, "groups") => "`groups: 1` is an ordinary convolution; `groups: C` a depthwise one",
        ("dropout", "p") => "`p` is the probability of zeroing an element: write 50% as `p: 0.5`",
        ("conv", "out") => "`out` is the number of output channels",
        ("dense", "out") => "`out` is the number of output features",
        _ => return None,
    })
}

fn rank_error(op: &str, expected: &str, input: &Shape, span: Span) -> CheckError {
    let mut e = CheckError::new(
        K::Rank {
            op: op.into(),
            expected: expected.into(),
            found: input.to_string(),
        },
        span,
    )
    .label(format!("input is {input}"));
    if input.0.len() == 3 && expected.contains("N×F") {
        e = e.help(if input.0[1] == 1 && input.0[2] == 1 {
            "flatten the pooled feature map first: `-> flatten -> dense(...)`"
        } else {
            "pool and flatten the feature map first: `-> global_avgpool -> flatten -> dense(...)`"
        });
    }
    e
}

/// The extent of a dilated window, `dilation × (kernel − 1) + 1`, exactly:
/// in `u128`, where a product of two `usize`s cannot overflow.
fn extent(kernel: usize, dilation: usize) -> u128 {
    dilation as u128 * (kernel.max(1) as u128 - 1) + 1
}

/// Output size of a window op along one dimension (PyTorch's formula),
/// computed exactly in `u128`; `None` if the window does not fit.
pub(crate) fn window_out(
    input: usize,
    pad_before: usize,
    pad_after: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
) -> Option<usize> {
    let (input, pad_before, stride) = (input as u128, pad_before as u128, stride.max(1) as u128);
    let padded = input + pad_before + pad_after as u128;
    let span = extent(kernel, dilation);
    if padded < span {
        return None;
    }
    let num = padded - span;
    let mut out = if ceil_mode {
        num.div_ceil(stride) + 1
    } else {
        num / stride + 1
    };
    // PyTorch: the last window must start inside the input or the left padding.
    if ceil_mode && (out - 1) * stride >= input + pad_before {
        out -= 1;
    }
    // At most the padded input, itself at most three sizes of 2^40.
    usize::try_from(out).ok()
}

fn spatial(op: &str, input: &Shape, span: Span) -> Result<(usize, [usize; 2]), CheckError> {
    match input.0.as_slice() {
        [c, h, w] => Ok((*c, [*h, *w])),
        _ => Err(rank_error(op, "a C×H×W feature map (N×C×H×W)", input, span)),
    }
}

#[allow(clippy::too_many_arguments)] // the window's parameters, each [h, w]
fn window_shape(
    op: &str,
    input: &Shape,
    out_c: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: Padding4,
    dilation: [usize; 2],
    ceil: bool,
    span: Span,
) -> Result<Shape, CheckError> {
    let (_, hw) = spatial(op, input, span)?;
    let mut out = [0; 2];
    for d in 0..2 {
        match window_out(
            hw[d],
            pad[d],
            pad[d + 2],
            kernel[d],
            stride[d],
            dilation[d],
            ceil,
        ) {
            Some(o) => out[d] = o,
            None => {
                let dim = ["height", "width"][d];
                let eff = extent(kernel[d], dilation[d]);
                return Err(CheckError::new(
                    K::Window {
                        op: op.into(),
                        input: input.to_string(),
                        detail: format!(
                            "the {dim} {} plus padding {} is smaller than the window {}",
                            hw[d],
                            pad[d] as u128 + pad[d + 2] as u128,
                            eff
                        ),
                    },
                    span,
                )
                .label(format!("window {eff} does not fit the {dim} {}", hw[d]))
                .help(if op == "avgpool" {
                    "to average the whole feature map whatever its size, use `global_avgpool`"
                } else {
                    "use a smaller kernel, add padding (`pad: same`), or downsample less before this layer"
                }));
            }
        }
    }
    Ok(Shape(vec![out_c, out[0], out[1]]))
}

/// Checks the arguments of an op whose input is unknown (it follows an
/// error): the checks that do not depend on the input's shape, so that one
/// run reports every independent mistake of a pipeline.
pub(crate) fn validate_args(kind: OpKind, b: &Bound) -> Result<(), CheckError> {
    let one = [1, 1];
    match kind {
        OpKind::Conv => {
            b.int("out")?;
            let kernel = b.pair("kernel")?;
            let stride = b.pair("stride")?;
            let dilation = b.pair("dilation")?;
            b.int("groups")?;
            b.boolean("bias")?;
            b.padding("pad", one, kernel, stride, dilation)?;
        }
        OpKind::MaxPool | OpKind::AvgPool => {
            let kernel = b.pair("kernel")?;
            let stride = b.pair("stride")?;
            let dilation = b.pair("dilation")?;
            if kind == OpKind::AvgPool && dilation != one {
                return Err(b.bad("dilation", "average pooling has no dilation"));
            }
            b.padding("pad", one, kernel, stride, dilation)?;
            b.boolean("ceil")?;
            b.boolean("count_pad")?;
        }
        OpKind::Dense => {
            b.int("out")?;
            b.boolean("bias")?;
        }
        OpKind::Upsample => {
            b.upsample_args()?;
        }
        OpKind::ConvTranspose => {
            b.conv_transpose_args()?;
        }
        OpKind::BatchNorm => {
            b.eps()?;
        }
        OpKind::Dropout => {
            b.probability()?;
        }
        OpKind::LeakyRelu => {
            b.slope()?;
        }
        OpKind::PadChannels => {
            b.count("before")?;
            b.count("after")?;
        }
        _ => {}
    }
    Ok(())
}

/// The shape of `a * b` under `mul`'s one broadcasting rule: equal ranks,
/// and in each dimension equal sizes or a size 1 (which takes the other's
/// size). `None` if the shapes do not broadcast.
pub(crate) fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
    if a.0.len() != b.0.len() {
        return None;
    }
    a.0.iter()
        .zip(&b.0)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(Shape)
}

/// Builds the IR op for `kind` applied to `inputs` and infers its output shape.
pub(crate) fn build_op(
    kind: OpKind,
    b: &Bound,
    inputs: &[Shape],
    span: Span,
) -> Result<(Op, Shape), CheckError> {
    let name = kind.name();
    let one = || -> Result<&Shape, CheckError> {
        match inputs {
            [x] => Ok(x),
            _ => Err(CheckError::new(
                K::Arguments {
                    callee: name.into(),
                    message: format!("`{name}` takes one tensor, but {} were given", inputs.len()),
                },
                span,
            )),
        }
    };
    let same = |op: Op| -> Result<(Op, Shape), CheckError> { Ok((op, one()?.clone())) };
    match kind {
        OpKind::Conv => {
            let x = one()?;
            let (c, hw) = spatial(name, x, span)?;
            let out = b.int("out")?;
            let kernel = b.pair("kernel")?;
            let stride = b.pair("stride")?;
            let dilation = b.pair("dilation")?;
            let groups = b.int("groups")?;
            let bias = b.boolean("bias")?;
            let padding = b.padding("pad", hw, kernel, stride, dilation)?;
            for (what, channels) in [("input channels", c), ("output channels", out)] {
                if channels % groups != 0 {
                    return Err(CheckError::new(
                        K::Groups {
                            groups,
                            what,
                            channels,
                        },
                        b.span_of("groups"),
                    )
                    .label(format!("{groups} groups"))
                    .note(format!("the input is {x}"))
                    .help({
                        let below = channels / groups * groups;
                        if below == 0 {
                            format!("{channels} {what} cannot be split into {groups} groups: use at most {channels} groups")
                        } else {
                            format!(
                                "{channels} is not a multiple of {groups}: the nearest multiples are {below} and {}",
                                below + groups
                            )
                        }
                    })
                    .help("groups must divide both the input and the output channel count (groups = C gives a depthwise conv)"));
                }
            }
            let shape = window_shape(name, x, out, kernel, stride, padding, dilation, false, span)?;
            Ok((
                Op::Conv(ConvParams {
                    in_channels: c,
                    out_channels: out,
                    kernel,
                    stride,
                    padding,
                    dilation,
                    groups,
                    bias,
                }),
                shape,
            ))
        }
        OpKind::MaxPool | OpKind::AvgPool => {
            let x = one()?;
            let (c, hw) = spatial(name, x, span)?;
            let kernel = b.pair("kernel")?;
            let stride = b.pair("stride")?;
            let dilation = b.pair("dilation")?;
            if kind == OpKind::AvgPool && dilation != [1, 1] {
                return Err(b.bad("dilation", "average pooling has no dilation"));
            }
            let padding = b.padding("pad", hw, kernel, stride, dilation)?;
            for d in 0..2 {
                // `pad * 2 > kernel`, without the product.
                if padding[d].max(padding[d + 2]) > kernel[d] / 2 {
                    return Err(b
                        .bad(
                            "pad",
                            format!(
                                "padding {} is more than half the window {}",
                                padding[d].max(padding[d + 2]),
                                kernel[d]
                            ),
                        )
                        .help("PyTorch requires pooling padding ≤ kernel / 2"));
                }
            }
            let ceil = b.boolean("ceil")?;
            let count_pad = b.boolean("count_pad")?;
            let shape = window_shape(name, x, c, kernel, stride, padding, dilation, ceil, span)?;
            let p = PoolParams {
                kernel,
                stride,
                padding,
                dilation,
                ceil_mode: ceil,
                count_include_pad: count_pad,
            };
            Ok((
                if kind == OpKind::MaxPool {
                    Op::MaxPool(p)
                } else {
                    Op::AvgPool(p)
                },
                shape,
            ))
        }
        OpKind::Upsample => {
            let x = one()?;
            let (c, hw) = spatial(name, x, span)?;
            let (scale, size, mode) = b.upsample_args()?;
            let size = match (scale, size) {
                (_, Some(size)) => size,
                (Some(s), None) => {
                    let mut out = [0; 2];
                    for d in 0..2 {
                        out[d] = hw[d]
                            .checked_mul(s)
                            .filter(|&v| v as u64 <= MAX_ELEMENTS)
                            .ok_or_else(|| {
                                b.bad(
                                    "scale",
                                    format!(
                                        "the {} {} × {s} is more than 2^40",
                                        ["height", "width"][d],
                                        hw[d]
                                    ),
                                )
                                .label("output too large")
                            })?;
                    }
                    out
                }
                (None, None) => return Err(b.bad("size", "missing")),
            };
            Ok((
                Op::Upsample(UpsampleParams {
                    size,
                    scale,
                    mode,
                    like: b.like_source("size"),
                }),
                Shape(vec![c, size[0], size[1]]),
            ))
        }
        OpKind::ConvTranspose => {
            let x = one()?;
            let (c, hw) = spatial(name, x, span)?;
            let params = ConvTransposeParams {
                in_channels: c,
                in_hw: hw,
                ..b.conv_transpose_args()?
            };
            let ConvTransposeParams {
                out_channels: out,
                kernel,
                stride,
                padding,
                output_padding,
                dilation,
                groups,
                ..
            } = params;
            for (what, channels) in [("input channels", c), ("output channels", out)] {
                if channels % groups != 0 {
                    return Err(CheckError::new(
                        K::Groups {
                            groups,
                            what,
                            channels,
                        },
                        b.span_of("groups"),
                    )
                    .label(format!("{groups} groups"))
                    .note(format!("the input is {x}"))
                    .help("groups must divide both the input and the output channel count"));
                }
            }
            let mut size = [0; 2];
            for d in 0..2 {
                // (H − 1)·s − 2p + d·(k − 1) + output_pad + 1, exactly in u128.
                let grown = (hw[d] as u128 - 1) * stride[d] as u128
                    + extent(kernel[d], dilation[d])
                    + output_padding[d] as u128;
                let cut = 2 * padding[d] as u128;
                let dim = ["height", "width"][d];
                if grown <= cut {
                    return Err(b
                        .bad(
                            "pad",
                            format!(
                                "the padding removes the whole {dim}: ({} − 1)·{} + {}·({} − 1) + {} + 1 = {grown}, minus 2·{} = {cut}",
                                hw[d], stride[d], dilation[d], kernel[d], output_padding[d], padding[d]
                            ),
                        )
                        .label(format!("leaves no {dim}"))
                        .note("PyTorch's output size must be at least 1"));
                }
                let o = grown - cut;
                size[d] = usize::try_from(o)
                    .ok()
                    .filter(|&v| v as u64 <= MAX_ELEMENTS)
                    .ok_or_else(|| {
                        CheckError::new(
                            K::TooLarge {
                                what: format!("the output {dim} of `conv_transpose`"),
                            },
                            span,
                        )
                        .label(format!("{o} is more than 2^40"))
                    })?;
            }
            Ok((
                Op::ConvTranspose(params),
                Shape(vec![out, size[0], size[1]]),
            ))
        }
        OpKind::BatchNorm => {
            let x = one()?;
            if !(x.0.len() == 1 || x.0.len() == 3) {
                return Err(rank_error(name, "N×C or N×C×H×W", x, span));
            }
            let eps = b.eps()?;
            same(Op::BatchNorm(BatchNormParams {
                channels: x.0[0],
                eps,
            }))
        }
        OpKind::Relu => same(Op::Activation(Activation::Relu)),
        OpKind::Relu6 => same(Op::Activation(Activation::Relu6)),
        OpKind::Sigmoid => same(Op::Activation(Activation::Sigmoid)),
        OpKind::Tanh => same(Op::Activation(Activation::Tanh)),
        OpKind::Gelu => same(Op::Activation(Activation::Gelu)),
        OpKind::LeakyRelu => {
            let slope = b.slope()?;
            same(Op::Activation(Activation::LeakyRelu { slope }))
        }
        OpKind::Identity => same(Op::Identity),
        OpKind::Softmax => {
            let x = one()?;
            if x.0.is_empty() {
                return Err(rank_error(name, "at least N×C", x, span));
            }
            same(Op::Softmax)
        }
        OpKind::Dropout => {
            let p = b.probability()?;
            same(Op::Dropout { p })
        }
        OpKind::GlobalAvgPool => {
            let x = one()?;
            let (c, _) = spatial(name, x, span)?;
            Ok((Op::GlobalAvgPool, Shape(vec![c, 1, 1])))
        }
        OpKind::Flatten => {
            let x = one()?;
            Ok((Op::Flatten, Shape(vec![x.elements()])))
        }
        OpKind::Dense => {
            let x = one()?;
            let [f] = x.0.as_slice() else {
                return Err(rank_error(name, "a flat N×F input", x, span));
            };
            let out = b.int("out")?;
            let bias = b.boolean("bias")?;
            Ok((
                Op::Dense(DenseParams {
                    in_features: *f,
                    out_features: out,
                    bias,
                }),
                Shape(vec![out]),
            ))
        }
        OpKind::Mul => match inputs {
            [a, c] => match broadcast(a, c) {
                Some(shape) => Ok((Op::Mul, shape)),
                None => Err(CheckError::new(
                    K::MulShapes {
                        shapes: vec![a.to_string(), c.to_string()],
                    },
                    span,
                )
                .label("shapes do not broadcast")),
            },
            _ => Err(CheckError::new(
                K::Arguments {
                    callee: name.into(),
                    message: format!(
                        "`{name}` takes two tensors, but {} were given",
                        inputs.len()
                    ),
                },
                span,
            )
            .help("write `a * b`")),
        },
        OpKind::PadChannels => {
            let x = one()?;
            let before = b.count("before")?;
            let after = b.count("after")?;
            let Some((&c, rest)) = x.0.split_first() else {
                return Err(rank_error(
                    name,
                    "a channel dimension (N×C or N×C×H×W)",
                    x,
                    span,
                ));
            };
            let total = (c as u64)
                .checked_add(before as u64)
                .and_then(|t| t.checked_add(after as u64))
                .filter(|&t| t <= MAX_ELEMENTS);
            let Some(total) = total else {
                return Err(CheckError::new(
                    K::TooLarge {
                        what: "the channel count of `pad_channels`".into(),
                    },
                    span,
                )
                .label(format!("{before} + {c} + {after} channels"))
                .help("add fewer zero channels"));
            };
            let mut shape = vec![total as usize];
            shape.extend_from_slice(rest);
            // (The element count is checked where the node is added.)
            Ok((Op::PadChannels { before, after }, Shape(shape)))
        }
        OpKind::Add | OpKind::Concat => {
            if inputs.len() < 2 {
                return Err(CheckError::new(
                    K::Arguments {
                        callee: name.into(),
                        message: format!(
                            "`{name}` needs at least two tensors, got {}",
                            inputs.len()
                        ),
                    },
                    span,
                )
                .help(if kind == OpKind::Add {
                    "write `a + b`"
                } else {
                    "write `concat(a, b)`"
                }));
            }
            // Mismatches are diagnosed by the caller, which knows the operand spans.
            if kind == OpKind::Add {
                Ok((Op::Add, inputs[0].clone()))
            } else {
                let mut c = 0usize;
                for s in inputs {
                    // (A rank-0 tensor has no channel dimension to add.)
                    let Some(sum) = s.0.first().map_or(Some(c), |&ci| c.checked_add(ci)) else {
                        return Err(CheckError::new(
                            K::TooLarge {
                                what: "the channel count of `concat`".into(),
                            },
                            span,
                        )
                        .label("the channels of its inputs add up to more than 2^64")
                        .help("concatenate fewer or narrower tensors"));
                    };
                    c = sum;
                }
                let mut shape = inputs[0].clone();
                if let Some(first) = shape.0.first_mut() {
                    *first = c;
                }
                Ok((Op::Concat, shape))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Shape, broadcast, window_out};

    #[test]
    fn mul_broadcasts_size_one_dimensions_only() {
        let s = |d: &[usize]| Shape(d.to_vec());
        // A gate C×1×1 on C×H×W, either side; both sides at once.
        assert_eq!(
            broadcast(&s(&[8, 6, 6]), &s(&[8, 1, 1])),
            Some(s(&[8, 6, 6]))
        );
        assert_eq!(
            broadcast(&s(&[8, 1, 1]), &s(&[8, 6, 6])),
            Some(s(&[8, 6, 6]))
        );
        assert_eq!(
            broadcast(&s(&[8, 1, 6]), &s(&[1, 5, 1])),
            Some(s(&[8, 5, 6]))
        );
        assert_eq!(broadcast(&s(&[8]), &s(&[8])), Some(s(&[8])));
        // Sizes neither equal nor 1, or different ranks: no.
        assert_eq!(broadcast(&s(&[8, 6, 6]), &s(&[4, 1, 1])), None);
        assert_eq!(broadcast(&s(&[8, 6, 6]), &s(&[8])), None);
        assert_eq!(broadcast(&s(&[8, 6, 6]), &s(&[8, 3, 3])), None);
    }

    #[test]
    fn pytorch_window_formula() {
        // ResNet stem: 224, k7 s2 p3 -> 112; maxpool k3 s2 p1 -> 56.
        assert_eq!(window_out(224, 3, 3, 7, 2, 1, false), Some(112));
        assert_eq!(window_out(112, 1, 1, 3, 2, 1, false), Some(56));
        // ceil_mode: 5, k2 s2 -> 3 with ceil, 2 without.
        assert_eq!(window_out(5, 0, 0, 2, 2, 1, true), Some(3));
        assert_eq!(window_out(5, 0, 0, 2, 2, 1, false), Some(2));
        // ceil_mode: last window would start in the right padding -> dropped.
        assert_eq!(window_out(4, 1, 1, 2, 2, 1, true), Some(3));
        // dilation 2, k3: effective 5.
        assert_eq!(window_out(5, 0, 0, 3, 1, 2, false), Some(1));
        assert_eq!(window_out(4, 0, 0, 3, 1, 2, false), None);
    }
}
