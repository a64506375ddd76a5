//! Test support: where the test PostgreSQL is, and schemas each test owns.
//!
//! `ZERODOWN_TEST_PG` names the server (default: the local service on 127.0.0.1:5432,
//! database `test`, user `postgres`, as `scripts/setup.sh` leaves it).

mod mysql;
pub mod pgbouncer;
pub mod tls;
pub mod tools;
pub use mysql::{my_admin, my_base_url, MyTestDatabase};

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::{Client, NoTls};

/// Connection string of the test PostgreSQL.
pub fn pg_conn() -> String {
    std::env::var("ZERODOWN_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".to_owned())
}

/// Connects to the test PostgreSQL; panics with a hint when it is not running.
pub async fn connect() -> Client {
    let conn = pg_conn();
    let (client, connection) = tokio_postgres::connect(&conn, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("test PostgreSQL at {conn:?} is not reachable ({e}); run scripts/setup.sh")
        });
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for a test-owned object: `zdt_<tag>_<pid>_<n>_<time>`.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("zdt_{tag}_{}_{n}_{t}", std::process::id())
}

/// A schema the test owns; [`TestSchema::drop`] removes it and all it holds.
pub struct TestSchema {
    pub name: String,
}

impl TestSchema {
    pub async fn create(client: &Client, tag: &str) -> TestSchema {
        let name = unique_name(tag);
        client
            .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
            .await
            .expect("create test schema");
        TestSchema { name }
    }

    /// Drops the schema with everything in it.
    pub async fn drop(self, client: &Client) {
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
            .await
            .expect("drop test schema");
    }
}

/// Drops the test databases of test processes that are gone: a test that fails panics
/// before its own cleanup, and its database would otherwise stay on the shared server.
async fn drop_orphaned_databases(admin: &Client) {
    if !std::path::Path::new("/proc/self").exists() {
        return; // no way to tell a live process from a gone one
    }
    let Ok(rows) = admin
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'zdt\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for r in rows {
        let name: String = r.get(0);
        // zdt_<tag>_<pid>_<n>_<time>: the pid is third from the end.
        let pid = name.rsplit('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_none_or(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            let _ = admin
                .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

/// Base URL of the test server (no database), for commands that take a URL.
pub fn pg_base_url() -> String {
    std::env::var("ZERODOWN_TEST_PG_BASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database the test owns (runs of `zerodown apply` keep state and a database-wide
/// run lock, so they need one each), owned by a role of the same name that is no
/// superuser: zerodown runs in it as a migration owner would, with the rights a
/// database owner has and nothing more. [`TestDatabase::drop`] removes both.
pub struct TestDatabase {
    pub name: String,
}

impl TestDatabase {
    pub async fn create(admin: &Client, tag: &str) -> TestDatabase {
        drop_orphaned_databases(admin).await;
        let name = unique_name(tag);
        admin
            .batch_execute(&format!(
                "CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
            ))
            .await
            .expect("create the test database's owner");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""))
            .await
            .expect("create test database");
        TestDatabase { name }
    }

    /// `postgres://<owner>@…/<name>`: the database's owner, no superuser.
    pub fn url(&self) -> String {
        let base = pg_base_url();
        let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", &base));
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{}@{host}/{}", self.name, self.name)
    }

    /// Makes the database's owner a member of `role` (e.g. `pg_signal_backend`), as a
    /// DBA grants a migration role what an option needs; gone with the owner.
    pub async fn grant(&self, admin: &Client, role: &str) {
        admin
            .batch_execute(&format!("GRANT \"{role}\" TO \"{}\"", self.name))
            .await
            .expect("grant a role to the test database's owner");
    }

    /// The database as the test server's superuser sees it, for what a test sets up
    /// around zerodown (other roles, server settings).
    pub fn admin_url(&self) -> String {
        format!("{}/{}", pg_base_url(), self.name)
    }

    /// A connected client on this database.
    pub async fn connect(&self) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Drops the database, ending any session still in it.
    pub async fn drop(self, admin: &Client) {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .expect("drop test database");
        admin
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{}\"", self.name))
            .await
            .expect("drop the test database's owner");
    }
}
