//! Whether a connection string reaches a server session of its own, or goes through a
//! pooler that hands each transaction whatever server session is free (PgBouncer,
//! Supavisor, RDS Proxy in transaction mode). zerodown's sessions keep state between
//! transactions: the run lock is a session advisory lock, a `CONCURRENTLY` step runs
//! under session timeouts, and tokio-postgres prepares named statements in one round
//! trip and runs them in the next. Through such a pooler the lock would not exclude a
//! second runner, a timeout could guard another client's statement, and a statement
//! could be run on a session that never prepared it. So it is found out, never assumed.
//!
//! Two tests, no privilege needed. The server reports the address its client connected
//! from: when that is this process's own socket, nothing is in between (definitive).
//! Otherwise (a proxy, NAT, a pooler, or a Unix socket, which tells nothing) two client
//! connections ask for their server session's pid in turns: a pooler in transaction
//! mode hands one session to both, or another one to the same client, which a session
//! of one's own never does.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use crate::conninfo::{ConnInfo, Env};
use crate::PgError;

/// What stands between zerodown and the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The server's client is this process's socket.
    Direct,
    /// Something relays the connection (a proxy, NAT, a session-mode pooler) and kept
    /// one server session per client connection through every probe.
    Relayed { seen: String },
    /// Server sessions are shared between clients or change under one: a pooler in
    /// transaction or statement mode.
    Pooled { evidence: String },
}

/// Rounds of the two-client probe. A pooler in transaction mode gives itself away in
/// the first round unless other clients take its free sessions in between every time.
const ROUNDS: usize = 6;

static SEEN: Mutex<Option<HashMap<String, Route>>> = Mutex::new(None);

/// The route of `conn`, found once per process.
pub async fn route(conn: &str) -> Result<Route, PgError> {
    if let Some(known) = SEEN
        .lock()
        .ok()
        .and_then(|seen| seen.as_ref().and_then(|s| s.get(conn).cloned()))
    {
        return Ok(known);
    }
    let found = probe(conn).await?;
    if let Ok(mut seen) = SEEN.lock() {
        seen.get_or_insert_with(HashMap::new)
            .insert(conn.to_owned(), found.clone());
    }
    Ok(found)
}

async fn probe(conn: &str) -> Result<Route, PgError> {
    let failed = |source| PgError::Connect {
        target: zerodown_exec::redact(conn),
        source,
        note: None,
    };
    let info = ConnInfo::parse(conn, &Env::process())
        .map_err(|d| failed(crate::tls::ConnectError::Settings(d)))?;
    let (a, local) = crate::tls::connect_observed(&info).await.map_err(failed)?;
    let row = first_row(&a, "SELECT host(inet_client_addr()), inet_client_port()").await?;
    let seen_addr = row.first().cloned().flatten();
    let seen_port: Option<i32> = row.get(1).cloned().flatten().and_then(|p| p.parse().ok());
    let seen = match (seen_addr.as_deref(), seen_port) {
        (Some(addr), Some(port)) => Some(format!("{addr}:{port}")),
        _ => None,
    };
    if let (Some(local), Some(addr), Some(port)) = (local, seen_addr.as_deref(), seen_port) {
        if same_socket(local, addr, port) {
            return Ok(Route::Direct);
        }
    }
    let b = crate::tls::connect(&info).await.map_err(failed)?;
    let pid = "SELECT pg_backend_pid()";
    let (mut of_a, mut of_b) = (BTreeSet::new(), BTreeSet::new());
    for _ in 0..ROUNDS {
        of_a.insert(first_row(&a, pid).await?.first().cloned().flatten());
        of_b.insert(first_row(&b, pid).await?.first().cloned().flatten());
    }
    let shared = of_a.intersection(&of_b).next().cloned().flatten();
    if let Some(pid) = shared {
        return Ok(Route::Pooled {
            evidence: format!("two connections were served by one server session (pid {pid})"),
        });
    }
    if of_a.len() > 1 || of_b.len() > 1 {
        let moved = if of_a.len() > 1 { &of_a } else { &of_b };
        return Ok(Route::Pooled {
            evidence: format!(
                "one connection was served by {} server sessions in turn (pids {})",
                moved.len(),
                moved
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(match (local, seen) {
        (Some(local), Some(seen)) => Route::Relayed {
            seen: format!("the server sees its client at {seen}, this socket is {local}"),
        },
        (Some(local), None) => Route::Relayed {
            seen: format!("the server sees a Unix-socket client, this socket is {local}"),
        },
        (None, _) => Route::Direct,
    })
}

/// The first row of `sql` as text. The simple protocol: one message, no named
/// statement, so it works through any pooler.
async fn first_row(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Option<String>>, PgError> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|source| PgError::Query {
            what: "the route to the server",
            source,
        })?;
    Ok(crate::driver::first_row(&messages)
        .map(|r| (0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
        .unwrap_or_default())
}

/// Whether the server's view of its client (`addr`, `port`) is `local`, IPv4 written
/// plainly or IPv6-mapped.
fn same_socket(local: SocketAddr, addr: &str, port: i32) -> bool {
    let Ok(seen) = addr.parse::<IpAddr>() else {
        return false;
    };
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    i32::from(local.port()) == port && canonical(local.ip()) == canonical(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_socket_whatever_the_spelling() {
        let local: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
        assert!(same_socket(local, "127.0.0.1", 40000));
        assert!(!same_socket(local, "127.0.0.1", 40001));
        assert!(!same_socket(local, "10.0.0.1", 40000));
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().expect("addr");
        assert!(same_socket(mapped, "127.0.0.1", 40000));
        assert!(!same_socket(local, "garbage", 40000));
    }
}
