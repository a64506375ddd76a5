//! Least privilege on PostgreSQL: zerodown runs as the database's owner, no superuser
//! (as every live apply test does, through TestDatabase); what a role lacks is found
//! before the first DDL and named with the GRANT that gives it: the right to make the
//! state schema, ownership of an altered table, pg_read_all_stats for
//! --max-threads-running, pg_signal_backend for --kill-blockers. Granted,
//! --max-threads-running holds the backfill while other sessions are busy.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{migration, zerodown};
use zerodown_testkit::{connect, TestDatabase};

fn apply(sql: &str, url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let m = migration(sql);
    let out = zerodown()
        .args([
            "apply",
            m.path().to_str().expect("utf8"),
            "--database-url",
            url,
            "--yes",
        ])
        .args(extra)
        .output()
        .expect("apply");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_privileges_are_named_before_anything_runs() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "privs").await;
    let owner = tdb.name.clone();
    let app = format!("{owner}_app");
    let owner_db = tdb.connect().await;
    owner_db
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, qty int NOT NULL);
             INSERT INTO t SELECT g, 0 FROM generate_series(1, 20000) g; ANALYZE t;",
        )
        .await
        .expect("setup");
    admin
        .batch_execute(&format!("CREATE ROLE \"{app}\" LOGIN"))
        .await
        .expect("app role");
    owner_db
        .batch_execute(&format!("GRANT SELECT, UPDATE, INSERT ON t TO \"{app}\""))
        .await
        .expect("grant");
    let app_url = tdb
        .url()
        .replacen(&format!("://{owner}@"), &format!("://{app}@"), 1);
    let columns = || async {
        let n: i64 = tdb
            .connect()
            .await
            .query_one("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped", &[])
            .await
            .expect("columns")
            .get(0);
        n
    };
    let add = "ALTER TABLE t ADD COLUMN note text;";

    // An application role: may not make zerodown's schema...
    let (code, err) = apply(add, &app_url, &[]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("schema \"zerodown\"") && err.contains("GRANT CREATE ON DATABASE"),
        "{err}"
    );
    // ...and, allowed that, may not alter a table it does not own.
    admin
        .batch_execute(&format!(
            "GRANT CREATE ON DATABASE \"{owner}\" TO \"{app}\""
        ))
        .await
        .expect("grant create");
    let (code, err) = apply(add, &app_url, &[]);
    assert_eq!(code, Some(6), "{err}");
    assert!(
        err.contains("altering public.t needs its owner's rights")
            && err.contains(&format!("GRANT {owner} TO {app}"))
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(columns().await, 2, "nothing ran");
    // The schema the application role made is its own: gone before the owner runs.
    zerodown_pg::connect(&tdb.admin_url())
        .await
        .expect("superuser in the test database")
        .batch_execute(&format!(
            "DROP SCHEMA zerodown CASCADE; REVOKE CREATE ON DATABASE \"{owner}\" FROM \"{app}\""
        ))
        .await
        .expect("clean up");

    // The owner, no superuser: throttles and --kill-blockers need roles it lacks.
    let url = tdb.url();
    let backfill = "ALTER TABLE t ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();";
    let (code, err) = apply(
        backfill,
        &url,
        &[
            "--max-threads-running",
            "1",
            "--kill-blockers",
            "idle-in-transaction",
        ],
    );
    assert_eq!(code, Some(6), "{err}");
    assert!(
        err.contains(&format!("GRANT pg_read_all_stats TO {owner}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("GRANT pg_signal_backend TO {owner}")),
        "{err}"
    );
    assert_eq!(columns().await, 2, "nothing ran");

    // Granted, --max-threads-running counts other roles' active sessions and holds the
    // backfill while three of them run.
    admin
        .batch_execute(&format!("GRANT pg_read_all_stats TO \"{owner}\""))
        .await
        .expect("grant stats");
    let busy: Vec<_> = (0..3)
        .map(|_| {
            let url = tdb.admin_url();
            tokio::spawn(async move {
                let c = zerodown_pg::connect(&url).await.expect("busy session");
                c.batch_execute("SELECT pg_sleep(4)").await.expect("sleep");
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let m = migration(backfill);
    let mut run = zerodown()
        .args([
            "apply",
            m.path().to_str().expect("utf8"),
            "--database-url",
            &url,
            "--yes",
        ])
        .args(["--max-threads-running", "1", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = run.stdout.take().expect("stdout");
    let events: Vec<serde_json::Value> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect()
    })
    .await
    .expect("read");
    let out = run.wait_with_output().expect("wait");
    for b in busy {
        b.await.expect("busy");
    }
    let filled: i64 = tdb
        .connect()
        .await
        .query_one("SELECT count(*) FROM t WHERE token IS NOT NULL", &[])
        .await
        .expect("count")
        .get(0);
    admin
        .batch_execute(&format!("DROP OWNED BY \"{app}\"; DROP ROLE \"{app}\""))
        .await
        .ok();
    tdb.drop(&admin).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        events.iter().any(|e| e["event"] == "throttled"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("sessions running statements"))),
        "held while busy"
    );
    assert_eq!(filled, 20_000);
}
