//! Throwaway MariaDB servers from the binaries installed on this machine
//! (mariadb-install-db + mariadbd in a temporary folder, on a private port, with a row
//! binary log): for tests and benchmarks that need a binlog, a crash or a restart without
//! touching a shared server. Stopped and removed when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the throwaway MariaDB did not accept connections within 60 s (see {0})")]
    NotReady(String),
}

/// A running throwaway MariaDB on 127.0.0.1. It holds a copy of a real schema: root logs
/// in with a password generated at its start, carried by [`Server::url`] only.
pub struct Server {
    root: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
    /// None until set, right after the first start.
    password: Option<String>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("root", &self.root.path())
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Server {
    /// Initialises and starts a server with a row-based binary log; `extra` are more
    /// `mariadbd` options (`--innodb-buffer-pool-size=1G`).
    pub fn start(extra: &[&str]) -> Result<Server, ServerError> {
        let root = tempfile::Builder::new()
            .prefix("zerodown-mariadb-")
            .tempdir()?;
        let data = root.path().join("data");
        // Temporary tables in a folder of its own: bootstraps running at once in the
        // shared /tmp collided on a temporary table's name ("Could not remove temporary
        // table '/tmp/#sql-temptable-…'", then "Unknown table 'mysql.tmp_user_sys'").
        let tmp = root.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let mut install = Command::new("mariadb-install-db");
        install.args([
            "--no-defaults",
            &format!("--datadir={}", data.display()),
            &format!("--tmpdir={}", tmp.display()),
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]);
        if is_root() {
            install.arg("--user=root");
        }
        let out = install.output()?;
        if !out.status.success() {
            return Err(ServerError::Command {
                what: "mariadb-install-db".into(),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let mut server = Server {
            port: free_port()?,
            root,
            child: None,
            password: None,
        };
        server.launch(extra)?;
        server.set_root_password()?;
        Ok(server)
    }

    /// Gives root (over TCP and the socket) a generated password. The statement goes in
    /// on the client's stdin and the password in its environment: never on a command line.
    fn set_root_password(&mut self) -> Result<(), ServerError> {
        let password = zerodown_exec::generate_password()?;
        // Not in the binary log: a replica reading it from the start would take the
        // primary's password for its own root.
        let sql: String = std::iter::once("SET sql_log_bin = 0;\n".to_owned())
            .chain(["localhost", "127.0.0.1", "::1"].iter().map(|host| {
                format!("ALTER USER IF EXISTS 'root'@'{host}' IDENTIFIED BY '{password}';\n")
            }))
            .collect();
        let mut client = self
            .client()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = client.stdin.take() {
            std::io::Write::write_all(&mut stdin, sql.as_bytes())?;
        }
        let out = client.wait_with_output()?;
        if !out.status.success() {
            return Err(ServerError::Command {
                what: "setting root's password".into(),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        self.password = Some(password);
        Ok(())
    }

    /// The mariadb client on this server's TCP port as root (with the password, once
    /// set, in its environment).
    fn client(&self) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{}", self.port),
            "-uroot",
        ]);
        if let Some(p) = &self.password {
            cmd.env("MYSQL_PWD", p);
        }
        cmd
    }

    /// Root's password (for a replica's CHANGE MASTER TO).
    pub fn password(&self) -> &str {
        self.password.as_deref().unwrap_or_default()
    }

    fn launch(&mut self, extra: &[&str]) -> Result<(), ServerError> {
        let dir = self.root.path();
        let log = std::fs::File::create(dir.join("server.log"))?;
        let mut cmd = Command::new("mariadbd");
        cmd.args([
            "--no-defaults".to_owned(),
            format!("--datadir={}", dir.join("data").display()),
            format!("--socket={}", dir.join("mariadb.sock").display()),
            format!("--tmpdir={}", dir.join("tmp").display()),
            format!("--pid-file={}", dir.join("mariadb.pid").display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".into(),
            format!("--log-bin={}", dir.join("binlog").display()),
            "--binlog-format=ROW".into(),
            "--server-id=1".into(),
            "--skip-name-resolve".into(),
            "--innodb-buffer-pool-size=512M".into(),
        ]);
        cmd.args(extra);
        if is_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn()?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), ServerError> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            // Over TCP, and the server that answers must be this one (its socket is
            // ours): two servers started at once could be handed the same free port.
            let socket = self.root.path().join("mariadb.sock");
            let ok = self
                .client()
                .args(["-N", "-e", "SELECT @@socket"])
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|o| {
                    o.status.success()
                        && String::from_utf8_lossy(&o.stdout).trim() == socket.display().to_string()
                });
            if ok {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ServerError::Command {
                        what: "mariadbd".into(),
                        detail: format!("exited with {status}: {}", self.log_tail()),
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(ServerError::NotReady(
            self.root.path().join("server.log").display().to_string(),
        ))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.root.path().join("server.log")).unwrap_or_default();
        log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
    }

    /// `mysql://root:<password>@127.0.0.1:<port>/<db>` (print it redacted).
    pub fn url(&self, db: &str) -> String {
        format!(
            "mysql://root:{}@127.0.0.1:{}/{db}",
            self.password(),
            self.port
        )
    }

    /// Kills the server like a crash (SIGKILL) and starts it again on the same data.
    pub fn crash_and_restart(&mut self, extra: &[&str]) -> Result<(), ServerError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.launch(extra)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM lets it shut down; the folder goes either way.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
