//! SQLSTATE -> engine-neutral error classes.

use zerodown_exec::{DriverError, ErrorClass};

/// Classifies a tokio-postgres error (appendix A of the PostgreSQL manual).
pub fn classify(e: &tokio_postgres::Error) -> DriverError {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code().to_owned();
            let class = match code.as_str() {
                "55P03" => ErrorClass::LockTimeout,
                "57014" => ErrorClass::StatementTimeout,
                "40P01" => ErrorClass::Deadlock,
                "40001" => ErrorClass::SerializationFailure,
                c if c.starts_with("08") || c == "57P01" || c == "57P02" || c == "57P03" => {
                    ErrorClass::ConnectionLost
                }
                _ => ErrorClass::Permanent,
            };
            let mut message = db.message().to_owned();
            if let Some(d) = db.detail() {
                message.push_str(&format!(" ({d})"));
            }
            DriverError {
                class,
                message,
                code: Some(code),
            }
        }
        None => DriverError {
            class: if e.is_closed() || e.to_string().contains("connection") {
                ErrorClass::ConnectionLost
            } else {
                ErrorClass::Permanent
            },
            message: e.to_string(),
            code: None,
        },
    }
}
