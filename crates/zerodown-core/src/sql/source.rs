//! Positions in source text: skipping comments to a statement's first token, and
//! byte offsets to 1-based line:column.

use serde::Serialize;

/// Where a statement sits in its source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub file: std::sync::Arc<str>,
    /// 1-based line of the statement's first token.
    pub line: u32,
    /// 1-based column (in characters) of the statement's first token.
    pub column: u32,
    /// Byte range of the statement in the file.
    pub start: usize,
    pub end: usize,
}

/// A problem in the user's SQL, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub span: Span,
    pub message: String,
}

/// Byte offset of the first token after whitespace and comments, or None if there is none.
pub fn first_token_offset(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in PostgreSQL.
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b';' => i += 1,
            _ => return Some(i),
        }
    }
    None
}

/// 1-based line and column (in characters) of a byte offset.
/// Line and column of offsets that mostly come in order (statement after statement):
/// each walks on from the last one, so a file costs one pass, not one per statement.
pub struct Locator<'t> {
    text: &'t str,
    at: usize,
    line: u32,
    column: u32,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Self {
        Locator {
            text,
            at: 0,
            line: 1,
            column: 1,
        }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    /// The span of `text[start..end]` in file `file` (one name shared by its spans).
    pub fn span(&mut self, file: &std::sync::Arc<str>, start: usize, end: usize) -> Span {
        let (line, column) = self.line_col(start);
        Span {
            file: file.clone(),
            line,
            column,
            start,
            end,
        }
    }

    pub fn line_col(&mut self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset < self.at {
            *self = Locator::new(self.text);
        }
        for c in self.text[self.at..offset].chars() {
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.at = offset;
        (self.line, self.column)
    }
}

pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.bytes().filter(|&c| c == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let column = before[line_start..].chars().count() + 1;
    (line as u32, column as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_comments() {
        assert_eq!(
            first_token_offset("  -- hi\n /* a /* b */ c */ SELECT"),
            Some(27)
        );
        assert_eq!(first_token_offset("\n-- only a comment\n"), None);
        assert_eq!(line_col("ab\ncd\nef", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
        let mut at = Locator::new("ab\ncé\nef");
        for (offset, want) in [
            (4, (2, 2)),
            (7, (3, 1)),
            (0, (1, 1)),
            (6, (2, 3)),
            (99, (3, 3)),
        ] {
            assert_eq!(at.line_col(offset), want, "{offset}");
        }
    }
}
