//! The library's front door against the real servers: plan, apply, status, resume and
//! abort called from Rust as an embedding program calls them, no CLI in between.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use zerodown::control::{self, Aborted};
use zerodown::exec::events::Collect;
use zerodown::exec::{Event, EventSink};
use zerodown::input::{from_text, FileTransaction};
use zerodown::{Error, PlanRequest, RunEnd, RunOptions};

use common::{plan_and_apply, request};
use tokio_postgres::Client;
use zerodown_testkit::{connect, MyTestDatabase, TestDatabase};

/// A database of its own for one test, made with `setup`: the admin client (to drop it
/// at the end), the database, and a client of it.
async fn database_with(tag: &str, setup: &str) -> (Client, TestDatabase, Client) {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, tag).await;
    let db = tdb.connect().await;
    db.batch_execute(setup).await.expect("setup");
    (admin, tdb, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_migration_planned_applied_and_recorded_through_the_library() {
    let (admin, tdb, db) = database_with(
        "lib",
        "CREATE TABLE t (id bigint PRIMARY KEY, name text);
         INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5000) g;",
    )
    .await;
    let url = tdb.url();
    let sql = "ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT md5(random()::text);";

    let planned = zerodown::plan(request(&url, sql)).await.expect("plan");
    assert_eq!(planned.meta.source, "live");
    assert!(planned.outcome.plan.safe, "{}", planned.text());
    assert!(planned.text().contains("backfill"), "{}", planned.text());

    let mut events = Collect::default();
    let mut notices = Vec::new();
    let mut note = |t: &str| notices.push(t.to_owned());
    let ended = zerodown::apply(&planned, &RunOptions::default(), &mut events, &mut note)
        .await
        .expect("apply");
    let RunEnd::Done(report) = ended else {
        panic!("not run: {ended:?}")
    };
    assert_eq!(report.rows_backfilled, 5000);
    assert!(
        notices.iter().any(|n| n.starts_with("applying migration")),
        "{notices:?}"
    );
    assert!(!events.0.is_empty());
    let nulls: i64 = db
        .query_one("SELECT count(*) FROM t WHERE c IS NULL", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(nulls, 0);

    let recorded = control::status(&url).await.expect("status");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, "completed");
    // The same migration again: recorded as applied, nothing runs.
    let again = zerodown::apply(
        &planned,
        &RunOptions::default(),
        &mut events,
        &mut |_: &str| {},
    )
    .await
    .expect("apply again");
    assert!(matches!(again, RunEnd::AlreadyApplied));
    // Nothing is left to resume or abort: bad input, named.
    let none = zerodown::resume(
        &url,
        None,
        &RunOptions::default(),
        &mut events,
        &mut |_: &str| {},
    )
    .await
    .expect_err("nothing to resume");
    assert!(
        matches!(none, Error::Input(ref m) if m.contains("no unfinished migration")),
        "{none}"
    );

    drop(db);
    tdb.drop(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sql_and_unknown_tables_are_errors_with_their_place_and_nothing_runs() {
    let offline = zerodown::plan(PlanRequest {
        sources: from_text(
            "bad.sql",
            "ALTER TABLE t ADD COLUMN;",
            FileTransaction::Auto,
        ),
        ..Default::default()
    })
    .await
    .expect_err("syntax error");
    let Error::Sql {
        diagnostics,
        message,
    } = offline
    else {
        panic!("{offline}")
    };
    assert_eq!(diagnostics[0].span.line, 1);
    assert!(message.contains("bad.sql:1:"), "{message}");

    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "libbad").await;
    let live = zerodown::plan(request(
        &tdb.url(),
        "\nALTER TABLE missing ADD COLUMN a int;",
    ))
    .await
    .expect_err("unknown table");
    assert!(
        matches!(&live, Error::Sql { diagnostics, .. } if diagnostics[0].span.line == 2),
        "{live}"
    );
    tdb.drop(&admin).await;
}

/// Stops the run (as Ctrl-C does) once its first step is done.
struct StopAfterFirstStep(Arc<AtomicBool>);

impl EventSink for StopAfterFirstStep {
    fn emit(&mut self, event: &Event) {
        if matches!(event, Event::StepDone { .. }) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_migration_stopped_after_a_step_then_aborted_undoes_that_step() {
    let tdb = MyTestDatabase::create("lib").await;
    let mut c = tdb.connect().await;
    c.query_drop(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('n', seq) FROM seq_1_to_1000;
         ANALYZE TABLE t;",
    )
    .await
    .expect("setup");
    let url = tdb.url();
    let planned = zerodown::plan(request(
        &url,
        "ALTER TABLE t ADD COLUMN note VARCHAR(40);\nALTER TABLE t ADD INDEX k_name (name);",
    ))
    .await
    .expect("plan");
    assert_eq!(planned.profile.engine.to_string(), "mariadb");
    assert_eq!(
        planned.outcome.plan.steps().count(),
        2,
        "{}",
        planned.text()
    );
    let opts = RunOptions::default();
    let mut sink = StopAfterFirstStep(opts.interrupt.clone());
    let stopped = zerodown::apply(&planned, &opts, &mut sink, &mut |_: &str| {})
        .await
        .expect_err("interrupted");
    assert!(matches!(stopped, Error::Stopped(_)), "{stopped}");
    let column = "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'note'";
    let added: Option<u64> = c.query_first(column).await.expect("column");
    assert_eq!(added, Some(1), "the first step ran");

    let mut undone = Vec::new();
    let aborted = control::abort(&url, None, &mut |t: &str| undone.push(t.to_owned()))
        .await
        .expect("abort");
    assert!(
        matches!(aborted, Aborted::Undone { steps: 1, .. }),
        "{aborted:?}"
    );
    assert!(
        undone.iter().any(|t| t.starts_with("undoing step 1")),
        "{undone:?}"
    );
    let left: Option<u64> = c.query_first(column).await.expect("column");
    assert_eq!(left, Some(0), "the column zerodown added is gone");
    let status = control::status(&url).await.expect("status");
    assert_eq!(status[0].status, "aborted");
    drop(c);
    tdb.drop().await;
}

/// Applies a plan whose step fails (its index name is taken), then aborts it.
async fn apply_fails_then_abort(planned: &zerodown::Planned, url: &str) {
    let failed = zerodown::apply(
        planned,
        &RunOptions::default(),
        &mut Collect::default(),
        &mut |_: &str| {},
    )
    .await
    .expect_err("the index name is taken");
    assert!(matches!(failed, Error::StepFailed(_)), "{failed}");
    control::abort(url, None, &mut |_: &str| {})
        .await
        .expect("abort");
}

/// A step that failed did nothing of zerodown's: abort must not run its undo. Here the
/// user's index of the same name, made between the plan and the run, is kept, on
/// PostgreSQL and on MariaDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_never_undoes_a_step_that_failed() {
    let (admin, tdb, db) = database_with(
        "libfail",
        "CREATE TABLE t (id bigint PRIMARY KEY, c int);
         INSERT INTO t SELECT g, g FROM generate_series(1, 100) g;",
    )
    .await;
    let url = tdb.url();
    let planned = zerodown::plan(request(&url, "CREATE INDEX t_c_idx ON t (c);"))
        .await
        .expect("plan");
    // Made by someone else between the plan and the run.
    db.batch_execute("CREATE INDEX t_c_idx ON t (c)")
        .await
        .expect("the user's index");
    apply_fails_then_abort(&planned, &url).await;
    let kept: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 't_c_idx'",
            &[],
        )
        .await
        .expect("indexes")
        .get(0);
    assert_eq!(kept, 1, "the user's index is still there");
    drop(db);
    tdb.drop(&admin).await;

    let tdb = MyTestDatabase::create("libfail").await;
    let mut c = tdb.connect().await;
    c.query_drop(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('n', seq) FROM seq_1_to_1000;",
    )
    .await
    .expect("setup");
    let url = tdb.url();
    let planned = zerodown::plan(request(&url, "ALTER TABLE t ADD INDEX k_name (name);"))
        .await
        .expect("plan");
    c.query_drop("ALTER TABLE t ADD INDEX k_name (name)")
        .await
        .expect("the user's index");
    apply_fails_then_abort(&planned, &url).await;
    let index = "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND INDEX_NAME = 'k_name'";
    let kept: Option<u64> = c.query_first(index).await.expect("index");
    assert_eq!(kept, Some(1), "the user's index is still there");
    drop(c);
    tdb.drop().await;
}

/// With two unfinished migrations, abort without an id would pick the newest one,
/// which may not be the one meant: it refuses and names them; with an id it aborts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_without_an_id_refuses_when_two_migrations_are_unfinished() {
    let (admin, tdb, db) = database_with("libtwo", "CREATE TABLE t (id bigint PRIMARY KEY)").await;
    let url = tdb.url();
    let mut ids = Vec::new();
    for (name, sql) in [
        ("a.sql", "ALTER TABLE t ADD COLUMN a int;"),
        ("b.sql", "ALTER TABLE t ADD COLUMN b int;"),
    ] {
        let planned = zerodown::plan(PlanRequest {
            sources: from_text(name, sql, FileTransaction::Auto),
            database_url: Some(url.clone()),
            ..Default::default()
        })
        .await
        .expect("plan");
        let opts = RunOptions::default();
        opts.interrupt.store(true, Ordering::Relaxed);
        let stopped = zerodown::apply(&planned, &opts, &mut Collect::default(), &mut |_: &str| {})
            .await
            .expect_err("interrupted");
        assert!(matches!(stopped, Error::Stopped(_)), "{stopped}");
        ids.push(zerodown::core::migrations::identity(&planned.sources).0);
    }
    let refused = control::abort(&url, None, &mut |_: &str| {})
        .await
        .expect_err("ambiguous");
    assert!(
        matches!(&refused, Error::Input(m) if ids.iter().all(|id| m.contains(id.as_str()))),
        "{refused}"
    );
    let aborted = control::abort(&url, Some(&ids[0]), &mut |_: &str| {})
        .await
        .expect("abort a");
    assert!(
        matches!(aborted, Aborted::Undone { ref id, .. } if *id == ids[0]),
        "{aborted:?}"
    );
    // One left: abort without an id takes it.
    let aborted = control::abort(&url, None, &mut |_: &str| {})
        .await
        .expect("abort b");
    assert!(
        matches!(aborted, Aborted::Undone { ref id, .. } if *id == ids[1]),
        "{aborted:?}"
    );
    drop(db);
    tdb.drop(&admin).await;
}

