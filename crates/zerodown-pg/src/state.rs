//! Migration state in the target database: schema `zerodown`, readable by applications
//! (e.g. to gate a feature flag on a step being done).

use async_trait::async_trait;
use zerodown_core::plan::Step;
use zerodown_exec::*;

use crate::driver::PgDriver;
use crate::errors::classify;

/// Creates the state schema (idempotent; run under the run lock, once a killed run's
/// sessions are ended).
pub const STATE_SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS zerodown;
CREATE TABLE IF NOT EXISTS zerodown.migrations (
    id text PRIMARY KEY,
    checksum text NOT NULL,
    source text NOT NULL,
    plan jsonb NOT NULL,
    status text NOT NULL,
    error text,
    paused boolean NOT NULL DEFAULT false,
    abort_requested boolean NOT NULL DEFAULT false,
    max_rows_per_sec integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE TABLE IF NOT EXISTS zerodown.steps (
    migration_id text NOT NULL REFERENCES zerodown.migrations (id) ON DELETE CASCADE,
    step_no integer NOT NULL,
    phase text NOT NULL,
    kind text NOT NULL,
    description text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    rows_done bigint NOT NULL DEFAULT 0,
    last_key text[],
    batch_size integer,
    started_at timestamptz,
    finished_at timestamptz,
    elapsed_ms bigint,
    held_ms bigint,
    error text,
    PRIMARY KEY (migration_id, step_no)
);
";

/// Caps the backfills of `migration` at `rate` rows per second (None: no cap); a
/// running apply picks it up within its poll interval.
pub async fn set_rate(
    c: &tokio_postgres::Client,
    migration: &str,
    rate: Option<i32>,
) -> Result<(), tokio_postgres::Error> {
    c.execute(
        "UPDATE zerodown.migrations SET max_rows_per_sec = $2, updated_at = now() WHERE id = $1",
        &[&migration, &rate],
    )
    .await
    .map(drop)
}

/// Advisory lock key of zerodown runs on a database ('zero', 'down').
pub const RUN_LOCK: (i32, i32) = (0x7a65_726f, 0x646f_776e);

/// The session holding the run lock on the current database, if any: (pid,
/// application_name, connected since). Advisory locks are per database, and pg_locks
/// lists every database's, hence the filter.
pub async fn run_lock_holder(
    client: &tokio_postgres::Client,
) -> Result<Option<(i32, String, String)>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT l.pid, COALESCE(a.application_name, ''), a.backend_start::text FROM pg_catalog.pg_locks l
               JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.classid = $1::int::oid AND l.objid = $2::int::oid
                AND l.objsubid = 2 AND l.granted
                AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
            &[&RUN_LOCK.0, &RUN_LOCK.1],
        )
        .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// The error of making the state schema; without the privilege, what to grant.
fn state_schema_error(e: &tokio_postgres::Error) -> DriverError {
    let mut d = classify(e);
    if d.code.as_deref() == Some("42501") {
        d.message = format!(
            "{}: zerodown keeps its state in schema \"zerodown\" of this database, which this role may not make or use; nothing was run. GRANT CREATE ON DATABASE to the role, or have an owner run CREATE SCHEMA zerodown AUTHORIZATION <role>",
            d.message
        );
    }
    d
}

/// Whether zerodown's state schema exists (nothing was ever recorded otherwise).
async fn state_exists(c: &tokio_postgres::Client) -> Result<bool, DriverError> {
    Ok(
        c.query_one("SELECT to_regclass('zerodown.migrations') IS NOT NULL", &[])
            .await
            .map_err(|e| classify(&e))?
            .get(0),
    )
}

