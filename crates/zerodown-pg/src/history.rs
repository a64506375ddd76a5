//! The team's migration tool's history table: the statements `zerodown_core::history`
//! writes, run with their values bound as text.

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use zerodown_exec::{Bound, HistoryValue};

fn params(b: &Bound) -> Vec<Option<String>> {
    b.params
        .iter()
        .map(|v| match v {
            HistoryValue::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// Runs one statement.
pub async fn execute(c: &Client, b: &Bound) -> Result<u64, tokio_postgres::Error> {
    let values = params(b);
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
    c.execute(b.sql.as_str(), &refs).await
}

/// The rows of a query whose every column is text (or NULL).
pub async fn text_rows(
    c: &Client,
    b: &Bound,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    let values = params(b);
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
    let rows = c.query(b.sql.as_str(), &refs).await?;
    Ok(rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect()
        })
        .collect())
}
