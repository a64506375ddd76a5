//! What the migration does to PostgreSQL, seen from a second connection: the table locks
//! its sessions hold and wait for, and the clients queued behind them (pg_locks, sampled
//! every few milliseconds), and the busiest statements of each phase (pg_stat_statements).

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_postgres::Client;
use zerodown_core::lock::LockMode;

use crate::report::StatementStats;

/// application_name of the sessions that run the migration (zerodown's executor, and the
/// rehearsal's own session for the SQL as written).
pub const MIGRATION_APPS: [&str; 2] = [zerodown_pg::RUNNER_APP_NAME, AS_WRITTEN_APP];
pub const AS_WRITTEN_APP: &str = "zerodown rehearse";

/// How often pg_locks is read: locks held for less than this may go unseen.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// A lock seen: its name as the server shows it, ranked by strength within its engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Held {
    pub rank: u8,
    pub name: &'static str,
}

impl Held {
    fn pg(mode: LockMode) -> Held {
        Held {
            rank: mode as u8,
            name: mode.pg_locks_name(),
        }
    }
}

/// One reading of the server's locks (pg_locks, or MySQL's metadata locks).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// The strongest lock the migration's sessions hold on the watched tables.
    pub holding: Option<Held>,
    /// The strongest lock they wait for.
    pub waiting: Option<Held>,
    /// Other sessions waiting for a lock on the watched tables.
    pub clients_waiting: u32,
}

pub struct LockWatch {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<Vec<Sample>, tokio_postgres::Error>>,
}

const LOCKS_SQL: &str = "
    SELECT a.application_name = ANY($2) AS migration, l.mode, l.granted
      FROM pg_catalog.pg_locks l
      JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'relation'
       AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
       AND l.relation = ANY($1)
       AND l.pid <> pg_catalog.pg_backend_pid()";

/// Starts sampling the locks on `tables` (their oids) over `client`.
pub async fn start(client: Client, tables: Vec<u32>) -> Result<LockWatch, tokio_postgres::Error> {
    let stmt = client.prepare(LOCKS_SQL).await?;
    let apps: Vec<&'static str> = MIGRATION_APPS.to_vec();
    let (stop, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !*rx.borrow_and_update() {
            tokio::select! {
                _ = tick.tick() => {}
                _ = rx.changed() => break,
            }
            let at = Instant::now();
            let rows = client.query(&stmt, &[&tables, &apps]).await?;
            let mut s = Sample {
                at,
                holding: None,
                waiting: None,
                clients_waiting: 0,
            };
            for r in rows {
                let mode = LockMode::from_pg_locks_name(r.get::<_, &str>(1)).map(Held::pg);
                let (migration, granted): (bool, bool) = (r.get(0), r.get(2));
                match (migration, granted) {
                    (true, true) => s.holding = s.holding.max(mode),
                    (true, false) => s.waiting = s.waiting.max(mode),
                    (false, false) => s.clients_waiting += 1,
                    (false, true) => {}
                }
            }
            samples.push(s);
        }
        Ok(samples)
    });
    Ok(LockWatch { stop, task })
}

impl LockWatch {
    pub async fn stop(self) -> Result<Vec<Sample>, String> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("watching pg_locks: {e}"))
    }
}

/// The oids of the tables that exist among `names` (`schema.table`).
pub async fn table_oids(
    client: &Client,
    names: &[String],
) -> Result<Vec<u32>, tokio_postgres::Error> {
    let mut oids = Vec::new();
    for n in names {
        let row = client
            .query_one("SELECT to_regclass($1)::oid", &[n])
            .await?;
        if let Some(oid) = row.get::<_, Option<u32>>(0) {
            oids.push(oid);
        }
    }
    Ok(oids)
}

/// Whether pg_stat_statements can be read in this database (the extension is created
/// when the library is preloaded).
pub async fn enable_statements(client: &Client) -> bool {
    let preloaded = client
        .query_one("SELECT current_setting('shared_preload_libraries')", &[])
        .await
        .is_ok_and(|r| r.get::<_, String>(0).contains("pg_stat_statements"));
    preloaded
        && client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .is_ok()
}

/// The busiest statements since the last call in this database (the top 5 by total time,
/// leaving out the rehearsal's own queries), then a reset, so each phase counts its own.
pub async fn statements_since_last(
    client: &Client,
    phase: &str,
) -> Result<Vec<StatementStats>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT query, calls, mean_exec_time, max_exec_time, total_exec_time
               FROM pg_stat_statements
              WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                AND query NOT LIKE '%pg_locks%' AND query NOT LIKE '%pg_stat_statements%'
              ORDER BY total_exec_time DESC LIMIT 5",
            &[],
        )
        .await?;
    client
        .batch_execute("SELECT pg_stat_statements_reset()")
        .await?;
    Ok(rows
        .iter()
        .map(|r| StatementStats {
            phase: phase.to_owned(),
            query: r.get::<_, String>(0).chars().take(300).collect(),
            calls: r.get(1),
            mean_ms: r.get(2),
            max_ms: r.get(3),
            total_ms: r.get(4),
        })
        .collect())
}