/// Runs `work` between BEGIN and COMMIT, rolled back when it fails.
async fn in_transaction(
    c: &tokio_postgres::Client,
    work: impl std::future::Future<Output = Result<(), tokio_postgres::Error>>,
) -> Result<(), DriverError> {
    c.batch_execute("BEGIN").await.map_err(|e| classify(&e))?;
    match work.await {
        Ok(()) => c.batch_execute("COMMIT").await.map_err(|e| classify(&e)),
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(classify(&e))
        }
    }
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl StateStore for PgDriver {
    async fn try_lock_run(&mut self, _migration: &str) -> Result<bool, DriverError> {
        let got: bool = self
            .lock_client()
            .await?
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&RUN_LOCK.0, &RUN_LOCK.1],
            )
            .await
            .map_err(|e| classify(&e))?
            .get(0);
        if got {
            // A killed run's session may still be in the middle of a statement, making
            // this very schema: ended first, its transaction cannot race ours.
            let ended = self.terminate_orphans().await?;
            self.orphans_ended.extend(ended);
            self.client()
                .await?
                .batch_execute(STATE_SCHEMA)
                .await
                .map_err(|e| state_schema_error(&e))?;
        }
        Ok(got)
    }

    async fn load(&mut self, migration: &str) -> Result<Option<MigrationState>, DriverError> {
        let c = self.client().await?;
        if !state_exists(c).await? {
            return Ok(None);
        }
        let Some(m) = c
            .query_opt(
                "SELECT checksum, status FROM zerodown.migrations WHERE id = $1",
                &[&migration],
            )
            .await
            .map_err(|e| classify(&e))?
        else {
            return Ok(None);
        };
        let steps = c
            .query(
                "SELECT status, attempts, rows_done, last_key, batch_size FROM zerodown.steps
                  WHERE migration_id = $1 ORDER BY step_no",
                &[&migration],
            )
            .await
            .map_err(|e| classify(&e))?
            .into_iter()
            .map(|r| StepState {
                status: StepStatus::parse(r.get::<_, &str>(0)).unwrap_or(StepStatus::Pending),
                attempts: u32::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                rows: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                last_key: r.get(3),
                batch_size: r
                    .get::<_, Option<i32>>(4)
                    .and_then(|b| u32::try_from(b).ok()),
            })
            .collect();
        Ok(Some(MigrationState {
            id: migration.to_owned(),
            checksum: m.get(0),
            status: MigrationStatus::parse(m.get::<_, &str>(1)).unwrap_or(MigrationStatus::Failed),
            steps,
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
        let c = self.client().await?;
        in_transaction(c, async {
            c.execute(
                "INSERT INTO zerodown.migrations (id, checksum, source, plan, status) VALUES ($1, $2, $3, $4, 'running')",
                &[&migration, &checksum, &source, &plan],
            )
            .await?;
            for (n, s) in steps.iter().enumerate() {
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                let kind = serde_json::to_value(s.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                c.execute(
                    "INSERT INTO zerodown.steps (migration_id, step_no, phase, kind, description) VALUES ($1, $2, $3, $4, $5)",
                    &[&migration, &n, &s.phase.name(), &kind, &s.description],
                )
                .await?;
            }
            Ok(())
        })
        .await
    }

    async fn set_status(
        &mut self,
        migration: &str,
        status: MigrationStatus,
        error: Option<&str>,
    ) -> Result<(), DriverError> {
        self.client()
            .await?
            .execute(
                "UPDATE zerodown.migrations SET status = $2, error = $3, updated_at = now(),
                        finished_at = CASE WHEN $2 IN ('completed', 'aborted') THEN now() END
                  WHERE id = $1",
                &[&migration, &status.as_str(), &error],
            )
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }

    async fn set_step(
        &mut self,
        migration: &str,
        step: usize,
        status: StepStatus,
        u: &StepUpdate,
    ) -> Result<(), DriverError> {
        let n = i32::try_from(step).unwrap_or(i32::MAX);
        let attempts = i32::try_from(u.attempts).unwrap_or(i32::MAX);
        let (status, elapsed, held) = (status.as_str(), ms(u.elapsed), ms(u.held));
        let values: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &migration, &n, &status, &attempts, &elapsed, &held, &u.error,
        ];
        let c = self.client().await?;
        let mark = c.execute(
            "UPDATE zerodown.steps SET status = $3, attempts = GREATEST(attempts, $4),
                    started_at = CASE WHEN $3 = 'running' THEN COALESCE(started_at, now()) ELSE started_at END,
                    finished_at = CASE WHEN $3 IN ('done', 'failed', 'undone') THEN now() END,
                    elapsed_ms = CASE WHEN $3 = 'running' THEN elapsed_ms ELSE $5 END,
                    held_ms = CASE WHEN $3 = 'running' THEN held_ms ELSE $6 END,
                    error = $7
              WHERE migration_id = $1 AND step_no = $2",
            &values,
        );
        if u.history.is_empty() {
            return mark.await.map(drop).map_err(|e| classify(&e));
        }
        // The tool sees the file applied exactly when zerodown records its step done.
        in_transaction(c, async {
            mark.await?;
            for b in &u.history {
                crate::history::execute(c, b).await?;
            }
            Ok(())
        })
        .await
    }

    async fn run_history(&mut self, statements: &[Bound]) -> Result<(), DriverError> {
        let c = self.client().await?;
        in_transaction(c, async {
            for b in statements {
                crate::history::execute(c, b).await?;
            }
            Ok(())
        })
        .await
    }

    async fn control(&mut self, migration: &str) -> Result<Control, DriverError> {
        self.keep_run_lock(RUN_LOCK).await?;
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT paused, abort_requested, max_rows_per_sec FROM zerodown.migrations WHERE id = $1",
                &[&migration],
            )
            .await
            .map_err(|e| classify(&e))?;
        Ok(match row {
            Some(r) => Control {
                paused: r.get(0),
                abort_requested: r.get(1),
                max_rows_per_sec: r
                    .get::<_, Option<i32>>(2)
                    .and_then(|v| u32::try_from(v).ok()),
            },
            None => Control::default(),
        })
    }
}

impl PgDriver {
    /// Runs `sql` (an UPDATE of one boolean, `$1` the migration, `$2` the value).
    async fn set_flag(&mut self, sql: &str, id: &str, value: bool) -> Result<(), DriverError> {
        self.client()
            .await?
            .execute(sql, &[&id, &value])
            .await
            .map(drop)
            .map_err(|e| classify(&e))
    }
}

#[async_trait]
impl StateAdmin for PgDriver {
    async fn migrations(&mut self) -> Result<Vec<MigrationSummary>, DriverError> {
        let c = self.client().await?;
        if !state_exists(c).await? {
            return Ok(Vec::new());
        }
        let rows = c
            .query(
                "SELECT m.id, m.status, m.paused, m.created_at::text, COALESCE(m.error, ''),
                        count(s.*) FILTER (WHERE s.status = 'done'), count(s.*), COALESCE(sum(s.rows_done), 0)::bigint,
                        COALESCE((SELECT description FROM zerodown.steps r WHERE r.migration_id = m.id AND r.status IN ('running', 'failed') ORDER BY step_no LIMIT 1), ''),
                        m.max_rows_per_sec
                   FROM zerodown.migrations m LEFT JOIN zerodown.steps s ON s.migration_id = m.id
                  GROUP BY m.id ORDER BY m.created_at DESC",
                &[],
            )
            .await
            .map_err(|e| classify(&e))?;
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .iter()
            .map(|r| MigrationSummary {
                id: r.get(0),
                status: r.get(1),
                paused: r.get(2),
                created_at: r.get(3),
                error: r.get(4),
                steps_done: count(r.get(5)),
                steps: count(r.get(6)),
                rows_backfilled: count(r.get(7)),
                current_step: r.get(8),
                max_rows_per_sec: r
                    .get::<_, Option<i32>>(9)
                    .and_then(|v| u32::try_from(v).ok()),
            })
            .collect())
    }

    async fn stored_plan(
        &mut self,
        id: Option<&str>,
        unfinished: bool,
    ) -> Result<Option<(String, serde_json::Value)>, DriverError> {
        let c = self.client().await?;
        if !state_exists(c).await? {
            return Ok(None);
        }
        let row = c
            .query_opt(
                "SELECT id, plan FROM zerodown.migrations
                  WHERE ($1::text IS NULL OR id = $1) AND (NOT $2 OR status NOT IN ('completed', 'aborted'))
                  ORDER BY created_at DESC LIMIT 1",
                &[&id, &unfinished],
            )
            .await
            .map_err(|e| classify(&e))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    async fn set_paused(&mut self, id: &str, paused: bool) -> Result<(), DriverError> {
        self.set_flag(
            "UPDATE zerodown.migrations SET paused = $2, updated_at = now() WHERE id = $1",
            id,
            paused,
        )
        .await
    }

    async fn set_abort_requested(&mut self, id: &str, requested: bool) -> Result<(), DriverError> {
        self.set_flag(
            "UPDATE zerodown.migrations SET abort_requested = $2, updated_at = now() WHERE id = $1",
            id,
            requested,
        )
        .await
    }

    async fn set_rate_cap(
        &mut self,
        id: &str,
        rows_per_sec: Option<u32>,
    ) -> Result<(), DriverError> {
        let rate = rows_per_sec.map(|r| i32::try_from(r).unwrap_or(i32::MAX));
        set_rate(self.client().await?, id, rate)
            .await
            .map_err(|e| classify(&e))
    }

    async fn runner_alive(&mut self) -> Result<bool, DriverError> {
        Ok(run_lock_holder(self.client().await?)
            .await
            .map_err(|e| classify(&e))?
            .is_some())
    }

    async fn history_rows(
        &mut self,
        query: &Bound,
    ) -> Result<Vec<Vec<Option<String>>>, DriverError> {
        crate::history::text_rows(self.client().await?, query)
            .await
            .map_err(|e| classify(&e))
    }
}
