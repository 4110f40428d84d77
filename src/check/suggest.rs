//! Did-you-mean suggestions: case-insensitive, aware of the names PyTorch
//! and Keras give to resnetc's ops and arguments, then by edit distance.

/// Other frameworks' names for resnetc's ops, normalised (lower case, no
/// `_`), with the resnetc op.
const OP_ALIASES: &[(&str, &str, &str)] = &[
    ("conv2d", "conv", "PyTorch's `nn.Conv2d` (Keras' `Conv2D`)"),
    ("convolution", "conv", "a convolution"),
    ("batchnorm2d", "bn", "PyTorch's `nn.BatchNorm2d`"),
    ("batchnorm1d", "bn", "PyTorch's `nn.BatchNorm1d`"),
    ("batchnorm", "bn", "batch normalisation"),
    ("batchnormalization", "bn", "Keras' `BatchNormalization`"),
    ("linear", "dense", "PyTorch's `nn.Linear`"),
    ("fullyconnected", "dense", "a fully connected layer"),
    ("maxpool2d", "maxpool", "PyTorch's `nn.MaxPool2d`"),
    ("maxpooling2d", "maxpool", "Keras' `MaxPooling2D`"),
    ("avgpool2d", "avgpool", "PyTorch's `nn.AvgPool2d`"),
    ("averagepooling2d", "avgpool", "Keras' `AveragePooling2D`"),
    (
        "adaptiveavgpool2d",
        "global_avgpool",
        "PyTorch's `nn.AdaptiveAvgPool2d((1, 1))`",
    ),
    (
        "globalaveragepooling2d",
        "global_avgpool",
        "Keras' `GlobalAveragePooling2D`",
    ),
    ("leakyrelu", "leaky_relu", "PyTorch's `nn.LeakyReLU`"),
    ("dropout2d", "dropout", "PyTorch's `nn.Dropout2d`"),
    ("cat", "concat", "`torch.cat`"),
    ("concatenate", "concat", "Keras' `Concatenate`"),
    (
        "pad",
        "pad_channels",
        "zero padding of channels (`F.pad` on the channel axis)",
    ),
    ("zeropad", "pad_channels", "zero padding of channels"),
    ("multiply", "mul", "Keras' `Multiply` (or write `a * b`)"),
    ("upsampling2d", "upsample", "Keras' `UpSampling2D`"),
    (
        "convtranspose2d",
        "conv_transpose",
        "PyTorch's `nn.ConvTranspose2d`",
    ),
    (
        "conv2dtranspose",
        "conv_transpose",
        "Keras' `Conv2DTranspose`",
    ),
];

/// Other frameworks' names for op arguments, with resnetc's.
const ARG_ALIASES: &[(&str, &str)] = &[
    ("padding", "pad"),
    ("strides", "stride"),
    ("kernel_size", "kernel"),
    ("pool_size", "kernel"),
    ("out_channels", "out"),
    ("filters", "out"),
    ("out_features", "out"),
    ("units", "out"),
    ("features", "out"),
    ("use_bias", "bias"),
    ("dilation_rate", "dilation"),
    ("ceil_mode", "ceil"),
    ("count_include_pad", "count_pad"),
    ("epsilon", "eps"),
    ("rate", "p"),
    ("negative_slope", "slope"),
    ("alpha", "slope"),
];

/// A suggested name and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Suggestion {
    /// The name to write.
    pub name: String,
    /// The help line.
    pub help: String,
}

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Edit distance small enough for a typo of `name` (lower-cased both).
fn close(name: &str, candidate: &str) -> Option<usize> {
    let d = strsim::damerau_levenshtein(&name.to_lowercase(), &candidate.to_lowercase());
    // One- and two-letter names only match at distance 1 (`x` is not a typo of `max`).
    let limit = if name.len() < 3 {
        1
    } else {
        2.max(name.len() / 3)
    };
    (d <= limit && d < candidate.len().max(name.len())).then_some(d)
}

/// The closest candidate by edit distance, ignoring case.
pub(crate) fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .filter(|c| *c != name)
        .filter_map(|c| close(name, c).map(|d| (d, c)))
        .min_by_key(|(d, c)| (*d, c.to_string()))
        .map(|(_, c)| c.to_string())
}

