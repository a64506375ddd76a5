//! Connection strings as zerodown prints them: never with their password, whatever
//! the engine; the query parameters a driver reads itself, split off before the rest
//! goes to the database crate; and the passwords of the throwaway servers it starts.

/// A password for a throwaway server: 32 hex digits from the kernel's random source.
pub fn generate_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Removes the password from a connection URL (`postgres://`, `mysql://`,
/// `mariadb://`: in its user part or a `password` query parameter) or from a libpq
/// `key=value` connection string, for anything zerodown prints.
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
        match conninfo_pairs(conn) {
            Some(pairs) => pairs
                .into_iter()
                .map(|(k, v)| {
                    if k.eq_ignore_ascii_case("password") {
                        format!("{k}=***")
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            None => "<unparseable connection string>".to_owned(),
        }
    }
}

/// Splits a URL's query parameters that `take` accepts (by key, decoded) off the URL:
/// the URL without them, and them decoded, in order. Only `%XX` is decoded, as libpq
/// and the MySQL clients do: a `+` stays a plus sign.
pub fn split_query(url: &str, take: impl Fn(&str) -> bool) -> (String, Vec<(String, String)>) {
    let Some((head, query)) = url.split_once('?') else {
        return (url.to_owned(), Vec::new());
    };
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let decoded = piece.replace('+', "%2B");
        let (key, value) = url::form_urlencoded::parse(decoded.as_bytes())
            .next()
            .unwrap_or_default();
        if take(&key) {
            taken.push((key.into_owned(), value.into_owned()));
        } else {
            kept.push(piece);
        }
    }
    let rest = if kept.is_empty() {
        head.to_owned()
    } else {
        format!("{head}?{}", kept.join("&"))
    };
    (rest, taken)
}

/// A libpq `key = value ...` string as (key, value as written) pairs: spaces may stand
/// around `=`, and a value may be single-quoted with `\'` and `\\` inside. None when it
/// does not read as one (then nothing of it is printed).
pub fn conninfo_pairs(conn: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut rest = conn.trim_start();
    while !rest.is_empty() {
        let key_end = rest.find(|c: char| c == '=' || c.is_whitespace())?;
        let key = &rest[..key_end];
        rest = rest[key_end..].trim_start().strip_prefix('=')?.trim_start();
        let value_end = if rest.starts_with('\'') {
            let mut escaped = false;
            let close = rest
                .char_indices()
                .skip(1)
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map(|(i, _)| i)?;
            close + 1
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        if key.is_empty() {
            return None;
        }
        pairs.push((key.to_owned(), rest[..value_end].to_owned()));
        rest = rest[value_end..].trim_start();
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::redact;

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
        // libpq allows spaces around '=' and quoted values with spaces in them.
        for conninfo in [
            "host=h password = secret dbname=d",
            "host=h password= secret dbname=d",
            "host=h password =secret dbname=d",
            "host=h PASSWORD='a secret' dbname=d",
            "host=h password = 'it\\'s secret' dbname=d",
        ] {
            let shown = redact(conninfo);
            assert!(!shown.contains("secret"), "{conninfo} -> {shown}");
            assert!(
                shown.contains("host=h") && shown.contains("dbname=d"),
                "{shown}"
            );
        }
        assert_eq!(
            redact("mysql://root:secret@127.0.0.1:3306/test"),
            "mysql://root:***@127.0.0.1:3306/test"
        );
        assert_eq!(
            redact("mariadb://u@h/db?password=secret"),
            "mariadb://u@h/db?password=***"
        );
    }
}
