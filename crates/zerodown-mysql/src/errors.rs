//! MySQL/MariaDB errors classified the way the executor retries them.

use zerodown_exec::{DriverError, ErrorClass};

/// ER_LOCK_WAIT_TIMEOUT: a metadata lock (lock_wait_timeout) or a row lock
/// (innodb_lock_wait_timeout) not granted in time.
pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
const DEADLOCK: u16 = 1213;
/// ER_LOCK_NOWAIT (MySQL 8 `NOWAIT`, MariaDB `NOWAIT`/`WAIT 0`).
const LOCK_NOWAIT: u16 = 3572;
/// MariaDB `max_statement_time` exceeded.
const MARIADB_STATEMENT_TIME: u16 = 1969;
/// MySQL `max_execution_time` exceeded.
const MYSQL_EXECUTION_TIME: u16 = 3024;
/// The server is going away or the connection was lost.
const CONNECTION: [u16; 4] = [2006, 2013, 1053, 1927];

/// The executor's class of a driver error. Messages never contain the URL.
pub fn classify(e: &mysql_async::Error) -> DriverError {
    match e {
        mysql_async::Error::Server(s) => {
            let class = match s.code {
                LOCK_WAIT_TIMEOUT | LOCK_NOWAIT => ErrorClass::LockTimeout,
                DEADLOCK => ErrorClass::Deadlock,
                MARIADB_STATEMENT_TIME | MYSQL_EXECUTION_TIME => ErrorClass::StatementTimeout,
                c if CONNECTION.contains(&c) => ErrorClass::ConnectionLost,
                _ => ErrorClass::Permanent,
            };
            DriverError {
                class,
                message: format!("{} (error {})", s.message, s.code),
                code: Some(s.code.to_string()),
            }
        }
        mysql_async::Error::Io(_)
        | mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => {
            DriverError::connection_lost(e.to_string())
        }
        other => DriverError::permanent(other.to_string()),
    }
}
