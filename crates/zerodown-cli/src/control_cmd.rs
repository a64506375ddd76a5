//! `zerodown status | pause | unpause | rate | abort`: the migration state kept in the database,
//! usable from another terminal while `apply` runs.

use std::time::Duration;

use zerodown_core::plan::{Phase, Plan, Step, StepKind};
use zerodown_exec::backoff::Backoff;
use zerodown_exec::{Database, MigrationStatus, StateAdmin, StateStore, StepStatus, StepUpdate};
use zerodown_pg::PgDriver;

use crate::exit::{self, Failure};
use crate::plan_cmd::{runtime, Format};

/// Which database and migration.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// Database URL: postgres://, mysql:// or mariadb:// (or DATABASE_URL, or libpq PG*
    /// variables).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Migration id (see zerodown status); default: the latest one not completed.
    pub id: Option<String>,
}

impl Target {
    pub fn connection(&self) -> Result<String, Failure> {
        self.database_url
            .clone()
            .or_else(|| zerodown_pg::url::from_pg_env(|k| std::env::var(k).ok()))
            .ok_or_else(|| {
                Failure::bad_input("give --database-url (or DATABASE_URL / PG* variables)")
            })
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

fn db_err(e: impl std::fmt::Display) -> Failure {
    Failure::database(e.to_string())
}

/// Binds `$db` to the driver of `$conn`'s engine and evaluates `$body` with it (the body
/// is generic code, compiled once per driver).
macro_rules! on_driver {
    ($conn:expr, $db:ident => $body:expr) => {
        if zerodown_mysql::is_mysql_url($conn) {
            #[allow(unused_mut)]
            let mut $db = zerodown_mysql::MyDriver::new($conn)
                .map_err(|e| Failure::bad_input(e.to_string()))?;
            $body
        } else {
            #[allow(unused_mut)]
            let mut $db = PgDriver::new($conn);
            $body
        }
    };
}

/// The migration `id` (or the latest one not finished) and its stored plan.
pub async fn find_migration(
    conn: &str,
    id: Option<&str>,
    unfinished: bool,
) -> Result<(String, Plan), Failure> {
    on_driver!(conn, db => find_on(&mut db, id, unfinished).await)
}

async fn find_on<D: StateAdmin>(
    db: &mut D,
    id: Option<&str>,
    unfinished: bool,
) -> Result<(String, Plan), Failure> {
    let Some((found, plan)) = db.stored_plan(id, unfinished).await.map_err(db_err)? else {
        if db.migrations().await.map_err(db_err)?.is_empty() {
            return Err(Failure::bad_input(
                "no zerodown migration was ever recorded in this database",
            ));
        }
        return Err(match id {
            Some(id) => {
                Failure::bad_input(format!("no unfinished migration {id} in this database"))
            }
            None => Failure::bad_input("no unfinished migration in this database"),
        });
    };
    let plan: Plan = serde_json::from_value(plan).map_err(|e| {
        Failure::bad_input(format!(
            "the stored plan cannot be read by this zerodown version: {e}"
        ))
    })?;
    Ok((found, plan))
}

pub fn status(args: StatusArgs) -> Result<u8, Failure> {
    let conn = Target {
        database_url: args.database_url,
        id: None,
    }
    .connection()?;
    runtime()?.block_on(async {
        let (rows, runner_alive) = on_driver!(&conn, db => (
            db.migrations().await.map_err(db_err)?,
            db.runner_alive().await.map_err(db_err)?,
        ));
        let list: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|mut m| {
                // "running" with nobody holding the run lock means the runner died: say so.
                if m.status == "running" && !runner_alive {
                    m.status = "interrupted".to_owned();
                }
                serde_json::to_value(m).unwrap_or_default()
            })
            .collect();
        match args.format {
            Format::Json => println!("{}", serde_json::json!({ "migrations": list })),
            Format::Text if list.is_empty() => {
                println!("no zerodown migrations recorded in this database")
            }
            Format::Text => {
                for m in &list {
                    println!(
                        "{}  {}{}  steps {}/{}  rows {}  {}",
                        m["id"].as_str().unwrap_or(""),
                        m["status"].as_str().unwrap_or(""),
                        if m["paused"].as_bool().unwrap_or(false) {
                            " (paused)"
                        } else {
                            ""
                        },
                        m["steps_done"],
                        m["steps"],
                        m["rows_backfilled"],
                        m["created_at"].as_str().unwrap_or("")
                    );
                    if let Some(cur) = m["current_step"].as_str().filter(|s| !s.is_empty()) {
                        println!("    at: {cur}");
                    }
                    if let Some(rate) = m["max_rows_per_sec"].as_i64() {
                        println!(
                            "    backfill capped at {rate} rows/s (zerodown rate off lifts it)"
                        );
                    }
                    if m["status"] == "interrupted" || m["status"] == "stopped" {
                        println!(
                            "    continue with: zerodown resume {}",
                            m["id"].as_str().unwrap_or("")
                        );
                    }
                    if let Some(err) = m["error"].as_str().filter(|s| !s.is_empty()) {
                        println!("    last error: {err}");
                    }
                }
            }
        }
        Ok(exit::OK)
    })
}

/// `zerodown cutover`: lets a migration applied with --postpone-cutover swap its tables.
pub fn cutover(t: Target) -> Result<u8, Failure> {
    let conn = t.connection()?;
    runtime()?.block_on(async {
        let id = on_driver!(&conn, db => {
            let (id, _) = find_on(&mut db, t.id.as_deref(), true).await?;
            db.postpone_cutover(&id, false).await.map_err(|e| Failure::bad_input(e.to_string()))?;
            id
        });
        eprintln!(
            "migration {id}: cut-over released (the running apply swaps the table within a second)"
        );
        Ok(exit::OK)
    })
}

pub fn set_paused(t: Target, paused: bool) -> Result<u8, Failure> {
    let conn = t.connection()?;
    runtime()?.block_on(async {
        let id = on_driver!(&conn, db => {
            let (id, _) = find_on(&mut db, t.id.as_deref(), true).await?;
            db.set_paused(&id, paused).await.map_err(db_err)?;
            id
        });
        eprintln!(
            "migration {id} {}",
            if paused {
                "paused (backfills and online copies wait between batches)"
            } else {
                "unpaused"
            }
        );
        Ok(exit::OK)
    })
}

/// A rows-per-second cap, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit(Option<i32>);

impl std::str::FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(RateLimit(None));
        }
        match s.parse::<i32>() {
            Ok(n) if n > 0 => Ok(RateLimit(Some(n))),
            _ => Err(format!(
                "`{s}` is not a rate: give a number of rows per second (1 or more) or `off`"
            )),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RateArgs {
    /// Rows per second (1 or more), or `off` to lift the cap.
    pub rows_per_sec: RateLimit,
    #[command(flatten)]
    pub target: Target,
}

pub fn set_rate(args: RateArgs) -> Result<u8, Failure> {
    let conn = args.target.connection()?;
    let RateLimit(rate) = args.rows_per_sec;
    runtime()?.block_on(async {
        let id = on_driver!(&conn, db => {
            let (id, _) = find_on(&mut db, args.target.id.as_deref(), true).await?;
            db.set_rate_cap(&id, rate.map(|r| r.unsigned_abs())).await.map_err(db_err)?;
            id
        });
        match rate {
            Some(r) => {
                eprintln!("migration {id}: backfills and online copies capped at {r} rows/s")
            }
            None => eprintln!("migration {id}: rate cap lifted"),
        }
        Ok(exit::OK)
    })
}

pub fn abort(t: Target) -> Result<u8, Failure> {
    let conn = t.connection()?;
    runtime()?.block_on(async { on_driver!(&conn, db => abort_on(&mut db, t.id.as_deref()).await) })
}

/// Stops a running migration (it sees the request at its next step or batch), or undoes
/// the steps of a stopped one that has not reached its contract phase.
async fn abort_on<D: Database + StateStore + StateAdmin>(
    db: &mut D,
    id: Option<&str>,
) -> Result<u8, Failure> {
    let (id, plan) = find_on(db, id, true).await?;
    db.set_abort_requested(&id, true).await.map_err(db_err)?;
    if !db.try_lock_run(&id).await.map_err(db_err)? {
        eprintln!("migration {id} is running elsewhere: it stops at its next step or batch; run zerodown abort again to undo its steps");
        return Ok(exit::STOPPED);
    }
    for orphan in db.end_orphans().await.map_err(db_err)? {
        eprintln!(
            "ended pid {}, a statement left running by an interrupted run",
            orphan.pid
        );
    }
    let state = db
        .load(&id)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Failure::bad_input("state is gone"))?;
    let steps: Vec<&Step> = plan.steps().collect();
    let started: Vec<usize> = state
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            matches!(
                s.status,
                StepStatus::Done | StepStatus::Running | StepStatus::Failed
            )
        })
        .map(|(n, _)| n)
        .collect();
    // An online rebuild that has not swapped its table changed nothing yet: its
    // shadow table is dropped like any other undo.
    let unswapped_rebuild = |n: usize| {
        steps
            .get(n)
            .is_some_and(|s| s.kind == StepKind::OnlineRebuild)
            && state
                .steps
                .get(n)
                .is_some_and(|s| s.status != StepStatus::Done)
    };
    if let Some(n) = started.iter().find(|n| {
        steps.get(**n).is_some_and(|s| s.phase == Phase::Contract) && !unswapped_rebuild(**n)
    }) {
        db.set_abort_requested(&id, false).await.map_err(db_err)?;
        return Err(Failure::bad_input(format!(
                "step {} ({}) of the contract phase already ran: undoing is not safe; roll forward with zerodown resume",
                n + 1,
                steps[*n].description
            )));
    }
    for n in started.iter().rev() {
        let step = steps[*n];
        if step.undo.is_empty() {
            db.set_step(&id, *n, StepStatus::Undone, &StepUpdate::default())
                .await
                .map_err(db_err)?;
            continue;
        }
        let undo = Step {
            statements: step.undo.clone(),
            kind: StepKind::Ddl,
            transactional: !step.undo.iter().any(|s| s.contains("CONCURRENTLY")),
            statement_timeout_ms: None,
            ..step.clone()
        };
        eprintln!("undoing step {}: {}", n + 1, step.description);
        let mut backoff = Backoff::new(&undo.retry, 7)
            .with_attempt_cost(Duration::from_millis(undo.lock_timeout_ms));
        loop {
            match db.run_step(&undo).await {
                Ok(_) => break,
                Err(e) if e.class.retryable() => match backoff.next_delay() {
                    Some(d) => tokio::time::sleep(d).await,
                    None => {
                        return Err(Failure {
                            code: exit::STOPPED,
                            message: format!(
                                "undo of step {} could not get its lock: {e}; run abort again",
                                n + 1
                            ),
                        })
                    }
                },
                Err(e) => {
                    return Err(Failure {
                        code: exit::STEP_FAILED,
                        message: format!("undo of step {} failed: {e}", n + 1),
                    })
                }
            }
        }
        db.set_step(&id, *n, StepStatus::Undone, &StepUpdate::default())
            .await
            .map_err(db_err)?;
    }
    db.set_status(&id, MigrationStatus::Aborted, None)
        .await
        .map_err(db_err)?;
    eprintln!("migration {id} aborted: {} step(s) undone", started.len());
    Ok(exit::OK)
}
