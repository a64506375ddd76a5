//! The online rebuild, for changes MySQL/MariaDB can only make with ALGORITHM=COPY (which
//! blocks writes for the whole copy): a shadow table with the new definition, the rows
//! copied in chunks by primary key, the rows changed meanwhile read from the binary log
//! and copied again, every chunk's checksum compared, then the sentry cut-over. State
//! (binary log start, how far the copy got, whether the swap happened) is kept with the
//! step in `_zerodown.steps.data`, so a killed run resumes where it was.

mod binlog;
mod copy;
mod cutover;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use serde::{Deserialize, Serialize};
use zerodown_core::plan::Step;
use zerodown_core::sql::quote::{mysql_literal, mysql_table};
use zerodown_exec::{Checkpoint, DriverError, ErrorClass};

use crate::catalog::split_name;
use crate::driver::MyDriver;
use crate::errors::classify;

/// Rows of the first chunk; then sized to take about [`CHUNK_TARGET`].
const FIRST_CHUNK: u32 = 2_000;
const MAX_CHUNK: u32 = 50_000;
const CHUNK_TARGET: Duration = Duration::from_millis(250);
/// Changed rows are copied again at least this often during the copy.
const REPLAY_EVERY: Duration = Duration::from_millis(500);
/// Cut-over attempts within one run (each waits at most lock_wait_timeout).
const CUTOVER_ATTEMPTS: u32 = 10;

/// What the rebuild keeps between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    binlog_file: String,
    binlog_pos: u64,
    /// Last key copied (None: none yet).
    copied_to: Option<Vec<String>>,
    copy_done: bool,
    swapped: bool,
}

/// One table's rebuild.
pub struct Rebuild {
    opts: mysql_async::Opts,
    db: String,
    table: String,
    shadow: String,
    old: String,
    key: Vec<String>,
    /// Columns copied: those of the new definition that the table has.
    columns: Vec<String>,
    /// Where the checkpoint goes.
    state_db: String,
    migration: String,
    step: u64,
}

/// `<t>_zd<suffix>`: the shadow and the sentry must sort after the table. The cut-over's
/// RENAME takes its metadata locks in name order; were it queued on another name, a
/// client write queued on the table would get the table first when the lock session lets
/// go, and land in the old table, lost (measured on MariaDB 10.11 with `_t_…` names; none
/// lost with `t_…` names: docs/mysql-online-rebuild.md).
fn derived(table: &str, suffix: &str) -> Result<String, DriverError> {
    let name = format!("{table}_zd{suffix}");
    if name.chars().count() > 64 {
        return Err(refuse(format!(
            "{table}: the online rebuild's tables are named {table}_zdnew and {table}_zdold, longer than MySQL's 64 characters; nothing was changed"
        )));
    }
    Ok(name)
}

impl Rebuild {
    fn qualified(&self, name: &str) -> String {
        mysql_table(&format!("{}.{name}", self.db))
    }
    fn source_sql(&self) -> String {
        self.qualified(&self.table)
    }
    fn shadow_sql(&self) -> String {
        self.qualified(&self.shadow)
    }
    fn old_sql(&self) -> String {
        self.qualified(&self.old)
    }

    fn checkpoint_sql(&self) -> String {
        "UPDATE `_zerodown`.steps SET rows_done = rows_done + ?, data = COALESCE(JSON_MERGE_PATCH(data, ?), data)
          WHERE db = ? AND migration_id = ? AND step_no = ?"
            .into()
    }

    fn checkpoint_params(&self, rows: u64, state: Option<String>) -> Vec<Value> {
        vec![
            rows.into(),
            state.into(),
            self.state_db.clone().into(),
            self.migration.clone().into(),
            self.step.into(),
        ]
    }
}

async fn one<T: mysql_async::prelude::FromRow + Send + 'static>(
    c: &mut Conn,
    sql: &str,
    params: Vec<Value>,
) -> Result<Option<T>, DriverError> {
    c.exec_first(sql, params).await.map_err(|e| classify(&e))
}

fn refuse(message: String) -> DriverError {
    DriverError::permanent(message)
}

