//! libpq's password file (`~/.pgpass`, `PGPASSFILE`, `passfile`): lines of
//! `hostname:port:database:username:password`, the first match wins, `*` matches
//! anything, `\` escapes `:` and `\`. A file others may read is passed over, as libpq
//! does ("The Password File" in the PostgreSQL manual).

use std::path::Path;

use tokio_postgres::config::Host;

/// The password for `config`'s first host, port, database and user. Err says why the
/// file was passed over; a missing file is no error.
pub fn lookup(file: &Path, config: &tokio_postgres::Config) -> Result<Option<String>, String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Err(format!(
            "password file \"{}\" is not a plain file",
            file.display()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "password file \"{}\" has group or world access and was not read: chmod 0600 it",
            file.display()
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("password file \"{}\": {e}", file.display()))?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) if !name.is_empty() => name.clone(),
        // A Unix socket (or no host) is "localhost" to the password file.
        _ => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default();
    let db = config.get_dbname().unwrap_or(user);
    Ok(find(&text, [&host, &port, db, user]))
}

/// The password of the first line whose four fields match `wanted`.
fn find(text: &str, wanted: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let fields = fields(line);
            let [host, port, db, user, password] = fields.as_slice() else {
                return None;
            };
            let matches = [host, port, db, user]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field.as_str() == "*" || field.as_str() == want);
            matches.then(|| password.clone())
        })
}

/// A line's five fields, unescaped; the fifth takes the rest of the line.
fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == ':' && fields.len() < 5 {
            fields.push(String::new());
            continue;
        }
        let current = fields.last_mut().expect("never empty");
        match c {
            '\\' => current.extend(chars.next()),
            c => current.push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:prod:app:first\n\
                    *:*:prod:app:second\n\
                    *:*:*:*:any\\:thing\\\\\n";
        assert_eq!(
            find(text, ["db.example", "5432", "prod", "app"]).as_deref(),
            Some("first")
        );
        assert_eq!(
            find(text, ["other", "6432", "prod", "app"]).as_deref(),
            Some("second")
        );
        assert_eq!(
            find(text, ["other", "6432", "test", "u"]).as_deref(),
            Some("any:thing\\")
        );
        assert_eq!(find("h:1:d:u\n", ["h", "1", "d", "u"]), None);
        // A colon escaped in a host field; a password keeps later colons.
        assert_eq!(
            find("fe80\\:\\:1:5432:*:u:p:q", ["fe80::1", "5432", "x", "u"]).as_deref(),
            Some("p:q")
        );
    }

    #[test]
    fn a_file_others_can_read_is_passed_over() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:secret\n").expect("write");
        let config: tokio_postgres::Config = "host=/tmp user=u".parse().expect("parses");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let why = lookup(&file, &config).expect_err("world-readable");
        assert!(why.contains("chmod 0600"), "{why}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            lookup(&file, &config).expect("reads").as_deref(),
            Some("secret")
        );
        assert_eq!(lookup(&dir.path().join("none"), &config), Ok(None));
    }
}
