//! What an operator does to a recorded migration, from anywhere while `apply` runs:
//! status, pause, rate, cut-over and abort. The state lives in the database.

use std::time::Duration;

use zerodown_core::history::FileRecord;
use zerodown_core::plan::{Phase, Plan, Step, StepKind};
use zerodown_exec::backoff::Backoff;
use zerodown_exec::{
    Bound, Checkpoint, Database, MigrationState, MigrationStatus, MigrationSummary, StateAdmin,
    StateStore, StepStatus, StepUpdate,
};

use crate::{on_driver, Error, Notify};

/// The migrations recorded in the database, newest first. One marked running whose
/// runner holds no run lock any more is reported `interrupted`.
pub async fn status(database_url: &str) -> Result<Vec<MigrationSummary>, Error> {
    let (mut rows, runner_alive) = on_driver!(database_url, db => (
        db.migrations().await.map_err(Error::database)?,
        db.runner_alive().await.map_err(Error::database)?,
    ));
    for m in &mut rows {
        if m.status == "running" && !runner_alive {
            m.status = "interrupted".to_owned();
        }
    }
    Ok(rows)
}

/// The migration `id` (or the latest one not finished) and its stored plan.
pub async fn find_migration(
    database_url: &str,
    id: Option<&str>,
    unfinished: bool,
) -> Result<(String, Plan), Error> {
    on_driver!(database_url, db => find_on(&mut db, id, unfinished).await)
}

pub(crate) async fn find_on<D: StateAdmin>(
    db: &mut D,
    id: Option<&str>,
    unfinished: bool,
) -> Result<(String, Plan), Error> {
    let Some((found, plan)) = db
        .stored_plan(id, unfinished)
        .await
        .map_err(Error::database)?
    else {
        if db.migrations().await.map_err(Error::database)?.is_empty() {
            return Err(Error::Input(
                "no zerodown migration was ever recorded in this database".into(),
            ));
        }
        return Err(Error::Input(match id {
            Some(id) => format!("no unfinished migration {id} in this database"),
            None => "no unfinished migration in this database".into(),
        }));
    };
    let plan: Plan = serde_json::from_value(plan).map_err(|e| {
        Error::Input(format!(
            "the stored plan cannot be read by this zerodown version: {e}"
        ))
    })?;
    Ok((found, plan))
}

/// Pauses (or lets go on) the backfills and online copies of migration `id` (default:
/// the latest unfinished one). Returns the migration's id.
pub async fn set_paused(
    database_url: &str,
    id: Option<&str>,
    paused: bool,
) -> Result<String, Error> {
    Ok(on_driver!(database_url, db => {
        let (id, _) = find_on(&mut db, id, true).await?;
        db.set_paused(&id, paused).await.map_err(Error::database)?;
        id
    }))
}

/// Caps the backfills and online copies of a migration at `rows_per_sec` (None lifts
/// the cap), while it runs. Returns the migration's id.
pub async fn set_rate(
    database_url: &str,
    id: Option<&str>,
    rows_per_sec: Option<u32>,
) -> Result<String, Error> {
    Ok(on_driver!(database_url, db => {
        let (id, _) = find_on(&mut db, id, true).await?;
        db.set_rate_cap(&id, rows_per_sec).await.map_err(Error::database)?;
        id
    }))
}

/// Lets a migration applied with `postpone_cutover` swap in its rebuilt tables.
/// Returns the migration's id.
pub async fn cutover(database_url: &str, id: Option<&str>) -> Result<String, Error> {
    Ok(on_driver!(database_url, db => {
        let (id, _) = find_on(&mut db, id, true).await?;
        db.postpone_cutover(&id, false).await.map_err(|e| Error::Input(e.to_string()))?;
        id
    }))
}

/// What `abort` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aborted {
    /// The migration runs elsewhere: it was asked to stop at its next step or batch.
    Requested { id: String },
    /// Its steps were undone (this many) and it is recorded as aborted.
    Undone { id: String, steps: usize },
}

/// Stops a running migration (it sees the request at its next step or batch), or
/// undoes the steps of a stopped one that has not reached its contract phase: only
/// the steps recorded as done or started by zerodown, each with the undo its plan
/// recorded; never a step whose own statement failed.
pub async fn abort(
    database_url: &str,
    id: Option<&str>,
    notify: &mut dyn Notify,
) -> Result<Aborted, Error> {
    on_driver!(database_url, db => abort_on(&mut db, id, notify).await)
}

