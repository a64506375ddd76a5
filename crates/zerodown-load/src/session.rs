//! One client's connection and its prepared statements, on PostgreSQL (tokio-postgres)
//! or MySQL/MariaDB (mysql_async: server-side prepared statements, binary protocol, as
//! most application drivers use them).

use mysql_async::prelude::Queryable;

use crate::Op;

/// application_name of the PostgreSQL clients, unless the connection string names one:
/// tells them apart from other sessions in pg_stat_activity and pg_locks.
pub const APP_NAME: &str = "zerodown load";

pub enum Session {
    Pg {
        client: tokio_postgres::Client,
        statements: Vec<tokio_postgres::Statement>,
    },
    My {
        conn: mysql_async::Conn,
        statements: Vec<mysql_async::Statement>,
    },
}

/// Whether a connection string is for MySQL/MariaDB.
fn is_mysql(conn: &str) -> bool {
    conn.starts_with("mysql://") || conn.starts_with("mariadb://")
}

impl Session {
    /// Connects and prepares every operation (`$1` on PostgreSQL, `?` on MySQL).
    pub async fn open(conn: &str, ops: &[Op]) -> Result<Session, String> {
        if is_mysql(conn) {
            let mut conn = zerodown_mysql::connect(conn)
                .await
                .map_err(|e| e.to_string())?;
            let mut statements = Vec::new();
            for op in ops {
                statements.push(conn.prep(&op.sql).await.map_err(|e| e.to_string())?);
            }
            return Ok(Session::My { conn, statements });
        }
        // TLS, PG* variables and .pgpass as libpq reads them.
        let env = zerodown_pg::conninfo::Env::process();
        let mut info = zerodown_pg::conninfo::ConnInfo::parse(conn, &env)?;
        if info.config.get_application_name().is_none() {
            info.config.application_name(APP_NAME);
        }
        let client = zerodown_pg::tls::connect(&info)
            .await
            .map_err(|e| e.to_string())?;
        let mut statements = Vec::new();
        for op in ops {
            statements.push(client.prepare(&op.sql).await.map_err(|e| e.to_string())?);
        }
        Ok(Session::Pg { client, statements })
    }

    /// The server's id of this session (MySQL's connection id), to tell the clients
    /// apart from other sessions; PostgreSQL tells them by application_name.
    pub fn server_id(&self) -> Option<u64> {
        match self {
            Session::Pg { .. } => None,
            Session::My { conn, .. } => Some(u64::from(conn.id())),
        }
    }

    /// Whether the server ended the session (a client then stops).
    pub fn is_closed(&self) -> bool {
        match self {
            Session::Pg { client, .. } => client.is_closed(),
            Session::My { .. } => false,
        }
    }

    /// Runs operation `idx` with `key` for its parameter (if it has one); an error is
    /// the server's message.
    pub async fn run(&mut self, idx: usize, key: i64) -> Result<(), String> {
        match self {
            Session::Pg { client, statements } => {
                let stmt = &statements[idx];
                let result = if stmt.params().is_empty() {
                    client.execute(stmt, &[]).await
                } else {
                    client.execute(stmt, &[&key]).await
                };
                result.map(drop).map_err(|e| {
                    e.as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
                })
            }
            Session::My { conn, statements } => {
                let stmt = &statements[idx];
                let result = if stmt.num_params() == 0 {
                    conn.exec_drop(stmt, ()).await
                } else {
                    conn.exec_drop(stmt, (key,)).await
                };
                result.map_err(|e| match e {
                    mysql_async::Error::Server(s) => s.message,
                    other => other.to_string(),
                })
            }
        }
    }

    /// A MySQL connection left open would wait for the server to notice.
    pub async fn close(self) {
        if let Session::My { conn, .. } = self {
            let _ = conn.disconnect().await;
        }
    }
}
