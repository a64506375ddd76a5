//! MySQL text as sqlparser's tokens, each with the byte range of the source it was read
//! from. Everything zerodown sends is cut from those ranges (the user's own bytes):
//! a token's `Display` drops a level of escaping (`'O''Brien'` prints as `'O'Brien'`,
//! `'C:\\temp'` as `'C:\temp'`), so SQL is never rebuilt from tokens.

use std::ops::Range;

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Location, Token, Tokenizer, Whitespace};

/// A token and where it is in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub token: Token,
    pub at: Range<usize>,
}

impl Located {
    /// Not whitespace nor a comment.
    pub fn is_solid(&self) -> bool {
        !matches!(self.token, Token::Whitespace(_))
    }

    /// The upper-cased word, when this is an unquoted one.
    pub fn keyword(&self) -> Option<String> {
        match &self.token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    pub fn is_comment(&self) -> bool {
        matches!(
            self.token,
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)
            )
        )
    }
}

/// A tokenizer error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub offset: usize,
    pub message: String,
}

/// Tokenizes `text` with byte ranges. One pass over the text: the tokens come in order,
/// so a cursor walks from each location to the next (line and column in characters, as
/// sqlparser counts them).
pub fn locate(text: &str) -> Result<Vec<Located>, TokenError> {
    let (read, _) = server_reading(text);
    let text = read.as_str();
    let mut cursor = Cursor::new(text);
    let tokens = Tokenizer::new(&MySqlDialect {}, text)
        .tokenize_with_location()
        .map_err(|e| TokenError {
            offset: Cursor::new(text).seek(e.location),
            message: e.message,
        })?;
    let starts: Vec<usize> = tokens.iter().map(|t| cursor.seek(t.span.start)).collect();
    Ok(tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| Located {
            token: t.token,
            at: starts[i]..starts.get(i + 1).copied().unwrap_or(text.len()),
        })
        .collect())
}

/// `text` with every `--` comment the server sees written so that sqlparser sees it too,
/// byte for byte the same length. MySQL and MariaDB end a `--` comment at the line's end
/// when the second dash is followed by a space, a control character (TAB, newline...) or
/// the end of the text; sqlparser only when a space follows. So `--<TAB>x; DROP TABLE t`
/// is a comment to the server, and two statements to sqlparser. Quotes, backquotes and the
/// other comments are skipped as the server skips them (backslash escapes on, the default
/// `sql_mode`).
///
/// Also returns where the semicolons outside quotes and comments are: where the server
/// ends statements.
fn server_reading(text: &str) -> (String, Vec<usize>) {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut semicolons = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b';' => {
                semicolons.push(i);
                i += 1;
            }
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    let escaped = b[i] == b'\\' && q != b'`';
                    let doubled = b[i] == q && b.get(i + 1) == Some(&q);
                    if escaped || doubled {
                        i += 2;
                    } else if b[i] == q {
                        break;
                    } else {
                        i += 1;
                    }
                }
                i += 1;
            }
            b'#' => i = line_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = b[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(b.len(), |p| i + 2 + p + 2);
            }
            b'-' if b.get(i + 1) == Some(&b'-') => match b.get(i + 2) {
                Some(b' ') => i = line_end(b, i),
                Some(b'\n' | b'\r') | None => {
                    out[i..i + 2].copy_from_slice(b"  ");
                    i += 2;
                }
                Some(&c) if c.is_ascii_control() => {
                    out[i + 2] = b' ';
                    i = line_end(b, i);
                }
                _ => i += 2,
            },
            _ => i += 1,
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes: still UTF-8.
    let read = String::from_utf8(out).unwrap_or_else(|_| text.to_owned());
    (read, semicolons)
}

/// `text` cut into stretches of at least `min_bytes` (the last may be shorter), each
/// ending just after a semicolon the server ends a statement at: a long file is tokenized
/// stretch by stretch, its tokens (some 60 bytes per byte of text) never all at once.
/// A stretch is read as the whole text would be: no statement, string or comment spans
/// a cut.
pub fn stretches(text: &str, min_bytes: usize) -> Vec<Range<usize>> {
    let whole: Range<usize> = 0..text.len();
    if text.len() <= min_bytes {
        return vec![whole];
    }
    let (_, semicolons) = server_reading(text);
    let mut out = Vec::new();
    let mut start = 0;
    for s in semicolons {
        if s + 1 - start >= min_bytes {
            out.push(start..s + 1);
            start = s + 1;
        }
    }
    if start < text.len() || out.is_empty() {
        out.push(start..text.len());
    }
    out
}

/// The index of the newline ending the line at `i` (or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| i + p)
}

/// The solid tokens of `sql` (no whitespace, no comments), or the tokenizer's message.
pub fn solid(sql: &str) -> Result<Vec<Located>, String> {
    Ok(locate(sql)
        .map_err(|e| e.message)?
        .into_iter()
        .filter(Located::is_solid)
        .collect())
}

/// The text from the first to the last solid token of `tokens` (comments and whitespace
/// around them left out, those between kept), or None when there is no solid token.
pub fn solid_text<'t>(text: &'t str, tokens: &[Located]) -> Option<&'t str> {
    let first = tokens.iter().find(|t| t.is_solid())?;
    let last = tokens.iter().rev().find(|t| t.is_solid())?;
    Some(&text[first.at.start..last.at.end])
}

/// Moves forward through a text to sqlparser locations.
struct Cursor<'t> {
    text: &'t str,
    offset: usize,
    line: u64,
    column: u64,
}

impl<'t> Cursor<'t> {
    fn new(text: &'t str) -> Self {
        Cursor {
            text,
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    /// The byte offset of `to` (never behind the cursor: locations come in order).
    fn seek(&mut self, to: Location) -> usize {
        let rest = &self.text[self.offset..];
        for (i, c) in rest.char_indices() {
            if (self.line, self.column) >= (to.line, to.column) {
                self.offset += i;
                return self.offset;
            }
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.offset = self.text.len();
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_the_bytes_each_token_was_read_from() {
        let text = "SELECT 'O''Brien', `a``b`,\n  'C:\\\\t' -- é, x\n, 'ü' /* c */;";
        let tokens = locate(text).expect("tokenizes");
        let solid: Vec<&str> = tokens
            .iter()
            .filter(|t| t.is_solid())
            .map(|t| &text[t.at.clone()])
            .collect();
        assert_eq!(
            solid,
            [
                "SELECT",
                "'O''Brien'",
                ",",
                "`a``b`",
                ",",
                "'C:\\\\t'",
                ",",
                "'ü'",
                ";"
            ]
        );
        // Every byte belongs to one token.
        let covered: usize = tokens.iter().map(|t| t.at.len()).sum();
        assert_eq!(covered, text.len());
        assert_eq!(solid_text(text, &tokens[1..]), Some(&text[7..]));
    }

    #[test]
    fn an_error_is_placed_at_its_byte() {
        let e = locate("SELECT 'é\n'x").expect("ok");
        assert_eq!(e.len(), 4);
        let e = locate("SELECT 1;\nSELECT 'ü").expect_err("unterminated");
        assert!(e.offset >= 10, "{e:?}");
    }
}
