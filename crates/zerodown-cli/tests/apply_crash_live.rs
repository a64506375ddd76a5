//! kill -9 `zerodown apply` at random points, then resume: the final table must be
//! identical (data and schema) to a run that was never interrupted.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::Client;
use zerodown_testkit::{connect, TestDatabase};

const ROWS: i64 = 30_000;
/// Runs in the test; `ZERODOWN_CRASH_RUNS` raises it (bench/pg_crash_resume.sh).
fn runs() -> usize {
    std::env::var("ZERODOWN_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Volatile (so it is backfilled) yet deterministic defaults, a data change, a type
/// change with a swap, a constraint and an index: every kind of step.
const MIGRATION: &str = "
ALTER TABLE t ADD COLUMN flag boolean NOT NULL DEFAULT (random() < 2);
UPDATE t SET name = upper(name);
ALTER TABLE t ALTER COLUMN qty TYPE bigint;
ALTER TABLE t ADD CONSTRAINT t_qty_pos CHECK (qty > 0);
CREATE INDEX t_name_idx ON t (name);
";

fn zerodown() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zerodown"));
    c.env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

async fn setup(db: &Client) {
    db.batch_execute(&format!(
        "CREATE TABLE t (id bigserial PRIMARY KEY, name text, qty int);
         INSERT INTO t (name, qty) SELECT 'n' || g, g FROM generate_series(1, {ROWS}) g;
         CREATE INDEX t_qty_idx ON t (qty);
         ANALYZE t;"
    ))
    .await
    .expect("setup");
}

/// Data and shape of the table, and leftovers of zerodown's own objects.
async fn fingerprint(db: &Client) -> String {
    db.query_one(
        "SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM t)
             || ' cols=' || (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod) || ':' || attnotnull, ',' ORDER BY attname)
                               FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped)
             || ' cons=' || (SELECT string_agg(conname || ':' || convalidated, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 't'::regclass)
             || ' idx=' || (SELECT string_agg(c.relname || ':' || i.indisvalid, ',' ORDER BY c.relname)
                              FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 't'::regclass)
             || ' trg=' || (SELECT count(*) FROM pg_trigger WHERE tgrelid = 't'::regclass)
             || ' fn=' || (SELECT count(*) FROM pg_proc WHERE proname LIKE 'zd\\_%')
             || ' status=' || (SELECT string_agg(status, ',') FROM zerodown.migrations)",
        &[],
    )
    .await
    // A failed query is a difference too (shown in the failure list, not a panic).
    .map_or_else(
        |e| format!("fingerprint query failed: {e:?}"),
        |r| {
            r.get::<_, Option<String>>(0)
                .unwrap_or_else(|| "NULL (a part is missing: no rows, no index or no state)".into())
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_then_resume_gives_the_same_table() {
    let admin = connect().await;
    let file = tempfile::Builder::new()
        .suffix(".sql")
        .tempfile()
        .expect("tmp");
    std::fs::write(file.path(), MIGRATION).expect("write");
    let path = file.path().to_str().expect("utf8").to_owned();

    let reference = TestDatabase::create(&admin, "crashref").await;
    let rdb = reference.connect().await;
    setup(&rdb).await;
    let t0 = Instant::now();
    let out = zerodown()
        .args(["apply", &path, "--database-url", &reference.url(), "--yes"])
        .output()
        .expect("apply");
    let full = t0.elapsed();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = fingerprint(&rdb).await;
    drop(rdb);
    reference.drop(&admin).await;

    let mut rng = fastrand::Rng::with_seed(20261121);
    let mut failures = Vec::new();
    let mut killed_mid_run = 0;
    let total = runs();
    for run in 0..total {
        let tdb = TestDatabase::create(&admin, "crash").await;
        let db = tdb.connect().await;
        setup(&db).await;
        let url = tdb.url();
        let mut child = zerodown()
            .args(["apply", &path, "--database-url", &url, "--yes"])
            .spawn()
            .expect("spawn");
        let at = Duration::from_millis(rng.u64(0..=full.as_millis() as u64));
        tokio::time::sleep(at).await;
        if child.try_wait().expect("poll").is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mut done = false;
        for _ in 0..10 {
            let out = zerodown()
                .args(["resume", "--database-url", &url])
                .output()
                .expect("resume");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            match out.status.code() {
                Some(0) => {
                    done = true;
                    break;
                }
                // Killed before the migration was recorded, or after it completed.
                Some(2)
                    if err.contains("no unfinished migration")
                        || err.contains("no zerodown migration") =>
                {
                    let again = zerodown()
                        .args(["apply", &path, "--database-url", &url, "--yes"])
                        .output()
                        .expect("apply");
                    match again.status.code() {
                        Some(0) => {
                            done = true;
                            break;
                        }
                        // Killed just after it took the run lock: wait for the session.
                        Some(7) => tokio::time::sleep(Duration::from_millis(500)).await,
                        other => {
                            failures.push(format!(
                                "run {run} (killed at {at:?}): apply again exited {other:?}: {}",
                                String::from_utf8_lossy(&again.stderr)
                            ));
                            break;
                        }
                    }
                }
                // The killed run's session still holds the run lock until its server
                // backend notices (it may be inside a statement): wait for it.
                Some(7) => tokio::time::sleep(Duration::from_millis(500)).await,
                other => failures.push(format!(
                    "run {run} (killed at {at:?}): resume exited {other:?}: {err}"
                )),
            }
        }
        let got = fingerprint(&db).await;
        if !done || got != want {
            failures.push(format!(
                "run {run} (killed at {at:?}): done={done}\n  want {want}\n  got  {got}"
            ));
        }
        drop(db);
        tdb.drop(&admin).await;
    }
    eprintln!("{total} runs, {killed_mid_run} killed mid-run, full run {full:?}");
    assert!(
        killed_mid_run >= total / 2,
        "most kills must land during the run ({killed_mid_run})"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
