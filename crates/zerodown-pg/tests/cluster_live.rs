//! Throwaway clusters: start, survive an immediate stop and restart with their data, and
//! leave nothing behind (no server, no folder) once dropped.

use std::path::PathBuf;

use zerodown_pg::cluster::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwaway_cluster_restarts_and_is_removed_when_dropped() {
    let cluster = Cluster::start(&[("max_connections", "20")]).expect("start");
    let url = cluster.url("postgres");
    let c = zerodown_pg::connect(&url).await.expect("connect");
    c.batch_execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42);")
        .await
        .expect("write");
    let max: String = c
        .query_one("SHOW max_connections", &[])
        .await
        .expect("show")
        .get(0);
    let data: String = c
        .query_one("SHOW data_directory", &[])
        .await
        .expect("show")
        .get(0);
    drop(c);

    cluster.stop_immediately().expect("stop");
    assert!(
        zerodown_pg::connect(&url).await.is_err(),
        "the server is down after the stop"
    );
    cluster.restart().expect("restart");
    let c = zerodown_pg::connect(&url).await.expect("reconnect");
    let v: i32 = c
        .query_one("SELECT v FROM kept", &[])
        .await
        .expect("read")
        .get(0);
    drop(c);
    drop(cluster);

    assert_eq!(max, "20", "settings are applied");
    assert_eq!(v, 42, "committed data survives a crash-like stop");
    assert!(
        !PathBuf::from(&data).exists(),
        "the data folder {data} is removed"
    );
    assert!(
        zerodown_pg::connect(&url).await.is_err(),
        "no server is left running"
    );
}
