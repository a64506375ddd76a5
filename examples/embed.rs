//! zerodown embedded in a Rust program: plans a migration and, when a database URL is
//! given, applies it with its progress printed as it goes.
//!
//!     cargo run -p zerodown --example embed                       # offline, PostgreSQL 17
//!     cargo run -p zerodown --example embed -- postgres://postgres@127.0.0.1/test
//!
//! With a URL it creates the example's table `zerodown_embed_users` (20,000 rows) if it
//! is missing, so that there is something to migrate, and leaves it there.

use zerodown::exec::{Event, EventSink};
use zerodown::input::{from_text, FileTransaction};
use zerodown::{PlanRequest, RunEnd, RunOptions};

const MIGRATION: &str =
    "ALTER TABLE zerodown_embed_users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();
CREATE INDEX zerodown_embed_users_token_idx ON zerodown_embed_users (token);
";

/// Prints each step as it starts.
struct Steps;

impl EventSink for Steps {
    fn emit(&mut self, event: &Event) {
        if let Event::StepStarted {
            step,
            total,
            description,
        } = event
        {
            println!("step {}/{total}: {description}", step + 1);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1);
    if let Some(url) = &url {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS zerodown_embed_users (id bigint PRIMARY KEY, email text);
                 INSERT INTO zerodown_embed_users
                 SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 20000) g
                 ON CONFLICT DO NOTHING;
                 ANALYZE zerodown_embed_users;",
            )
            .await?;
    }
    let planned = zerodown::plan(PlanRequest {
        sources: from_text("add_token.sql", MIGRATION, FileTransaction::Auto),
        database_url: url,
        ..Default::default()
    })
    .await?;
    print!("{}", planned.text());
    if planned.database_url.is_none() {
        return Ok(());
    }
    let mut say = |text: &str| println!("{text}");
    match zerodown::apply(&planned, &RunOptions::default(), &mut Steps, &mut say).await? {
        RunEnd::Done(report) => print!("{}", zerodown::render_report(&report)),
        RunEnd::AlreadyApplied => println!("nothing to do"),
    }
    Ok(())
}
