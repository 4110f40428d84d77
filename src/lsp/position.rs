//! Byte offsets ↔ LSP positions (zero-based line, UTF-16 code-unit column).

use lsp_types::{Position, Range};

use crate::span::{SourceFile, Span};

/// The LSP position of a byte offset (clamped to the text, and down to a
/// character boundary).
pub(crate) fn position(file: &SourceFile, offset: usize) -> Position {
    let text = &file.text;
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let starts = file.line_starts();
    let line = match starts.binary_search(&offset) {
        Ok(l) => l,
        Err(l) => l.saturating_sub(1),
    };
    let start = starts.get(line).copied().unwrap_or(0);
    let character = text[start..offset].encode_utf16().count();
    Position::new(to_u32(line), to_u32(character))
}

/// The LSP range of a span.
pub(crate) fn range(file: &SourceFile, span: Span) -> Range {
    Range::new(
        position(file, span.start as usize),
        position(file, span.end as usize),
    )
}

/// The byte offset of an LSP position. A column past the end of its line
/// means the end of the line (as the protocol says); a line past the end of
/// the text means the end of the text.
pub(crate) fn offset(file: &SourceFile, pos: Position) -> usize {
    let text = &file.text;
    let starts = file.line_starts();
    let Some(&start) = starts.get(pos.line as usize) else {
        return text.len();
    };
    let end = starts
        .get(pos.line as usize + 1)
        .map_or(text.len(), |next| next - 1);
    let mut units = 0usize;
    for (i, c) in text[start..end].char_indices() {
        if units >= pos.character as usize {
            return start + i;
        }
        units += c.len_utf16();
    }
    end
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_code_units() {
        // `ö`, `ß` are one UTF-16 unit (two bytes); `𝔾` is two units (four bytes).
        let f = SourceFile::new("t.rn", "# Größe 𝔾 x\nab\n");
        let x = f.text.find('x').unwrap();
        assert_eq!(x, 15);
        assert_eq!(position(&f, x), Position::new(0, 11));
        assert_eq!(offset(&f, Position::new(0, 11)), x);
        assert_eq!(
            position(&f, f.text.find("ab").unwrap()),
            Position::new(1, 0)
        );
        assert_eq!(offset(&f, Position::new(1, 1)), x + 3);
        // Past the end of a line: its end; past the last line: the text's end.
        assert_eq!(offset(&f, Position::new(1, 99)), x + 4);
        assert_eq!(offset(&f, Position::new(9, 0)), f.text.len());
        // Inside `𝔾` (a byte offset that is no boundary) rounds down.
        let g = f.text.find('𝔾').unwrap();
        assert_eq!(position(&f, g + 1), position(&f, g));
    }
}
