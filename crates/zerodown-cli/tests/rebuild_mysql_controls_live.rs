//! The operator's controls reach the online rebuild's copy (on a throwaway MariaDB with
//! a row binary log): `apply --max-rows-per-sec` caps it, `zerodown pause` holds it and
//! `unpause` lets it go on, `zerodown abort` stops it mid-copy with the table unchanged.
//! Before, the copy heard none of them: an abort waited for the whole copy.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{
    app_tables, control, exit_by, migration, mysql_app_t, mysql_qty_type, mysql_rows_copied,
    zerodown,
};
use mysql_async::Conn;
use zerodown_mysql::server::Server;

const ROWS: u64 = 200_000;
const CAP: u64 = 20_000;

/// Rows copied per second over `window`.
async fn copy_rate(c: &mut Conn, window: Duration) -> f64 {
    let (a, t0) = (mysql_rows_copied(c).await, Instant::now());
    tokio::time::sleep(window).await;
    let b = mysql_rows_copied(c).await;
    b.saturating_sub(a) as f64 / t0.elapsed().as_secs_f64()
}

fn stderr_of(child: Child) -> String {
    child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_pause_and_abort_reach_the_online_copy() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_app_t(&server, ROWS).await;
    let url = server.url("app");
    let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    let cap = CAP.to_string();
    let mut run = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
        .args(["--max-rows-per-sec", &cap])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(30);
    while mysql_rows_copied(&mut c).await == 0 {
        if Instant::now() > deadline || run.try_wait().expect("wait").is_some() {
            panic!("the copy did not start: {}", stderr_of(run));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Uncapped, 200,000 rows take well under a second here; capped, 10 s.
    let capped = copy_rate(&mut c, Duration::from_secs(2)).await;
    // One chunk (a fifth of the cap) of slack on top of it.
    let bound = CAP as f64 * 1.1 + (CAP / 5) as f64;
    assert!(
        capped > 0.0 && capped <= bound,
        "capped at {CAP} rows/s, copied {capped:.0} rows/s"
    );

    let (code, said) = control(&["pause"], &url);
    assert_eq!(code, Some(0), "{said}");
    // The chunk under way ends; then nothing more is copied.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let paused = copy_rate(&mut c, Duration::from_millis(1500)).await;
    assert_eq!(paused, 0.0, "paused, the copy went on");

    let (code, said) = control(&["unpause"], &url);
    assert_eq!(code, Some(0), "{said}");
    let resumed = copy_rate(&mut c, Duration::from_millis(1500)).await;
    assert!(resumed > 0.0, "unpaused, the copy did not go on");
    let before_abort = mysql_rows_copied(&mut c).await;
    assert!(before_abort < ROWS, "the copy ended too soon for the test");

    // A running migration is asked to stop (exit 5); it stops within a chunk.
    let (code, said) = control(&["abort"], &url);
    assert_eq!(code, Some(5), "{said}");
    let ended = exit_by(&mut run, Instant::now() + Duration::from_secs(10)).await;
    let at_stop = mysql_rows_copied(&mut c).await;
    let stderr = stderr_of(run);
    assert!(
        ended.is_some_and(|s| !s.success()),
        "the run stopped on the abort ({ended:?}): {stderr}"
    );
    assert!(
        stderr.contains("abort requested during the copy"),
        "{stderr}"
    );
    assert!(at_stop < ROWS, "stopped mid-copy ({at_stop} rows copied)");
    // The run said so when the pause took effect and when it ended.
    let paused_at = stderr.find("      paused (zerodown unpause");
    let unpaused_at = stderr.find("      unpaused");
    assert!(
        paused_at.is_some() && paused_at < unpaused_at,
        "the pause and its end are reported: {stderr}"
    );

    // The second abort undoes: the shadow goes, the table is as it was.
    let (code, said) = control(&["abort"], &url);
    assert_eq!(code, Some(0), "{said}");
    let tables = app_tables(&mut c).await;
    assert_eq!(tables, ["t"], "no leftovers");
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("int"));
}
