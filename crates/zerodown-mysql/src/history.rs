//! The team's migration tool's history table: the statements `zerodown_core::history`
//! writes, run with their values bound as text.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use zerodown_exec::{Bound, HistoryValue};

fn params(b: &Bound) -> Vec<Value> {
    b.params
        .iter()
        .map(|v| match v {
            HistoryValue::Text(t) => Value::from(t.as_str()),
            _ => Value::NULL,
        })
        .collect()
}

/// Runs one statement.
pub async fn execute(c: &mut Conn, b: &Bound) -> Result<(), mysql_async::Error> {
    if b.params.is_empty() {
        c.query_drop(b.sql.as_str()).await
    } else {
        c.exec_drop(b.sql.as_str(), params(b)).await
    }
}

/// Whether a statement is DDL, which MySQL commits on its own: run before the
/// transaction of the rows, never inside it.
pub fn is_ddl(b: &Bound) -> bool {
    b.sql
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("CREATE ")
}

/// The rows of a query whose every column is text (or NULL).
pub async fn text_rows(
    c: &mut Conn,
    b: &Bound,
) -> Result<Vec<Vec<Option<String>>>, mysql_async::Error> {
    let rows: Vec<mysql_async::Row> = c.exec(b.sql.as_str(), params(b)).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    Value::NULL => None,
                    Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                    other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
                })
                .collect()
        })
        .collect())
}
