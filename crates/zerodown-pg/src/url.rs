//! PostgreSQL connection strings: from libpq's `PG*` variables, and a URL's password
//! split off for a child process. Their redacted form for printing is
//! `zerodown_exec::redact`, shared with MySQL/MariaDB.

/// A postgres URL without its password, and the password: for a child process, which
/// gets the password in `PGPASSWORD` rather than on its command line (visible to `ps`).
/// Other connection strings are returned as they are.
pub fn split_password(conn: &str) -> (String, Option<String>) {
    let Ok(mut u) = url::Url::parse(conn).map_err(drop) else {
        return (conn.to_owned(), None);
    };
    let password = u.password().map(percent_decode);
    if password.is_some() {
        let _ = u.set_password(None);
    }
    (u.to_string(), password)
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
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
    fn passwords_leave_the_url_for_the_environment() {
        assert_eq!(
            split_password("postgres://app:p%40ss+w@db:5432/prod?sslmode=disable"),
            (
                "postgres://app@db:5432/prod?sslmode=disable".to_owned(),
                Some("p@ss+w".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://app@db/prod"),
            ("postgres://app@db/prod".to_owned(), None)
        );
        assert_eq!(
            split_password("host=db user=app password=x"),
            ("host=db user=app password=x".to_owned(), None)
        );
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