/// `apply` of a migration that stopped midway resumes its stored plan, as `resume`
/// does: it never plans the half-migrated schema again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_again_after_a_stop_runs_the_stored_plan() {
    let (admin, tdb, db) = database_with(
        "libagain",
        "CREATE TABLE t (id bigint PRIMARY KEY);
         INSERT INTO t SELECT g FROM generate_series(1, 3000) g;
         ANALYZE t;",
    )
    .await;
    let url = tdb.url();
    let sql = "ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();";
    let planned = zerodown::plan(request(&url, sql)).await.expect("plan");
    let steps = planned.outcome.plan.steps().count();
    assert!(steps > 2, "{}", planned.text());
    let opts = RunOptions::default();
    let mut sink = StopAfterFirstStep(opts.interrupt.clone());
    let stopped = zerodown::apply(&planned, &opts, &mut sink, &mut |_: &str| {})
        .await
        .expect_err("stopped after its first step");
    assert!(matches!(stopped, Error::Stopped(_)), "{stopped}");
    // As a team re-running its deploy would: the same file, planned again (here with
    // other batches, which tells the two plans apart) and applied.
    let mut changed = request(&url, sql);
    changed.options.batch_size = 150;
    let again = zerodown::plan(changed).await;
    let mut notices = Vec::new();
    let mut events = Collect::default();
    let ended = match &again {
        Ok(planned) => zerodown::apply(
            planned,
            &RunOptions::default(),
            &mut events,
            &mut |t: &str| notices.push(t.to_owned()),
        )
        .await
        .map_err(|e| e.to_string()),
        Err(e) => Err(format!("planning again: {e}")),
    };
    let Ok(RunEnd::Done(report)) = ended else {
        panic!("not resumed: {ended:?}")
    };
    assert!(
        notices.iter().any(|n| n.starts_with("resuming migration")),
        "{notices:?}"
    );
    assert_eq!(
        report.steps.len(),
        steps - 1,
        "the stored plan's other steps: {report:?}"
    );
    assert_eq!(report.rows_backfilled, 3000);
    let first_batch = events.0.iter().find_map(|e| match e {
        Event::Batch { batch_size, .. } => Some(*batch_size),
        _ => None,
    });
    assert_eq!(
        first_batch,
        planned
            .outcome
            .plan
            .steps()
            .find_map(|s| s.backfill.as_ref().map(|b| b.batch_size)),
        "the stored plan's batches, not the new plan's"
    );
    let nulls: i64 = db
        .query_one("SELECT count(*) FROM t WHERE c IS NULL", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(nulls, 0);
    drop(db);
    tdb.drop(&admin).await;
}

