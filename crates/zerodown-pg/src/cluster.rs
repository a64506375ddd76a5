//! Throwaway PostgreSQL clusters from the binaries installed on this machine (initdb +
//! pg_ctl in a temporary folder, on a private port): for tests and rehearsals that must
//! restart, replicate or crash a server without touching a shared one. A cluster is
//! stopped and its folder removed when it is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no PostgreSQL server binaries found (pg_config --bindir, /usr/lib/postgresql/*/bin); install the postgresql package")]
    NoBinaries,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running throwaway cluster. Logins over TCP need its generated password (it holds a
/// copy of a real schema); the server's own tools use its Unix socket, in a folder only
/// the cluster's user can enter.
#[derive(Debug)]
pub struct Cluster {
    root: tempfile::TempDir,
    bindir: PathBuf,
    pub port: u16,
    /// Run the server's tools as this user (they refuse to run as root).
    run_as: Option<String>,
    password: Secret,
}

/// A password that `Debug` does not print.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Cluster {
    /// Starts a new cluster (trust auth, superuser `postgres`) with `settings` added to
    /// its postgresql.conf.
    pub fn start(settings: &[(&str, &str)]) -> Result<Cluster, ClusterError> {
        let bindir = bindir()?;
        let run_as = if is_root()? {
            Some("postgres".to_owned())
        } else {
            None
        };
        let root = tempfile::Builder::new().prefix("zerodown-pg-").tempdir()?;
        let cluster = Cluster {
            root,
            bindir,
            port: free_port()?,
            run_as,
            password: Secret(zerodown_exec::generate_password()?),
        };
        cluster.own(cluster.root.path())?;
        let data = cluster.data();
        let pwfile = cluster.root.path().join("pwfile");
        std::fs::write(&pwfile, &cluster.password.0)?;
        cluster.own(&pwfile)?;
        let initdb = cluster.tool(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth-local",
                "trust",
                "--auth-host",
                "scram-sha-256",
                "--pwfile",
                path_str(&pwfile),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        std::fs::remove_file(&pwfile)?;
        initdb?;
        cluster.configure(settings)?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    /// A streaming standby of this cluster (pg_basebackup -R), started, with `settings`
    /// (e.g. `recovery_min_apply_delay`).
    pub fn standby(&self, settings: &[(&str, &str)]) -> Result<Cluster, ClusterError> {
        let root = tempfile::Builder::new()
            .prefix("zerodown-pg-standby-")
            .tempdir()?;
        let standby = Cluster {
            root,
            bindir: self.bindir.clone(),
            port: free_port()?,
            run_as: self.run_as.clone(),
            // The copy keeps the primary's roles and their passwords.
            password: self.password.clone(),
        };
        standby.own(standby.root.path())?;
        let port = self.port.to_string();
        standby.tool(
            "pg_basebackup",
            &[
                // The primary's socket: local logins need no password, and the standby
                // streams through it too.
                "-h",
                path_str(self.root.path()),
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                path_str(&standby.data()),
                "-R",
                "-X",
                "stream",
                // An immediate checkpoint: a spread one makes the copy wait a minute or more.
                "-c",
                "fast",
                "--no-sync",
            ],
        )?;
        standby.configure(settings)?;
        standby.pg_ctl_start()?;
        Ok(standby)
    }

    /// The cluster's folder (data, socket, server.log), removed when it is dropped.
    pub fn folder(&self) -> &Path {
        self.root.path()
    }

    /// `postgres://postgres:PASSWORD@127.0.0.1:PORT/DB` (print it redacted).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{db}",
            self.password.0, self.port
        )
    }

    /// Adds settings to postgresql.conf (later lines win) and reloads the server.
    pub fn reconfigure(&self, settings: &[(&str, &str)]) -> Result<(), ClusterError> {
        self.configure(settings)?;
        self.tool("pg_ctl", &["-D", path_str(&self.data()), "reload"])
            .map(drop)
    }

    /// Turns TLS on with this server certificate and key (copied into the data folder,
    /// the key private to the server's user), and `ca` to check client certificates.
    pub fn enable_tls(
        &self,
        cert: &Path,
        key: &Path,
        ca: Option<&Path>,
    ) -> Result<(), ClusterError> {
        use std::os::unix::fs::PermissionsExt;
        let mut settings = vec![("ssl", "on".to_owned())];
        for (from, name, setting) in [
            (Some(cert), "server.crt", "ssl_cert_file"),
            (Some(key), "server.key", "ssl_key_file"),
            (ca, "root.crt", "ssl_ca_file"),
        ] {
            let Some(from) = from else { continue };
            let to = self.data().join(name);
            std::fs::copy(from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
            self.own(&to)?;
            settings.push((setting, path_str(&to).to_owned()));
        }
        let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.reconfigure(&settings)
    }

    /// Puts `lines` first in pg_hba.conf (the first matching line wins) and reloads.
    pub fn hba_first(&self, lines: &[&str]) -> Result<(), ClusterError> {
        let path = self.data().join("pg_hba.conf");
        let text = std::fs::read_to_string(&path)?;
        std::fs::write(&path, format!("{}\n{text}", lines.join("\n")))?;
        self.tool("pg_ctl", &["-D", path_str(&self.data()), "reload"])
            .map(drop)
    }

    /// Recreates the schema of the database at `source` in database `db` of this cluster
    /// ([`copy_schema`]).
    pub fn load_schema_from(&self, source: &str, db: &str) -> Result<(), ClusterError> {
        copy_schema(source, &self.url(db))
    }

    /// Stops the server now (as a crash would: no shutdown checkpoint).
    pub fn stop_immediately(&self) -> Result<(), ClusterError> {
        self.tool(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data()),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
        .map(drop)
    }

    /// Starts the server again after a stop.
    pub fn restart(&self) -> Result<(), ClusterError> {
        self.pg_ctl_start()
    }

    fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn configure(&self, settings: &[(&str, &str)]) -> Result<(), ClusterError> {
        let socket_dir = self.root.path();
        let mut conf = format!(
            "\n# zerodown throwaway cluster\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n",
            self.port,
            socket_dir.display()
        );
        for (k, v) in settings {
            conf.push_str(&format!("{k} = '{}'\n", v.replace('\'', "''")));
        }
        let path = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path)?;
        text.push_str(&conf);
        std::fs::write(&path, text)?;
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.root.path().join("server.log");
        let started = self.tool(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data()),
                "-l",
                path_str(&log),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if let Err(e) = started {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(10).collect();
            return Err(ClusterError::Command {
                what: "pg_ctl start".to_owned(),
                detail: format!(
                    "{e}; server log: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ),
            });
        }
        Ok(())
    }

    /// Runs a server tool (as the `postgres` user when we are root).
    fn tool(&self, name: &str, args: &[&str]) -> Result<Output, ClusterError> {
        let program = self.bindir.join(name);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        run(name, cmd.args(args).current_dir(self.root.path()))
    }

    /// Hands the folder to the server's user when we are root.
    fn own(&self, dir: &Path) -> Result<(), ClusterError> {
        if let Some(user) = &self.run_as {
            run(
                "chown",
                Command::new("chown").args([&format!("{user}:"), path_str(dir)]),
            )?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self.stop_immediately();
        }
        // The folder goes with the TempDir; wait for the postmaster to let go of it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.data().join("postmaster.pid").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Recreates the schema of the database at `source` in the database at `target`: every
/// table, type, function, index and constraint, no rows (pg_dump --schema-only piped into
/// psql). Owners, grants, tablespaces, publications and subscriptions are left out: the
/// roles and places they name need not exist there. Only reads `source`.
pub fn copy_schema(source: &str, target: &str) -> Result<(), ClusterError> {
    let bindir = bindir()?;
    let dump = libpq_command(bindir.join("pg_dump"), source)?
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--no-tablespaces",
            "--no-publications",
            "--no-subscriptions",
        ])
        .output()?;
    if !dump.status.success() {
        return Err(ClusterError::Command {
            what: format!("pg_dump of {}", zerodown_exec::redact(source)),
            detail: String::from_utf8_lossy(&dump.stderr)
                .replace(source, &zerodown_exec::redact(source))
                .trim()
                .to_owned(),
        });
    }
    let mut psql = libpq_command(bindir.join("psql"), target)?
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = psql.stdin.take() {
        std::io::Write::write_all(&mut stdin, &dump.stdout)?;
    }
    let out = psql.wait_with_output()?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            what: "loading the schema (psql)".to_owned(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

/// `program` (pg_dump, psql) connecting to `conn` through libpq's environment variables
/// alone: no part of the connection string, password included, is on its command line.
fn libpq_command(program: PathBuf, conn: &str) -> Result<Command, ClusterError> {
    let info = crate::conninfo::ConnInfo::parse(conn, &crate::conninfo::Env::process()).map_err(
        |detail| ClusterError::Command {
            what: format!("connecting to {}", zerodown_exec::redact(conn)),
            detail,
        },
    )?;
    let env = info.child_env();
    let mut cmd = Command::new(program);
    // Only what the connection string says: no PG* of zerodown's own environment mixes in.
    for (key, _) in std::env::vars() {
        if key.starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env);
    Ok(cmd)
}

/// The folder of initdb, pg_ctl and postgres: `pg_config --bindir` when it holds them,
/// else the newest /usr/lib/postgresql/<version>/bin (Debian's layout).
pub fn bindir() -> Result<PathBuf, ClusterError> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| d.join("initdb").exists()) {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| ClusterError::NoBinaries)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .ok_or(ClusterError::NoBinaries)
}

/// Whether the server found by [`bindir`] can load module `name` (e.g.
/// pg_stat_statements, which Debian ships with the server).
pub fn has_library(name: &str) -> bool {
    // <prefix>/bin beside <prefix>/lib, in Debian's layout and a source install's alike.
    bindir()
        .ok()
        .and_then(|b| b.parent().map(|p| p.join("lib").join(format!("{name}.so"))))
        .is_some_and(|p| p.exists())
}

fn is_root() -> Result<bool, ClusterError> {
    let out = run("id -u", Command::new("id").arg("-u"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Runs `cmd`; a failure names it as `what`, with what it printed on stderr.
fn run(what: &str, cmd: &mut Command) -> Result<Output, ClusterError> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            what: what.to_owned(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out)
}

/// A port nobody listens on now (the kernel's pick; the cluster binds it right after).
fn free_port() -> Result<u16, ClusterError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ps` shows every process's command line to every user: no secret may be there.
    #[test]
    fn child_processes_get_the_connection_in_their_environment_only() {
        let conn = "host=db user=app password = 'sec ret' dbname=prod";
        let cmd = libpq_command(PathBuf::from("pg_dump"), conn).expect("command");
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.iter().all(|a| !a.contains("sec")), "{args:?}");
        let password = cmd
            .get_envs()
            .find(|(k, _)| *k == "PGPASSWORD")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()));
        assert_eq!(password.as_deref(), Some("sec ret"));
    }
}
