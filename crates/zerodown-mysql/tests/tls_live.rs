//! TLS with MySQL's ssl-mode names against a throwaway MariaDB holding certificates
//! made by the test: a `REQUIRE SSL` user, every mode, a wrong host name, a foreign CA,
//! a client certificate; and a server without TLS under PREFERRED and REQUIRED.

use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;
use zerodown_testkit::tls::Pki;

/// The session's cipher ("" when not encrypted), or the connect error.
async fn cipher(url: &str) -> Result<String, String> {
    let mut c = zerodown_mysql::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    let row: Option<(String, String)> = c
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .map_err(|e| e.to_string())?;
    let _ = c.disconnect().await;
    Ok(row.map(|(_, v)| v).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ssl_mode_against_a_server_with_tls() {
    let pki = Pki::new("zerodown test CA");
    let server_cert = pki.issue("server", "localhost", &["localhost"]);
    let client = pki.issue_rsa("client", "certuser", &[]);
    let pkcs8 = pki.issue("client8", "certuser", &[]);
    let server = Server::start(&[
        &format!("--ssl-cert={}", server_cert.cert.display()),
        &format!("--ssl-key={}", server_cert.key.display()),
        &format!("--ssl-ca={}", pki.ca_file().display()),
    ])
    .expect("throwaway MariaDB");
    let mut admin = zerodown_mysql::connect(&server.url("mysql"))
        .await
        .expect("admin");
    admin
        .query_drop(
            "CREATE USER tlsuser@'%' IDENTIFIED BY 'tls pw' REQUIRE SSL;
             GRANT ALL ON *.* TO tlsuser@'%';
             CREATE USER certuser@'%' REQUIRE X509;
             GRANT ALL ON *.* TO certuser@'%';",
        )
        .await
        .expect("users");
    let port = server.port;
    let ca = pki.ca_file().display().to_string();
    let tlsuser =
        |host: &str, params: &str| format!("mysql://tlsuser:tls%20pw@{host}:{port}/mysql?{params}");

    // A REQUIRE SSL user: refused in plain, admitted over TLS; PREFERRED is the default.
    let plain = cipher(&tlsuser("127.0.0.1", "ssl-mode=DISABLED")).await;
    assert!(
        plain.as_ref().is_err_and(|e| e.contains("Access denied")),
        "{plain:?}"
    );
    for params in ["", "ssl-mode=PREFERRED", "ssl-mode=REQUIRED"] {
        let c = cipher(&tlsuser("127.0.0.1", params)).await;
        assert!(c.as_ref().is_ok_and(|c| !c.is_empty()), "{params}: {c:?}");
    }
    // VERIFY_IDENTITY checks the name: localhost is in the certificate, 127.0.0.1 not.
    let verify = |mode: &str| format!("ssl-mode={mode}&ssl-ca={ca}");
    let ok = cipher(&tlsuser("localhost", &verify("VERIFY_IDENTITY"))).await;
    assert!(ok.as_ref().is_ok_and(|c| !c.is_empty()), "{ok:?}");
    let wrong = cipher(&tlsuser("127.0.0.1", &verify("VERIFY_IDENTITY"))).await;
    assert!(wrong.is_err(), "{wrong:?}");
    let ok = cipher(&tlsuser("localhost", &verify("VERIFY_CA"))).await;
    assert!(ok.as_ref().is_ok_and(|c| !c.is_empty()), "{ok:?}");
    // MySQL's VERIFY_CA checks the chain, not the name: by IP too.
    let by_ip = cipher(&tlsuser("127.0.0.1", &verify("VERIFY_CA"))).await;
    assert!(by_ip.as_ref().is_ok_and(|c| !c.is_empty()), "{by_ip:?}");
    // Another authority's roots fail VERIFY_CA.
    let other = Pki::new("another CA");
    let foreign = format!("ssl-mode=VERIFY_CA&ssl-ca={}", other.ca_file().display());
    for host in ["localhost", "127.0.0.1"] {
        let err = cipher(&tlsuser(host, &foreign)).await;
        assert!(
            err.as_ref()
                .is_err_and(|e| e.to_lowercase().contains("issuer")),
            "{host}: {err:?}"
        );
    }
    // A REQUIRE X509 user logs in with its client certificate.
    let cert_login = format!(
        "mysql://certuser@localhost:{port}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}&ssl-cert={}&ssl-key={}",
        client.cert.display(),
        client.key.display()
    );
    let ok = cipher(&cert_login).await;
    assert!(ok.as_ref().is_ok_and(|c| !c.is_empty()), "{ok:?}");
    // A key in another form is refused before connecting, with the way to convert it.
    let other_form = cipher(&format!(
        "mysql://certuser@localhost:{port}/mysql?ssl-mode=REQUIRED&ssl-cert={}&ssl-key={}",
        pkcs8.cert.display(),
        pkcs8.key.display()
    ))
    .await;
    assert!(
        other_form
            .as_ref()
            .is_err_and(|e| e.contains("openssl pkey -traditional")),
        "{other_form:?}"
    );
    let no_cert = format!("mysql://certuser@127.0.0.1:{port}/mysql?ssl-mode=REQUIRED");
    assert!(cipher(&no_cert).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_is_used_plain_when_preferred_and_refused_when_required() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let url = server.url("mysql");
    assert_eq!(cipher(&url).await, Ok(String::new()));
    // The second time the server is known to be plain.
    assert_eq!(cipher(&url).await, Ok(String::new()));
    let err = cipher(&format!("{url}?ssl-mode=REQUIRED")).await;
    assert!(
        err.as_ref().is_err_and(|e| e.contains("offers no TLS")),
        "{err:?}"
    );
}
