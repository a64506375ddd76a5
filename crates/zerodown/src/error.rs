//! What can go wrong, by what the caller should do about it. The CLI maps each variant
//! to its documented exit code.

use zerodown_core::migrations::SourceFile;
use zerodown_core::sql::source::Diagnostic;
use zerodown_rehearse::RehearseError;

/// An error of a library call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input: a usage error, an unreadable file, an unknown migration. Nothing was
    /// changed.
    #[error("{0}")]
    Input(String),
    /// Problems in the SQL (syntax, unknown tables or columns), each with its place;
    /// `message` names them all with the line and a caret. Nothing was planned.
    #[error("{message}")]
    Sql {
        diagnostics: Vec<Diagnostic>,
        message: String,
    },
    /// The database could not be reached or read.
    #[error("{0}")]
    Database(String),
    /// Another zerodown run holds the run lock on this database.
    #[error("{0}")]
    Busy(String),
    /// The run stopped cleanly before its end (a lock budget spent, a pause or abort
    /// asked for, an interrupt, a plan refused): resumable.
    #[error("{0}")]
    Stopped(String),
    /// A step failed; the migration is recorded as failed at that step.
    #[error("{0}")]
    StepFailed(String),
    /// A rehearsal could not run to its end.
    #[error(transparent)]
    Rehearsal(#[from] RehearseError),
    /// Something that should not happen.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Every diagnostic, each with its place, line and caret, as one error.
    pub fn sql(diagnostics: Vec<Diagnostic>, sources: &[SourceFile]) -> Error {
        let text_of = |file: &str| {
            sources
                .iter()
                .find(|s| s.name == file)
                .map(|s| s.text.as_str())
        };
        let all: Vec<String> = diagnostics
            .iter()
            .map(|d| format_diagnostic(d, text_of(&d.span.file)))
            .collect();
        Error::Sql {
            message: format!(
                "{} problem(s) in the input; nothing was planned:\n{}",
                all.len(),
                all.join("\n")
            ),
            diagnostics,
        }
    }

    pub(crate) fn database(e: impl std::fmt::Display) -> Error {
        Error::Database(e.to_string())
    }
}

/// `file:line:column: message`, the line, and a caret under the column. A long line is
/// shown as the stretch around the column (a file of one long line with thousands of
/// errors printed the whole line for each: gigabytes).
pub fn format_diagnostic(d: &Diagnostic, text: Option<&str>) -> String {
    let mut out = format!(
        "{}:{}:{}: error: {}",
        d.span.file, d.span.line, d.span.column, d.message
    );
    if let Some((shown, caret)) = text.and_then(|t| around(t, d.span.start)) {
        out.push_str(&format!("\n    {shown}\n    {}^", " ".repeat(caret)));
    }
    out
}

/// Characters shown on each side of the column.
const CONTEXT: usize = 60;

/// The line around byte `at`, at most `CONTEXT` characters each side (`…` where cut),
/// and the caret's column in it; found without reading the rest of the text.
fn around(text: &str, at: usize) -> Option<(String, usize)> {
    let at = text.get(..at.min(text.len()))?.len();
    let before: Vec<char> = text[..at]
        .chars()
        .rev()
        .take_while(|&c| c != '\n')
        .take(CONTEXT + 1)
        .collect();
    let after: String = text[at..]
        .chars()
        .take_while(|&c| c != '\n' && c != '\r')
        .take(CONTEXT + 1)
        .collect();
    let cut_before = before.len() > CONTEXT;
    let mut shown: String = before.iter().take(CONTEXT).rev().collect();
    let mut caret = shown.chars().count();
    if cut_before {
        shown.insert(0, '…');
        caret += 1;
    }
    if after.chars().count() > CONTEXT {
        shown.extend(after.chars().take(CONTEXT));
        shown.push('…');
    } else {
        shown.push_str(&after);
    }
    Some((shown, caret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerodown_core::pg::ir::Span;

    fn diagnostic(text: &str, start: usize) -> Diagnostic {
        let (line, column) = zerodown_core::sql::source::line_col(text, start);
        Diagnostic {
            span: Span {
                file: "m.sql".into(),
                line,
                column,
                start,
                end: start,
            },
            message: "bad".into(),
        }
    }

    #[test]
    fn the_line_is_shown_with_a_caret_under_the_column() {
        let text = "SELECT 1;\nALTER TABLE t ADD COLUMN;\n";
        let d = diagnostic(text, 10);
        assert_eq!(
            format_diagnostic(&d, Some(text)),
            "m.sql:2:1: error: bad\n    ALTER TABLE t ADD COLUMN;\n    ^"
        );
    }

    #[test]
    fn a_long_line_is_shown_around_the_column() {
        let text = "ALTER TABLE t ADD COLUMN; ".repeat(20_000);
        let at = 26 * 10_000 + 14;
        let shown = format_diagnostic(&diagnostic(&text, at), Some(&text));
        assert!(shown.len() < 400, "{} bytes", shown.len());
        let lines: Vec<&str> = shown.lines().collect();
        let caret = lines[2].chars().count() - 1;
        let from_caret: String = lines[1].chars().skip(caret).take(10).collect();
        assert_eq!(from_caret, "ADD COLUMN", "{shown}");
    }
}
