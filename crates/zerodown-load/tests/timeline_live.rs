//! The workload's numbers against delays we cause on purpose: every operation sleeps
//! 20 ms on the server, and once the table is locked for 400 ms from another session. The
//! percentiles, the per-second counts and the worst stall (how long, when) must show them.

use std::time::Duration;

use zerodown_load::{Op, Spec};
use zerodown_testkit::{connect, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn latencies_per_second_and_the_worst_stall_match_injected_delays() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "load").await;
    let db = tdb.connect().await;
    db.batch_execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);")
        .await
        .expect("setup");
    let spec = Spec {
        conn: tdb.url(),
        clients: 2,
        ops: vec![Op {
            name: "read".into(),
            sql: "SELECT pg_sleep(0.02), (SELECT count(*) FROM t)".into(),
            weight: 1,
            fresh_keys: false,
        }],
        keys: 1,
        think: None,
    };
    let run = zerodown_load::start(spec).await.expect("start");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let locker = tdb.connect().await;
    let named: i64 = locker
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
            &[&zerodown_load::APP_NAME],
        )
        .await
        .expect("activity")
        .get(0);
    assert_eq!(named, 2, "each client names itself");
    run.set_phase(1);
    locker
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;")
        .await
        .expect("lock");
    tokio::time::sleep(Duration::from_millis(400)).await;
    locker.batch_execute("COMMIT").await.expect("unlock");
    tokio::time::sleep(Duration::from_millis(100)).await;
    run.set_phase(2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stats = run.stop().await.expect("stop");
    drop((db, locker));
    tdb.drop(&admin).await;

    assert_eq!(stats.errors, 0, "{:?}", stats.error_samples);
    let p50 = stats.percentile_ms(0.5);
    assert!((20.0..30.0).contains(&p50), "p50 {p50} ms for 20 ms sleeps");
    // Whole seconds before the lock: each client does at most 50 sleeps of 20 ms a second.
    let first = &stats.per_second[0];
    assert!(
        (40..=100).contains(&first.ops),
        "ops in second 0: {first:?}"
    );
    assert!(first.max_ms < 200.0, "no stall before the lock: {first:?}");
    let summed: u64 = stats.per_second.iter().map(|s| s.ops).sum();
    assert_eq!(summed, stats.ops, "every operation is in one second");
    let worst = stats.worst.expect("worst");
    assert!(
        worst.latency_ms >= 350.0,
        "the 400 ms lock shows as the worst stall: {worst:?}"
    );
    let began = worst.began_after.as_secs_f64();
    assert!(
        (1.0..1.7).contains(&began),
        "the stall began when the lock was taken (about 1.2 s in): {worst:?}"
    );
    let second = usize::try_from(worst.began_after.as_secs()).expect("second");
    assert!(
        stats.per_second[second].max_ms >= 350.0,
        "the stall is in its second of the timeline: {:?}",
        stats.per_second
    );
    assert!(stats.started_unix_ms > 1_700_000_000_000);

    // Phases split the same operations by when they began: the stall is in phase 1 only.
    let [before, during, after] = stats.per_phase.as_slice() else {
        panic!("three phases: {:?}", stats.per_phase.len());
    };
    assert_eq!(before.ops + during.ops + after.ops, stats.ops);
    assert!(
        during.max_ms() >= 350.0,
        "stall during: {}",
        during.max_ms()
    );
    assert!(before.max_ms() < 200.0 && after.max_ms() < 200.0);
    assert!((20.0..30.0).contains(&before.percentile_ms(0.5)));
}
