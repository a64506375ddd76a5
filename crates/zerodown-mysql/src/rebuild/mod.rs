//! The online rebuild, for changes MySQL/MariaDB can only make with ALGORITHM=COPY (which
//! blocks writes for the whole copy): a shadow table with the new definition, the rows
//! copied in chunks by primary key, the rows changed meanwhile read from the binary log
//! and copied again, every chunk's checksum compared, then the sentry cut-over. State
//! (binary log start, how far the copy got, whether the swap happened) is kept with the
//! step in `_zerodown.steps.data`, so a killed run resumes where it was. The table's
//! AUTO_INCREMENT counter is carried to the shadow before the swap.

mod binlog;
pub(crate) use binlog::may_read;
mod buckets;
mod checks;
mod copy;
mod copy_loop;
mod counter;
mod cutover;
mod indexes;
mod pace;
mod progress;
mod replay;
mod state;
mod verify;

pub(crate) use checks::is_sentry;
use checks::*;
use progress::Progress;
use state::{load_state, rows_copied, save};

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use serde::{Deserialize, Serialize};
use zerodown_core::plan::Step;
use zerodown_core::sql::quote::{mysql_ident, mysql_table};
use zerodown_exec::{Checkpoint, DriverError, ErrorClass, Event, EventSink, RebuildPhase, Rebuilt};

use crate::catalog::split_name;
use crate::driver::MyDriver;
use crate::errors::classify;

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
    /// Indexes dropped from the empty shadow, added back after the copy.
    #[serde(default)]
    deferred: Vec<indexes::Deferred>,
    /// Recorded before the shadow is made: a table of its name is zerodown's only then
    /// (or when a binary log position was recorded, which came after it).
    #[serde(default)]
    shadow_made: bool,
}

impl State {
    fn shadow_is_ours(&self) -> bool {
        self.shadow_made || !self.binlog_file.is_empty()
    }
}

/// One table's rebuild.
pub struct Rebuild {
    opts: crate::tls::ConnOpts,
    db: String,
    table: String,
    shadow: String,
    old: String,
    key: Vec<String>,
    /// Columns copied: those of the new definition that the table has.
    columns: Vec<String>,
    /// The checksum's expression per column (ISNULL for nullable ones, and a conversion
    /// where the two tables store the column in different character sets).
    check_parts: Vec<String>,
    /// Whether changed rows may be copied again with REPLACE: the shadow's only unique
    /// key is the primary key.
    upsert: bool,
    /// Whether the key is one integer column: then "copied past" is a comparison of
    /// numbers. (A string key of digits is copied in string order: '2' after '10'.)
    integer_key: bool,
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
    /// The rebuild of `step`, its state not read yet.
    fn for_step(d: &MyDriver, at: &Checkpoint<'_>, step: &Step) -> Result<Rebuild, DriverError> {
        let table_name = step
            .table
            .clone()
            .ok_or_else(|| refuse("online rebuild step without a table".into()))?;
        let (db, table) = split_name(&table_name);
        Ok(Rebuild {
            opts: d.opts.clone(),
            db: db.unwrap_or_else(|| d.database.clone()),
            shadow: derived(&table, "new")?,
            old: derived(&table, "old")?,
            table,
            key: Vec::new(),
            columns: Vec::new(),
            check_parts: Vec::new(),
            upsert: false,
            integer_key: false,
            state_db: d.database.clone(),
            migration: at.migration.to_owned(),
            step: at.step as u64,
        })
    }

    /// `N` new sessions of the rebuild's own (copy streams, checksum readers, locks).
    async fn sessions<const N: usize>(&self) -> Result<[Conn; N], DriverError> {
        let mut all = Vec::with_capacity(N);
        for _ in 0..N {
            all.push(self.opts.connect().await.map_err(|e| classify(&e))?);
        }
        all.try_into()
            .map_err(|_| DriverError::permanent("could not open the rebuild's sessions"))
    }

    /// `SHOW CREATE TABLE` of `table_sql`: the server's own text of its definition.
    async fn show_create(
        &self,
        c: &mut Conn,
        table_sql: &str,
    ) -> Result<Option<String>, DriverError> {
        let create: Option<(String, String)> = c
            .query_first(format!("SHOW CREATE TABLE {table_sql}"))
            .await
            .map_err(|e| classify(&e))?;
        Ok(create.map(|(_, text)| text))
    }

