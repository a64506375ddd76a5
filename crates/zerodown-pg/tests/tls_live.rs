//! TLS as libpq's sslmode says, against a throwaway cluster with certificates made by
//! the test: a `hostssl`-only role, every sslmode, a wrong host name, a foreign CA, a
//! client certificate, and a `.pgpass` password read through a child's environment.

use zerodown_pg::cluster::Cluster;
use zerodown_testkit::tls::Pki;

/// Whether the session behind `conn` is encrypted, or the connect error.
async fn encrypted(conn: &str) -> Result<bool, String> {
    let c = zerodown_pg::connect(conn)
        .await
        .map_err(|e| e.to_string())?;
    let row = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sslmode_against_a_server_with_tls() {
    let pki = Pki::new("zerodown test CA");
    let server = pki.issue("server", "localhost", &["localhost"]);
    let client = pki.issue("client", "certuser", &[]);
    let cluster = Cluster::start(&[]).expect("start");
    cluster
        .enable_tls(&server.cert, &server.key, Some(&pki.ca_file()))
        .expect("tls on");
    cluster
        .hba_first(&[
            "hostssl all tlsonly 127.0.0.1/32 scram-sha-256",
            "host all tlsonly 127.0.0.1/32 reject",
            "hostssl all certuser 127.0.0.1/32 cert",
        ])
        .expect("hba");
    let admin = zerodown_pg::connect(&format!("{}?sslmode=disable", cluster.url("postgres")))
        .await
        .expect("admin");
    admin
        .batch_execute("CREATE ROLE tlsonly LOGIN PASSWORD 'tls pw'; CREATE ROLE certuser LOGIN;")
        .await
        .expect("roles");
    let port = cluster.port;
    let ca = pki.ca_file().display().to_string();
    let tlsonly = |host: &str, params: &str| {
        format!("postgres://tlsonly:tls%20pw@{host}:{port}/postgres?{params}")
    };

    // A hostssl-only role: refused in plain, admitted over TLS.
    let plain = encrypted(&tlsonly("127.0.0.1", "sslmode=disable")).await;
    assert!(
        plain.as_ref().is_err_and(|e| e.contains("pg_hba.conf")),
        "{plain:?}"
    );
    for mode in ["allow", "prefer", "require"] {
        assert_eq!(
            encrypted(&tlsonly("127.0.0.1", &format!("sslmode={mode}"))).await,
            Ok(true),
            "sslmode={mode}"
        );
    }
    // The default is prefer.
    assert_eq!(encrypted(&tlsonly("127.0.0.1", "")).await, Ok(true));

    // verify-full checks the name: localhost is in the certificate, 127.0.0.1 is not.
    let full = format!("sslmode=verify-full&sslrootcert={ca}");
    assert_eq!(encrypted(&tlsonly("localhost", &full)).await, Ok(true));
    let wrong = encrypted(&tlsonly("127.0.0.1", &full)).await;
    assert!(
        wrong
            .as_ref()
            .is_err_and(|e| e.contains("not valid for name") || e.contains("NotValidForName")),
        "{wrong:?}"
    );
    // verify-ca checks the chain only.
    let ca_only = format!("sslmode=verify-ca&sslrootcert={ca}");
    assert_eq!(encrypted(&tlsonly("127.0.0.1", &ca_only)).await, Ok(true));
    // A certificate from another authority fails both.
    let other = Pki::new("another CA");
    let foreign = format!(
        "sslmode=verify-ca&sslrootcert={}",
        other.ca_file().display()
    );
    let err = encrypted(&tlsonly("127.0.0.1", &foreign)).await;
    assert!(
        err.as_ref()
            .is_err_and(|e| e.contains("UnknownIssuer") || e.contains("unknown issuer")),
        "{err:?}"
    );

    // A role that logs in with its client certificate alone.
    let cert_login = format!(
        "postgres://certuser@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={ca}&sslcert={}&sslkey={}",
        client.cert.display(),
        client.key.display()
    );
    assert_eq!(encrypted(&cert_login).await, Ok(true));
    let no_cert = format!("postgres://certuser@localhost:{port}/postgres?sslmode=require");
    assert!(encrypted(&no_cert).await.is_err());

    // pg_dump gets sslmode, sslrootcert and the password through its environment.
    let target = zerodown_pg::connect(&format!("{}?sslmode=disable", cluster.url("postgres")))
        .await
        .expect("admin");
    target
        .batch_execute("CREATE DATABASE copy_target")
        .await
        .expect("db");
    let source = tlsonly("localhost", &full);
    admin
        .batch_execute(
            "CREATE TABLE tls_copied (id int primary key); GRANT SELECT ON tls_copied TO tlsonly",
        )
        .await
        .expect("table");
    zerodown_pg::cluster::copy_schema(
        &source,
        &format!("{}?sslmode=disable", cluster.url("copy_target")),
    )
    .expect("pg_dump over verify-full");
    let copy = zerodown_pg::connect(&format!("{}?sslmode=disable", cluster.url("copy_target")))
        .await
        .expect("copy");
    let n: i64 = copy
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'tls_copied'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 1);
}
