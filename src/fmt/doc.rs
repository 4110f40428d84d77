//! A small Wadler-style document algebra and its printer.
//!
//! A [`Doc`] describes text with optional line breaks; a [`Doc::Group`] is
//! printed on one line when it fits in the width, otherwise its own line
//! breaks become newlines (the groups inside it decide again, each for
//! itself). This is the algorithm of Wadler's "A prettier printer", in the
//! imperative form of Lindig's "Strictly Pretty", extended with alignment to
//! the current column and with text that appears only in broken groups (the
//! trailing comma of a list written one item per line).

/// A document: text and places where a line may break.
#[derive(Clone, Debug)]
pub enum Doc {
    /// Nothing.
    Nil,
    /// Text without newlines.
    Text(String),
    /// A space when the enclosing group is flat, a newline when broken.
    Line,
    /// Nothing when the enclosing group is flat, a newline when broken.
    SoftLine,
    /// Always a newline; a group containing one can never be flat.
    HardLine,
    /// Text printed only when the enclosing group is broken.
    IfBreak(&'static str),
    /// A `#` comment at the end of a line: printed as is, takes no width when
    /// measuring, and forces every group it is in to break (the comment runs
    /// to the end of the line, so whatever follows must be on the next line).
    LineComment(String),
    /// Documents one after the other.
    Concat(Vec<Doc>),
    /// A document whose line breaks indent by this many more columns.
    Nest(usize, Box<Doc>),
    /// A document whose line breaks return to the column it starts at.
    Align(Box<Doc>),
    /// A document printed flat when it fits, broken otherwise.
    Group(Box<Doc>),
}

/// Builds text.
pub fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

/// Concatenates documents.
pub fn concat(docs: impl IntoIterator<Item = Doc>) -> Doc {
    Doc::Concat(docs.into_iter().collect())
}

impl Doc {
    /// Indents the line breaks of `self` by `n` more columns.
    pub fn nest(self, n: usize) -> Doc {
        Doc::Nest(n, Box::new(self))
    }

    /// Makes the line breaks of `self` return to the column it starts at.
    pub fn align(self) -> Doc {
        Doc::Align(Box::new(self))
    }

    /// Prints `self` flat if it fits, broken otherwise.
    pub fn group(self) -> Doc {
        Doc::Group(Box::new(self))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

/// The width of printed text in columns (one per character).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Prints `doc` in at most `max_width` columns where it can.
///
/// Lines never end in spaces: indentation is written only before text.
pub fn render(doc: &Doc, max_width: usize) -> String {
    let mut out = String::new();
    let mut col = 0usize;
    // Indentation owed to the current line, written before its first text.
    let mut pending: Option<usize> = None;
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, d)) = stack.pop() {
        match d {
            Doc::Nil => {}
            Doc::Text(s) | Doc::LineComment(s) => {
                if s.is_empty() {
                    continue;
                }
                if let Some(n) = pending.take() {
                    out.extend(std::iter::repeat_n(' ', n));
                }
                out.push_str(s);
                col += width(s);
            }
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    if let Some(n) = pending.take() {
                        out.extend(std::iter::repeat_n(' ', n));
                    }
                    out.push_str(s);
                    col += width(s);
                }
            }
            Doc::Line | Doc::SoftLine if mode == Mode::Flat => {
                if matches!(d, Doc::Line) {
                    if let Some(n) = pending.take() {
                        out.extend(std::iter::repeat_n(' ', n));
                    }
                    out.push(' ');
                    col += 1;
                }
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine => {
                out.push('\n');
                pending = Some(indent);
                col = indent;
            }
            Doc::Concat(docs) => {
                for d in docs.iter().rev() {
                    stack.push((indent, mode, d));
                }
            }
            Doc::Nest(n, d) => stack.push((indent + n, mode, d)),
            Doc::Align(d) => stack.push((col, mode, d)),
            Doc::Group(d) => {
                let m = if mode == Mode::Flat
                    || fits(
                        max_width.saturating_sub(col),
                        (indent, Mode::Flat, d),
                        &stack,
                    ) {
                    Mode::Flat
                } else {
                    Mode::Break
                };
                stack.push((indent, m, d));
            }
        }
    }
    out
}

/// Whether `next`, then the rest of the document up to its next newline,
/// fits in `room` columns.
fn fits<'a>(room: usize, next: (usize, Mode, &'a Doc), rest: &[(usize, Mode, &'a Doc)]) -> bool {
    let mut room = room as isize;
    let mut work: Vec<(Mode, &Doc)> = vec![(next.1, next.2)];
    let mut rest = rest.iter().rev();
    loop {
        let (mode, d) = match work.pop() {
            Some(x) => x,
            None => match rest.next() {
                Some(&(_, m, d)) => (m, d),
                None => return true,
            },
        };
        match d {
            Doc::Nil => {}
            Doc::Text(s) => room -= width(s) as isize,
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    room -= width(s) as isize;
                }
            }
            Doc::LineComment(_) => {
                if mode == Mode::Flat {
                    return false;
                }
            }
            Doc::Line => match mode {
                Mode::Flat => room -= 1,
                Mode::Break => return true,
            },
            Doc::SoftLine => {
                if mode == Mode::Break {
                    return true;
                }
            }
            Doc::HardLine => return mode == Mode::Break,
            Doc::Concat(docs) => {
                for d in docs.iter().rev() {
                    work.push((mode, d));
                }
            }
            Doc::Nest(_, d) | Doc::Align(d) | Doc::Group(d) => work.push((mode, d)),
        }
        if room < 0 {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Doc {
        let mut inner = vec![Doc::SoftLine];
        for (k, it) in items.iter().enumerate() {
            if k > 0 {
                inner.push(text(","));
                inner.push(Doc::Line);
            }
            inner.push(text(*it));
        }
        inner.push(Doc::IfBreak(","));
        concat([text("["), concat(inner).nest(2), Doc::SoftLine, text("]")]).group()
    }

    #[test]
    fn a_group_that_fits_is_flat() {
        assert_eq!(render(&list(&["a", "b"]), 10), "[a, b]");
    }

    #[test]
    fn a_group_that_does_not_fit_breaks_with_a_trailing_comma() {
        assert_eq!(
            render(&list(&["aaaa", "bbbb"]), 10),
            "[\n  aaaa,\n  bbbb,\n]"
        );
    }

    #[test]
    fn text_after_a_group_counts_until_the_next_newline() {
        // `[a, b]` is 6 columns, but the `xxxxx` after it must fit on the same line.
        let d = concat([list(&["a", "b"]), text("xxxxx")]);
        assert_eq!(render(&d, 10), "[\n  a,\n  b,\n]xxxxx");
    }

    #[test]
    fn a_line_comment_breaks_its_group_and_blank_lines_have_no_spaces() {
        let d = concat([
            text("{"),
            concat([
                Doc::Line,
                text("x"),
                Doc::LineComment(" # c".into()),
                Doc::HardLine,
                Doc::HardLine,
                text("y"),
            ])
            .nest(2),
            Doc::Line,
            text("}"),
        ])
        .group();
        assert_eq!(render(&d, 80), "{\n  x # c\n\n  y\n}");
    }

    #[test]
    fn align_returns_to_the_starting_column() {
        let d = concat([
            text("out = x "),
            concat([text("-> a"), Doc::Line, text("-> b")]).align(),
        ])
        .group();
        assert_eq!(render(&d, 10), "out = x -> a\n        -> b");
        assert_eq!(render(&d, 80), "out = x -> a -> b");
    }
}
