//! When a copy of rows should wait: while a replica lags more than allowed, or while more
//! sessions run statements than allowed. The executor asks through `Database` between
//! backfill batches; the online rebuild's copy asks here between chunks.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_exec::events::{busy_reason, lag_reason};
use zerodown_exec::DriverError;

use crate::errors::classify;
use crate::replicas::Replicas;

/// How often a waiting copy looks again at the busy sessions.
const POLL: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct Throttle {
    pub replicas: Replicas,
    pub max_lag: Duration,
    pub max_busy: Option<u32>,
}

/// Sessions running a statement now, not counting this one (`Threads_running`).
pub async fn busy_sessions(c: &mut Conn) -> Result<Option<u32>, DriverError> {
    let row: Option<(String, u32)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Threads_running'")
        .await
        .map_err(|e| classify(&e))?;
    Ok(row.map(|(_, n)| n.saturating_sub(1)))
}

impl Throttle {
    /// Waits until no replica lags more than `max_lag` and at most `max_busy` sessions
    /// run statements, telling `waiting` why and for how long before each wait. A
    /// measurement that fails ends the wait (as the executor does): an unreachable
    /// replica must not stop the copy for ever.
    pub async fn wait(
        &mut self,
        c: &mut Conn,
        db: &str,
        waiting: &mut (dyn FnMut(String, Duration) + Send),
    ) {
        while let Ok(Some(lag)) = self.replicas.lag(c, db).await {
            if lag <= self.max_lag {
                break;
            }
            let delay = lag.min(Duration::from_secs(5));
            waiting(lag_reason(lag), delay);
            tokio::time::sleep(delay).await;
        }
        let Some(max) = self.max_busy else {
            return;
        };
        while let Ok(Some(busy)) = busy_sessions(c).await {
            if busy <= max {
                break;
            }
            waiting(busy_reason(busy, max), POLL);
            tokio::time::sleep(POLL).await;
        }
    }
}
