//! The `#` comments of a source text, which the parser skips.
//!
//! A comment starts at a `#` outside a string literal and runs to the end of
//! the line. The scan knows only strings and comments, which is all it needs
//! for text that parses: no other token contains `#` or `"`.

/// One `#` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the `#`.
    pub start: usize,
    /// Byte offset one past its last character (before the newline).
    pub end: usize,
    /// The comment from `#` on, without trailing white space.
    pub text: String,
}

/// Every comment of `text`, in order.
pub fn collect(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // A string runs to the next `"` on the same line.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
                i += 1;
            }
            b'#' => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                // `#` and `\n` are ASCII, so both offsets are character boundaries.
                let body = text[start..i].trim_end();
                out.push(Comment {
                    start,
                    end: start + body.len(),
                    text: body.to_string(),
                });
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_comments_but_not_hashes_in_strings() {
        let src = "import \"a#b.rn\" # one\n# two \r\nx";
        let texts: Vec<_> = collect(src).into_iter().map(|c| c.text).collect();
        assert_eq!(texts, ["# one", "# two"]);
    }

    #[test]
    fn spans_cover_the_comment_text() {
        let src = "x # c  \n";
        let c = &collect(src)[0];
        assert_eq!(&src[c.start..c.end], "# c");
    }
}
