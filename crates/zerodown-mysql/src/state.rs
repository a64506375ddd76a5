//! Migration state on MySQL/MariaDB: the `_zerodown` database (one per server, rows keyed
//! by the target database), and the run lock: `GET_LOCK` on a session of its own, named
//! after the target database, taken again if that session is lost.

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use zerodown_core::plan::Step;
use zerodown_exec::*;

use crate::driver::{in_transaction, MyDriver};
use crate::errors::classify;

/// Where state lives (backquoted).
pub const STATE_DB: &str = "`_zerodown`";

const STATE_SCHEMA: [&str; 4] = [
    "CREATE DATABASE IF NOT EXISTS `_zerodown` DEFAULT CHARACTER SET utf8mb4",
    "CREATE TABLE IF NOT EXISTS `_zerodown`.migrations (
        db VARCHAR(64) NOT NULL,
        id VARCHAR(255) NOT NULL,
        checksum VARCHAR(128) NOT NULL,
        source TEXT NOT NULL,
        plan LONGTEXT NOT NULL,
        status VARCHAR(16) NOT NULL,
        error TEXT,
        paused BOOLEAN NOT NULL DEFAULT FALSE,
        abort_requested BOOLEAN NOT NULL DEFAULT FALSE,
        max_rows_per_sec INT,
        postpone_cutover BOOLEAN NOT NULL DEFAULT FALSE,
        created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        finished_at TIMESTAMP(3) NULL,
        PRIMARY KEY (db, id)
    ) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS `_zerodown`.steps (
        db VARCHAR(64) NOT NULL,
        migration_id VARCHAR(255) NOT NULL,
        step_no INT NOT NULL,
        phase VARCHAR(16) NOT NULL,
        kind VARCHAR(32) NOT NULL,
        description TEXT NOT NULL,
        status VARCHAR(16) NOT NULL DEFAULT 'pending',
        attempts INT NOT NULL DEFAULT 0,
        rows_done BIGINT NOT NULL DEFAULT 0,
        last_key TEXT,
        batch_size INT,
        started_at TIMESTAMP(3) NULL,
        finished_at TIMESTAMP(3) NULL,
        elapsed_ms BIGINT,
        held_ms BIGINT,
        error TEXT,
        data TEXT,
        PRIMARY KEY (db, migration_id, step_no)
    ) ENGINE=InnoDB",
    // Replica lag heartbeats (replicas.rs): the primary's clock, per target database.
    "CREATE TABLE IF NOT EXISTS `_zerodown`.heartbeat (
        db VARCHAR(64) NOT NULL PRIMARY KEY,
        at_us BIGINT NOT NULL
    ) ENGINE=InnoDB",
];

impl MyDriver {
    /// The run lock's name: per target database, at most 64 characters.
    fn lock_name(&self) -> String {
        let name = format!("zerodown:{}", self.database);
        name.chars().take(64).collect()
    }

    async fn take_run_lock(&mut self) -> Result<bool, DriverError> {
        if self.lock.is_none() {
            self.lock = Some(self.opts.connect().await.map_err(|e| classify(&e))?);
        }
        let name = self.lock_name();
        let Some(c) = self.lock.as_mut() else {
            return Err(DriverError::connection_lost("no lock session"));
        };
        let got: Option<Option<i64>> = match c.exec_first("SELECT GET_LOCK(?, 0)", (name,)).await {
            Ok(v) => v,
            Err(e) => {
                self.lock = None;
                return Err(classify(&e));
            }
        };
        self.holds_run_lock = got.flatten() == Some(1);
        Ok(self.holds_run_lock)
    }

    /// Checks the run lock's session is alive and still holds it; takes it again on a
    /// new session if that one was lost (and fails if another run took it meanwhile).
    async fn keep_run_lock(&mut self) -> Result<(), DriverError> {
        let alive = match self.lock.as_mut() {
            Some(c) => c.ping().await.is_ok(),
            None => false,
        };
        if alive {
            return Ok(());
        }
        self.lock = None;
        if self.take_run_lock().await? {
            Ok(())
        } else {
            Err(DriverError::permanent(
                "the run lock was lost with its session and another run holds it now",
            ))
        }
    }

    /// The session of the run holding the run lock on this database, if any.
    pub async fn run_lock_holder(&mut self) -> Result<Option<u64>, DriverError> {
        let name = self.lock_name();
        self.with_conn(name, async |c, name| {
            c.exec_first::<Option<u64>, _, _>("SELECT IS_USED_LOCK(?)", (name,))
                .await
                .map(Option::flatten)
        })
        .await
    }
}

