//! A generator of valid `.rn` models, for differential testing.
//!
//! Every decision the generator takes (how many inputs, which op, which
//! kernel, which name) is read from a [`Choices`] sequence of numbers, so
//! that proptest can shrink a failing model by shrinking the sequence: past
//! its end every decision is 0, and 0 is always the simplest option (stop
//! adding statements, no optional argument, the first name). The generator
//! tracks the shape of every tensor with PyTorch's formulas, independently of
//! the checker, and only writes what is legal for that shape, so every model
//! it writes must check; its predicted output shapes are returned to be
//! compared with the checker's.
//!
//! It covers every op of the op table and every form of its arguments
//! (positional, keyword, `[h, w]`, `[t, l, b, r]`, `same`, `valid`, aliases),
//! blocks with parameters (used through arithmetic, `channels(x)` …), nested
//! blocks, repeats (`block(..) * n`, `relu * 2`), lists and labels, skips
//! (`a + b`, `add(a, b)`), `concat`, `mul` with broadcasting (gates), several
//! inputs and outputs (duplicates, an input as an output), and odd but legal
//! names (op names, Rust keywords, `loader`, `forward_error`, long names,
//! underscores, names that differ only in case or underscores).
//! Spatial sizes stay ≤ 12 and channels ≤ 16 so that the models run fast.
#![allow(dead_code)]

use std::collections::HashSet;

/// The generator's decisions, read one at a time; 0 past the end.
pub struct Choices {
    data: Vec<u32>,
    pos: usize,
}

impl Choices {
    /// Decisions read from `data`.
    pub fn new(data: Vec<u32>) -> Self {
        Choices { data, pos: 0 }
    }

    /// `len` pseudo-random decisions from `seed` (splitmix64): the fixed,
    /// deterministic models of `tests/suite/codegen_run.rs`.
    pub fn seeded(seed: u64, len: usize) -> Self {
        let mut state = seed;
        let data = (0..len)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                (z ^ (z >> 31)) as u32
            })
            .collect();
        Choices::new(data)
    }

    /// A number in `0..n` (0 when `n` ≤ 1, and past the end).
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let v = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v as usize % n
    }

    /// A number in `lo..=hi`, `lo` the simplest.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with about `percent` % probability; false past the end.
    fn maybe(&mut self, percent: usize) -> bool {
        self.below(100) >= 100 - percent
    }

    /// One of `items`, the first the simplest.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A generated model: its source and the shapes the generator predicts.
#[derive(Clone, Debug)]
pub struct GenModel {
    /// The `.rn` source (blocks, then one model).
    pub source: String,
    /// The model's name.
    pub name: String,
    /// The predicted shape (batch excluded) of each output, in order.
    pub outputs: Vec<Vec<usize>>,
}

/// How many models the fixed set of `tests/suite/codegen_run.rs` holds.
pub const FIXED_SET: u64 = 20;