/// Runs (or resumes) the online rebuild of `step` (its ALTER TABLE applied to a shadow).
pub async fn run(
    d: &mut MyDriver,
    at: &Checkpoint<'_>,
    step: &Step,
) -> Result<Duration, DriverError> {
    let started = Instant::now();
    let table_name = step
        .table
        .clone()
        .ok_or_else(|| refuse("online rebuild step without a table".into()))?;
    let (db, table) = split_name(&table_name);
    let db = match db {
        Some(db) => db.to_owned(),
        None => d.database.clone(),
    };
    let alter = step
        .statements
        .first()
        .cloned()
        .ok_or_else(|| refuse("online rebuild step without its ALTER TABLE".into()))?;
    let opts = d.opts.clone();
    let lock_secs = step.lock_timeout_ms.div_ceil(1000).max(1);
    let state_db = d.database.clone();
    let c = d.conn().await?;
    let mut rb = Rebuild {
        opts,
        db: db.clone(),
        table: table.to_owned(),
        shadow: derived(table, "new")?,
        old: derived(table, "old")?,
        key: Vec::new(),
        columns: Vec::new(),
        state_db,
        migration: at.migration.to_owned(),
        step: at.step as u64,
    };
    let mut state = load_state(c, &rb).await?;
    if state.swapped || swapped_already(c, &rb, &state).await? {
        return Ok(started.elapsed());
    }
    preconditions(c, &rb).await?;
    rb.key = key_columns(c, &rb).await?;
    if state.binlog_file.is_empty() || !exists(c, &rb.db, &rb.shadow).await? {
        let (file, pos) = binlog::current_position(c).await?;
        c.query_drop(format!("DROP TABLE IF EXISTS {}", rb.shadow_sql()))
            .await
            .map_err(|e| classify(&e))?;
        c.query_drop(format!(
            "CREATE TABLE {} LIKE {}",
            rb.shadow_sql(),
            rb.source_sql()
        ))
        .await
        .map_err(|e| classify(&e))?;
        let prefix = format!("ALTER TABLE {} ", mysql_table(&table_name));
        let rest = alter.strip_prefix(&prefix).ok_or_else(|| {
            refuse(format!(
                "the step's statement does not start with `{prefix}`: {alter}"
            ))
        })?;
        c.query_drop(format!("ALTER TABLE {} {rest}", rb.shadow_sql()))
            .await
            .map_err(|e| classify(&e))?;
        state = State {
            binlog_file: file,
            binlog_pos: pos,
            ..State::default()
        };
        save(c, &rb, &state, true).await?;
    }
    rb.columns = shared_columns(c, &rb).await?;
    let key_positions = key_positions(c, &rb).await?;
    let server_id = 1_000_000 + fastrand_id();
    let (captured, capture) = binlog::start(
        rb.opts.clone(),
        server_id,
        (state.binlog_file.clone(), state.binlog_pos),
        rb.db.clone(),
        rb.table.clone(),
        key_positions,
    )
    .await?;
    let result = async {
        let c = d.conn().await?;
        if !state.copy_done {
            rb.copy_all(c, &mut state, &captured).await?;
        }
        rb.replay(c, &captured).await?;
        rb.verify(c, &captured).await?;
        rb.wait_for_cutover(c, &captured).await?;
        let mut last = None;
        for attempt in 0..CUTOVER_ATTEMPTS {
            rb.replay(c, &captured).await?;
            match rb.cut_over(&captured, lock_secs).await {
                Ok(_held) => {
                    state.swapped = true;
                    let c = d.conn().await?;
                    save(c, &rb, &state, false).await?;
                    return Ok(());
                }
                Err(e) if e.class.retryable() => {
                    last = Some(e);
                    let pause = 200 * u64::from(attempt + 1);
                    tokio::time::sleep(Duration::from_millis(pause.min(2_000))).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| DriverError {
            class: ErrorClass::LockTimeout,
            message: "the cut-over could not get its locks".into(),
            code: None,
        }))
    }
    .await;
    capture.abort();
    result.map(|()| started.elapsed())
}

fn fastrand_id() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ std::process::id()) % 1_000_000
}

