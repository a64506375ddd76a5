//! The rebuild's own state, kept with its step in `_zerodown.steps.data`.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_exec::DriverError;

use super::{one, Rebuild, State};
use crate::errors::classify;

pub(super) async fn load_state(c: &mut Conn, rb: &Rebuild) -> Result<State, DriverError> {
    let data: Option<Option<String>> = one(
        c,
        "SELECT data FROM `_zerodown`.steps WHERE db = ? AND migration_id = ? AND step_no = ?",
        rb.step_row().into(),
    )
    .await?;
    Ok(data
        .flatten()
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_default())
}

/// Rows the step's copies recorded (every run of it, re-copied ranges included).
pub(super) async fn rows_copied(c: &mut Conn, rb: &Rebuild) -> Result<u64, DriverError> {
    let rows: Option<u64> = one(
        c,
        "SELECT rows_done FROM `_zerodown`.steps WHERE db = ? AND migration_id = ? AND step_no = ?",
        rb.step_row().into(),
    )
    .await?;
    Ok(rows.unwrap_or(0))
}

pub(super) async fn save(
    c: &mut Conn,
    rb: &Rebuild,
    state: &State,
    reset_rows: bool,
) -> Result<(), DriverError> {
    let data = serde_json::to_string(state).unwrap_or_default();
    let mut params = vec![data.into(), reset_rows.into()];
    params.extend(rb.step_row());
    c.exec_drop(
        "UPDATE `_zerodown`.steps SET data = ?, rows_done = IF(?, 0, rows_done)
          WHERE db = ? AND migration_id = ? AND step_no = ?",
        params,
    )
    .await
    .map_err(|e| classify(&e))
}