/// The size of the fixed set: [`FIXED_SET`], or the environment variable
/// `DIFFTEST_MODELS` for a long local run of `tests/suite/codegen_run.rs`.
pub fn fixed_set_size() -> u64 {
    std::env::var("DIFFTEST_MODELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(FIXED_SET)
}

/// The largest height or width the generator produces.
const MAX_HW: usize = 12;
/// The largest channel count an op chooses (concatenation may reach twice it).
const MAX_C: usize = 8;

/// Names a tensor of a body may take (never an op name: a tensor named
/// `relu` would hide the op from later stages; see [`LAST_NAMES`]).
const TENSOR_NAMES: &[&str] = &[
    "y",
    "t",
    "loader",
    "forward_error",
    "self",
    "Self",
    "fn",
    "type",
    "match",
    "mod",
    "crate",
    "super",
    "_",
    "__",
    "_t",
    "s0",
    "ws",
    "out",
    "inputs",
    "outputs",
    "weights",
    "workspace",
    "a_rather_long_tensor_name_that_goes_on_and_on_and_on_0123456789",
    "Y",
    "y_",
    "x1",
    "in",
    "let",
    "box",
    "impl",
    "where",
];

/// Names of the last tensor of the model: no op is applied after it, so an
/// op's name is legal.
const LAST_NAMES: &[&str] = &[
    "conv", "relu", "bn", "dense", "concat", "add", "identity", "mul",
];

/// Names of inputs (model and block).
const INPUT_NAMES: &[&str] = &[
    "x", "image", "self", "in_", "_x", "Input", "loader", "s0", "fn",
];

/// Names of models.
const MODEL_NAMES: &[&str] = &[
    "m",
    "loader",
    "forward_error",
    "Self",
    "self",
    "fn",
    "result",
    "Option",
    "Vec",
    "std",
    "core",
    "f32",
    "str",
    "workspace",
    "inputs",
    "outputs",
    "_",
    "model_",
    "a_very_long_model_name_with_many_words_that_keeps_going_0123456789",
];

/// Names of blocks (pairs that differ only in case or underscores).
const BLOCK_NAMES: &[&str] = &[
    "b",
    "res_block",
    "resBlock",
    "res__block",
    "ResBlock",
    "type",
    "self",
    "Self",
    "fn",
    "loader",
    "forward_error",
    "Model",
    "_",
    "block_1",
    "block1",
    "m",
    "a_long_block_name_that_is_really_quite_long_indeed",
];

/// Names of block and model parameters.
const PARAM_NAMES: &[&str] = &["c", "k", "width", "self", "type", "fn", "_p", "n2"];

/// Labels (`label: stage`): keywords are legal. (Not op names or digits:
/// unlabeled layers are named after their op, `conv`, `conv_1`, …, and the
/// items of lists and repeats by their index, and a label equal to such a
/// name is E0109.)
const LABELS: &[&str] = &[
    "output", "input", "model", "block", "layer1", "head", "_", "if", "stem", "features",
];

/// A tensor in scope with its shape (batch excluded).
#[derive(Clone, Debug)]
struct T {
    name: String,
    shape: Vec<usize>,
}

/// A block definition the generator wrote.
#[derive(Clone, Debug)]
struct Block {
    name: String,
    /// Parameters: name, value at every call, default.
    params: Vec<(String, usize, Option<usize>)>,
    input: Vec<usize>,
    output: Vec<usize>,
}

/// A body being written (a block's or the model's).
struct Scope {
    env: Vec<T>,
    /// Parameters in scope, with their values.
    params: Vec<(String, usize)>,
    /// The block input (for `channels(x)`, `height(x)`, `width(x)`).
    block_input: Option<T>,
    /// Names taken in this body.
    names: HashSet<String>,
    stmts: Vec<String>,
    /// Nesting depth of blocks (0: the model).
    depth: usize,
    /// Labels used in this body.
    labels: HashSet<String>,
    /// An unlabeled list or repeat is in this body: its items took the names
    /// `0`, `1`, …, so the next list or repeat needs a label.
    indexed: bool,
}

struct Gen {
    ch: Choices,
    blocks: Vec<Block>,
    /// Block definitions, in order.
    defs: Vec<String>,
    /// Names of blocks and the model.
    global: HashSet<String>,
    /// Every tensor and parameter name used anywhere (a block may not take
    /// one: the tensor would hide it).
    taken: HashSet<String>,
}

/// Generates one valid model from `choices`.
pub fn generate(choices: Choices) -> GenModel {
    let mut g = Gen {
        ch: choices,
        blocks: Vec::new(),
        defs: Vec::new(),
        global: HashSet::new(),
        taken: HashSet::new(),
    };
    g.model()
}

/// The `n` models of the fixed set of `tests/suite/codegen_run.rs` (seeds 0..n).
pub fn fixed_set(n: u64) -> Vec<GenModel> {
    (0..n)
        .map(|seed| generate(Choices::seeded(seed, 400)))
        .collect()
}

/// Writes the fixed set ([`fixed_set_size`] models) as `gen_NN.rn` under
/// `target/codegen-test/generated/` of `root` (only when changed) and
/// returns their paths relative to `root`.
pub fn write_fixed_set(root: &std::path::Path) -> Vec<String> {
    let dir = "target/codegen-test/generated";
    std::fs::create_dir_all(root.join(dir)).expect("create the generated models' directory");
    fixed_set(fixed_set_size())
        .into_iter()
        .enumerate()
        .map(|(k, m)| {
            let file = format!("{dir}/gen_{k:02}.rn");
            let path = root.join(&file);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(m.source.as_str()) {
                std::fs::write(&path, &m.source).expect("write a generated model");
            }
            file
        })
        .collect()
}

fn divisors(n: usize) -> Vec<usize> {
    (1..=n).filter(|d| n.is_multiple_of(*d)).collect()
}

/// PyTorch's output size of a window op along one dimension, `None` if the
/// window does not fit.
fn window_out(
    input: usize,
    before: usize,
    after: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    ceil: bool,
) -> Option<usize> {
    let padded = input + before + after;
    let extent = dilation * (kernel - 1) + 1;
    if padded < extent {
        return None;
    }
    let num = padded - extent;
    let mut out = if ceil {
        num.div_ceil(stride) + 1
    } else {
        num / stride + 1
    };
    if ceil && (out - 1) * stride >= input + before {
        out -= 1;
    }
    Some(out)
}

/// `[h, w]` as written: one number when both are equal (sometimes a list anyway).
fn pair_text(ch: &mut Choices, p: [usize; 2]) -> String {
    if p[0] == p[1] && !ch.maybe(15) {
        p[0].to_string()
    } else {
        format!("[{}, {}]", p[0], p[1])
    }
}

impl Gen {
    fn fresh(&mut self, sc: &mut Scope, pool: &[&str]) -> String {
        let free = |n: &String, g: &Gen| {
            !sc.names.contains(n) && !sc.params.iter().any(|(p, _)| p == n) && !g.global.contains(n)
        };
        for _ in 0..4 {
            let n = self.ch.pick(pool).to_string();
            if free(&n, self) {
                sc.names.insert(n.clone());
                self.taken.insert(n.clone());
                return n;
            }
        }
        let mut k = sc.names.len();
        loop {
            let n = format!("t{k}");
            if free(&n, self) {
                sc.names.insert(n.clone());
                self.taken.insert(n.clone());
                return n;
            }
            k += 1;
        }
    }

    /// The integer `v` as written: a literal, a parameter equal to it,
    /// `channels(x)` / `height(x)` / `width(x)` of the block input, or a
    /// little arithmetic.
    fn int(&mut self, sc: &Scope, v: usize) -> String {
        let params: Vec<&String> = sc
            .params
            .iter()
            .filter(|(_, pv)| *pv == v)
            .map(|(n, _)| n)
            .collect();
        if !params.is_empty() && self.ch.maybe(60) {
            return self.ch.pick(&params).to_string();
        }
        if let Some(x) = &sc.block_input {
            let mut fns = Vec::new();
            if x.shape.first() == Some(&v) {
                fns.push("channels");
            }
            if x.shape.len() == 3 && x.shape[1] == v {
                fns.push("height");
            }
            if x.shape.len() == 3 && x.shape[2] == v {
                fns.push("width");
            }
            // (A parameter named like a built-in hides it.)
            fns.retain(|f| !sc.params.iter().any(|(p, _)| p == f));
            if !fns.is_empty() && self.ch.maybe(40) {
                let f = *self.ch.pick(&fns);
                return format!("{f}({})", x.name);
            }
        }
        match self.ch.below(12) {
            9 if v >= 1 => format!("{} + 1", v - 1),
            10 => format!("{} / 2", v * 2),
            11 => format!("min({v}, {})", v + 1),
            _ => v.to_string(),
        }
    }

    /// One stage applicable to `shape`: its text and output shape. With
    /// `keep`, only stages that keep the shape.
    fn stage(&mut self, sc: &mut Scope, shape: &[usize], keep: bool) -> (String, Vec<usize>) {
        let rank3 = shape.len() == 3;
        let mut kinds: Vec<&str> = vec![
            "relu", "conv", "bn", "act", "act", "softmax", "dropout", "identity", "pad", "block",
            "repeat",
        ];
        if rank3 {
            kinds.extend(["conv", "convt", "maxpool", "avgpool", "upsample"]);
            if !keep {
                kinds.extend(["gap", "flatten"]);
            }
        } else {
            kinds.retain(|k| *k != "conv");
            kinds.extend(["dense", "dense", "flatten"]);
        }
        let kind = *self.ch.pick(&kinds);
        match kind {
            "relu" => ("relu".into(), shape.to_vec()),
            "act" => {
                let a = self
                    .ch
                    .pick(&[
                        "relu6",
                        "sigmoid",
                        "tanh",
                        "gelu",
                        "leaky_relu",
                        "leaky_relu(0.2)",
                        "leaky_relu(slope: 0.1)",
                        "relu()",
                    ])
                    .to_string();
                (a, shape.to_vec())
            }
            "bn" => {
                let b = self
                    .ch
                    .pick(&[
                        "bn",
                        "bn(eps: 1e-3)",
                        "batchnorm",
                        "bn(0.001)",
                        "bn(eps: 0.5)",
                    ])
                    .to_string();
                (b, shape.to_vec())
            }
            "softmax" => ("softmax".into(), shape.to_vec()),
            "dropout" => {
                let d = self
                    .ch
                    .pick(&[
                        "dropout",
                        "dropout(0.2)",
                        "dropout(p: 0.0)",
                        "dropout(0.99)",
                    ])
                    .to_string();
                (d, shape.to_vec())
            }
            "identity" => ("identity".into(), shape.to_vec()),
            "flatten" => ("flatten".into(), vec![shape.iter().product()]),
            "gap" => ("global_avgpool".into(), vec![shape[0], 1, 1]),
            "pad" => {
                let (b, a) = if keep {
                    (0, 0)
                } else {
                    let room = (MAX_C + 4).saturating_sub(shape[0]);
                    let b = self.ch.range(0, room.min(3));
                    let a = self.ch.range(0, (room - b).min(3));
                    (b, a)
                };
                let (bt, at) = (self.int(sc, b), self.int(sc, a));
                let text = if self.ch.maybe(30) {
                    format!("pad_channels(after: {at}, before: {bt})")
                } else {
                    format!("pad_channels({bt}, {at})")
                };
                let mut s = shape.to_vec();
                s[0] += b + a;
                (text, s)
            }
            "dense" => {
                let out = if keep {
                    shape[0]
                } else {
                    self.ch.range(1, MAX_C)
                };
                let o = self.int(sc, out);
                let name = if self.ch.maybe(20) { "linear" } else { "dense" };
                let bias = self.ch.pick(&["", ", bias: false", ", bias: true"]);
                (format!("{name}({o}{bias})"), vec![out])
            }
            "conv" => self.conv(sc, shape, keep),
            "convt" => self.conv_transpose(sc, shape, keep),
            "maxpool" | "avgpool" => self.pool(sc, shape, keep, kind == "maxpool"),
            "upsample" => self.upsample(sc, shape, keep),
            "block" => self.call(sc, shape, keep),
            "repeat" => {
                // An op repeated: `relu * 2`, `conv(c, 3, pad: 1) * 2`.
                let (text, s) = if rank3 && shape[0] <= MAX_C {
                    let c = self.int(sc, shape[0]);
                    (format!("conv({c}, 3, pad: 1)"), shape.to_vec())
                } else {
                    ("relu".to_string(), shape.to_vec())
                };
                let n = self.ch.range(1, 3);
                (format!("{text} * {n}"), s)
            }
            other => panic!("unknown stage kind {other}"),
        }
    }

    fn conv(&mut self, sc: &mut Scope, shape: &[usize], keep: bool) -> (String, Vec<usize>) {
        let (c, h, w) = (shape[0], shape[1], shape[2]);
        let g = *self.ch.pick(&divisors(c));
        let out = if keep {
            c
        } else {
            g * self.ch.range(1, (MAX_C / g).max(1))
        };
        let mut args = Vec::new();
        let o = self.int(sc, out);
        let (k, s, d, pad, hw): ([usize; 2], [usize; 2], [usize; 2], String, [usize; 2]) = if keep {
            let k = *self.ch.pick(&[1, 3]);
            let d = self.ch.range(1, 2);
            let p = d * (k / 2);
            let pad = if self.ch.maybe(30) {
                "same".to_string()
            } else {
                self.int(sc, p)
            };
            ([k, k], [1, 1], [d, d], pad, [h, w])
        } else {
            let mut found = None;
            for _ in 0..6 {
                let k = if self.ch.maybe(25) {
                    [self.ch.range(1, 3), self.ch.range(1, 3)]
                } else {
                    let k = self.ch.range(1, 3);
                    [k, k]
                };
                let s = if self.ch.maybe(20) {
                    [self.ch.range(1, 2), self.ch.range(1, 2)]
                } else {
                    let s = self.ch.range(1, 2);
                    [s, s]
                };
                let d = if self.ch.maybe(25) {
                    [self.ch.range(1, 2), self.ch.range(1, 2)]
                } else {
                    [1, 1]
                };
                let form = self.ch.below(6);
                let (pad, tlbr) = match form {
                    0 => (None, [0; 4]),
                    1 => {
                        let p = self.ch.range(0, 2);
                        (Some(p.to_string()), [p; 4])
                    }
                    2 => {
                        let (a, b) = (self.ch.range(0, 2), self.ch.range(0, 2));
                        (Some(format!("[{a}, {b}]")), [a, b, a, b])
                    }
                    3 => {
                        let t: Vec<usize> = (0..4).map(|_| self.ch.range(0, 2)).collect();
                        (
                            Some(format!("[{}, {}, {}, {}]", t[0], t[1], t[2], t[3])),
                            [t[0], t[1], t[2], t[3]],
                        )
                    }
                    4 => (Some("valid".to_string()), [0; 4]),
                    _ => {
                        // `same` at stride 1: the output keeps H and W.
                        if s == [1, 1] {
                            found = Some((k, s, d, Some("same".to_string()), [h, w]));
                            break;
                        }
                        (None, [0; 4])
                    }
                };
                let oh = window_out(h, tlbr[0], tlbr[2], k[0], s[0], d[0], false);
                let ow = window_out(w, tlbr[1], tlbr[3], k[1], s[1], d[1], false);
                if let (Some(oh), Some(ow)) = (oh, ow) {
                    found = Some((k, s, d, pad, [oh, ow]));
                    break;
                }
            }
            let (k, s, d, pad, hw) = found.unwrap_or(([1, 1], [1, 1], [1, 1], None, [h, w]));
            (k, s, d, pad.unwrap_or_default(), hw)
        };
        let kt = pair_text(&mut self.ch, k);
        if self.ch.maybe(20) {
            args.push(format!("out: {o}"));
            args.push(format!("kernel: {kt}"));
        } else {
            args.push(o);
            args.push(kt);
        }
        if s != [1, 1] || self.ch.maybe(10) {
            args.push(format!("stride: {}", pair_text(&mut self.ch, s)));
        }
        if !pad.is_empty() {
            args.push(format!("pad: {pad}"));
        }
        if d != [1, 1] || self.ch.maybe(10) {
            args.push(format!("dilation: {}", pair_text(&mut self.ch, d)));
        }
        if g != 1 || self.ch.maybe(10) {
            let gt = self.int(sc, g);
            args.push(format!("groups: {gt}"));
        }
        args.push(self.ch.pick(&["", "bias: false", "bias: true"]).to_string());
        args.retain(|a| !a.is_empty());
        if self.ch.maybe(15) {
            // Keyword arguments in any order.
            let (pos, mut kw): (Vec<String>, Vec<String>) =
                args.into_iter().partition(|a| !a.contains(':'));
            kw.reverse();
            args = pos.into_iter().chain(kw).collect();
        }
        (
            format!("conv({})", args.join(", ")),
            vec![out, hw[0], hw[1]],
        )
    }

    fn conv_transpose(
        &mut self,
        sc: &mut Scope,
        shape: &[usize],
        keep: bool,
    ) -> (String, Vec<usize>) {
        let (c, h, w) = (shape[0], shape[1], shape[2]);
        let g = *self.ch.pick(&divisors(c));
        let out = if keep {
            c
        } else {
            g * self.ch.range(1, (MAX_C / g).max(1))
        };
        let o = self.int(sc, out);
        let gt = if g != 1 || self.ch.maybe(10) {
            format!(", groups: {}", self.int(sc, g))
        } else {
            String::new()
        };
        let bias = self
            .ch
            .pick(&["", ", bias: false", ", bias: true"])
            .to_string();
        if keep {
            // k 3, stride 1, pad 1: the same size.
            return (
                format!("conv_transpose({o}, 3, pad: 1{gt}{bias})"),
                shape.to_vec(),
            );
        }
        for _ in 0..6 {
            let k = [self.ch.range(1, 3), self.ch.range(1, 3)];
            let s = [self.ch.range(1, 2), self.ch.range(1, 2)];
            let d = if self.ch.maybe(25) {
                [self.ch.range(1, 2), self.ch.range(1, 2)]
            } else {
                [1, 1]
            };
            let p = [self.ch.range(0, 1), self.ch.range(0, 1)];
            let op = [self.ch.below(s[0].max(d[0])), self.ch.below(s[1].max(d[1]))];
            let size = |i: usize, n: usize| -> Option<usize> {
                ((n - 1) * s[i] + d[i] * (k[i] - 1) + op[i] + 1)
                    .checked_sub(2 * p[i])
                    .filter(|&v| (1..=MAX_HW).contains(&v))
            };
            if let (Some(oh), Some(ow)) = (size(0, h), size(1, w)) {
                let mut args = vec![o.clone(), pair_text(&mut self.ch, k)];
                if s != [1, 1] {
                    args.push(format!("stride: {}", pair_text(&mut self.ch, s)));
                }
                if p != [0, 0] {
                    args.push(format!("pad: {}", pair_text(&mut self.ch, p)));
                }
                if op != [0, 0] {
                    args.push(format!("output_pad: {}", pair_text(&mut self.ch, op)));
                }
                if d != [1, 1] {
                    args.push(format!("dilation: {}", pair_text(&mut self.ch, d)));
                }
                return (
                    format!("conv_transpose({}{gt}{bias})", args.join(", ")),
                    vec![out, oh, ow],
                );
            }
        }
        (format!("conv_transpose({o}, 1{gt}{bias})"), vec![out, h, w])
    }

    fn pool(
        &mut self,
        sc: &mut Scope,
        shape: &[usize],
        keep: bool,
        max: bool,
    ) -> (String, Vec<usize>) {
        let (c, h, w) = (shape[0], shape[1], shape[2]);
        let name = if max { "maxpool" } else { "avgpool" };
        let count_pad = if !max && self.ch.maybe(30) {
            ", count_pad: false"
        } else {
            ""
        };
        if keep {
            let form = *self.ch.pick(&[
                "3, stride: 1, pad: 1",
                "1",
                "3, 1, 1",
                "3, stride: 1, pad: same",
            ]);
            return (format!("{name}({form}{count_pad})"), shape.to_vec());
        }
        for _ in 0..6 {
            let k = if self.ch.maybe(25) {
                [self.ch.range(1, 3), self.ch.range(1, 3)]
            } else {
                let k = self.ch.range(1, 3);
                [k, k]
            };
            let explicit_stride = self.ch.maybe(50);
            let s = if explicit_stride {
                [self.ch.range(1, 2), self.ch.range(1, 2)]
            } else {
                k
            };
            let d = if max && self.ch.maybe(20) {
                [self.ch.range(1, 2), self.ch.range(1, 2)]
            } else {
                [1, 1]
            };
            // A dilated window may fall wholly in the padding, where the
            // maximum is -inf (as in PyTorch; tests/codegen_cases/
            // maxpool_in_padding.rn): no padding with dilation.
            let p = if d == [1, 1] {
                [self.ch.range(0, k[0] / 2), self.ch.range(0, k[1] / 2)]
            } else {
                [0, 0]
            };
            let ceil = self.ch.maybe(40);
            let oh = window_out(h, p[0], p[0], k[0], s[0], d[0], ceil);
            let ow = window_out(w, p[1], p[1], k[1], s[1], d[1], ceil);
            if let (Some(oh), Some(ow)) = (oh, ow) {
                let mut args = vec![pair_text(&mut self.ch, k)];
                if explicit_stride {
                    args.push(format!("stride: {}", pair_text(&mut self.ch, s)));
                }
                if p != [0, 0] {
                    args.push(format!("pad: {}", pair_text(&mut self.ch, p)));
                }
                if d != [1, 1] {
                    args.push(format!("dilation: {}", pair_text(&mut self.ch, d)));
                }
                if ceil {
                    args.push("ceil: true".into());
                }
                let _ = sc;
                return (
                    format!("{name}({}{count_pad})", args.join(", ")),
                    vec![c, oh, ow],
                );
            }
        }
        (format!("{name}(1)"), shape.to_vec())
    }

    fn upsample(&mut self, sc: &mut Scope, shape: &[usize], keep: bool) -> (String, Vec<usize>) {
        let (c, h, w) = (shape[0], shape[1], shape[2]);
        let name = if self.ch.maybe(20) {
            "interpolate"
        } else {
            "upsample"
        };
        let mode = *self.ch.pick(&["", ", mode: nearest", ", mode: bilinear"]);
        let likes: Vec<T> = sc
            .env
            .iter()
            .filter(|t| t.shape.len() == 3 && (!keep || (t.shape[1] == h && t.shape[2] == w)))
            .cloned()
            .collect();
        match self.ch.below(3) {
            0 if !keep && h * 2 <= MAX_HW && w * 2 <= MAX_HW => {
                let s = if h * 3 <= MAX_HW && w * 3 <= MAX_HW {
                    self.ch.range(1, 3)
                } else {
                    self.ch.range(1, 2)
                };
                let st = self.int(sc, s);
                let text = if self.ch.maybe(50) {
                    format!("{name}({st}{mode})")
                } else {
                    format!("{name}(scale: {st}{mode})")
                };
                (text, vec![c, h * s, w * s])
            }
            1 if !likes.is_empty() => {
                let t = self.ch.pick(&likes).clone();
                (
                    format!("{name}(size: like({}){mode})", t.name),
                    vec![c, t.shape[1], t.shape[2]],
                )
            }
            _ => {
                let (a, b) = if keep {
                    (h, w)
                } else {
                    (self.ch.range(1, MAX_HW), self.ch.range(1, MAX_HW))
                };
                let (at, bt) = (self.int(sc, a), self.int(sc, b));
                (format!("{name}(size: [{at}, {bt}]{mode})"), vec![c, a, b])
            }
        }
    }

    /// A block call on `shape`: an existing block made for it, or a new one.
    fn call(&mut self, sc: &mut Scope, shape: &[usize], keep: bool) -> (String, Vec<usize>) {
        let fits: Vec<usize> = (0..self.blocks.len())
            .filter(|&b| self.blocks[b].input == shape && (!keep || self.blocks[b].output == shape))
            .collect();
        let b = if !fits.is_empty() && (self.ch.maybe(60) || sc.depth >= 2) {
            *self.ch.pick(&fits)
        } else if sc.depth < 2 {
            self.block(shape, keep, sc.depth + 1)
        } else {
            return ("identity".into(), shape.to_vec());
        };
        let blk = self.blocks[b].clone();
        let mut args = Vec::new();
        let mut keyword = false;
        for (name, value, default) in &blk.params {
            if *default == Some(*value) && self.ch.maybe(50) {
                keyword = true;
                continue;
            }
            let v = self.int(sc, *value);
            if keyword || self.ch.maybe(25) {
                keyword = true;
                args.push(format!("{name}: {v}"));
            } else {
                args.push(v);
            }
        }
        let mut text = if args.is_empty() && self.ch.maybe(50) {
            blk.name.clone()
        } else {
            format!("{}({})", blk.name, args.join(", "))
        };
        if blk.output == blk.input && self.ch.maybe(40) {
            text = format!("{text} * {}", self.ch.range(1, 3));
        }
        (text, blk.output.clone())
    }

    /// Defines a new block whose input has `shape` (keeping it with `keep`);
    /// returns its index.
    fn block(&mut self, shape: &[usize], keep: bool, depth: usize) -> usize {
        let mut name = self.ch.pick(BLOCK_NAMES).to_string();
        while self.global.contains(&name) || self.taken.contains(&name) {
            name = format!("{name}_");
        }
        self.global.insert(name.clone());
        let mut params: Vec<(String, usize, Option<usize>)> = Vec::new();
        for _ in 0..self.ch.below(4) {
            let p = self.ch.pick(PARAM_NAMES).to_string();
            if params.iter().any(|(n, _, _)| *n == p) || self.global.contains(&p) {
                continue;
            }
            self.taken.insert(p.clone());
            let v = *self.ch.pick(&[shape[0], 1, 2, 3, 4, 8]);
            let default = match self.ch.below(3) {
                0 => None,
                1 => Some(v),
                _ => Some(v + 1),
            };
            params.push((p, v, default));
        }
        // Parameters with defaults come last.
        params.sort_by_key(|(_, _, d)| d.is_some());
        let mut input_name = self.ch.pick(INPUT_NAMES).to_string();
        while self.global.contains(&input_name) || params.iter().any(|(n, _, _)| *n == input_name) {
            input_name = format!("{input_name}_");
        }
        self.taken.insert(input_name.clone());
        let input = T {
            name: input_name.clone(),
            shape: shape.to_vec(),
        };
        let mut sc = Scope {
            env: vec![input.clone()],
            params: params.iter().map(|(n, v, _)| (n.clone(), *v)).collect(),
            block_input: Some(input),
            names: HashSet::from([input_name.clone()]),
            stmts: vec![format!("input {input_name}")],
            depth,
            labels: HashSet::new(),
            indexed: false,
        };
        let out = self.body(&mut sc, keep, true);
        let list: Vec<String> = params
            .iter()
            .map(|(n, _, d)| match d {
                Some(d) => format!("{n} = {d}"),
                None => n.clone(),
            })
            .collect();
        let mut text = format!("block {name}({}) {{\n", list.join(", "));
        for s in &sc.stmts {
            text.push_str(&format!("  {s}\n"));
        }
        text.push_str("}\n");
        self.defs.push(text);
        self.blocks.push(Block {
            name,
            params,
            input: shape.to_vec(),
            output: out,
        });
        self.blocks.len() - 1
    }

    /// A chain `src -> stage -> …`; returns its text and shape.
    fn chain(&mut self, sc: &mut Scope, src: &T, keep: bool, min: usize) -> (String, Vec<usize>) {
        let mut text = src.name.clone();
        let mut shape = src.shape.clone();
        let n = self.ch.range(min, 4);
        for _ in 0..n {
            let (stage, s) = if self.ch.maybe(10) {
                // A list of stages: `[conv(...), bn, relu]`.
                let mut items = Vec::new();
                let mut s = shape.clone();
                for _ in 0..self.ch.range(1, 3) {
                    let (t, s2) = self.stage(sc, &s, keep);
                    items.push(t);
                    s = s2;
                }
                (format!("[{}]", items.join(", ")), s)
            } else {
                self.stage(sc, &shape, keep)
            };
            let indexed = stage.starts_with('[') || stage.contains(" * ");
            let label = if self.ch.maybe(15) || (indexed && sc.indexed) {
                let mut l = self.ch.pick(LABELS).to_string();
                // (Unlabeled block instances are named after their block.)
                while sc.labels.contains(&l) || self.global.contains(&l) {
                    l = format!("{l}_");
                }
                sc.labels.insert(l.clone());
                self.taken.insert(l.clone());
                format!("{l}: ")
            } else {
                sc.indexed |= indexed;
                String::new()
            };
            text = format!("{text} -> {label}{stage}");
            shape = s;
        }
        (text, shape)
    }

    /// Writes statements into `sc` and returns the output shape. A block
    /// ends in a bare expression (`last`), the model in an `output` or a bare
    /// expression.
    fn body(&mut self, sc: &mut Scope, keep: bool, block: bool) -> Vec<usize> {
        let n = self.ch.range(1, 5);
        let mut last: Option<T> = None;
        for k in 0..n {
            let final_stmt = k + 1 == n;
            let (expr, shape) = self.statement(sc, keep);
            if final_stmt && block && self.ch.maybe(60) {
                sc.stmts.push(expr);
                return shape;
            }
            let name = if final_stmt && !block && self.ch.maybe(30) {
                self.fresh(sc, LAST_NAMES)
            } else {
                self.fresh(sc, TENSOR_NAMES)
            };
            sc.stmts.push(format!("{name} = {expr}"));
            let t = T { name, shape };
            sc.env.push(t.clone());
            last = Some(t);
        }
        let last = last.expect("at least one statement");
        if block {
            sc.stmts.push(last.name.clone());
        }
        last.shape
    }

    /// One expression over the tensors in scope: a chain, a sum, a
    /// concatenation or a product.
    fn statement(&mut self, sc: &mut Scope, keep: bool) -> (String, Vec<usize>) {
        // Recent tensors are likelier sources.
        let src = if self.ch.maybe(60) {
            sc.env.last().cloned().expect("a tensor in scope")
        } else {
            self.ch.pick(&sc.env).clone()
        };
        let form = self.ch.below(8);
        match form {
            // a + b (+ c): tensors of the shape, or chains that keep it.
            4 | 5 => {
                let mut terms = vec![src.name.clone()];
                for _ in 0..self.ch.range(1, 2) {
                    let same: Vec<T> = sc
                        .env
                        .iter()
                        .filter(|t| t.shape == src.shape)
                        .cloned()
                        .collect();
                    let t = self.ch.pick(&same).clone();
                    if self.ch.maybe(60) {
                        let (c, _) = self.chain(sc, &t, true, 1);
                        terms.push(format!("({c})"));
                    } else {
                        terms.push(t.name.clone());
                    }
                }
                let sum = if self.ch.maybe(20) {
                    format!("add({})", terms.join(", "))
                } else {
                    terms.join(" + ")
                };
                let text = match self.ch.below(3) {
                    1 => format!("relu({sum})"),
                    _ => sum,
                };
                (text, src.shape)
            }
            // concat(a, b, …): the same H and W (or flat tensors).
            6 if !keep => {
                let mut items = vec![src.name.clone()];
                let mut c = src.shape[0];
                for _ in 0..self.ch.range(1, 2) {
                    let fit: Vec<T> = sc
                        .env
                        .iter()
                        .filter(|t| {
                            t.shape.len() == src.shape.len() && t.shape[1..] == src.shape[1..]
                        })
                        .cloned()
                        .collect();
                    let t = self.ch.pick(&fit).clone();
                    let (text, s) = if self.ch.maybe(50) {
                        self.chain(sc, &t, true, 1)
                    } else {
                        (t.name.clone(), t.shape.clone())
                    };
                    if c + s[0] > 2 * MAX_C && items.len() > 1 {
                        break;
                    }
                    c += s[0];
                    items.push(text);
                }
                if self.ch.maybe(30) {
                    items.reverse();
                }
                let mut shape = src.shape.clone();
                shape[0] = c;
                (format!("concat({})", items.join(", ")), shape)
            }
            // a * gate: a gate C×1×1 (squeeze-and-excitation) or a tensor of
            // the same shape, either side.
            7 => {
                let gate = if src.shape.len() == 3 {
                    let c = src.shape[0];
                    let ct = self.int(sc, c);
                    match self.ch.below(3) {
                        0 => format!(
                            "({} -> global_avgpool -> conv({ct}, 1) -> sigmoid)",
                            src.name
                        ),
                        1 => format!(
                            "({} -> global_avgpool -> pad_channels(0, 0) -> tanh)",
                            src.name
                        ),
                        _ => format!("({} -> sigmoid)", src.name),
                    }
                } else {
                    let ft = self.int(sc, src.shape[0]);
                    match self.ch.below(2) {
                        0 => format!("({} -> dense({ft}) -> sigmoid)", src.name),
                        _ => format!("({} -> dense(1))", src.name),
                    }
                };
                let text = match self.ch.below(3) {
                    0 => format!("{} * {gate}", src.name),
                    1 => format!("{gate} * {}", src.name),
                    _ => format!("mul({}, {gate})", src.name),
                };
                (text, src.shape)
            }
            // A chain, sometimes as a call `relu(a)`.
            _ => {
                if self.ch.maybe(10) {
                    let f = if keep || src.shape.len() != 3 {
                        *self.ch.pick(&["relu", "identity", "sigmoid", "softmax"])
                    } else {
                        *self.ch.pick(&["relu", "global_avgpool", "flatten"])
                    };
                    let shape = match f {
                        "global_avgpool" => vec![src.shape[0], 1, 1],
                        "flatten" => vec![src.shape.iter().product()],
                        _ => src.shape.clone(),
                    };
                    return (format!("{f}({})", src.name), shape);
                }
                self.chain(sc, &src, keep, 1)
            }
        }
    }

    fn model(&mut self) -> GenModel {
        let mut name = self.ch.pick(MODEL_NAMES).to_string();
        let mut params: Vec<(String, usize)> = Vec::new();
        for _ in 0..self.ch.below(3) {
            let p = self.ch.pick(PARAM_NAMES).to_string();
            if !params.iter().any(|(n, _)| *n == p) {
                self.taken.insert(p.clone());
                let v = self.ch.range(1, MAX_C);
                params.push((p, v));
            }
        }
        let mut sc = Scope {
            env: Vec::new(),
            params: params.clone(),
            block_input: None,
            names: HashSet::new(),
            stmts: Vec::new(),
            depth: 0,
            labels: HashSet::new(),
            indexed: false,
        };
        for _ in 0..self.ch.range(1, 3) {
            let iname = self.fresh(&mut sc, INPUT_NAMES);
            let shape = if self.ch.maybe(20) {
                vec![self.ch.range(1, 16)]
            } else {
                vec![
                    self.ch.range(1, MAX_C),
                    self.ch.range(1, MAX_HW),
                    self.ch.range(1, MAX_HW),
                ]
            };
            let dims: Vec<String> = shape.iter().map(|&d| self.int(&sc, d)).collect();
            sc.stmts
                .push(format!("input {iname}: [{}]", dims.join(", ")));
            sc.env.push(T { name: iname, shape });
        }
        let inputs = sc.env.len();
        let last = self.body(&mut sc, false, false);
        let mut outputs = vec![last];
        if self.ch.maybe(40) {
            // `output a, b, …`: any tensors, an input, the same twice.
            let mut names = vec![sc.env.last().expect("a tensor").clone()];
            for _ in 0..self.ch.range(1, 2) {
                let t = self.ch.pick(&sc.env).clone();
                names.push(t);
            }
            if self.ch.maybe(50) {
                names.reverse();
            }
            let _ = inputs;
            sc.stmts.push(format!(
                "output {}",
                names
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            outputs = names.into_iter().map(|t| t.shape).collect();
        } else if self.ch.maybe(50) {
            let t = sc.env.last().expect("a tensor").name.clone();
            sc.stmts.push(format!("output {t}"));
        } else {
            // The last statement's expression is the output.
            let last = sc.stmts.pop().expect("a statement");
            let expr = last
                .split_once(" = ")
                .map(|(_, e)| e.to_string())
                .expect("an assignment");
            sc.stmts.push(expr);
        }
        while self.global.contains(&name) {
            name = format!("{name}_");
        }
        let mut source = String::new();
        for d in &self.defs {
            source.push_str(d);
            source.push('\n');
        }
        let plist = if params.is_empty() && !self.ch.maybe(20) {
            String::new()
        } else {
            let l: Vec<String> = params.iter().map(|(n, v)| format!("{n} = {v}")).collect();
            format!("({})", l.join(", "))
        };
        source.push_str(&format!("model {name}{plist} {{\n"));
        for s in &sc.stmts {
            source.push_str(&format!("  {s}\n"));
        }
        source.push_str("}\n");
        GenModel {
            source,
            name,
            outputs,
        }
    }
}

/// A deterministic batch of `n` in [-1, 1) (an LCG from `seed`): the inputs
/// both tests/suite/differential.rs and tests/suite/codegen_run.rs feed the interpreter.
pub fn batch(n: usize, shape: &[usize], seed: u64) -> resnetc::runtime::ndarray::ArrayD<f32> {
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    resnetc::runtime::ndarray::ArrayD::from_shape_simple_fn(
        resnetc::runtime::ndarray::IxDyn(&dims),
        || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        },
    )
}
