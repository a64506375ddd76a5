//! `rehearse` and the demo: a migration run on synthetic rows at the real volume under
//! synthetic traffic, on a throwaway server (zerodown-rehearse does the work).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use zerodown_core::migrations::classify;
use zerodown_core::pg::ir::QualName;
use zerodown_core::plan::PlanOptions;
pub use zerodown_rehearse::{
    html, report, Config, Family, Mix, Mode, Progress, RehearseError, Report, Schema, Server,
};

use crate::Error;

/// Rehearses `cfg`, telling `progress` how far it is; the report says what the clients
/// and the server saw.
pub async fn rehearse(cfg: &Config, progress: &dyn Progress) -> Result<Report, Error> {
    Ok(zerodown_rehearse::rehearse(cfg, progress).await?)
}

/// The engine of a rehearsal: the one its URLs (`--from`, `--scratch`) say, or the one
/// named, else PostgreSQL. Err when they say different engines.
pub fn family(urls: &[&str], named: Option<Family>) -> Result<Family, Error> {
    let mut family = named;
    for url in urls {
        let f = if zerodown_mysql::is_mysql_url(url) {
            Family::MySql
        } else {
            Family::Postgres
        };
        if family.is_some_and(|g| g != f) {
            return Err(Error::Input(
                "--from, --scratch and --engine name different engines: a rehearsal runs on one"
                    .into(),
            ));
        }
        family = Some(f);
    }
    Ok(family.unwrap_or_default())
}

/// The demo's PostgreSQL table, as an application would have it.
const DEMO_SCHEMA: &str = "CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    email varchar(120) NOT NULL,
    plan text,
    balance numeric(12,2) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX accounts_created_at_idx ON accounts (created_at);";

/// The change people write, and the one that locks a busy table while it rewrites it.
const DEMO_MIGRATION: &str =
    "ALTER TABLE accounts ADD COLUMN api_key uuid NOT NULL DEFAULT gen_random_uuid();\n";

/// The MariaDB demo's table: an INT key that will run out.
const DEMO_SCHEMA_MYSQL: &str = "CREATE TABLE accounts (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(120) NOT NULL,
    plan VARCHAR(20),
    balance DECIMAL(12,2) NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    KEY accounts_created_at_idx (created_at)) ENGINE=InnoDB;";

/// Widening the key: a table copy that blocks every write while it runs.
const DEMO_MIGRATION_MYSQL: &str =
    "ALTER TABLE accounts MODIFY id BIGINT NOT NULL AUTO_INCREMENT;\n";

/// The demo's rehearsal on a throwaway server of `family`, the SQL as written and
/// zerodown's plan side by side on a table of `rows` rows: PostgreSQL adds a NOT NULL
/// column with a volatile default, MariaDB widens an INT key. Traffic is the
/// rehearsal's default (4 clients, 5 s before and after), for the caller to change.
pub fn demo(family: Family, rows: u64) -> Config {
    let (file, migration, schema, table_schema) = match family {
        Family::Postgres => (
            "demo/add_api_key.sql",
            DEMO_MIGRATION,
            DEMO_SCHEMA,
            Some("public"),
        ),
        Family::MySql => (
            "demo/widen_id.sql",
            DEMO_MIGRATION_MYSQL,
            DEMO_SCHEMA_MYSQL,
            None,
        ),
    };
    Config {
        family,
        sources: vec![classify(file, migration)],
        server: Server::Throwaway,
        schema: Schema::Sql(schema.to_owned()),
        rows: vec![(QualName::new(table_schema, "accounts"), rows)],
        default_rows: rows,
        clients: 4,
        mix: Mix::default(),
        settle: Duration::from_secs(5),
        compare_as_written: true,
        plan: PlanOptions::default(),
        max_stall_ms: 250.0,
        interrupt: Arc::new(AtomicBool::new(false)),
    }
}
