//! Change capture from the binary log: a task that reads the row events of one table from
//! a start position, and keeps the keys of the rows they touched (de-duplicated) and how
//! far it has read. Only keys are taken from the events: the rebuild copies those rows
//! again from the table itself, which is idempotent and needs no value decoding.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use mysql_async::binlog::events::EventData;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Value};
use zerodown_exec::DriverError;

use crate::errors::classify;

/// A position in the binary log: (file, offset); files sort by name.
pub type Position = (String, u64);

/// What the capture task has seen so far.
#[derive(Debug, Default)]
pub struct Captured {
    /// Keys of rows changed since they were last taken.
    pub keys: BTreeSet<Vec<String>>,
    /// The position after the last event read.
    pub read_to: Position,
    /// Why the task stopped, if it did.
    pub error: Option<String>,
    /// Row events of the table seen in all.
    pub rows_seen: u64,
}

/// The server's current binary log position (`SHOW MASTER STATUS`).
pub async fn current_position(c: &mut Conn) -> Result<Position, DriverError> {
    let row: Option<mysql_async::Row> = c
        .query_first("SHOW MASTER STATUS")
        .await
        .map_err(|e| classify(&e))?;
    let row = row.ok_or_else(|| {
        DriverError::permanent(
            "the server has no binary log: the online rebuild reads changes from it (start the server with log_bin and binlog_format=ROW)",
        )
    })?;
    let file: String = row.get(0).unwrap_or_default();
    let pos: u64 = row.get(1).unwrap_or_default();
    Ok((file, pos))
}

/// Whether this user may read the binary log as the online rebuild does: its position
/// (BINLOG MONITOR on MariaDB 10.5+, REPLICATION CLIENT on MySQL) and a dump of it
/// (REPLICATION SLAVE). Each privilege missing is named with its GRANT.
pub async fn may_read(opts: &crate::tls::ConnOpts, c: &mut Conn) -> Vec<String> {
    let denied = |e: &DriverError| matches!(e.code.as_deref(), Some("1227" | "1045" | "1044"));
    let mut missing = Vec::new();
    let from = match current_position(c).await {
        Ok(p) => p,
        Err(e) if denied(&e) => {
            missing.push(
                "the online rebuild reads the binary log's position: GRANT BINLOG MONITOR ON *.* (MariaDB 10.5+) or REPLICATION CLIENT ON *.* (MySQL) TO the user"
                    .to_owned(),
            );
            return missing;
        }
        Err(_) => return missing, // said, with what to do, when the rebuild starts
    };
    let Ok(dump) = opts.connect().await else {
        return missing;
    };
    let request = BinlogStreamRequest::new(4_000_000_000 - fastrand_u32() % 1_000_000)
        .with_filename(from.0.as_bytes())
        .with_pos(from.1);
    // The dump answers at once with its first events, or with the refusal.
    let refused = match dump.get_binlog_stream(request).await {
        Err(e) => denied(&classify(&e)),
        Ok(mut stream) => {
            let first =
                tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await;
            let _ = stream.close().await;
            matches!(first, Ok(Some(Err(e))) if denied(&classify(&e)))
        }
    };
    if refused {
        missing.push(
            "the online rebuild reads the binary log as a replica does: GRANT REPLICATION SLAVE ON *.* TO the user"
                .to_owned(),
        );
    }
    missing
}

/// A number to tell this probe's replica id apart from others'.
fn fastrand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Whether `file` is still one of the server's binary logs (`SHOW BINARY LOGS`): a
/// purge (`expire_logs_days`, `PURGE BINARY LOGS`) removes the oldest.
pub async fn on_server(c: &mut Conn, file: &str) -> Result<bool, DriverError> {
    let logs: Vec<mysql_async::Row> = c
        .query("SHOW BINARY LOGS")
        .await
        .map_err(|e| classify(&e))?;
    Ok(logs
        .iter()
        .any(|r| r.get::<String, _>(0).as_deref() == Some(file)))
}

/// A key column of the rows read.
#[derive(Debug, Clone, Copy)]
pub struct KeyColumn {
    /// Its position in the row.
    pub position: usize,
    /// For an integer column, its width in bits.
    pub integer_bits: Option<u32>,
    /// Whether it is unsigned: MariaDB's row events do not say so (unless
    /// binlog_row_metadata is on), so its values arrive read as signed, 3000000000 in an
    /// INT UNSIGNED as -1294967296.
    pub unsigned: bool,
}

impl KeyColumn {
    /// The width to read a negative value back into an unsigned range with.
    fn unsigned_bits(&self) -> Option<u32> {
        self.integer_bits.filter(|_| self.unsigned)
    }
}