/// A suggestion for the unknown name `name` among `candidates` (the names
/// in scope: variables, blocks, ops, built-ins): the same name in another
/// case, an op under another framework's name (exact or misspelt), or the
/// closest candidate.
pub(crate) fn name<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> Option<Suggestion> {
    if let Some(c) = candidates
        .clone()
        .find(|c| *c != name && c.eq_ignore_ascii_case(name))
    {
        return Some(Suggestion {
            name: c.to_string(),
            help: format!("names are case-sensitive: write `{c}`"),
        });
    }
    let n = normalise(name);
    let known = |op: &str| candidates.clone().any(|c| c == op);
    if let Some((_, op, what)) = OP_ALIASES.iter().find(|(a, op, _)| *a == n && known(op)) {
        return Some(Suggestion {
            name: op.to_string(),
            help: format!("{what} is `{op}` in resnetc: write `{op}`"),
        });
    }
    // A typo of an alias (`batchnrom`).
    let alias = OP_ALIASES
        .iter()
        .filter(|(_, op, _)| known(op))
        .filter_map(|(a, op, _)| close(&n, a).map(|d| (d, *a, *op)))
        .min_by_key(|(d, a, _)| (*d, *a));
    let direct =
        closest(name, candidates.clone()).map(|c| (close(name, &c).unwrap_or(usize::MAX), c));
    match (alias, direct) {
        (Some((da, a, op)), direct) if direct.as_ref().is_none_or(|(dd, _)| da < *dd) => {
            Some(Suggestion {
                name: op.to_string(),
                help: format!(
                    "did you mean `{op}`? (`{name}` looks like `{a}`, which is `{op}` in resnetc)"
                ),
            })
        }
        (_, Some((_, c))) => Some(Suggestion {
            help: format!("did you mean `{c}`?"),
            name: c,
        }),
        _ => None,
    }
}

/// A suggestion for the unknown keyword argument `name` of an op taking
/// `args`: resnetc's name for another framework's, or the closest.
pub(crate) fn argument(name: &str, args: &[&str]) -> Option<Suggestion> {
    if let Some((_, ours)) = ARG_ALIASES
        .iter()
        .find(|(theirs, ours)| *theirs == name.to_lowercase() && args.contains(ours))
    {
        return Some(Suggestion {
            name: ours.to_string(),
            help: format!("`{name}` is called `{ours}` in resnetc: write `{ours}: ...`"),
        });
    }
    closest(name, args.iter().copied()).map(|c| Suggestion {
        help: format!("did you mean `{c}`?"),
        name: c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> impl Iterator<Item = &'static str> + Clone {
        crate::ir::ops::OPS.iter().map(|s| s.name)
    }

    #[test]
    fn framework_names_and_case() {
        let s = |n: &str| name(n, ops()).map(|s| s.name);
        assert_eq!(s("Relu").as_deref(), Some("relu"));
        assert_eq!(s("ReLU").as_deref(), Some("relu"));
        assert_eq!(s("Conv2d").as_deref(), Some("conv"));
        assert_eq!(s("BatchNorm2d").as_deref(), Some("bn"));
        assert_eq!(s("BatchNorm").as_deref(), Some("bn"));
        assert_eq!(s("batchnrom").as_deref(), Some("bn"));
        assert_eq!(s("Linear").as_deref(), Some("dense"));
        assert_eq!(s("pad").as_deref(), Some("pad_channels"));
        assert_eq!(s("ConvTranspose2d").as_deref(), Some("conv_transpose"));
        assert_eq!(s("MaxPool2d").as_deref(), Some("maxpool"));
        assert_eq!(s("GELU").as_deref(), Some("gelu"));
        assert_eq!(s("transformer").as_deref(), None);
        assert_eq!(s("rleu").as_deref(), Some("relu"));
    }

    #[test]
    fn argument_names() {
        let conv = [
            "out", "kernel", "stride", "pad", "dilation", "groups", "bias",
        ];
        let a = |n: &str| argument(n, &conv).map(|s| s.name);
        assert_eq!(a("strides").as_deref(), Some("stride"));
        assert_eq!(a("padding").as_deref(), Some("pad"));
        assert_eq!(a("Padding").as_deref(), Some("pad"));
        assert_eq!(a("strde").as_deref(), Some("stride"));
    }
}
