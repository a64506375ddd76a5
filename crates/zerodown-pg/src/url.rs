//! PostgreSQL connection strings: from libpq's `PG*` variables, and a URL's password
//! split off for a child process. Their redacted form for printing is
//! `zerodown_exec::redact`, shared with MySQL/MariaDB.

/// A connection string (URL or `key=value`) as libpq's environment variables, for a child
/// process (pg_dump, psql): nothing of it goes on the command line, where `ps` shows it
/// to every user. A password may sit in a URL's user part, in `?password=` or in a
/// `password = '…'` pair; all end in `PGPASSWORD`.
pub fn libpq_env(conn: &str) -> Result<Vec<(&'static str, String)>, String> {
    use tokio_postgres::config::{Host, SslMode};
    let config: tokio_postgres::Config = conn
        .parse()
        .map_err(|e| format!("cannot read the connection string: {e}"))?;
    let joined = |items: Vec<String>| (!items.is_empty()).then(|| items.join(","));
    let hosts = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports = config.get_ports().iter().map(u16::to_string).collect();
    let ssl = match config.get_ssl_mode() {
        SslMode::Disable => Some("disable"),
        SslMode::Require => Some("require"),
        _ => None,
    };
    let mut env = vec![("PGSSLMODE", ssl.map(str::to_owned))];
    env.extend([
        ("PGHOST", joined(hosts)),
        ("PGPORT", joined(ports)),
        ("PGUSER", config.get_user().map(str::to_owned)),
        (
            "PGPASSWORD",
            config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        ),
        ("PGDATABASE", config.get_dbname().map(str::to_owned)),
        ("PGOPTIONS", config.get_options().map(str::to_owned)),
        (
            "PGAPPNAME",
            config.get_application_name().map(str::to_owned),
        ),
        (
            "PGCONNECT_TIMEOUT",
            config
                .get_connect_timeout()
                .map(|t| t.as_secs().max(1).to_string()),
        ),
    ]);
    Ok(env
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// A `key=value` connection string from libpq's environment variables, if any is set.
pub fn from_pg_env(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let keys = [
        ("PGHOST", "host"),
        ("PGPORT", "port"),
        ("PGUSER", "user"),
        ("PGPASSWORD", "password"),
        ("PGDATABASE", "dbname"),
        ("PGAPPNAME", "application_name"),
        ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ];
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|(env, key)| {
            get(env).map(|v| format!("{key}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
        })
        .collect();
    if parts
        .iter()
        .any(|p| p.starts_with("host=") || p.starts_with("dbname="))
    {
        Some(parts.join(" "))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_go_to_the_environment_in_every_spelling() {
        for conn in [
            "postgres://app:p%40ss+w@db:5432/prod?sslmode=disable",
            "postgres://app@db:5432/prod?password=p%40ss%2Bw&sslmode=disable",
            "host=db port=5432 user=app password = 'p@ss+w' dbname=prod sslmode=disable",
        ] {
            let env = libpq_env(conn).expect("reads");
            let get = |k: &str| {
                env.iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("PGPASSWORD"), Some("p@ss+w"), "{conn}");
            assert_eq!(get("PGHOST"), Some("db"), "{conn}");
            assert_eq!(get("PGPORT"), Some("5432"), "{conn}");
            assert_eq!(get("PGUSER"), Some("app"), "{conn}");
            assert_eq!(get("PGDATABASE"), Some("prod"), "{conn}");
            assert_eq!(get("PGSSLMODE"), Some("disable"), "{conn}");
        }
        assert!(libpq_env("postgres://app@db/prod")
            .expect("reads")
            .iter()
            .all(|(k, _)| *k != "PGPASSWORD"));
    }

    #[test]
    fn builds_from_env() {
        let env = |k: &str| match k {
            "PGHOST" => Some("127.0.0.1".to_owned()),
            "PGPASSWORD" => Some("it's".to_owned()),
            _ => None,
        };
        assert_eq!(
            from_pg_env(env).as_deref(),
            Some("host='127.0.0.1' password='it\\'s'")
        );
        assert_eq!(from_pg_env(|_| None), None);
    }
}
