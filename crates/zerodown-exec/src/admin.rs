//! What the operator commands (`status`, `pause`, `rate`, `abort`, `resume`) need of the
//! state store, engine-neutral: each engine keeps the same rows in its own place.

use async_trait::async_trait;
use serde::Serialize;

use crate::driver::{Bound, DriverError};

/// One recorded migration, as `status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationSummary {
    pub id: String,
    pub status: String,
    pub paused: bool,
    pub created_at: String,
    pub error: String,
    pub steps_done: u64,
    pub steps: u64,
    pub rows_backfilled: u64,
    /// The first step running or failed, if any.
    pub current_step: String,
    pub max_rows_per_sec: Option<u32>,
}

#[async_trait]
pub trait StateAdmin: Send {
    /// Every recorded migration of this database, newest first (empty: none ever).
    async fn migrations(&mut self) -> Result<Vec<MigrationSummary>, DriverError>;
    /// Migration `id` (or the newest), only unfinished ones when asked: its id and
    /// stored plan (JSON).
    async fn stored_plan(
        &mut self,
        id: Option<&str>,
        unfinished: bool,
    ) -> Result<Option<(String, serde_json::Value)>, DriverError>;
    async fn set_paused(&mut self, id: &str, paused: bool) -> Result<(), DriverError>;
    async fn set_abort_requested(&mut self, id: &str, requested: bool) -> Result<(), DriverError>;
    async fn set_rate_cap(
        &mut self,
        id: &str,
        rows_per_sec: Option<u32>,
    ) -> Result<(), DriverError>;
    /// Holds (true) or releases (false) the cut-over of online rebuilds (`apply
    /// --postpone-cutover`, then `zerodown cutover`). Err on engines without one.
    async fn postpone_cutover(&mut self, id: &str, postpone: bool) -> Result<(), DriverError> {
        let _ = (id, postpone);
        Err(DriverError::permanent(
            "this database has no cut-over to postpone (online rebuilds are MySQL/MariaDB's)",
        ))
    }
    /// Whether some runner holds this database's run lock now.
    async fn runner_alive(&mut self) -> Result<bool, DriverError>;
    /// The rows of a query on the team's migration tool's history, every column text.
    async fn history_rows(
        &mut self,
        query: &Bound,
    ) -> Result<Vec<Vec<Option<String>>>, DriverError>;
}