/// A key value as text (what the copy's SQL compares with).
fn text(v: &BinlogValue<'_>, unsigned_bits: Option<u32>) -> String {
    match v {
        BinlogValue::Value(Value::Int(i)) => match unsigned_bits {
            Some(bits) if *i < 0 => (i128::from(*i) + (1i128 << bits)).to_string(),
            _ => i.to_string(),
        },
        BinlogValue::Value(Value::UInt(u)) => u.to_string(),
        BinlogValue::Value(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        BinlogValue::Value(Value::Float(f)) => f.to_string(),
        BinlogValue::Value(Value::Double(f)) => f.to_string(),
        BinlogValue::Value(other) => other.as_sql(true).trim_matches('\'').to_owned(),
        other => format!("{other:?}"),
    }
}

/// Starts reading `db.table`'s row events from `from` on a connection of its own (as a
/// replica with `server_id`). `key_columns`: where the key's columns are in the row.
pub async fn start(
    opts: crate::tls::ConnOpts,
    server_id: u32,
    from: Position,
    db: String,
    table: String,
    key_columns: Vec<KeyColumn>,
) -> Result<(Arc<Mutex<Captured>>, tokio::task::JoinHandle<()>), DriverError> {
    let mut conn = opts.connect().await.map_err(|e| classify(&e))?;
    let checksum: Option<String> = conn
        .query_first("SELECT @@global.binlog_checksum")
        .await
        .map_err(|e| classify(&e))?;
    let crc = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
    let captured = Arc::new(Mutex::new(Captured {
        read_to: from.clone(),
        ..Captured::default()
    }));
    let request = BinlogStreamRequest::new(server_id)
        .with_filename(from.0.as_bytes())
        .with_pos(from.1);
    let mut stream = conn
        .get_binlog_stream(request)
        .await
        .map_err(|e| classify(&e))?;
    let shared = captured.clone();
    let task = tokio::spawn(async move {
        let mut file = from.0;
        let mut format_seen = false;
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    lock(&shared).error = Some(format!("reading the binary log: {e}"));
                    return;
                }
            };
            let mut keys = Vec::new();
            match event.read_data() {
                Ok(Some(EventData::FormatDescriptionEvent(_))) => format_seen = true,
                Ok(Some(EventData::RotateEvent(r))) => {
                    file = rotate_name(r.name_raw(), crc && !format_seen);
                }
                Ok(Some(EventData::RowsEvent(rows))) => {
                    let Some(tme) = stream.get_tme(rows.table_id()) else {
                        continue;
                    };
                    if tme.database_name() != db || tme.table_name() != table {
                        continue;
                    }
                    for row in rows.rows(tme) {
                        let Ok((before, after)) = row else {
                            lock(&shared).error = Some("a row event could not be read".into());
                            return;
                        };
                        for image in [before, after].into_iter().flatten() {
                            let key: Option<Vec<String>> = key_columns
                                .iter()
                                .map(|k| {
                                    image.as_ref(k.position).map(|v| text(v, k.unsigned_bits()))
                                })
                                .collect();
                            keys.extend(key);
                        }
                    }
                }
                _ => {}
            }
            let log_pos = u64::from(event.header().log_pos());
            let mut c = lock(&shared);
            c.rows_seen += keys.len() as u64;
            c.keys.extend(keys);
            // Fake rotate events carry position 0; real events the end of themselves.
            if log_pos > 0 {
                c.read_to = (file.clone(), log_pos);
            } else {
                c.read_to.0 = file.clone();
            }
        }
        lock(&shared).error = Some("the binary log stream ended".into());
    });
    Ok((captured, task))
}

/// The file a Rotate event names. The stream opens with a rotate the server makes up
/// before its format description, so the reader does not know yet that events end in a
/// checksum and reads the 4 bytes of it as part of the name (`binlog.000001` + 4
/// bytes): such a name, compared as text, sorted after every position of the real file
/// and made every "has the reader caught up" true at once (client writes were lost at
/// the cut-over). `checksum_in_name`: a rotate read before any format description, on
/// a server whose events carry a checksum.
fn rotate_name(raw: &[u8], checksum_in_name: bool) -> String {
    let name = match raw.len().checked_sub(4) {
        Some(end) if checksum_in_name => &raw[..end],
        _ => raw,
    };
    String::from_utf8_lossy(name).into_owned()
}

pub fn lock(c: &Mutex<Captured>) -> std::sync::MutexGuard<'_, Captured> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the capture has read up to `target`. Files compare by their number, where
/// both have one: after `binlog.999999` the server writes `binlog.1000000` (MariaDB
/// goes up to 2147483647), which sorts before it as text: a capture still in the old
/// file would have seemed caught up, and a cut-over could have swapped without the
/// changes of the new one.
pub fn reached(c: &Captured, target: &Position) -> bool {
    let number = |file: &str| {
        file.rsplit_once('.')
            .and_then(|(_, n)| n.parse::<u64>().ok())
    };
    let (read, want) = (&c.read_to, target);
    match (number(&read.0), number(&want.0)) {
        (Some(r), Some(w)) if r != w => r > w,
        _ if read.0 != want.0 => read.0 > want.0,
        _ => read.1 >= want.1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checksum_read_into_the_first_rotate_name_is_dropped() {
        let mut raw = b"binlog.000001".to_vec();
        raw.extend([0xb1, 0x0e, 0x04, 0x83]);
        assert_eq!(rotate_name(&raw, true), "binlog.000001");
        assert_eq!(rotate_name(b"binlog.000002", false), "binlog.000002");
    }

    #[test]
    fn unsigned_keys_read_as_signed_are_turned_back() {
        let v = |i: i64| BinlogValue::Value(Value::Int(i));
        assert_eq!(text(&v(-1_294_967_296), Some(32)), "3000000000");
        assert_eq!(text(&v(-1), Some(64)), "18446744073709551615");
        assert_eq!(text(&v(-1), Some(24)), "16777215");
        assert_eq!(text(&v(-1), None), "-1");
        assert_eq!(text(&v(42), Some(32)), "42");
    }

    #[test]
    fn positions_compare_by_file_then_offset() {
        let c = Captured {
            read_to: ("binlog.000001".into(), 9_606_861),
            ..Captured::default()
        };
        assert!(!reached(&c, &("binlog.000001".into(), 9_607_120)));
        assert!(reached(&c, &("binlog.000001".into(), 9_606_861)));
        assert!(!reached(&c, &("binlog.000002".into(), 4)));
        let past = Captured {
            read_to: ("binlog.1000000".into(), 4),
            ..Captured::default()
        };
        assert!(reached(&past, &("binlog.999999".into(), 9_606_861)));
        assert!(!reached(&c, &("binlog.1000000".into(), 4)));
    }
}
