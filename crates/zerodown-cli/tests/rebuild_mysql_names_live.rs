//! The online rebuild's tables are `<t>_zdnew` (the shadow) and `<t>_zdold` (the sentry,
//! then the old table). A user's table of either name is theirs: the rebuild refuses to
//! start, and neither apply nor abort drops it (before, the shadow was dropped by name
//! at the start, and abort dropped it again as the step's undo).

mod common;

use common::{control, migration, mysql_app_t, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_tables_named_like_the_rebuilds_are_never_dropped() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_app_t(&server, 1000).await;
    let url = server.url("app");
    for (name, columns) in [("t_zdnew", "note VARCHAR(20)"), ("t_zdold", "sentry INT")] {
        c.query_drop(format!(
            "CREATE TABLE {name} (id INT PRIMARY KEY, {columns});
             INSERT INTO {name} (id) VALUES (1), (2), (3);"
        ))
        .await
        .expect("the user's table");
        let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
        let out = zerodown()
            .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
            .output()
            .expect("apply");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_ne!(out.status.code(), Some(0), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the refusal names the table: {err}"
        );
        let (code, said) = control(&["abort"], &url);
        assert_eq!(code, Some(0), "{name}: {said}");
        let rows: Option<u64> = c
            .query_first(format!("SELECT COUNT(*) FROM {name}"))
            .await
            .unwrap_or(None);
        assert_eq!(
            rows,
            Some(3),
            "{name}: the user's table and rows are kept ({said})"
        );
        let qty: Option<String> = c
            .query_first("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't' AND COLUMN_NAME = 'qty'")
            .await
            .expect("type");
        assert_eq!(qty.as_deref(), Some("int"), "{name}: t unchanged");
        c.query_drop(format!("DROP TABLE {name}"))
            .await
            .expect("clean");
    }
}
