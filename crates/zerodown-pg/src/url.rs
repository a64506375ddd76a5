//! Connection strings: from a URL, `DATABASE_URL`, or libpq's `PG*` variables, and
//! their redacted form for anything printed.

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

/// Removes the password from a postgres URL or a `key=value` connection string.
pub fn redact(conn: &str) -> String {
    if conn.contains("://") {
        match url::Url::parse(conn) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k.eq_ignore_ascii_case("password") {
                            "***".to_owned()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                if !pairs.is_empty() {
                    u.query_pairs_mut().clear().extend_pairs(pairs);
                }
                u.to_string()
            }
            Err(_) => "<unparseable connection string>".to_owned(),
        }
    } else {
        conn.split_whitespace()
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
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
    fn redacts_passwords() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact("postgres://u@h/db?password=secret&sslmode=require"),
            "postgres://u@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact("host=h password=secret dbname=d"),
            "host=h password=*** dbname=d"
        );
        assert!(!redact("postgres://u:p%40ss@h/db").contains("p%40ss"));
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