impl Rebuild {
    /// With `apply --postpone-cutover`: keeps copying changed rows until `zerodown
    /// cutover` releases the cut-over (or `zerodown abort` asks to stop).
    async fn wait_for_cutover(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<(), DriverError> {
        loop {
            let flags: Option<(bool, bool)> = one(
                c,
                "SELECT postpone_cutover, abort_requested FROM `_zerodown`.migrations WHERE db = ? AND id = ?",
                vec![self.state_db.clone().into(), self.migration.clone().into()],
            )
            .await?;
            match flags {
                Some((_, true)) => {
                    return Err(refuse(
                        "abort requested while the cut-over waited; the table is unchanged".into(),
                    ))
                }
                Some((true, false)) => {
                    self.replay(c, captured).await?;
                    tokio::time::sleep(REPLAY_EVERY).await;
                }
                _ => return Ok(()),
            }
        }
    }

    async fn copy_all(
        &self,
        c: &mut Conn,
        state: &mut State,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<(), DriverError> {
        let mut size = FIRST_CHUNK;
        let mut replayed = Instant::now();
        loop {
            let Some(upto) = self.chunk_end(c, state.copied_to.as_deref(), size).await? else {
                break;
            };
            let t0 = Instant::now();
            self.copy_chunk(c, state.copied_to.as_deref(), &upto)
                .await?;
            let took = t0.elapsed();
            // Keep each chunk near the target: its transaction holds row locks that long.
            let scale = CHUNK_TARGET.as_secs_f64() / took.as_secs_f64().max(0.001);
            size = ((f64::from(size) * scale.clamp(0.5, 2.0)) as u32).clamp(100, MAX_CHUNK);
            let end = state.copied_to.as_ref() == Some(&upto);
            state.copied_to = Some(upto);
            if replayed.elapsed() > REPLAY_EVERY {
                self.replay(c, captured).await?;
                replayed = Instant::now();
            }
            if end {
                break;
            }
        }
        state.copy_done = true;
        save(c, self, state, false).await
    }

    /// Copies again every row changed since the last replay.
    async fn replay(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<u64, DriverError> {
        let keys: Vec<Vec<String>> = {
            let mut cap = binlog::lock(captured);
            if let Some(e) = &cap.error {
                return Err(DriverError::permanent(e.clone()));
            }
            std::mem::take(&mut cap.keys).into_iter().collect()
        };
        self.recopy(c, &keys).await?;
        Ok(keys.len() as u64)
    }

    /// Compares every chunk's row count and checksum in both tables. A chunk that
    /// differs is compared again after the latest changes are copied; still different,
    /// it is copied again.
    async fn verify(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<(), DriverError> {
        let mut after: Option<Vec<String>> = None;
        while let Some(upto) = self.chunk_end(c, after.as_deref(), 10_000).await? {
            let mut same = false;
            for _ in 0..3 {
                let a = self
                    .checksum(c, &self.source_sql(), after.as_deref(), &upto)
                    .await?;
                let b = self
                    .checksum(c, &self.shadow_sql(), after.as_deref(), &upto)
                    .await?;
                if a == b {
                    same = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                self.replay(c, captured).await?;
            }
            if !same {
                self.copy_chunk(c, after.as_deref(), &upto).await?;
            }
            if after.as_ref() == Some(&upto) {
                break;
            }
            after = Some(upto);
        }
        Ok(())
    }
}

async fn load_state(c: &mut Conn, rb: &Rebuild) -> Result<State, DriverError> {
    let data: Option<Option<String>> = one(
        c,
        "SELECT data FROM `_zerodown`.steps WHERE db = ? AND migration_id = ? AND step_no = ?",
        vec![
            rb.state_db.clone().into(),
            rb.migration.clone().into(),
            rb.step.into(),
        ],
    )
    .await?;
    Ok(data
        .flatten()
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_default())
}

async fn save(
    c: &mut Conn,
    rb: &Rebuild,
    state: &State,
    reset_rows: bool,
) -> Result<(), DriverError> {
    let data = serde_json::to_string(state).unwrap_or_default();
    c.exec_drop(
        "UPDATE `_zerodown`.steps SET data = ?, rows_done = IF(?, 0, rows_done)
          WHERE db = ? AND migration_id = ? AND step_no = ?",
        (
            data,
            reset_rows,
            rb.state_db.clone(),
            rb.migration.clone(),
            rb.step,
        ),
    )
    .await
    .map_err(|e| classify(&e))
}

async fn exists(c: &mut Conn, db: &str, table: &str) -> Result<bool, DriverError> {
    let n: Option<u64> = one(
        c,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        vec![db.into(), table.into()],
    )
    .await?;
    Ok(n == Some(1))
}

/// A swap whose state write was lost in a crash: the old table is there, the shadow gone.
async fn swapped_already(c: &mut Conn, rb: &Rebuild, state: &State) -> Result<bool, DriverError> {
    Ok(state.copy_done
        && exists(c, &rb.db, &rb.old).await?
        && !exists(c, &rb.db, &rb.shadow).await?)
}

/// Whether `name` is a cut-over sentry (a table of one column named `sentry`), which may
/// be dropped; anything else under that name is someone's data.
pub(crate) async fn is_sentry(c: &mut Conn, db: &str, name: &str) -> Result<bool, DriverError> {
    let cols: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (db, name),
        )
        .await
        .map_err(|e| classify(&e))?;
    Ok(cols == ["sentry"])
}

/// What the rebuild needs of the server and the table; a clear refusal otherwise.
async fn preconditions(c: &mut Conn, rb: &Rebuild) -> Result<(), DriverError> {
    if exists(c, &rb.db, &rb.old).await? && !is_sentry(c, &rb.db, &rb.old).await? {
        return Err(refuse(format!(
            "{} exists (the old table of an earlier rebuild?): drop or rename it first; nothing was changed",
            rb.old
        )));
    }
    let vars: Option<(u64, String, String)> = one(
        c,
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image",
        Vec::new(),
    )
    .await?;
    match vars {
        Some((1, format, image)) if format == "ROW" && image == "FULL" => {}
        Some((log_bin, format, image)) => {
            return Err(refuse(format!(
                "the online rebuild reads changes from the binary log, which needs log_bin=ON, binlog_format=ROW and binlog_row_image=FULL (the server has log_bin={log_bin}, binlog_format={format}, binlog_row_image={image}); nothing was changed"
            )))
        }
        None => return Err(refuse("cannot read the binary log settings".into())),
    }
    let (db, t) = (mysql_literal(&rb.db), mysql_literal(&rb.table));
    let triggers: Option<u64> = one(
        c,
        &format!("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = {db} AND EVENT_OBJECT_TABLE = {t}"),
        Vec::new(),
    )
    .await?;
    if triggers.unwrap_or(0) > 0 {
        return Err(refuse(format!(
            "{} has triggers: they would stay with the old table at the cut-over; nothing was changed",
            rb.table
        )));
    }
    let fks: Option<u64> = one(
        c,
        &format!("SELECT COUNT(*) FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL AND ((TABLE_SCHEMA = {db} AND TABLE_NAME = {t}) OR (REFERENCED_TABLE_SCHEMA = {db} AND REFERENCED_TABLE_NAME = {t}))"),
        Vec::new(),
    )
    .await?;
    if fks.unwrap_or(0) > 0 {
        return Err(refuse(format!(
            "{} has foreign keys (to or from it): they would point at the old table after the cut-over; nothing was changed",
            rb.table
        )));
    }
    Ok(())
}

async fn key_columns(c: &mut Conn, rb: &Rebuild) -> Result<Vec<String>, DriverError> {
    let cols: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (rb.db.clone(), rb.table.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    if cols.is_empty() {
        return Err(refuse(format!(
            "{} has no primary key: the online rebuild copies and follows rows by it; nothing was changed",
            rb.table
        )));
    }
    Ok(cols)
}

/// The key columns' positions in the table's rows (as the binary log sends them).
async fn key_positions(c: &mut Conn, rb: &Rebuild) -> Result<Vec<usize>, DriverError> {
    let positions: Vec<(String, u64)> = c
        .exec(
            "SELECT COLUMN_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (rb.db.clone(), rb.table.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    rb.key
        .iter()
        .map(|k| {
            positions
                .iter()
                .find(|(c, _)| c == k)
                .map(|(_, p)| (*p as usize).saturating_sub(1))
                .ok_or_else(|| refuse(format!("key column {k} not found")))
        })
        .collect()
}

/// Columns of the shadow table that the table also has, in the shadow's order.
async fn shared_columns(c: &mut Conn, rb: &Rebuild) -> Result<Vec<String>, DriverError> {
    let cols: Vec<String> = c
        .exec(
            "SELECT n.COLUMN_NAME FROM information_schema.COLUMNS n
               JOIN information_schema.COLUMNS o
                 ON o.TABLE_SCHEMA = n.TABLE_SCHEMA AND o.TABLE_NAME = ? AND o.COLUMN_NAME = n.COLUMN_NAME
              WHERE n.TABLE_SCHEMA = ? AND n.TABLE_NAME = ? AND n.EXTRA NOT LIKE '%GENERATED%'
              ORDER BY n.ORDINAL_POSITION",
            (rb.table.clone(), rb.db.clone(), rb.shadow.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    Ok(cols)
}
