//! What the library's live tests share: a plan request for one file of SQL, and plan
//! then apply with default options.

use zerodown::exec::events::Collect;
use zerodown::input::{from_text, FileTransaction};
use zerodown::{Error, PlanRequest, RunEnd, RunOptions};

/// A plan of `sql` (as file `m.sql`) against the database at `url`.
pub fn request(url: &str, sql: &str) -> PlanRequest {
    PlanRequest {
        sources: from_text("m.sql", sql, FileTransaction::Auto),
        database_url: Some(url.to_owned()),
        ..Default::default()
    }
}

/// Plans `sql` against `url` and applies it, default options, events and notices dropped.
pub async fn plan_and_apply(url: &str, sql: &str) -> Result<RunEnd, Error> {
    let planned = zerodown::plan(request(url, sql)).await?;
    zerodown::apply(
        &planned,
        &RunOptions::default(),
        &mut Collect::default(),
        &mut |_: &str| {},
    )
    .await
}
