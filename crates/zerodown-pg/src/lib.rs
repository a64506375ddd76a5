//! zerodown-pg: the PostgreSQL driver. Reads the live catalog and current activity
//! into the core's [`Catalog`](zerodown_core::pg::catalog::Catalog); execution comes next.

mod batch;
pub mod cluster;
mod driver;
mod errors;
mod introspect;
mod session;
pub mod state;
pub mod url;

pub use batch::{bound_sql, update_sql, BatchCheckpoint};
pub use driver::{PgDriver, RUNNER_APP_NAME};
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
    connect_as(conn, None).await
}

/// Connects with `application_name` set to `name` (it overrides the URL's).
pub async fn connect_as(conn: &str, name: Option<&str>) -> Result<tokio_postgres::Client, PgError> {
    let failed = |source| PgError::Connect {
        target: zerodown_exec::redact(conn),
        source,
    };
    let mut config: tokio_postgres::Config = conn.parse().map_err(failed)?;
    if let Some(name) = name {
        config.application_name(name);
    }
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(failed)?;
    tokio::spawn(async move {
        // Errors surface on the next query through the client.
        let _ = connection.await;
    });
    Ok(client)
}
