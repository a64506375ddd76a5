//! zerodown-pg: the PostgreSQL driver. Reads the live catalog and current activity
//! into the core's [`Catalog`](zerodown_core::catalog::Catalog); execution comes next.

pub mod cluster;
mod driver;
mod errors;
mod introspect;
pub mod state;
pub mod url;

pub use driver::{bound_sql, update_sql, BatchCheckpoint, PgDriver};
pub use errors::classify;
pub use introspect::{introspect, Introspection};

/// Errors talking to PostgreSQL. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
    #[error("reading {what} from the database failed: {source}")]
    Query {
        what: &'static str,
        source: tokio_postgres::Error,
    },
}

/// Connects (plain TCP or Unix socket). The connection task runs on the current runtime.
pub async fn connect(conn: &str) -> Result<tokio_postgres::Client, PgError> {
    let (client, connection) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .map_err(|source| PgError::Connect {
            target: url::redact(conn),
            source,
        })?;
    tokio::spawn(async move {
        // Errors surface on the next query through the client.
        let _ = connection.await;
    });
    Ok(client)
}