/// Planning refuses an ADD COLUMN of a column the live table has (the server would). A
/// file zerodown recorded is another matter: run again, its stored plan is what counts,
/// and it is already applied, not bad input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_migration_is_not_refused_for_the_names_it_made() {
    let (admin, tdb, db) =
        database_with("recorded", "CREATE TABLE t (id bigint PRIMARY KEY, c int);").await;
    drop(db);
    let url = tdb.url();
    let sql = "ALTER TABLE t ADD COLUMN d int;\nCREATE INDEX t_d ON t (d);";
    let first = plan_and_apply(&url, sql).await;
    let again = plan_and_apply(&url, sql).await;
    // The same names, in a file zerodown never ran: refused with the line.
    let other = plan_and_apply(&url, &format!("{sql}\n-- another file")).await;
    tdb.drop(&admin).await;
    assert!(matches!(first, Ok(RunEnd::Done(_))), "{first:?}");
    assert!(matches!(again, Ok(RunEnd::AlreadyApplied)), "{again:?}");
    match other {
        Err(Error::Sql { message, .. }) => {
            assert!(message.contains("column d already exists"), "{message}")
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// A DO block commits as a whole: when its second statement fails on the server, its
/// first left nothing behind (it was planned as phases that commit apart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_do_block_runs_as_one_transaction() {
    let (admin, tdb, db) = database_with(
        "doblock",
        "CREATE TABLE t (id bigint PRIMARY KEY, c int NOT NULL);
         INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g;",
    )
    .await;
    let url = tdb.url();
    let sql = "DO $$\nBEGIN\n  ALTER TABLE t ADD COLUMN d int;\n  UPDATE t SET c = c / (c - 4000);\nEND\n$$;";
    let result = plan_and_apply(&url, sql).await;
    let added: i64 = db
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'd'",
            &[],
        )
        .await
        .expect("columns")
        .get(0);
    drop(db);
    tdb.drop(&admin).await;
    assert!(matches!(result, Err(Error::StepFailed(_))), "{result:?}");
    assert_eq!(
        added, 0,
        "the DO block's ADD COLUMN outlived its failed UPDATE"
    );
}

