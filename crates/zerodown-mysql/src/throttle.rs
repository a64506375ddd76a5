//! When a copy of rows should wait: while a replica lags more than allowed or cannot be
//! measured, or while more sessions run statements than allowed. The executor asks through `Database` between
//! backfill batches; the online rebuild's copy asks here between chunks.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use zerodown_exec::events::{busy_reason, lag_reason, unknown_reason};
use zerodown_exec::{DriverError, ReplicaLag};

use crate::errors::classify;
use crate::replicas::Replicas;

/// How often a waiting copy looks again at the busy sessions.
const POLL: Duration = Duration::from_millis(250);

pub struct Throttle {
    pub replicas: Replicas,
    pub max_lag: Duration,
    pub max_busy: Option<u32>,
    /// How long a replica's lag may stay unknown before the copy stops.
    pub max_lag_unknown: Duration,
    /// Set by Ctrl-C: the copy stops at its next chunk, resumable.
    pub interrupt: Arc<AtomicBool>,
    unknown_since: Option<Instant>,
}

/// Sessions running a statement now, not counting this one (`Threads_running`).
pub async fn busy_sessions(c: &mut Conn) -> Result<Option<u32>, DriverError> {
    let row: Option<(String, u32)> = c
        .query_first("SHOW GLOBAL STATUS LIKE 'Threads_running'")
        .await
        .map_err(|e| classify(&e))?;
    Ok(row.map(|(_, n)| n.saturating_sub(1)))
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            replicas: Replicas::default(),
            max_lag: Duration::from_secs(10),
            max_busy: None,
            max_lag_unknown: Duration::from_secs(300),
            interrupt: Arc::default(),
            unknown_since: None,
        }
    }
}

impl Throttle {
    /// Why the copy should wait now and for how long; None: go on. A replica whose lag
    /// cannot be read is waited for like a lagging one, for at most `max_lag_unknown`,
    /// then the copy stops (resumable), as it does on Ctrl-C.
    pub async fn hold(
        &mut self,
        c: &mut Conn,
        db: &str,
    ) -> Result<Option<(String, Duration)>, DriverError> {
        if self.interrupt.load(Ordering::Relaxed) {
            return Err(DriverError::permanent(
                "interrupted during the copy; `zerodown resume` goes on from its last chunk",
            ));
        }
        let lag = match self.replicas.lag(c, db).await {
            Ok(lag) => lag,
            Err(e) => ReplicaLag::Unknown(e.message),
        };
        if let ReplicaLag::Unknown(why) = &lag {
            let since = *self.unknown_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.max_lag_unknown {
                return Err(DriverError::permanent(format!(
                    "the copy stopped: the replicas' lag could not be read for {} s ({why}); \
                     `zerodown resume` goes on from its last chunk once they are back",
                    since.elapsed().as_secs()
                )));
            }
            return Ok(Some((unknown_reason(why), Duration::from_secs(1))));
        }
        self.unknown_since = None;
        if let ReplicaLag::Worst(lag) = lag {
            if lag > self.max_lag {
                return Ok(Some((lag_reason(lag), lag.min(Duration::from_secs(5)))));
            }
        }
        if let Some(max) = self.max_busy {
            if let Some(busy) = busy_sessions(c).await?.filter(|b| *b > max) {
                return Ok(Some((busy_reason(busy, max), POLL)));
            }
        }
        Ok(None)
    }
}
