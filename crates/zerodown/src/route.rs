//! A PostgreSQL database URL must reach a server session of its own: zerodown keeps
//! state in its sessions between transactions (the run lock, the session timeouts of a
//! `CONCURRENTLY` step, tokio-postgres's prepared statements), which a pooler in
//! transaction mode hands to other clients. The route is found out by
//! `zerodown_pg::pooler` before the first statement of any live command, never assumed.

use zerodown_pg::pooler::Route;

use crate::Error;

/// Refuses a PostgreSQL URL that goes through a pooler in transaction or statement mode,
/// naming `--direct-url`.
pub(crate) async fn own_session(url: &str) -> Result<(), Error> {
    match zerodown_pg::pooler::route(url)
        .await
        .map_err(Error::database)?
    {
        Route::Pooled { evidence } => Err(Error::Input(format!(
            "{} goes through a connection pooler in transaction mode: {evidence}. zerodown keeps \
             state in its sessions between transactions (its run lock, the timeouts of \
             CONCURRENTLY steps, prepared statements), which such a pooler hands to other \
             clients; nothing was run. Give a connection straight to the server with \
             --direct-url (or DIRECT_URL): the pooler's upstream host and port, or your \
             provider's direct or session-mode connection string",
            zerodown_exec::redact(url)
        ))),
        Route::Direct | Route::Relayed { .. } => Ok(()),
    }
}