/// Once the walk over the keys is done, a backfill checks that no row still needs it:
/// a row the walk missed (here a trigger that keeps one row's new column empty) makes
/// the step fail, where `apply` once ended well with rows left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_that_left_a_row_behind_fails() {
    let (admin, tdb, db) = database_with(
        "leftbehind",
        "CREATE TABLE t (id bigint PRIMARY KEY, v int);
         INSERT INTO t SELECT g, g FROM generate_series(1, 3000) g;
         CREATE FUNCTION keep_empty() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN IF NEW.id = 7 THEN NEW.c := NULL; END IF; RETURN NEW; END $$;
         CREATE TRIGGER keep_empty BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION keep_empty();
         ANALYZE t;",
    )
    .await;
    let url = tdb.url();
    let result = plan_and_apply(
        &url,
        "ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();",
    )
    .await;
    let empty: i64 = db
        .query_one("SELECT count(*) FROM t WHERE c IS NULL", &[])
        .await
        .expect("count")
        .get(0);
    drop(db);
    tdb.drop(&admin).await;
    assert_eq!(empty, 1, "the trigger keeps row 7 empty");
    match result {
        Err(Error::StepFailed(message)) => {
            assert!(message.contains("still need"), "{message}")
        }
        other => panic!("a row left behind went unnoticed: {other:?}"),
    }
}