async fn abort_on<D: Database + StateStore + StateAdmin>(
    db: &mut D,
    id: Option<&str>,
    notify: &mut dyn Notify,
) -> Result<Aborted, Error> {
    if id.is_none() {
        // The newest unfinished one may not be the one meant (an old failed run).
        let unfinished: Vec<String> = db
            .migrations()
            .await
            .map_err(Error::database)?
            .into_iter()
            .filter(|m| {
                m.status != MigrationStatus::Completed.as_str()
                    && m.status != MigrationStatus::Aborted.as_str()
            })
            .map(|m| format!("{} ({})", m.id, m.status))
            .collect();
        if unfinished.len() > 1 {
            return Err(Error::Input(format!(
                "{} unfinished migrations in this database: {}; name the one to abort",
                unfinished.len(),
                unfinished.join(", ")
            )));
        }
    }
    let (id, plan) = find_on(db, id, true).await?;
    db.set_abort_requested(&id, true)
        .await
        .map_err(Error::database)?;
    if !db.try_lock_run(&id).await.map_err(Error::database)? {
        return Ok(Aborted::Requested { id });
    }
    for orphan in db.end_orphans().await.map_err(Error::database)? {
        notify.notice(&format!(
            "ended pid {}, a statement left running by an interrupted run",
            orphan.pid
        ));
    }
    let state = db
        .load(&id)
        .await
        .map_err(Error::database)?
        .ok_or_else(|| Error::Input("state is gone".into()))?;
    let steps: Vec<&Step> = plan.steps().collect();
    // A step stopped midway (the run was interrupted, blocked or aborted) did zerodown's
    // work, and so did a backfill or an online rebuild, which record their own progress.
    // Any other step whose own statement failed may have done nothing, and what its
    // undo would remove may be the user's (an index or column of the same name).
    let failed_run = state.status == MigrationStatus::Failed;
    let undone_if_failed = |n: usize| {
        !failed_run
            || steps
                .get(n)
                .is_some_and(|s| matches!(s.kind, StepKind::OnlineRebuild | StepKind::Backfill))
    };
    let started: Vec<usize> = state
        .steps
        .iter()
        .enumerate()
        .filter(|(n, s)| match s.status {
            StepStatus::Done | StepStatus::Running => true,
            StepStatus::Failed => undone_if_failed(*n),
            _ => false,
        })
        .map(|(n, _)| n)
        .collect();
    let kept = state
        .steps
        .iter()
        .enumerate()
        .filter(|(n, s)| s.status == StepStatus::Failed && !undone_if_failed(*n));
    for (n, _) in kept {
        if let Some(step) = steps.get(n).filter(|s| !s.undo.is_empty()) {
            notify.notice(&format!(
                "step {} ({}) failed: its undo is not run, as what it removes may not be zerodown's; if zerodown left it, run by hand: {}",
                n + 1,
                step.description,
                step.undo.join("; ")
            ));
        }
    }
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
        db.set_abort_requested(&id, false)
            .await
            .map_err(Error::database)?;
        return Err(Error::Input(format!(
                "step {} ({}) of the contract phase already ran: undoing is not safe; roll forward with zerodown resume",
                n + 1,
                steps[*n].description
            )));
    }
    let mut undone = 0;
    for n in started.iter().rev() {
        let step = steps[*n];
        let stopped_midway = state
            .steps
            .get(*n)
            .is_some_and(|s| s.status != StepStatus::Done);
        if stopped_midway
            && !matches!(step.kind, StepKind::OnlineRebuild | StepKind::Backfill)
            && !step.undo.is_empty()
        {
            // A statement stopped while it waited for its lock did nothing: its own check
            // says whether its result is there before anything is taken back.
            if let Some(check) = &step.done_check {
                if !db.query_bool(check).await.map_err(Error::database)? {
                    notify.notice(&format!(
                        "step {} ({}) did not complete: nothing of it to undo",
                        n + 1,
                        step.description
                    ));
                    db.set_step(&id, *n, StepStatus::Undone, &StepUpdate::default())
                        .await
                        .map_err(Error::database)?;
                    continue;
                }
            }
        }
        if step.undo.is_empty() && !step.reversible {
            // Said, not hidden: the step stays done, and is not counted as undone.
            notify.notice(&format!(
                "step {} ({}) has no undo: what it did stays",
                n + 1,
                step.description
            ));
            continue;
        }
        undone += 1;
        if !step.undo.is_empty() {
            notify.notice(&format!("undoing step {}: {}", n + 1, step.description));
            if step.kind == StepKind::OnlineRebuild {
                let at = Checkpoint {
                    migration: &id,
                    step: *n,
                };
                db.undo_online_rebuild(&at, step).await.map_err(|e| {
                    Error::StepFailed(format!("undo of step {} failed: {e}", n + 1))
                })?;
            } else {
                undo(db, step, *n).await?;
            }
        }
        db.set_step(&id, *n, StepStatus::Undone, &StepUpdate::default())
            .await
            .map_err(Error::database)?;
    }
    unrecord_history(db, &plan, &state, notify).await?;
    db.set_status(&id, MigrationStatus::Aborted, None)
        .await
        .map_err(Error::database)?;
    Ok(Aborted::Undone { id, steps: undone })
}

