//! What libpq reads of a connection that tokio-postgres does not: every `sslmode`
//! (allow, verify-ca and verify-full too), `sslrootcert` (a file, or `system` for the
//! OS store), `sslcert` and `sslkey`, `passfile`, the `PG*` variables as defaults, and
//! the password from `.pgpass`. The rest of the string is tokio-postgres's to read.
//! The rules are libpq's ("Database Connection Control Functions", "The Password File"
//! and "SSL Support" in the PostgreSQL manual), so a string that works with psql works
//! here.

use std::path::{Path, PathBuf};

/// libpq's `sslmode`, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode \"{other}\": use disable, allow, prefer, require, verify-ca or verify-full"
                ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// What the server's certificate chain is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    File(PathBuf),
    /// The operating system's trusted roots (`sslrootcert=system`).
    System,
}

/// The TLS side of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub mode: SslMode,
    /// None: the server's certificate is not checked (libpq checks the chain whenever a
    /// root file is there, whatever the mode, and the host name only in verify-full).
    pub roots: Option<RootCerts>,
    /// Client certificate and its key, for servers that ask for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// A connection string read as libpq reads it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
    /// Why a password file was passed over, told with a failed login.
    pub note: Option<String>,
}

/// Where libpq looks besides the string: its environment variables and home folder.
pub struct Env<'a> {
    pub var: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub home: Option<PathBuf>,
}

impl Env<'static> {
    /// The process's own environment.
    pub fn process() -> Env<'static> {
        Env {
            var: &|key| std::env::var(key).ok().filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

/// The parameters read here, each with its libpq environment variable.
const OURS: [(&str, &str); 5] = [
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("passfile", "PGPASSFILE"),
];

/// Parameters whose silent omission would weaken the connection: refused, not ignored.
const REFUSED: [(&str, &str); 3] = [
    ("sslcrl", "certificate revocation lists are not read"),
    ("sslcrldir", "certificate revocation lists are not read"),
    (
        "sslpassword",
        "encrypted client keys are not read; give a key without a passphrase",
    ),
];

impl ConnInfo {
    /// Reads `conn` (a `postgres://` URL or `key=value` pairs) with libpq's defaults
    /// from `env`. Errors say what to change.
    pub fn parse(conn: &str, env: &Env) -> Result<ConnInfo, String> {
        let (rest, ours) = split(conn)?;
        if let Some((key, why)) = REFUSED
            .iter()
            .find(|(key, _)| ours.iter().any(|(k, _)| k == key))
        {
            return Err(format!("{key} is not supported: {why}"));
        }
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| format!("cannot read the connection string: {e}"))?;
        let param = |key: &str| -> Option<String> {
            let given = ours.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
            given.cloned().or_else(|| {
                let (_, var) = OURS.iter().find(|(k, _)| *k == key)?;
                (env.var)(var)
            })
        };
        defaults_from_env(&mut config, env);
        let tls = tls(
            param("sslmode").as_deref(),
            param("sslrootcert").as_deref(),
            param("sslcert").as_deref(),
            param("sslkey").as_deref(),
            env.home.as_deref(),
        )?;
        let mut note = None;
        if config.get_password().is_none() {
            let file = param("passfile")
                .map(PathBuf::from)
                .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")));
            if let Some(file) = file {
                match crate::pgpass::lookup(&file, &config) {
                    Ok(Some(password)) => {
                        config.password(password);
                    }
                    Ok(None) => {}
                    Err(why) => note = Some(why),
                }
            }
        }
        Ok(ConnInfo { config, tls, note })
    }

    /// libpq's environment for a child process (pg_dump, psql): the connection as
    /// `PG*` variables, password included, so nothing of it is on a command line.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        use tokio_postgres::config::Host;
        let config = &self.config;
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
        let path = |p: &Path| p.display().to_string();
        let env = [
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
            ("PGSSLMODE", Some(self.tls.mode.as_str().to_owned())),
            (
                "PGSSLROOTCERT",
                self.tls.roots.as_ref().map(|r| match r {
                    RootCerts::File(p) => path(p),
                    RootCerts::System => "system".to_owned(),
                }),
            ),
            ("PGSSLCERT", self.tls.client.as_ref().map(|(c, _)| path(c))),
            ("PGSSLKEY", self.tls.client.as_ref().map(|(_, k)| path(k))),
        ];
        env.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }
}

