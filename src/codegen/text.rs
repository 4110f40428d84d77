//! Small text helpers: rustfmt-shaped calls, source comments, literals.

use std::path::Path;

use crate::span::{SourceMap, Span};

/// rustfmt's `max_width`.
const MAX_WIDTH: usize = 100;
/// rustfmt's `fn_call_width`.
const CALL_WIDTH: usize = 60;
/// rustfmt's `array_width`.
const ARRAY_WIDTH: usize = 60;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `{lhs}{callee}({args}){tail}` laid out as rustfmt lays it out at
/// `indent`: on one line if it fits, else with the right-hand side on the
/// next line, else one argument per line. Lines are relative to `indent`.
pub(crate) fn call(
    indent: usize,
    lhs: &str,
    callee: &str,
    args: &[String],
    tail: &str,
) -> Vec<String> {
    let joined = args.join(", ");
    let rhs = format!("{callee}({joined}){tail}");
    if indent + width(lhs) + width(&rhs) <= MAX_WIDTH && width(&joined) <= CALL_WIDTH {
        return vec![format!("{lhs}{rhs}")];
    }
    if lhs.ends_with("= ") && indent + 4 + width(&rhs) <= MAX_WIDTH && width(&joined) <= CALL_WIDTH
    {
        return vec![lhs.trim_end().to_string(), format!("    {rhs}")];
    }
    let mut v = vec![format!("{lhs}{callee}(")];
    for a in args {
        match slice_items(a) {
            // rustfmt puts a slice literal wider than `array_width` one item a line.
            Some(items) if width(a) - 1 > ARRAY_WIDTH => {
                v.push("    &[".to_string());
                v.extend(items.iter().map(|item| format!("        {item},")));
                v.push("    ],".to_string());
            }
            _ => v.push(format!("    {a},")),
        }
    }
    v.push(format!("){tail}"));
    v
}

/// The items of a slice literal `&[a, b, …]` (split at its top-level
/// commas), or `None` for any other argument.
fn slice_items(arg: &str) -> Option<Vec<&str>> {
    let inner = arg.strip_prefix("&[")?.strip_suffix(']')?;
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => {
                items.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(inner[start..].trim());
    Some(items)
}

/// A source file's name as generated code shows it: never absolute.
pub(crate) fn display_name(sources: &SourceMap, name: &str) -> String {
    let path = Path::new(name);
    if !path.is_absolute() {
        return name.replace('\\', "/");
    }
    let main_dir = sources
        .files()
        .next()
        .and_then(|(_, f)| Path::new(&f.name).parent().map(Path::to_path_buf));
    if let Some(dir) = main_dir
        && let Ok(rel) = path.strip_prefix(&dir)
    {
        return rel.display().to_string().replace('\\', "/");
    }
    path.file_name()
        .map_or_else(|| name.to_string(), |f| f.to_string_lossy().into_owned())
}

/// `// examples/seed.rn:12: inputs -> conv(64, 3, pad: same)` for the line
/// where `span` starts.
pub(crate) fn comment_line(sources: &SourceMap, span: Span) -> String {
    let file = sources.get(span.file);
    let (line, _) = file.line_col(span.start as usize);
    let start = file.line_starts()[line - 1];
    let end = file.text[start..]
        .find('\n')
        .map_or(file.text.len(), |e| start + e);
    let text = file.text[start..end].trim();
    format!("// {}:{line}: {text}", display_name(sources, &file.name))
}

/// An `f32` literal that round-trips.
pub(crate) fn float(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// Lays out every `fn` signature longer than rustfmt's `max_width` as
/// rustfmt does: one parameter per line (the `codegen` crate writes each
/// signature on one line).
pub(crate) fn wrap_signatures(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    for line in code.lines() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let is_fn = body.starts_with("fn ") || body.starts_with("pub fn ");
        let open = line.find('(');
        let close = open.and_then(|o| matching_paren(line, o));
        match (is_fn, open, close) {
            (true, Some(open), Some(close)) if width(line) > MAX_WIDTH && body.ends_with(" {") => {
                out.push_str(&line[..=open]);
                out.push('\n');
                for arg in split_top_level(&line[open + 1..close]) {
                    out.push_str(&format!("{indent}    {arg},\n"));
                }
                out.push_str(indent);
                out.push_str(&line[close..]);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The index of the `)` closing the `(` at `open`.
fn matching_paren(line: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in line[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `a, B<c, d>, e` → `a`, `B<c, d>`, `e`: commas outside brackets.
fn split_top_level(args: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in args.chars() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        parts.push(cur.trim().to_string());
    }
    parts
}
