//! Rust identifiers from `.rn` names: snake_case fields and locals,
//! SCREAMING_CASE consts, CamelCase types; keywords avoided, duplicates
//! numbered.

use std::collections::HashSet;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "unsafe", "use", "where", "while", "yield", "abstract", "become", "do", "final",
    "macro", "override", "priv", "typeof", "unsized", "virtual",
];

/// `layer2.0.downsample.0` → `layer2_0_downsample_0`; `0` → `l0`; `type` → `type_`.
pub(crate) fn snake(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('_') {
            s.push('_');
        }
    }
    let s = s.trim_matches('_').to_string();
    if s.is_empty() {
        "v".to_string()
    } else if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("l{s}")
    } else if KEYWORDS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        s
    }
}

/// `layer2.0.conv1` → `LAYER2_0_CONV1`.
pub(crate) fn screaming(name: &str) -> String {
    snake(name).trim_end_matches('_').to_ascii_uppercase()
}

/// `dense_layer` → `DenseLayer`; `resnet18` → `Resnet18`.
pub(crate) fn camel(name: &str) -> String {
    let mut s = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper {
                s.push(c.to_ascii_uppercase());
            } else {
                s.push(c);
            }
            upper = c.is_ascii_digit();
        } else {
            upper = true;
        }
    }
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'M');
    }
    s
}

/// Hands out unique identifiers within one scope.
#[derive(Default)]
pub(crate) struct Namer {
    used: HashSet<String>,
}

impl Namer {
    /// A namer with these identifiers already taken.
    pub(crate) fn with_reserved(reserved: &[&str]) -> Namer {
        Namer {
            used: reserved.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Whether `name` is still free.
    pub(crate) fn is_free(&self, name: &str) -> bool {
        !self.used.contains(name)
    }

    /// A type name: `base`, or `baseV2`, `baseV3`, … if taken (CamelCase).
    pub(crate) fn fresh_type(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut i = 2;
        while self.used.contains(&name) {
            name = format!("{base}V{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// `base`, or `base_2`, `base_3`, … if taken (`in_` → `in_2`: a double
    /// underscore is not snake case, and `non_snake_case` would warn).
    pub(crate) fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let stem = base.strip_suffix('_').unwrap_or(base);
        let mut i = 2;
        while self.used.contains(&name) {
            name = format!("{stem}_{i}");
            i += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(snake("layer2.0.downsample.0"), "layer2_0_downsample_0");
        assert_eq!(snake("0"), "l0");
        assert_eq!(snake("type"), "type_");
        assert_eq!(screaming("layer1.0.conv1"), "LAYER1_0_CONV1");
        assert_eq!(camel("dense_layer"), "DenseLayer");
        assert_eq!(camel("resnet18"), "Resnet18");
        let mut n = Namer::default();
        assert_eq!(n.fresh("x"), "x");
        assert_eq!(n.fresh("x"), "x_2");
        assert_eq!(n.fresh("in_"), "in_");
        assert_eq!(n.fresh("in_"), "in_2");
        let mut t = Namer::with_reserved(&["Loader"]);
        assert!(!t.is_free("Loader"));
        assert_eq!(t.fresh_type("Loader"), "LoaderV2");
        assert_eq!(t.fresh_type("Basic8"), "Basic8");
    }
}
