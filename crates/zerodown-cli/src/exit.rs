//! Exit codes (documented in README.md; part of the contract).

use std::process::ExitCode;

/// 0: done; every statement is safe or needs only caution.
pub const OK: u8 = 0;
/// 1: unexpected internal failure.
pub const INTERNAL: u8 = 1;
/// 2: bad input: usage, unreadable file, SQL syntax error, unknown table or column.
pub const BAD_INPUT: u8 = 2;
/// 3: the migration as written has unsafe statements (the plan is still printed).
pub const UNSAFE: u8 = 3;
/// 4: the database could not be reached or read.
pub const DATABASE: u8 = 4;
/// 5: apply stopped cleanly before the end (a lock budget was spent, a pause or abort
/// was requested, or confirmation was refused): resumable.
pub const STOPPED: u8 = 5;
/// 6: a step failed; the migration is recorded as failed at that step.
pub const STEP_FAILED: u8 = 6;
/// 7: another zerodown run holds the run lock on this database.
pub const BUSY: u8 = 7;

/// 8: a rehearsal ran, and zerodown's run failed its verdict (a client waited longer
/// than the budget, clients saw errors, or the migration failed).
pub const REHEARSAL_FAILED: u8 = 8;
/// 9: the rehearsal's server or data could not be set up (no PostgreSQL binaries, the
/// schema could not be copied, rows could not be generated).
pub const REHEARSAL_SETUP: u8 = 9;

/// 10: `check` found no error but more warnings than `--max-warnings`.
pub const TOO_MANY_WARNINGS: u8 = 10;

/// An error that ends the command with a specific exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Failure {
            code: BAD_INPUT,
            message: message.into(),
        }
    }
}

impl From<zerodown::Error> for Failure {
    fn from(e: zerodown::Error) -> Failure {
        use zerodown::rehearse::RehearseError;
        use zerodown::Error;
        let code = match &e {
            Error::Input(_) | Error::Sql { .. } => BAD_INPUT,
            Error::Database(_) => DATABASE,
            Error::Busy(_) => BUSY,
            Error::Stopped(_) => STOPPED,
            Error::StepFailed(_) => STEP_FAILED,
            Error::Rehearsal(r) => match r {
                RehearseError::Input(_) | RehearseError::Usage(_) => BAD_INPUT,
                RehearseError::Interrupted => STOPPED,
                RehearseError::Database { .. } => DATABASE,
                _ => REHEARSAL_SETUP,
            },
            _ => INTERNAL,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
