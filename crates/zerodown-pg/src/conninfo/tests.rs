use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use super::*;

/// A home folder with `files` (path under it, text, mode) and these variables.
struct Fixture {
    home: tempfile::TempDir,
    vars: HashMap<&'static str, String>,
}

impl Fixture {
    fn new(files: &[(&str, &str, u32)]) -> Fixture {
        let home = tempfile::tempdir().expect("tempdir");
        for (path, text, mode) in files {
            let path = home.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).expect("chmod");
        }
        Fixture {
            home,
            vars: HashMap::new(),
        }
    }

    fn var(mut self, key: &'static str, value: &str) -> Fixture {
        self.vars.insert(key, value.to_owned());
        self
    }

    fn path(&self, p: &str) -> String {
        self.home.path().join(p).display().to_string()
    }

    fn parse(&self, conn: &str) -> Result<ConnInfo, String> {
        let lookup = |k: &str| self.vars.get(k).cloned();
        let env = Env {
            var: &lookup,
            home: Some(self.home.path().to_owned()),
        };
        ConnInfo::parse(conn, &env)
    }
}

#[test]
fn every_sslmode_of_libpq_is_read_from_a_url_and_from_pairs() {
    let f = Fixture::new(&[("ca/root.pem", "x", 0o644)]);
    let ca = f.path("ca/root.pem");
    for conn in [
        format!("postgres://app@db.example:5432/prod?sslmode=verify-full&sslrootcert={ca}&application_name=x"),
        format!("host=db.example port=5432 user=app dbname=prod sslmode = 'verify-full' sslrootcert='{ca}'"),
    ] {
        let info = f.parse(&conn).expect("reads");
        assert_eq!(info.tls.mode, SslMode::VerifyFull, "{conn}");
        assert_eq!(info.tls.roots, Some(RootCerts::File(ca.clone().into())), "{conn}");
        assert_eq!(info.config.get_dbname(), Some("prod"));
        assert_eq!(info.config.get_user(), Some("app"));
    }
    for (mode, want) in [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
    ] {
        let conn = format!("postgres://app@db/prod?sslrootcert={ca}&sslmode={mode}");
        assert_eq!(f.parse(&conn).expect("reads").tls.mode, want);
    }
    let err = f
        .parse("postgres://db/prod?sslmode=verify")
        .expect_err("bad mode");
    assert!(err.contains("verify-full"), "{err}");
}

#[test]
fn verifying_modes_need_a_root_certificate_and_say_where_to_find_one() {
    let f = Fixture::new(&[]);
    let err = f
        .parse("postgres://app@db/prod?sslmode=verify-full")
        .expect_err("no root.crt");
    assert!(
        err.contains("root.crt") && err.contains("sslrootcert=system"),
        "{err}"
    );
    // require and prefer go on without checking the server.
    let info = f
        .parse("postgres://app@db/prod?sslmode=require")
        .expect("reads");
    assert_eq!(info.tls.roots, None);
    // With ~/.postgresql/root.crt there, libpq checks the chain in every TLS mode.
    let f = Fixture::new(&[(".postgresql/root.crt", "x", 0o644)]);
    let info = f
        .parse("postgres://app@db/prod?sslmode=require")
        .expect("reads");
    assert_eq!(
        info.tls.roots,
        Some(RootCerts::File(f.home.path().join(".postgresql/root.crt")))
    );
}

#[test]
fn system_roots_default_to_verify_full_and_refuse_weaker_modes() {
    let f = Fixture::new(&[]);
    let info = f
        .parse("postgres://app@db/prod?sslrootcert=system")
        .expect("reads");
    assert_eq!(info.tls.mode, SslMode::VerifyFull);
    assert_eq!(info.tls.roots, Some(RootCerts::System));
    let err = f
        .parse("postgres://app@db/prod?sslrootcert=system&sslmode=require")
        .expect_err("weak");
    assert!(err.contains("verify-full"), "{err}");
}

#[test]
fn pg_variables_are_defaults_the_string_overrides() {
    let f = Fixture::new(&[("ca.pem", "x", 0o644)]);
    let ca = f.path("ca.pem");
    let f = f
        .var("PGSSLMODE", "verify-ca")
        .var("PGSSLROOTCERT", &ca)
        .var("PGUSER", "envuser")
        .var("PGPASSWORD", "envpass");
    let info = f.parse("postgres://db/prod").expect("reads");
    assert_eq!(info.tls.mode, SslMode::VerifyCa);
    assert_eq!(info.config.get_user(), Some("envuser"));
    assert_eq!(info.config.get_password(), Some(&b"envpass"[..]));
    let info = f
        .parse("postgres://me:mine@db/prod?sslmode=disable")
        .expect("reads");
    assert_eq!(info.tls.mode, SslMode::Disable);
    assert_eq!(info.config.get_user(), Some("me"));
    assert_eq!(info.config.get_password(), Some(&b"mine"[..]));
}

