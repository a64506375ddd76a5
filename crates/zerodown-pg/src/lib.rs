//! zerodown-pg: the PostgreSQL driver. Reads the live catalog and current activity
//! into the core's [`Catalog`](zerodown_core::pg::catalog::Catalog); execution comes next.

mod batch;
pub mod cluster;
pub mod conninfo;
mod driver;
mod errors;
pub mod history;
mod introspect;
mod pgpass;
pub mod pooler;
mod privileges;
mod session;
pub mod state;
pub mod tls;
pub mod url;

pub use batch::{bound_sql, update_sql, BatchCheckpoint};
pub use driver::{PgDriver, RUNNER_APP_NAME};
pub use errors::classify;
pub use introspect::{introspect, Introspection};

/// Errors talking to PostgreSQL. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    #[error("cannot connect to {target}: {source}{}", note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
    Connect {
        target: String,
        source: tls::ConnectError,
        /// Why a password file was passed over.
        note: Option<String>,
    },
    #[error("reading {what} from the database failed: {source}")]
    Query {
        what: &'static str,
        source: tokio_postgres::Error,
    },
}

/// Connects as libpq would (TLS, `PG*` variables, `.pgpass`: see [`conninfo`]). The
/// connection task runs on the current runtime.
pub async fn connect(conn: &str) -> Result<tokio_postgres::Client, PgError> {
    connect_as(conn, None).await
}

/// Connects with `application_name` set to `name` (it overrides the URL's).
pub async fn connect_as(conn: &str, name: Option<&str>) -> Result<tokio_postgres::Client, PgError> {
    let target = || zerodown_exec::redact(conn);
    let mut info =
        conninfo::ConnInfo::parse(conn, &conninfo::Env::process()).map_err(|detail| {
            PgError::Connect {
                target: target(),
                source: tls::ConnectError::Settings(detail),
                note: None,
            }
        })?;
    if let Some(name) = name {
        info.config.application_name(name);
    }
    tls::connect(&info)
        .await
        .map_err(|source| PgError::Connect {
            target: target(),
            source,
            note: info.note.clone(),
        })
}
