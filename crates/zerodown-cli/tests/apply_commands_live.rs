//! apply --dry-run, JSON event lines, refusal before any DDL, and abort with undo.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{migration, zerodown};
use zerodown_testkit::{connect, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_json_events_and_refusal_before_any_ddl() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "cmds").await;
    let db = tdb.connect().await;
    db.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 5000) g;
         CREATE TABLE nokey (v text); INSERT INTO nokey SELECT 'v' FROM generate_series(1, 5000); ANALYZE;",
    )
    .await
    .expect("setup");
    let url = tdb.url();
    let m = migration("ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();");
    let path = m.path().to_str().expect("utf8").to_owned();

    let dry = zerodown()
        .args(["apply", &path, "--database-url", &url, "--dry-run"])
        .output()
        .expect("dry");
    let state_after_dry: bool = db
        .query_one("SELECT to_regclass('zerodown.migrations') IS NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c')", &[])
        .await
        .expect("q")
        .get(0);

    let run = zerodown()
        .args([
            "apply",
            &path,
            "--database-url",
            &url,
            "--yes",
            "--log-format",
            "json",
        ])
        .output()
        .expect("run");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();

    let nk = migration("ALTER TABLE nokey ADD COLUMN c uuid DEFAULT gen_random_uuid();");
    let refused = zerodown()
        .args([
            "apply",
            nk.path().to_str().expect("utf8"),
            "--database-url",
            &url,
            "--yes",
        ])
        .output()
        .expect("nokey");
    let untouched: bool = db
        .query_one("SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'nokey'::regclass AND attname = 'c')", &[])
        .await
        .expect("q")
        .get(0);
    drop(db);
    tdb.drop(&admin).await;

    assert_eq!(dry.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("[backfill]"));
    assert!(
        state_after_dry,
        "a dry run changes nothing, not even the state schema"
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    for k in [
        "step_started",
        "backfill_started",
        "batch",
        "step_done",
        "finished",
        "report",
    ] {
        assert!(kinds.contains(&k), "{k} missing in {kinds:?}");
    }
    assert!(lines
        .iter()
        .all(|l| l["event"] == "report" || l["ts"].as_u64().is_some()));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(6), "{err}");
    assert!(
        err.contains("has no primary key") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(untouched, "refused before the first DDL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_stops_a_running_migration_then_undoes_it() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "abort").await;
    let db = tdb.connect().await;
    db.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100000) g; ANALYZE t;")
        .await
        .expect("setup");
    let url = tdb.url();
    let m = migration("ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();");
    let path = m.path().to_str().expect("utf8").to_owned();
    let running = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait until the backfill has started, then pause it so the abort lands mid-run.
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let started = db
            .query_one("SELECT to_regclass('zerodown.steps') IS NOT NULL AND EXISTS (SELECT 1 FROM zerodown.steps WHERE kind = 'backfill' AND status = 'running')", &[])
            .await
            .map(|r| r.get::<_, bool>(0))
            .unwrap_or(false);
        if started {
            break;
        }
    }
    let first = zerodown()
        .args(["abort", "--database-url", &url])
        .output()
        .expect("abort");
    let out = tokio::task::spawn_blocking(move || running.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let second = zerodown()
        .args(["abort", "--database-url", &url])
        .output()
        .expect("abort again");
    let (gone, status): (bool, String) = {
        let r = db
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c' AND NOT attisdropped),
                        (SELECT status FROM zerodown.migrations)",
                &[],
            )
            .await
            .expect("q");
        (r.get(0), r.get(1))
    };
    drop(db);
    tdb.drop(&admin).await;

    assert_eq!(
        first.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("running elsewhere"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "the running apply stops: {err}");
    assert!(err.contains("aborted on request"), "{err}");
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(gone, "the added column was dropped by the undo");
    assert_eq!(status, "aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ctrl_c_stops_cleanly_and_resume_finishes() {
    stops_cleanly_on("-INT").await;
}

/// SIGTERM (systemd, Kubernetes, `kill`) and SIGHUP (the terminal closed) stop a run as
/// Ctrl-C does: cleanly, resumable. Before, they killed it mid-batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_and_sighup_stop_cleanly_as_ctrl_c_does() {
    stops_cleanly_on("-TERM").await;
    stops_cleanly_on("-HUP").await;
}

async fn stops_cleanly_on(sig: &str) {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "signal").await;
    let db = tdb.connect().await;
    db.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100000) g; ANALYZE;",
    )
    .await
    .expect("setup");
    let url = tdb.url();
    let m = migration("ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();");
    let path = m.path().to_str().expect("utf8").to_owned();
    // Capped: the backfill lasts 5 s, so the signal lands inside it.
    let run = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .args(["--max-rows-per-sec", "20000"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let under_way = "SELECT to_regclass('zerodown.steps') IS NOT NULL AND EXISTS (SELECT 1 FROM zerodown.steps WHERE kind = 'backfill' AND rows_done > 0)";
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Fails until the state schema exists.
        if db
            .query_one(under_way, &[])
            .await
            .is_ok_and(|r| r.get::<_, bool>(0))
        {
            break;
        }
    }
    let signal = std::process::Command::new("kill")
        .args([sig, &run.id().to_string()])
        .status()
        .expect("kill");
    let out = tokio::task::spawn_blocking(move || run.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let stopped = db
        .query_one(
            "SELECT m.status, (SELECT count(*) FROM t WHERE c IS NULL) FROM zerodown.migrations m",
            &[],
        )
        .await
        .expect("state");
    let (status, nulls_then): (String, i64) = (stopped.get(0), stopped.get(1));
    // resume takes apply's run options.
    let resume = zerodown()
        .args(["resume", "--database-url", &url])
        .args(["--max-rows-per-sec", "1000000", "--log-format", "json"])
        .output()
        .expect("resume");
    let (nulls, rate): (i64, Option<i32>) = {
        let r = db
            .query_one(
                "SELECT (SELECT count(*) FROM t WHERE c IS NULL), (SELECT max_rows_per_sec FROM zerodown.migrations)",
                &[],
            )
            .await
            .expect("nulls");
        (r.get(0), r.get(1))
    };
    drop(db);
    tdb.drop(&admin).await;

    let err = String::from_utf8_lossy(&out.stderr);
    assert!(signal.success());
    assert_eq!(out.status.code(), Some(5), "{sig}: {err}");
    assert!(
        err.contains("stopping after the current batch or step"),
        "{err}"
    );
    assert!(err.contains("interrupted before step"), "{err}");
    assert_eq!(status, "stopped");
    assert!(nulls_then > 0, "stopped mid-backfill");
    assert_eq!(
        resume.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    assert_eq!(nulls, 0);
    assert_eq!(rate, Some(1_000_000), "--max-rows-per-sec taken by resume");
    assert!(
        String::from_utf8_lossy(&resume.stdout).contains("\"event\":\"report\""),
        "--log-format json taken by resume"
    );
}
