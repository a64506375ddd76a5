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

/// `file:line:column: message`, the line, and a caret under the column.
pub fn format_diagnostic(d: &Diagnostic, text: Option<&str>) -> String {
    let mut out = format!(
        "{}:{}:{}: error: {}",
        d.span.file, d.span.line, d.span.column, d.message
    );
    if let Some(line) = text.and_then(|t| t.lines().nth(d.span.line as usize - 1)) {
        out.push_str(&format!(
            "\n    {line}\n    {}^",
            " ".repeat(d.span.column.saturating_sub(1) as usize)
        ));
    }
    out
}