/// Splits off the parameters read here, in order, from what tokio-postgres reads.
fn split(conn: &str) -> Result<(String, Vec<(String, String)>), String> {
    let is_ours =
        |key: &str| OURS.iter().any(|(k, _)| *k == key) || REFUSED.iter().any(|(k, _)| *k == key);
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        return Ok(zerodown_exec::split_query(conn, is_ours));
    }
    let pairs = zerodown_exec::conninfo_pairs(conn).ok_or(
        "cannot read the connection string: expected key=value pairs or a postgres:// URL",
    )?;
    let mut ours = Vec::new();
    let mut kept = Vec::new();
    for (key, written) in pairs {
        if is_ours(&key) {
            ours.push((key, unquote(&written)));
        } else {
            kept.push(format!("{key}={written}"));
        }
    }
    Ok((kept.join(" "), ours))
}

/// A `key=value` value as written, without its quotes and escapes.
fn unquote(written: &str) -> String {
    let inner = written
        .strip_prefix('\'')
        .and_then(|w| w.strip_suffix('\''))
        .unwrap_or(written);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// libpq's variables for what the string leaves out.
fn defaults_from_env(config: &mut tokio_postgres::Config, env: &Env) {
    let var = |key| (env.var)(key);
    if config.get_hosts().is_empty() {
        for host in var("PGHOST").iter().flat_map(|h| h.split(',')) {
            if host.starts_with('/') {
                config.host_path(host);
            } else {
                config.host(host);
            }
        }
    }
    if config.get_ports().is_empty() {
        for port in var("PGPORT").iter().flat_map(|p| p.split(',')) {
            if let Ok(port) = port.trim().parse() {
                config.port(port);
            }
        }
    }
    if config.get_user().is_none() {
        if let Some(user) = var("PGUSER").or_else(|| var("USER")) {
            config.user(user);
        }
    }
    if config.get_password().is_none() {
        if let Some(password) = var("PGPASSWORD") {
            config.password(password);
        }
    }
    if config.get_dbname().is_none() {
        if let Some(db) = var("PGDATABASE") {
            config.dbname(db);
        }
    }
    if config.get_application_name().is_none() {
        if let Some(name) = var("PGAPPNAME") {
            config.application_name(name);
        }
    }
}

/// The TLS settings as libpq resolves them ("SSL Support", table "SSL Mode Descriptions"
/// and the default files in `~/.postgresql/`).
fn tls(
    mode: Option<&str>,
    rootcert: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
    home: Option<&Path>,
) -> Result<Tls, String> {
    let mode = match (mode, rootcert) {
        (Some(m), _) => SslMode::parse(m)?,
        (None, Some("system")) => SslMode::VerifyFull,
        (None, _) => SslMode::Prefer,
    };
    if rootcert == Some("system") && mode != SslMode::VerifyFull {
        return Err(format!(
            "weak sslmode \"{}\" may not be used with sslrootcert=system: use sslmode=verify-full",
            mode.as_str()
        ));
    }
    let default = |name: &str| home.map(|h| h.join(".postgresql").join(name));
    if mode == SslMode::Disable {
        return Ok(Tls {
            mode,
            roots: None,
            client: None,
        });
    }
    let roots = match rootcert {
        Some("system") => Some(RootCerts::System),
        given => {
            let file = given.map(PathBuf::from).or_else(|| default("root.crt"));
            match file {
                Some(f) if f.is_file() => Some(RootCerts::File(f)),
                f if mode >= SslMode::VerifyCa => {
                    let shown = f.map_or("~/.postgresql/root.crt".to_owned(), |f| {
                        f.display().to_string()
                    });
                    return Err(format!(
                        "root certificate file \"{shown}\" does not exist: give it with sslrootcert, \
                         use the system's trusted roots with sslrootcert=system, or choose an sslmode \
                         that does not verify the server (require)"
                    ));
                }
                _ => None,
            }
        }
    };
    let cert = cert
        .map(PathBuf::from)
        .or_else(|| default("postgresql.crt"));
    let client = match cert.filter(|c| c.is_file()) {
        None => None,
        Some(cert) => {
            let key = key
                .map(PathBuf::from)
                .or_else(|| default("postgresql.key"))
                .filter(|k| k.is_file())
                .ok_or_else(|| {
                    format!(
                        "certificate \"{}\" is there but not its private key: give it with sslkey",
                        cert.display()
                    )
                })?;
            private_to_owner(&key)?;
            Some((cert, key))
        }
    };
    Ok(Tls {
        mode,
        roots,
        client,
    })
}

/// libpq refuses a private key others may read: 0600 or less, 0640 when root owns it.
fn private_to_owner(key: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if meta.mode() & allowed != 0 {
        return Err(format!(
            "private key file \"{}\" has group or world access: chmod 0600 it",
            key.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
