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

/// What a schema comparison looks at, per table of the test: columns with types and
/// nullability, constraints with their definitions, index definitions.
async fn shape(c: &tokio_postgres::Client) -> Vec<String> {
    c.query(
        "SELECT 'col ' || attrelid::regclass || '.' || attname || ' ' || format_type(atttypid, atttypmod)
                || CASE WHEN attnotnull THEN ' not null' ELSE '' END
                || COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE attrelid IN ('shop.customers'::regclass, 'shop.orders'::regclass) AND attnum > 0 AND NOT attisdropped
         UNION ALL
         SELECT 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
           FROM pg_constraint WHERE conrelid IN ('shop.customers'::regclass, 'shop.orders'::regclass)
         UNION ALL
         SELECT 'idx ' || pg_get_indexdef(indexrelid)
           FROM pg_index WHERE indrelid IN ('shop.customers'::regclass, 'shop.orders'::regclass)
         ORDER BY 1",
        &[],
    )
    .await
    .expect("shape")
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_of_a_source_database_is_recreated_without_rows() {
    let admin = zerodown_testkit::connect().await;
    let tdb = zerodown_testkit::TestDatabase::create(&admin, "schema_src").await;
    let src = tdb.connect().await;
    src.batch_execute(
        "CREATE SCHEMA shop;
         CREATE TYPE shop.tier AS ENUM ('free', 'pro');
         CREATE DOMAIN shop.cents AS bigint CHECK (VALUE >= 0);
         CREATE FUNCTION shop.next_code() RETURNS text LANGUAGE sql AS $$ SELECT md5(random()::text) $$;
         CREATE TABLE shop.customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,
             tier shop.tier NOT NULL DEFAULT 'free', code text DEFAULT shop.next_code());
         CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             customer_id bigint NOT NULL REFERENCES shop.customers (id),
             total shop.cents NOT NULL, CHECK (total < 100000000));
         CREATE INDEX orders_customer_idx ON shop.orders (customer_id) WHERE total > 0;
         INSERT INTO shop.customers (email) VALUES ('a@example.com');",
    )
    .await
    .expect("source schema");
    let want = shape(&src).await;

    let cluster = Cluster::start(&[]).expect("start");
    cluster
        .load_schema_from(&tdb.url(), "postgres")
        .expect("load schema");
    let c = zerodown_pg::connect(&cluster.url("postgres"))
        .await
        .expect("connect");
    let got = shape(&c).await;
    let rows: i64 = c
        .query_one("SELECT count(*) FROM shop.customers", &[])
        .await
        .expect("rows")
        .get(0);
    drop((c, src));
    drop(cluster);
    tdb.drop(&admin).await;

    assert!(want.len() > 10, "{want:#?}");
    assert_eq!(got, want, "same columns, defaults, constraints and indexes");
    assert_eq!(rows, 0, "no rows are copied");
}

/// A throwaway cluster holds a copy of a real schema: any local user could log in to it
/// as its superuser over TCP without a password (trust). Now TCP logins need the
/// cluster's generated password, which only its URL carries.
#[tokio::test]
async fn a_throwaway_cluster_refuses_logins_without_its_password() {
    let cluster = Cluster::start(&[]).expect("start");
    let with = zerodown_pg::connect(&cluster.url("postgres")).await;
    let without = zerodown_pg::connect(&format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        cluster.port
    ))
    .await;
    let shown = format!("{cluster:?}");
    let password = url::Url::parse(&cluster.url("postgres"))
        .expect("url")
        .password()
        .map(str::to_owned)
        .expect("a password in the URL");
    drop(cluster);
    assert!(with.is_ok(), "its URL logs in: {:?}", with.err());
    assert!(without.is_err(), "no password, no login");
    assert!(password.len() >= 32, "a long random password");
    assert!(
        !shown.contains(&password),
        "the password is not printed: {shown}"
    );
}
