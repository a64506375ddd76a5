//! Metadata locks: who can be holding one, and DDL that waits for one only briefly.
//!
//! Every statement keeps a shared metadata lock on each table it touched until its
//! transaction ends, and a DDL waiting for the exclusive lock queues every later query on
//! the table behind it. MariaDB shows the holders in `METADATA_LOCK_INFO` only when that
//! plugin is installed (not by default), and its performance_schema is off by default; what
//! every server shows is the open transactions (`INNODB_TRX`) and what their sessions do
//! (`PROCESSLIST`): each of them may hold the lock, the oldest first.

use mysql_async::prelude::Queryable;

use crate::MyError;

/// A session with an open transaction: a possible holder of the metadata lock a DDL waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `CONNECTION_ID()` of the session (what `KILL` takes).
    pub id: u64,
    pub user: String,
    /// `Sleep` for a session idle in its transaction.
    pub command: String,
    pub transaction_seconds: u64,
    /// The statement it is running, if any.
    pub query: Option<String>,
}

/// id, user, command, transaction seconds, statement: text read as bytes, as a
/// statement's text need not be UTF-8 (read as String, such bytes panic the read).
type HolderRow = (u64, Vec<u8>, Vec<u8>, Option<i64>, Option<Vec<u8>>);

/// Bytes the server sent as text, shown as UTF-8 (bytes that are not: U+FFFD).
pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Other sessions with an open InnoDB transaction, oldest first.
pub async fn possible_holders(conn: &mut mysql_async::Conn) -> Result<Vec<Holder>, MyError> {
    let rows: Vec<HolderRow> = conn
        .query(
            "SELECT p.ID, p.USER, p.COMMAND,
                    TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), p.INFO
               FROM information_schema.INNODB_TRX t
               JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
              WHERE p.ID <> CONNECTION_ID()
              ORDER BY t.trx_started",
        )
        .await
        .map_err(|source| MyError::Query {
            what: "open transactions",
            source,
        })?;
    Ok(rows.into_iter().map(holder).collect())
}

/// Sessions that hold a metadata lock on `table` (in `db`, or the current database) now,
/// when the server can tell: MariaDB with the `metadata_lock_info` plugin active, MySQL
/// with performance_schema on (its `metadata_locks` instrument is on by default in 8.0).
/// None when it cannot: then only [`possible_holders`] are known.
pub async fn holders_of(
    conn: &mut mysql_async::Conn,
    db: Option<&str>,
    table: &str,
) -> Result<Option<Vec<Holder>>, MyError> {
    let q = |what| move |source| MyError::Query { what, source };
    let sources: Option<(u64, Option<u64>)> = conn
        .query_first(
            "SELECT (SELECT COUNT(*) FROM information_schema.PLUGINS
                      WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'),
                    @@performance_schema",
        )
        .await
        .map_err(q("metadata lock sources"))?;
    let (mariadb_plugin, performance_schema) = sources.unwrap_or((0, None));
    let query = if mariadb_plugin > 0 {
        "SELECT DISTINCT p.ID, p.USER, p.COMMAND,
                TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), p.INFO
           FROM information_schema.METADATA_LOCK_INFO m
           JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
           LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
          WHERE m.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND m.TABLE_NAME = ?
            AND p.ID <> CONNECTION_ID()"
    } else if performance_schema == Some(1) {
        "SELECT DISTINCT p.ID, p.USER, p.COMMAND,
                TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), p.INFO
           FROM performance_schema.metadata_locks m
           JOIN performance_schema.threads th ON th.THREAD_ID = m.OWNER_THREAD_ID
           JOIN information_schema.PROCESSLIST p ON p.ID = th.PROCESSLIST_ID
           LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
          WHERE m.OBJECT_TYPE = 'TABLE' AND m.LOCK_STATUS = 'GRANTED'
            AND m.OBJECT_SCHEMA = COALESCE(?, DATABASE()) AND m.OBJECT_NAME = ?
            AND p.ID <> CONNECTION_ID()"
    } else {
        return Ok(None);
    };
    let rows: Vec<HolderRow> = conn
        .exec(query, (db, table))
        .await
        .map_err(q("metadata lock holders"))?;
    Ok(Some(rows.into_iter().map(holder).collect()))
}

fn holder((id, user, command, secs, query): HolderRow) -> Holder {
    Holder {
        id,
        user: lossy(&user),
        command: lossy(&command),
        transaction_seconds: secs.unwrap_or(0).max(0).unsigned_abs(),
        query: query.as_deref().map(lossy),
    }
}

/// The state a session shows while it waits for a metadata lock.
pub const MDL_WAIT_STATE: &str = "Waiting for table metadata lock";

/// One session of SHOW FULL PROCESSLIST.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: u64,
    pub db: Option<String>,
    pub state: Option<String>,
    pub info: Option<String>,
}

/// Every session, from SHOW FULL PROCESSLIST. Not information_schema.PROCESSLIST for
/// anything polled: that materialises an Aria temporary table (its INFO is LONGTEXT), and
/// polling it every few milliseconds crashed MariaDB 10.11.19 here (signal 11 in
/// ha_maria::drop_table).
pub async fn processlist(conn: &mut mysql_async::Conn) -> Result<Vec<Session>, mysql_async::Error> {
    let rows: Vec<mysql_async::Row> = conn.query("SHOW FULL PROCESSLIST").await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let text = |i: usize| {
                r.get_opt::<Option<Vec<u8>>, _>(i)
                    .and_then(Result::ok)
                    .flatten()
                    .map(|b| lossy(&b))
            };
            Some(Session {
                id: r.get_opt::<u64, _>(0)?.ok()?,
                db: text(3),
                state: text(6),
                info: text(7),
            })
        })
        .collect())
}

/// Sessions queued for a metadata lock right now.
pub async fn waiting(conn: &mut mysql_async::Conn) -> Result<u64, MyError> {
    let n: Option<u64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST
              WHERE STATE = 'Waiting for table metadata lock' AND ID <> CONNECTION_ID()",
        )
        .await
        .map_err(|source| MyError::Query {
            what: "sessions waiting for a metadata lock",
            source,
        })?;
    Ok(n.unwrap_or(0))
}

/// How a DDL attempt ended.
#[derive(Debug)]
pub enum Attempt {
    Done,
    /// The metadata lock was not granted within the timeout (error 1205): nothing changed,
    /// and clients queued behind the attempt waited at most that long.
    LockTimeout,
    Failed(mysql_async::Error),
}

/// MySQL's and MariaDB's "Lock wait timeout exceeded".
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;

/// Runs `ddl` waiting at most `timeout_secs` for its metadata lock (session
/// `lock_wait_timeout`; whole seconds, the server's unit).
pub async fn ddl_with_timeout(
    conn: &mut mysql_async::Conn,
    ddl: &str,
    timeout_secs: u32,
) -> Result<Attempt, MyError> {
    conn.query_drop(format!(
        "SET SESSION lock_wait_timeout = {}",
        timeout_secs.max(1)
    ))
    .await
    .map_err(|source| MyError::Query {
        what: "setting lock_wait_timeout",
        source,
    })?;
    Ok(match conn.query_drop(ddl).await {
        Ok(()) => Attempt::Done,
        Err(mysql_async::Error::Server(e)) if e.code == ER_LOCK_WAIT_TIMEOUT => {
            Attempt::LockTimeout
        }
        Err(e) => Attempt::Failed(e),
    })
}
