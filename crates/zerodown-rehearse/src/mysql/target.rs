//! The MySQL/MariaDB side of a run: the metadata locks of the run's database sampled
//! from a second session (PROCESSLIST states, and METADATA_LOCK_INFO where MariaDB's
//! plugin is loaded), the SQL as written on its own session, the plan through MyDriver.
//! Sessions that are not the synthetic clients (told by their connection ids) are the
//! migration's.

use std::sync::atomic::Ordering;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::sync::watch;
use tokio::time::Instant;
use zerodown_mysql::MyDriver;

use super::setup::connect;
use crate::report::StatementStats;
use crate::runs::{self, one_line, Recorder, RunInput, Span, Target};
use crate::watch::{Held, Sample, SAMPLE_EVERY};
use crate::RehearseError;

/// MariaDB/MySQL metadata lock modes, weakest first.
const MDL_MODES: [&str; 10] = [
    "MDL_INTENTION_EXCLUSIVE",
    "MDL_SHARED",
    "MDL_SHARED_HIGH_PRIO",
    "MDL_SHARED_READ",
    "MDL_SHARED_WRITE",
    "MDL_SHARED_UPGRADABLE",
    "MDL_SHARED_READ_ONLY",
    "MDL_SHARED_NO_WRITE",
    "MDL_SHARED_NO_READ_WRITE",
    "MDL_EXCLUSIVE",
];

/// What a session waiting for a metadata lock shows, in PROCESSLIST (the mode it waits
/// for is not shown).
const MDL_WAIT: Held = Held {
    rank: u8::MAX,
    name: zerodown_mysql::mdl::MDL_WAIT_STATE,
};

fn mdl(mode: &str) -> Option<Held> {
    let rank = MDL_MODES.iter().position(|m| *m == mode)?;
    Some(Held {
        rank: u8::try_from(rank).ok()?,
        name: MDL_MODES[rank],
    })
}

type Sampler = tokio::task::JoinHandle<Result<Vec<Sample>, mysql_async::Error>>;

#[derive(Default)]
pub struct MyTarget {
    stop: Option<watch::Sender<bool>>,
    task: Option<Sampler>,
}

impl Target for MyTarget {
    async fn watch(&mut self, input: &RunInput<'_>, clients: &[u64]) -> Result<(), RehearseError> {
        let mut conn = connect(&input.url).await?;
        let mdl_info = conn
            .query_drop("SELECT 1 FROM information_schema.METADATA_LOCK_INFO LIMIT 0")
            .await
            .is_ok();
        let tables: Vec<String> = input
            .watched
            .iter()
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
            .collect();
        let clients = clients.to_vec();
        let db: String = conn
            .query_first("SELECT DATABASE()")
            .await
            .map_err(super::setup::db_err("watching metadata locks"))?
            .unwrap_or_default();
        let (stop, mut rx) = watch::channel(false);
        self.stop = Some(stop);
        self.task = Some(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !*rx.borrow_and_update() {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = rx.changed() => break,
                }
                samples.push(sample(&mut conn, &db, &clients, mdl_info, &tables).await?);
            }
            let _ = conn.disconnect().await;
            Ok(samples)
        }));
        Ok(())
    }

    /// performance_schema's digests are off by default on MariaDB: none are reported.
    async fn statements(&mut self, _phase: &'static str) -> Vec<StatementStats> {
        Vec::new()
    }

    async fn unwatch(&mut self) -> Result<Vec<Sample>, RehearseError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        let Some(task) = self.task.take() else {
            return Ok(Vec::new());
        };
        task.await
            .map_err(|e| RehearseError::Load(e.to_string()))?
            .map_err(|e| RehearseError::Load(format!("watching metadata locks: {e}")))
    }

    async fn as_written(&mut self, input: &RunInput<'_>) -> (Vec<Span>, Option<String>) {
        let mut spans = Vec::new();
        let mut conn = match connect(&input.url).await {
            Ok(c) => c,
            Err(e) => return (spans, Some(e.to_string())),
        };
        let mut error = None;
        for s in input.statements {
            if input.interrupt.load(Ordering::Relaxed) {
                error = Some("interrupted".into());
                break;
            }
            let started = Instant::now();
            let result = conn.query_drop(&s.sql).await;
            spans.push(Span {
                description: format!("{}:{}: {}", s.file, s.line, one_line(&s.sql)),
                declared: runs::declared(s.impact.lock, s.impact.online, false),
                started,
                ended: Some(Instant::now()),
            });
            if let Err(e) = result {
                error = Some(match e {
                    mysql_async::Error::Server(s) => s.message,
                    other => other.to_string(),
                });
                break;
            }
        }
        let _ = conn.disconnect().await;
        (spans, error)
    }

    async fn apply(&mut self, input: &RunInput<'_>, rec: &mut Recorder<'_>) -> Result<(), String> {
        let mut db = MyDriver::new(&input.url).map_err(|e| e.to_string())?;
        runs::apply_with(&mut db, input, rec).await
    }
}

/// One reading: which metadata locks the migration's sessions hold on the watched
/// tables, whether they wait for one, and how many clients wait.
async fn sample(
    conn: &mut Conn,
    db: &str,
    clients: &[u64],
    mdl_info: bool,
    tables: &[String],
) -> Result<Sample, mysql_async::Error> {
    let at = Instant::now();
    let own = u64::from(conn.id());
    let waits = zerodown_mysql::mdl::processlist(conn)
        .await?
        .into_iter()
        .filter(|p| {
            p.id != own
                && p.db.as_deref() == Some(db)
                && matches!(
                    p.state.as_deref(),
                    Some(zerodown_mysql::mdl::MDL_WAIT_STATE | "Waiting for table level lock")
                )
        })
        .map(|p| p.id);
    let mut s = Sample {
        at,
        holding: None,
        waiting: None,
        clients_waiting: 0,
    };
    for id in waits.collect::<Vec<_>>() {
        if clients.contains(&id) {
            s.clients_waiting += 1;
        } else {
            s.waiting = Some(MDL_WAIT);
        }
    }
    if mdl_info {
        let held: Vec<(u64, String, String)> = conn
            .query(
                "SELECT THREAD_ID, LOCK_MODE, TABLE_NAME FROM information_schema.METADATA_LOCK_INFO
                  WHERE TABLE_SCHEMA = DATABASE() AND THREAD_ID <> CONNECTION_ID()",
            )
            .await?;
        for (id, mode, table) in held {
            if !clients.contains(&id) && tables.contains(&table) {
                s.holding = s.holding.max(mdl(&mode));
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata_lock_modes_rank_exclusive_strongest() {
        let shared = super::mdl("MDL_SHARED_UPGRADABLE").expect("known");
        let exclusive = super::mdl("MDL_EXCLUSIVE").expect("known");
        assert!(exclusive > shared);
        assert_eq!(super::mdl("MDL_BACKUP_DDL"), None);
    }
}
