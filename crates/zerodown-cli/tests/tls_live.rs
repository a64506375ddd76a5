//! The commands a team with a TLS-only database runs, as it types them: `plan`, `apply`,
//! `status` and `rehearse --from` over verify-full, on a throwaway PostgreSQL whose role
//! may log in over TLS only; the password from a .pgpass file and sslmode from PG*
//! variables, as psql would take them.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{migration, zerodown};
use zerodown_pg::cluster::Cluster;
use zerodown_testkit::tls::Pki;

/// Runs the binary; its exit code, stdout and stderr.
fn run(cmd: &mut std::process::Command) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("zerodown");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_status_and_rehearse_over_verify_full() {
    let pki = Pki::new("zerodown test CA");
    let server = pki.issue("server", "localhost", &["localhost"]);
    let cluster = Cluster::start(&[]).expect("start");
    cluster
        .enable_tls(&server.cert, &server.key, None)
        .expect("tls on");
    cluster
        .hba_first(&[
            "hostssl app migrator 127.0.0.1/32 scram-sha-256",
            "host all migrator 127.0.0.1/32 reject",
        ])
        .expect("hba");
    let admin = zerodown_pg::connect(&format!("{}?sslmode=disable", cluster.url("postgres")))
        .await
        .expect("admin");
    admin
        .batch_execute("CREATE ROLE migrator LOGIN PASSWORD 'mig pw'")
        .await
        .expect("role");
    admin
        .batch_execute("CREATE DATABASE app OWNER migrator")
        .await
        .expect("db");
    let port = cluster.port;
    let ca = pki.ca_file().display().to_string();
    let url = format!(
        "postgres://migrator:mig%20pw@localhost:{port}/app?sslmode=verify-full&sslrootcert={ca}"
    );
    let app = zerodown_pg::connect(&url).await.expect("migrator over TLS");
    app.batch_execute(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);
         INSERT INTO accounts SELECT g, 'u' || g FROM generate_series(1, 5000) g;
         ANALYZE accounts;",
    )
    .await
    .expect("table");
    let m =
        migration("ALTER TABLE accounts ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();");
    let file = m.path().to_str().expect("utf8");

    let (code, _, err) = run(zerodown().args(["plan", file, "--database-url", &url]));
    assert_eq!(code, Some(0), "plan over TLS: {err}");
    let (code, _, err) = run(zerodown().args(["apply", file, "--database-url", &url]));
    assert_eq!(code, Some(0), "apply over TLS: {err}");
    let filled: i64 = app
        .query_one("SELECT count(*) FROM accounts WHERE token IS NOT NULL", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(filled, 5000);
    let (code, out, err) = run(zerodown().args(["status", "--database-url", &url]));
    assert_eq!(code, Some(0), "status over TLS: {err}");
    assert!(out.contains("completed"), "{out}{err}");

    // The same without a password or sslmode in the URL: .pgpass and PG* variables.
    let dir = tempfile::tempdir().expect("tmp");
    let pgpass = dir.path().join("pgpass");
    std::fs::write(&pgpass, format!("localhost:{port}:app:migrator:mig pw\n")).expect("write");
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let bare = format!("postgres://migrator@localhost:{port}/app");
    let (code, _, err) = run(zerodown()
        .args(["plan", file, "--database-url", &bare])
        .env("PGPASSFILE", &pgpass)
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca));
    assert_eq!(code, Some(0), "plan with .pgpass and PGSSLMODE: {err}");
    // Without TLS the role is turned away, and the message says by whom.
    let (code, _, err) = run(zerodown()
        .args([
            "plan",
            file,
            "--database-url",
            &format!("{bare}?sslmode=disable"),
        ])
        .env("PGPASSFILE", &pgpass));
    assert_ne!(code, Some(0));
    assert!(err.contains("pg_hba.conf"), "{err}");
    assert!(!err.contains("mig pw"), "no password printed: {err}");

    // A rehearsal copies the schema from the TLS-only source (pg_dump over verify-full).
    let next = migration("ALTER TABLE accounts ADD COLUMN note text;");
    let (code, _, err) = run(zerodown()
        .args([
            "rehearse",
            next.path().to_str().expect("utf8"),
            "--from",
            &url,
        ])
        .args([
            "--rows",
            "accounts=2000",
            "--settle-secs",
            "1",
            "--clients",
            "1",
        ]));
    assert_eq!(code, Some(0), "rehearse --from over TLS: {err}");
}

/// MariaDB with TLS and a `REQUIRE SSL` user: `plan`, `apply` and an online rebuild
/// (INT -> BIGINT, which MariaDB can only COPY) with ssl-mode REQUIRED and VERIFY_CA;
/// the rebuild's binlog reader goes over TLS too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_plan_apply_and_online_rebuild_over_tls() {
    use mysql_async::prelude::Queryable;
    let pki = Pki::new("zerodown test CA");
    let cert = pki.issue("server", "localhost", &["localhost"]);
    let server = zerodown_mysql::server::Server::start(&[
        &format!("--ssl-cert={}", cert.cert.display()),
        &format!("--ssl-key={}", cert.key.display()),
    ])
    .expect("throwaway MariaDB");
    let mut admin = zerodown_mysql::connect(&server.url("mysql"))
        .await
        .expect("admin");
    admin
        .query_drop(
            "CREATE DATABASE app;
             CREATE USER migrator@'%' IDENTIFIED BY 'mig pw' REQUIRE SSL;
             GRANT ALL ON *.* TO migrator@'%';
             CREATE TABLE app.t (id BIGINT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20));
             INSERT INTO app.t SELECT seq, seq % 100, 'n' FROM seq_1_to_20000;",
        )
        .await
        .expect("setup");
    let port = server.port;
    let ca = pki.ca_file().display().to_string();
    let url = |params: &str| format!("mysql://migrator:mig%20pw@localhost:{port}/app?{params}");
    let required = url("ssl-mode=REQUIRED");
    let verify_ca = url(&format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"));

    let m = migration("ALTER TABLE t ADD COLUMN added INT NULL;");
    let file = m.path().to_str().expect("utf8");
    let (code, _, err) = run(zerodown().args(["plan", file, "--database-url", &required]));
    assert_eq!(code, Some(0), "plan with REQUIRED: {err}");
    let (code, _, err) = run(zerodown().args(["apply", file, "--database-url", &required]));
    assert_eq!(code, Some(0), "apply with REQUIRED: {err}");
    let stderr = common::applied_online("ALTER TABLE t MODIFY qty BIGINT NOT NULL;", &verify_ca);
    assert!(stderr.contains("online rebuild"), "{stderr}");
    let (kind, rows): (String, u64) = admin
        .query_first(
            "SELECT (SELECT DATA_TYPE FROM information_schema.COLUMNS
                      WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't' AND COLUMN_NAME = 'qty'),
                    (SELECT COUNT(*) FROM app.t)",
        )
        .await
        .expect("read")
        .expect("row");
    assert_eq!((kind.as_str(), rows), ("bigint", 20000));
    // Without TLS the user is turned away.
    let (code, _, err) =
        run(zerodown().args(["plan", file, "--database-url", &url("ssl-mode=DISABLED")]));
    assert_ne!(code, Some(0));
    assert!(err.contains("Access denied"), "{err}");
}