impl MyDriver {
    /// Caps the backfills of `migration` at `rate` rows per second (None: no cap); a
    /// running apply picks it up within its poll interval.
    pub async fn set_rate(
        &mut self,
        migration: &str,
        rate: Option<u32>,
    ) -> Result<(), DriverError> {
        let db = self.database.clone();
        self.with_conn("", async |c, _| {
            c.exec_drop(
                "UPDATE `_zerodown`.migrations SET max_rows_per_sec = ? WHERE db = ? AND id = ?",
                (rate, db, migration),
            )
            .await
        })
        .await
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl StateStore for MyDriver {
    async fn try_lock_run(&mut self, _migration: &str) -> Result<bool, DriverError> {
        let got = self.take_run_lock().await?;
        if got {
            for ddl in STATE_SCHEMA {
                self.with_conn(ddl, async |c, ddl| c.query_drop(ddl).await)
                    .await?;
            }
            // Columns that came after the first state tables.
            for (table, column, ddl) in [
                ("steps", "data", "ALTER TABLE `_zerodown`.steps ADD COLUMN data TEXT"),
                (
                    "migrations",
                    "postpone_cutover",
                    "ALTER TABLE `_zerodown`.migrations ADD COLUMN postpone_cutover BOOLEAN NOT NULL DEFAULT FALSE",
                ),
            ] {
                let has: Option<u64> = self
                    .with_conn("", async |c, _| {
                        c.exec_first(
                            "SELECT COUNT(*) FROM information_schema.COLUMNS
                              WHERE TABLE_SCHEMA = '_zerodown' AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                            (table, column),
                        )
                        .await
                    })
                    .await?;
                if has == Some(0) {
                    self.exec_sql(ddl).await?;
                }
            }
        }
        Ok(got)
    }

    async fn load(&mut self, migration: &str) -> Result<Option<MigrationState>, DriverError> {
        let db = self.database.clone();
        let exists: Option<u64> = self
            .with_conn("", async |c, _| {
                c.query_first(
                    "SELECT COUNT(*) FROM information_schema.TABLES
                      WHERE TABLE_SCHEMA = '_zerodown' AND TABLE_NAME = 'steps'",
                )
                .await
            })
            .await?;
        if exists != Some(1) {
            return Ok(None);
        }
        let m: Option<(String, String)> = self
            .with_conn("", async |c, _| {
                c.exec_first(
                    "SELECT checksum, status FROM `_zerodown`.migrations WHERE db = ? AND id = ?",
                    (db.clone(), migration),
                )
                .await
            })
            .await?;
        let Some((checksum, status)) = m else {
            return Ok(None);
        };
        type StepRow = (String, u32, u64, Option<String>, Option<u32>);
        let rows: Vec<StepRow> = self
            .with_conn("", async |c, _| {
                c.exec(
                    "SELECT status, attempts, rows_done, last_key, batch_size FROM `_zerodown`.steps
                      WHERE db = ? AND migration_id = ? ORDER BY step_no",
                    (db, migration),
                )
                .await
            })
            .await?;
        Ok(Some(MigrationState {
            id: migration.to_owned(),
            checksum,
            status: MigrationStatus::parse(&status).unwrap_or(MigrationStatus::Failed),
            steps: rows
                .into_iter()
                .map(|(status, attempts, rows, last_key, batch_size)| StepState {
                    status: StepStatus::parse(&status).unwrap_or(StepStatus::Pending),
                    attempts,
                    rows,
                    last_key: last_key.and_then(|k| serde_json::from_str(&k).ok()),
                    batch_size,
                })
                .collect(),
        }))
    }

    async fn create(
        &mut self,
        migration: &str,
        checksum: &str,
        source: &str,
        plan: &serde_json::Value,
        steps: &[Step],
    ) -> Result<(), DriverError> {
        let db = self.database.clone();
        let plan = plan.to_string();
        let rows: Vec<(String, u64, &'static str, String, String)> = steps
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let kind = serde_json::to_value(s.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (
                    migration.to_owned(),
                    n as u64,
                    s.phase.name(),
                    kind,
                    s.description.clone(),
                )
            })
            .collect();
        self.with_conn("", async |c, _| {
            in_transaction(c, None, async |c| {
                c.exec_drop(
                    "INSERT INTO `_zerodown`.migrations (db, id, checksum, source, plan, status)
                     VALUES (?, ?, ?, ?, ?, 'running')",
                    (db.clone(), migration, checksum, source, plan),
                )
                .await?;
                for (m, n, phase, kind, description) in rows {
                    c.exec_drop(
                        "INSERT INTO `_zerodown`.steps (db, migration_id, step_no, phase, kind, description)
                         VALUES (?, ?, ?, ?, ?, ?)",
                        (db.clone(), m, n, phase, kind, description),
                    )
                    .await?;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    async fn set_status(
        &mut self,
        migration: &str,
        status: MigrationStatus,
        error: Option<&str>,
    ) -> Result<(), DriverError> {
        let db = self.database.clone();
        self.with_conn("", async |c, _| {
            c.exec_drop(
                "UPDATE `_zerodown`.migrations SET status = ?, error = ?, updated_at = CURRENT_TIMESTAMP(3),
                        finished_at = CASE WHEN ? IN ('completed', 'aborted') THEN CURRENT_TIMESTAMP(3) END
                  WHERE db = ? AND id = ?",
                (status.as_str(), error, status.as_str(), db, migration),
            )
            .await
        })
        .await
    }

    async fn set_step(
        &mut self,
        migration: &str,
        step: usize,
        status: StepStatus,
        u: &StepUpdate,
    ) -> Result<(), DriverError> {
        let db = self.database.clone();
        let s = status.as_str();
        let params: Vec<mysql_async::Value> = vec![
            s.into(),
            u.attempts.into(),
            s.into(),
            s.into(),
            s.into(),
            ms(u.elapsed).into(),
            s.into(),
            ms(u.held).into(),
            u.error.clone().into(),
            db.into(),
            migration.into(),
            (step as u64).into(),
        ];
        let mark = "UPDATE `_zerodown`.steps SET status = ?, attempts = GREATEST(attempts, ?),
                        started_at = CASE WHEN ? = 'running' THEN COALESCE(started_at, CURRENT_TIMESTAMP(3)) ELSE started_at END,
                        finished_at = CASE WHEN ? IN ('done', 'failed', 'undone') THEN CURRENT_TIMESTAMP(3) END,
                        elapsed_ms = CASE WHEN ? = 'running' THEN elapsed_ms ELSE ? END,
                        held_ms = CASE WHEN ? = 'running' THEN held_ms ELSE ? END,
                        error = ?
                  WHERE db = ? AND migration_id = ? AND step_no = ?";
        if u.history.is_empty() {
            return self
                .with_conn("", async |c, _| c.exec_drop(mark, params).await)
                .await;
        }
        // The tool sees the file applied exactly when zerodown records its step done.
        self.with_conn("", async |c, _| {
            in_transaction(c, None, async |c| {
                c.exec_drop(mark, params).await?;
                for b in &u.history {
                    crate::history::execute(c, b).await?;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    async fn run_history(&mut self, statements: &[Bound]) -> Result<(), DriverError> {
        let (ddl, rows): (Vec<&Bound>, Vec<&Bound>) =
            statements.iter().partition(|b| crate::history::is_ddl(b));
        self.with_conn("", async |c, _| {
            for b in ddl {
                crate::history::execute(c, b).await?;
            }
            in_transaction(c, None, async |c| {
                for b in rows {
                    crate::history::execute(c, b).await?;
                }
                Ok(())
            })
            .await
        })
        .await
    }

    async fn control(&mut self, migration: &str) -> Result<Control, DriverError> {
        self.keep_run_lock().await?;
        let db = self.database.clone();
        let row: Option<(bool, bool, Option<u32>)> = self
            .with_conn("", async |c, _| {
                c.exec_first(
                    "SELECT paused, abort_requested, max_rows_per_sec FROM `_zerodown`.migrations
                      WHERE db = ? AND id = ?",
                    (db, migration),
                )
                .await
            })
            .await?;
        Ok(match row {
            Some((paused, abort_requested, max_rows_per_sec)) => Control {
                paused,
                abort_requested,
                max_rows_per_sec,
            },
            None => Control::default(),
        })
    }
}

/// id, status, paused, created, error, steps done, steps, rows, current step, rate cap.
type SummaryRow = (
    String,
    String,
    bool,
    String,
    String,
    u64,
    u64,
    u64,
    String,
    Option<u32>,
);

#[async_trait]
impl StateAdmin for MyDriver {
    async fn migrations(&mut self) -> Result<Vec<MigrationSummary>, DriverError> {
        let db = self.database.clone();
        let rows: Vec<SummaryRow> = self
            .with_conn("", async |c, _| {
                c.exec(
                    "SELECT m.id, m.status, m.paused, CAST(m.created_at AS CHAR), COALESCE(m.error, ''),
                            CAST(SUM(s.status = 'done') AS UNSIGNED), COUNT(s.step_no),
                            CAST(COALESCE(SUM(s.rows_done), 0) AS UNSIGNED),
                            COALESCE((SELECT r.description FROM `_zerodown`.steps r
                                       WHERE r.db = m.db AND r.migration_id = m.id
                                         AND r.status IN ('running', 'failed')
                                       ORDER BY r.step_no LIMIT 1), ''),
                            m.max_rows_per_sec
                       FROM `_zerodown`.migrations m
                       LEFT JOIN `_zerodown`.steps s ON s.db = m.db AND s.migration_id = m.id
                      WHERE m.db = ?
                      GROUP BY m.db, m.id ORDER BY m.created_at DESC",
                    (db,),
                )
                .await
            })
            .await
            .or_else(|e| {
                // No state database yet: nothing was ever recorded.
                if e.code.as_deref() == Some("1146") || e.code.as_deref() == Some("1049") {
                    Ok(Vec::new())
                } else {
                    Err(e)
                }
            })?;
        Ok(rows
            .into_iter()
            .map(
                |(id, status, paused, created_at, error, done, steps, rows, current, cap)| {
                    MigrationSummary {
                        id,
                        status,
                        paused,
                        created_at,
                        error,
                        steps_done: done,
                        steps,
                        rows_backfilled: rows,
                        current_step: current,
                        max_rows_per_sec: cap,
                    }
                },
            )
            .collect())
    }

    async fn stored_plan(
        &mut self,
        id: Option<&str>,
        unfinished: bool,
    ) -> Result<Option<(String, serde_json::Value)>, DriverError> {
        let db = self.database.clone();
        let row: Option<(String, String)> = self
            .with_conn("", async |c, _| {
                c.exec_first(
                    "SELECT id, plan FROM `_zerodown`.migrations
                      WHERE db = ? AND (? IS NULL OR id = ?)
                        AND (NOT ? OR status NOT IN ('completed', 'aborted'))
                      ORDER BY created_at DESC LIMIT 1",
                    (db, id, id, unfinished),
                )
                .await
            })
            .await
            .or_else(|e| {
                if e.code.as_deref() == Some("1146") || e.code.as_deref() == Some("1049") {
                    Ok(None)
                } else {
                    Err(e)
                }
            })?;
        row.map(|(id, plan)| {
            serde_json::from_str(&plan)
                .map(|p| (id, p))
                .map_err(|e| DriverError::permanent(format!("the stored plan is not JSON: {e}")))
        })
        .transpose()
    }

    async fn set_paused(&mut self, id: &str, paused: bool) -> Result<(), DriverError> {
        self.set_flag("paused", id, paused).await
    }

    async fn set_abort_requested(&mut self, id: &str, requested: bool) -> Result<(), DriverError> {
        self.set_flag("abort_requested", id, requested).await
    }

    async fn set_rate_cap(
        &mut self,
        id: &str,
        rows_per_sec: Option<u32>,
    ) -> Result<(), DriverError> {
        self.set_rate(id, rows_per_sec).await
    }

    async fn postpone_cutover(&mut self, id: &str, postpone: bool) -> Result<(), DriverError> {
        self.set_flag("postpone_cutover", id, postpone).await
    }

    async fn runner_alive(&mut self) -> Result<bool, DriverError> {
        Ok(self.run_lock_holder().await?.is_some())
    }

    async fn history_rows(
        &mut self,
        query: &Bound,
    ) -> Result<Vec<Vec<Option<String>>>, DriverError> {
        self.with_conn("", async |c, _| crate::history::text_rows(c, query).await)
            .await
    }
}

impl MyDriver {
    /// `paused` or `abort_requested` (fixed names, never user text).
    async fn set_flag(
        &mut self,
        column: &'static str,
        id: &str,
        value: bool,
    ) -> Result<(), DriverError> {
        let db = self.database.clone();
        self.with_conn(
            format!(
                "UPDATE `_zerodown`.migrations SET {column} = ?, updated_at = CURRENT_TIMESTAMP(3)
                  WHERE db = ? AND id = ?"
            ),
            async |c, sql| c.exec_drop(sql, (value, db, id)).await,
        )
        .await
    }
}