/// MariaDB keeps zerodown's state server-wide (`_zerodown`, by database name): after the
/// database is dropped and made again (a staging reset, a restore), the record of a
/// completed migration no longer matches it. Applying the file again must not say
/// "already applied" while nothing of it is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_record_the_database_no_longer_shows_is_not_believed() {
    let tdb = MyTestDatabase::create("reset").await;
    let schema = "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR(20));
                  INSERT INTO t SELECT seq, 'n' FROM seq_1_to_100;";
    let mut c = tdb.connect().await;
    c.query_drop(schema).await.expect("setup");
    let url = tdb.url();
    let sql = "ALTER TABLE t ADD COLUMN note VARCHAR(40);";
    let first = plan_and_apply(&url, sql).await.expect("apply");
    assert!(matches!(first, RunEnd::Done(_)), "{first:?}");
    // The database made again, as it was before the migration; zerodown's state stays.
    drop(c);
    let mut admin = zerodown_testkit::my_admin().await;
    admin
        .query_drop(format!(
            "DROP DATABASE `{0}`; CREATE DATABASE `{0}`; USE `{0}`; {schema}",
            tdb.name
        ))
        .await
        .expect("reset");
    drop(admin);
    let again = plan_and_apply(&url, sql).await;
    let mut c = tdb.connect().await;
    let column: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'note'")
        .await
        .expect("column");
    drop(c);
    tdb.drop().await;
    match again {
        Err(Error::Input(message)) => {
            assert!(message.contains("does not show"), "{message}");
            assert_eq!(column, Some(0));
        }
        other => panic!("believed the record: {other:?}; column present: {column:?}"),
    }
}

/// Names with a dot, a quote or a capital in them keep pointing at their own table: a
/// schema `a.b` with a table `c` was sent as `"a"."b.c"`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_dots_and_quotes_reach_their_own_table() {
    let (admin, tdb, db) = database_with(
        "names",
        r#"CREATE SCHEMA "a.b";
           CREATE TABLE "a.b"."c" (id bigint PRIMARY KEY, v int);
           INSERT INTO "a.b"."c" SELECT g, g FROM generate_series(1, 3000) g;
           CREATE TABLE "we""ird.T" (id bigint PRIMARY KEY, v int);
           INSERT INTO "we""ird.T" SELECT g, g FROM generate_series(1, 3000) g;
           ANALYZE;"#,
    )
    .await;
    let url = tdb.url();
    let sql = r#"ALTER TABLE "a.b".c ADD COLUMN d text NOT NULL DEFAULT md5(random()::text);
                 ALTER TABLE "we""ird.T" ADD COLUMN d text NOT NULL DEFAULT md5(random()::text);"#;
    let result = plan_and_apply(&url, sql).await;
    let filled: Vec<i64> = {
        let mut out = Vec::new();
        for t in [r#""a.b"."c""#, r#""we""ird.T""#] {
            out.push(
                db.query_one(&format!("SELECT count(d) FROM {t}"), &[])
                    .await
                    .map_or(-1, |r| r.get(0)),
            );
        }
        out
    };
    drop(db);
    tdb.drop(&admin).await;
    result.expect("planned and applied");
    assert_eq!(filled, [3000, 3000]);
}

/// On an empty MariaDB table the ALTER steps run in place (nothing to copy); abort must
/// still take back the column zerodown added, and must not call a step undone when it
/// is not (before: "1 step undone", and the column stayed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_an_empty_mariadb_table_removes_the_added_column() {
    let tdb = MyTestDatabase::create("emptyabort").await;
    let mut c = tdb.connect().await;
    c.query_drop("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR(20));")
        .await
        .expect("setup");
    let url = tdb.url();
    let planned = zerodown::plan(request(
        &url,
        "ALTER TABLE t ADD COLUMN note VARCHAR(40);\nALTER TABLE t ADD INDEX k_name (name);",
    ))
    .await
    .expect("plan");
    let opts = RunOptions::default();
    let mut sink = StopAfterFirstStep(opts.interrupt.clone());
    let _ = zerodown::apply(&planned, &opts, &mut sink, &mut |_: &str| {}).await;
    let column = "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'note'";
    let added: Option<u64> = c.query_first(column).await.expect("column");
    let aborted = control::abort(&url, None, &mut |_: &str| {}).await;
    let left: Option<u64> = c.query_first(column).await.expect("column");
    drop(c);
    tdb.drop().await;
    assert_eq!(added, Some(1), "the first step ran");
    assert!(
        matches!(aborted, Ok(Aborted::Undone { steps: 1, .. })),
        "{aborted:?}"
    );
    assert_eq!(left, Some(0), "the column zerodown added is gone");
}