    fn qualified(&self, name: &str) -> String {
        format!("{}.{}", mysql_ident(&self.db), mysql_ident(name))
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

    /// The comment of this step's cut-over sentry: a table of the old table's name is a
    /// sentry to drop only with this comment (its shape alone could be a user's table).
    /// Letters, digits, `-` and `_` only: it goes into a plain string literal (a table
    /// COMMENT takes no expression).
    fn sentry_comment(&self) -> String {
        let id: String = self
            .migration
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        format!("zerodown sentry of {id} step {}", self.step)
    }

    fn checkpoint_sql(&self) -> String {
        "UPDATE `_zerodown`.steps SET rows_done = rows_done + ?, data = COALESCE(JSON_MERGE_PATCH(data, ?), data)
          WHERE db = ? AND migration_id = ? AND step_no = ?"
            .into()
    }

    fn checkpoint_params(&self, rows: u64, state: Option<String>) -> Vec<Value> {
        let mut params = vec![rows.into(), state.into()];
        params.extend(self.step_row());
        params
    }

    /// `db, migration_id, step_no` of the step's row in `_zerodown.steps`.
    fn step_row(&self) -> [Value; 3] {
        [
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

/// Undoes the online rebuild of `step` before its swap: drops the shadow table only when
/// its recorded state says zerodown made it (a table of that name may be the user's).
pub async fn undo(d: &mut MyDriver, at: &Checkpoint<'_>, step: &Step) -> Result<(), DriverError> {
    let rb = Rebuild::for_step(d, at, step)?;
    let c = d.conn().await?;
    let state = load_state(c, &rb).await?;
    if state.swapped {
        return Err(refuse(format!(
            "the online rebuild of {} already swapped its tables: it cannot be undone",
            rb.table
        )));
    }
    if state.shadow_is_ours() {
        c.query_drop(format!("DROP TABLE IF EXISTS {}", rb.shadow_sql()))
            .await
            .map_err(|e| classify(&e))?;
    }
    Ok(())
}

/// Runs (or resumes) the online rebuild of `step` (its ALTER TABLE applied to a shadow).
pub async fn run(
    d: &mut MyDriver,
    at: &Checkpoint<'_>,
    step: &Step,
    events: &mut dyn EventSink,
) -> Result<Rebuilt, DriverError> {
    let alter = step
        .statements
        .first()
        .cloned()
        .ok_or_else(|| refuse("online rebuild step without its ALTER TABLE".into()))?;
    let table_name = step.table.clone().unwrap_or_default();
    let lock_secs = step.lock_timeout_ms.div_ceil(1000).max(1);
    let mut rb = Rebuild::for_step(d, at, step)?;
    let c = d.conn().await?;
    let mut state = load_state(c, &rb).await?;
    if state.swapped || swapped_already(c, &rb, &state).await? {
        return Ok(Rebuilt {
            held: Duration::ZERO,
            rows: rows_copied(c, &rb).await?,
        });
    }
    preconditions(c, &rb).await?;
    rb.key = key_columns(c, &rb).await?;
    let key_positions = key_positions(c, &rb).await?;
    rb.integer_key = matches!(key_positions.as_slice(), [k] if k.integer_bits.is_some());
    let purged = !state.binlog_file.is_empty() && !binlog::on_server(c, &state.binlog_file).await?;
    if purged {
        // The changes since that position cannot be read: the copy is not to be trusted.
        events.emit(&Event::RebuildRestarted {
            step: at.step,
            reason: format!(
                "the binary log {} it read changes from is no longer on the server (purged), so the changes made since cannot be read",
                state.binlog_file
            ),
        });
    }
    if purged || state.binlog_file.is_empty() || !exists(c, &rb.db, &rb.shadow).await? {
        if !state.shadow_is_ours() {
            if exists(c, &rb.db, &rb.shadow).await? {
                return Err(refuse(format!(
                    "{} exists and zerodown did not make it: the online rebuild needs that name for its shadow table; rename or drop it first; nothing was changed",
                    rb.shadow
                )));
            }
            state.shadow_made = true;
            save(c, &rb, &state, false).await?;
        }
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
            deferred: rb.defer_indexes(c).await?,
            shadow_made: true,
            ..State::default()
        };
        save(c, &rb, &state, true).await?;
    }
    (rb.columns, rb.check_parts) = shared_columns(c, &rb).await?;
    rb.upsert = only_primary_unique(c, &rb).await?;
    let mut progress = Progress::new(events, at.step, rows_copied(c, &rb).await?);
    progress.estimated = crate::catalog::estimated_rows(c, Some(&rb.db), &rb.table)
        .await
        .map_err(|e| classify(&e))?;
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
    let mut throttle = std::mem::take(&mut d.throttle);
    let result = async {
        let c = d.conn().await?;
        if !state.copy_done {
            progress.phase(RebuildPhase::Copy);
            rb.copy_all(c, &mut state, &captured, &mut throttle, &mut progress)
                .await?;
        }
        progress.phase(RebuildPhase::CatchUp);
        rb.settle(c, &captured).await?;
        progress.phase(RebuildPhase::Verify);
        let (_, verify_held) = rb.verify(c, &captured, lock_secs, &state.deferred).await?;
        rb.wait_for_cutover(c, &captured, &mut progress).await?;
        progress.phase(RebuildPhase::Cutover);
        let mut last = None;
        for attempt in 0..CUTOVER_ATTEMPTS {
            rb.carry_counter(c).await?;
            match rb.cut_over(c, &captured, lock_secs).await {
                Ok(cutover_held) => {
                    state.swapped = true;
                    let c = d.conn().await?;
                    save(c, &rb, &state, false).await?;
                    return Ok(Rebuilt {
                        held: verify_held.max(cutover_held),
                        rows: rows_copied(c, &rb).await?,
                    });
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
    d.throttle = throttle;
    capture.abort();
    // What the executor reports as "held": the longest the tables were locked.
    result
}

fn fastrand_id() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ std::process::id()) % 1_000_000
}