#[test]
fn the_password_file_fills_a_missing_password() {
    let f = Fixture::new(&[
        (".pgpass", "db:5432:prod:app:frompgpass\n", 0o600),
        ("other/pass", "*:*:*:*:fromfile\n", 0o600),
    ]);
    let info = f.parse("postgres://app@db/prod").expect("reads");
    assert_eq!(info.config.get_password(), Some(&b"frompgpass"[..]));
    let info = f.parse("postgres://app:given@db/prod").expect("reads");
    assert_eq!(info.config.get_password(), Some(&b"given"[..]));
    let other = f.path("other/pass");
    let info = f
        .parse(&format!("postgres://app@db/prod?passfile={other}"))
        .expect("reads");
    assert_eq!(info.config.get_password(), Some(&b"fromfile"[..]));
    let info = f
        .var("PGPASSFILE", &other)
        .parse("postgres://app@db/prod")
        .expect("reads");
    assert_eq!(info.config.get_password(), Some(&b"fromfile"[..]));
    // One others can read is passed over, and the note says why.
    let f = Fixture::new(&[(".pgpass", "*:*:*:*:leaked\n", 0o644)]);
    let info = f.parse("postgres://app@db/prod").expect("reads");
    assert_eq!(info.config.get_password(), None);
    assert!(info.note.expect("note").contains("chmod 0600"));
}

#[test]
fn client_certificates_and_their_keys() {
    let f = Fixture::new(&[
        (".postgresql/postgresql.crt", "c", 0o644),
        (".postgresql/postgresql.key", "k", 0o600),
        ("open.key", "k", 0o644),
    ]);
    let info = f
        .parse("postgres://app@db/prod?sslmode=require")
        .expect("reads");
    let (cert, key) = info.tls.client.expect("default files");
    assert!(cert.ends_with(".postgresql/postgresql.crt"));
    assert!(key.ends_with(".postgresql/postgresql.key"));
    let open = f.path("open.key");
    let err = f
        .parse(&format!("postgres://app@db/prod?sslkey={open}"))
        .expect_err("readable key");
    assert!(err.contains("chmod 0600"), "{err}");
    // With TLS disabled nothing is read.
    let info = f
        .parse(&format!(
            "postgres://app@db/prod?sslmode=disable&sslkey={open}"
        ))
        .expect("reads");
    assert_eq!(info.tls.client, None);
}

#[test]
fn weakening_parameters_are_refused_and_plus_signs_stay() {
    let f = Fixture::new(&[("a+b/root.crt", "x", 0o644)]);
    let err = f
        .parse("postgres://app@db/prod?sslcrl=/etc/crl.pem")
        .expect_err("refused");
    assert!(err.contains("sslcrl"), "{err}");
    let ca = f.path("a+b/root.crt");
    let info = f
        .parse(&format!(
            "postgres://app@db/prod?sslmode=verify-ca&sslrootcert={ca}"
        ))
        .expect("reads");
    assert_eq!(info.tls.roots, Some(RootCerts::File(ca.into())));
}

#[test]
fn child_processes_get_the_tls_settings_in_their_environment() {
    let f = Fixture::new(&[("root.crt", "x", 0o644)]);
    let ca = f.path("root.crt");
    let info = f
        .parse(&format!(
            "postgres://app:pw@db:6432/prod?sslmode=verify-full&sslrootcert={ca}"
        ))
        .expect("reads");
    let env: HashMap<_, _> = info.child_env().into_iter().collect();
    assert_eq!(env["PGSSLMODE"], "verify-full");
    assert_eq!(env["PGSSLROOTCERT"], ca);
    assert_eq!(env["PGPASSWORD"], "pw");
    assert_eq!(env["PGPORT"], "6432");
}

#[test]
fn passwords_go_to_the_environment_in_every_spelling() {
    let f = Fixture::new(&[]);
    for conn in [
        "postgres://app:p%40ss+w@db:5432/prod?sslmode=disable",
        "postgres://app@db:5432/prod?password=p%40ss%2Bw&sslmode=disable",
        "host=db port=5432 user=app password = 'p@ss+w' dbname=prod sslmode=disable",
    ] {
        let env: HashMap<_, _> = f
            .parse(conn)
            .expect("reads")
            .child_env()
            .into_iter()
            .collect();
        assert_eq!(env["PGPASSWORD"], "p@ss+w", "{conn}");
        assert_eq!(env["PGHOST"], "db", "{conn}");
        assert_eq!(env["PGPORT"], "5432", "{conn}");
        assert_eq!(env["PGUSER"], "app", "{conn}");
        assert_eq!(env["PGDATABASE"], "prod", "{conn}");
        assert_eq!(env["PGSSLMODE"], "disable", "{conn}");
    }
    let env = f
        .parse("postgres://app@db/prod")
        .expect("reads")
        .child_env();
    assert!(env.iter().all(|(k, _)| *k != "PGPASSWORD"));
}
