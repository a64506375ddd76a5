//! Least privilege on MariaDB: a user with every right on its database and on
//! `_zerodown` but none on the binary log. An online rebuild is refused before the first
//! step, naming BINLOG MONITOR, then REPLICATION SLAVE, each with its GRANT, with the
//! table untouched; granted both, it runs. A change that needs no rebuild runs as is.

mod common;

use common::{migration, mysql_definition, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_rebuild_names_the_binlog_privileges_it_lacks() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut admin = zerodown_mysql::connect(&server.url("mysql"))
        .await
        .expect("admin");
    admin
        .query_drop(
            "CREATE DATABASE app;
             CREATE TABLE app.t (id BIGINT PRIMARY KEY, qty INT NOT NULL);
             INSERT INTO app.t SELECT seq, seq FROM seq_1_to_5000;
             CREATE USER migrator@'%' IDENTIFIED BY 'mig';
             GRANT ALL ON app.* TO migrator@'%';
             GRANT ALL ON `\\_zerodown`.* TO migrator@'%';
             GRANT PROCESS ON *.* TO migrator@'%';",
        )
        .await
        .expect("setup");
    let url = format!("mysql://migrator:mig@127.0.0.1:{}/app", server.port);
    let apply = |sql: &str| {
        let m = migration(sql);
        let out = zerodown()
            .args([
                "apply",
                m.path().to_str().expect("utf8"),
                "--database-url",
                &url,
                "--yes",
            ])
            .output()
            .expect("apply");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, err) = apply("ALTER TABLE t ADD COLUMN note VARCHAR(20) NULL;");
    assert_eq!(
        code,
        Some(0),
        "no rebuild, no binlog privilege needed: {err}"
    );

    let before = mysql_definition(&mut admin, "app`.`t").await;
    let rebuild = "ALTER TABLE t MODIFY qty BIGINT NOT NULL;";
    let (code, err) = apply(rebuild);
    assert_eq!(code, Some(6), "{err}");
    assert!(
        err.contains("GRANT BINLOG MONITOR") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(mysql_definition(&mut admin, "app`.`t").await, before);
    admin
        .query_drop("GRANT BINLOG MONITOR ON *.* TO migrator@'%'")
        .await
        .expect("grant");
    let (code, err) = apply(rebuild);
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("GRANT REPLICATION SLAVE"), "{err}");
    assert_eq!(mysql_definition(&mut admin, "app`.`t").await, before);
    admin
        .query_drop("GRANT REPLICATION SLAVE ON *.* TO migrator@'%'")
        .await
        .expect("grant");
    let (code, err) = apply(rebuild);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("online rebuild"), "{err}");
}
