//! zerodown's MySQL and MariaDB driver. So far: the server profile (flavor and version)
//! the planner's facts are chosen by, and metadata-lock handling ([`mdl`]).

pub mod mdl;

use mysql_async::prelude::Queryable;
use zerodown_core::engine::{ServerProfile, Settings, Version};

#[derive(Debug, thiserror::Error)]
pub enum MyError {
    #[error("{what}: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: mysql_async::Error,
    },
    #[error("cannot read the server version from {0:?}")]
    Version(String),
}

/// The flavor and version of the server `conn` is connected to.
pub async fn server_profile(conn: &mut mysql_async::Conn) -> Result<ServerProfile, MyError> {
    let text: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|source| MyError::Query {
            what: "server version",
            source,
        })?;
    let text = text.unwrap_or_default();
    let (engine, version) =
        Version::from_mysql_version(&text).ok_or_else(|| MyError::Version(text.clone()))?;
    Ok(ServerProfile {
        engine,
        version,
        settings: Settings::default(),
    })
}