/// Takes out of the team's migration tool's history the files zerodown recorded there
/// for this migration: those whose step was done, and what the run's setup wrote (once
/// a step started, the setup had run), golang-migrate's version put back as it was.
async fn unrecord_history<D: StateStore>(
    db: &mut D,
    plan: &Plan,
    state: &MigrationState,
    notify: &mut dyn Notify,
) -> Result<(), Error> {
    let Some(h) = &plan.history else {
        return Ok(());
    };
    let done = |n: usize| {
        state
            .steps
            .get(n)
            .is_some_and(|s| s.status == StepStatus::Done)
    };
    let set_up = state.steps.iter().any(|s| s.status != StepStatus::Pending);
    // A file one of whose done steps has no undo keeps its effect: its row stays, or the
    // tool would run it again over what is still there.
    let stays = |file: &str| {
        plan.steps().enumerate().find(|(n, s)| {
            &*s.source.file == file && done(*n) && s.undo.is_empty() && !s.reversible
        })
    };
    let mut recorded: Vec<&FileRecord> = Vec::new();
    for r in h
        .records
        .iter()
        .filter(|r| r.after_step.map_or(set_up, done))
    {
        match stays(&r.file) {
            Some((n, _)) => notify.notice(&format!(
                "{} stays recorded in {}'s {}: its step {} has no undo, so what it did is still there",
                r.file,
                h.tool.name(),
                h.table,
                n + 1
            )),
            None => recorded.push(r),
        }
    }
    let mut statements: Vec<Bound> = recorded
        .iter()
        .rev()
        .flat_map(|r| r.undo.iter().cloned())
        .collect();
    if set_up {
        statements.extend(h.undo_setup.iter().cloned());
    }
    if statements.is_empty() {
        return Ok(());
    }
    if !recorded.is_empty() {
        notify.notice(&format!(
            "taking {} file(s) back out of {}'s {}: {}",
            recorded.len(),
            h.tool.name(),
            h.table,
            recorded
                .iter()
                .map(|r| r.file.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    db.run_history(&statements).await.map_err(Error::database)
}

/// Runs the undo a step recorded, retrying its lock as the step itself would.
async fn undo<D: Database>(db: &mut D, step: &Step, n: usize) -> Result<(), Error> {
    let undo = Step {
        statements: step.undo.clone(),
        kind: StepKind::Ddl,
        transactional: !step.undo.iter().any(|s| s.contains("CONCURRENTLY")),
        statement_timeout_ms: None,
        ..step.clone()
    };
    let mut backoff =
        Backoff::new(&undo.retry, 7).with_attempt_cost(Duration::from_millis(undo.lock_timeout_ms));
    loop {
        match db.run_step(&undo).await {
            Ok(_) => return Ok(()),
            Err(e) if e.class.retryable() => match backoff.next_delay() {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    return Err(Error::Stopped(format!(
                        "undo of step {} could not get its lock: {e}; run abort again",
                        n + 1
                    )))
                }
            },
            Err(e) => {
                return Err(Error::StepFailed(format!(
                    "undo of step {} failed: {e}",
                    n + 1
                )))
            }
        }
    }
}
