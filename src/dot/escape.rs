//! DOT quoted strings.

use std::fmt::Write;

/// `text` as a DOT quoted string (`"…"`), safe for any input.
///
/// Inside DOT's quotes only `"` needs a backslash to be read correctly, but
/// Graphviz then interprets backslash sequences in labels (`\n`, `\l`, `\N`,
/// ...) and joins lines ending in a backslash, so every backslash is doubled
/// (Graphviz shows `\\` as one backslash). A line break becomes `\n`, which
/// Graphviz draws as a centred line break; other control characters are
/// written as Rust escapes (`\u{7}` shown literally), never raw.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    push_escaped(&mut out, text);
    out.push('"');
    out
}

/// A multi-line label: the lines escaped and joined by DOT's `\n`.
pub fn quote_lines<S: AsRef<str>>(lines: &[S]) -> String {
    let mut out = String::from("\"");
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push_str("\\n");
        }
        push_escaped(&mut out, line.as_ref());
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                // `\u{7}` with its backslash doubled, so Graphviz shows it as text.
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{quote, quote_lines};

    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        // A trailing backslash must not escape the closing quote.
        assert_eq!(quote("end\\"), r#""end\\""#);
        assert_eq!(quote("two\nlines"), r#""two\nlines""#);
        assert_eq!(quote("bell\u{7}"), r#""bell\\u{7}""#);
    }

    #[test]
    fn lines_are_joined_with_dot_line_breaks() {
        assert_eq!(quote_lines(&["a: conv", "N×3"]), r#""a: conv\nN×3""#);
        assert_eq!(quote_lines::<&str>(&[]), r#""""#);
    }
}
