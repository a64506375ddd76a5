//! A PostgreSQL connection string made of libpq's `PG*` variables, when no URL is
//! given. How a string is read is `conninfo`; its redacted form for printing is
//! `zerodown_exec::redact`, shared with MySQL/MariaDB.

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
