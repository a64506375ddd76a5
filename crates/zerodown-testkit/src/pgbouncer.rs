//! A throwaway PgBouncer (Debian's `pgbouncer`, installed by scripts/setup.sh) in front
//! of a PostgreSQL server, on a private port, stopped and removed when dropped.
//! PgBouncer refuses to run as root: as root it runs as the `postgres` user.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// PgBouncer's `pool_mode`.
#[derive(Debug, Clone, Copy)]
pub enum PoolMode {
    Session,
    Transaction,
}

pub struct Pgbouncer {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Pgbouncer {
    /// Pools connections to every database of the server at `host:port` for `user`
    /// (whose logins there need no password), `pool_size` server sessions per database.
    pub fn start(host: &str, port: u16, user: &str, mode: PoolMode, pool_size: u32) -> Pgbouncer {
        let dir = tempfile::Builder::new()
            .prefix("zerodown-pgbouncer-")
            .tempdir()
            .expect("temp dir");
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mode = match mode {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        };
        let path = |name: &str| dir.path().join(name).display().to_string();
        let ini = format!(
            "[databases]\n* = host={host} port={port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {listen}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {users}\npool_mode = {mode}\n\
             default_pool_size = {pool_size}\nmax_client_conn = 500\n\
             logfile = {log}\npidfile = {pid}\n",
            users = path("users.txt"),
            log = path("pgbouncer.log"),
            pid = path("pgbouncer.pid"),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).expect("ini");
        std::fs::write(dir.path().join("users.txt"), format!("\"{user}\" \"\"\n")).expect("users");
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let program = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("pgbouncer");
        let mut cmd = if is_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(chown.success());
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]);
            c
        } else {
            Command::new(program)
        };
        let child = cmd
            .arg(path("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer (scripts/setup.sh installs it)");
        let bouncer = Pgbouncer {
            dir,
            child,
            port: listen,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not start: {}",
                std::fs::read_to_string(bouncer.dir.path().join("pgbouncer.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// A libpq `key=value` string for database `db` through the pooler.
    pub fn conn(&self, user: &str, db: &str) -> String {
        format!("host=127.0.0.1 port={} user={user} dbname={db}", self.port)
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        // pgbouncer may run under runuser: signal the pooler itself through its pid file.
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pgbouncer.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
