//! `zerodown status | pause | unpause | rate | abort`: the migration state kept in the database,
//! usable from another terminal while `apply` runs.

use zerodown::control::Aborted;

use crate::exit::{self, Failure};
use crate::plan_cmd::{runtime, Format};

/// Which database and migration.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// Database URL: postgres://, mysql:// or mariadb:// (or DATABASE_URL, or libpq PG*
    /// variables).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A connection straight to the server when --database-url goes through a pooler in
    /// transaction mode (also DIRECT_URL).
    #[arg(long, env = "DIRECT_URL", hide_env_values = true)]
    pub direct_url: Option<String>,
    /// Migration id (see zerodown status); default: the latest one not completed.
    pub id: Option<String>,
}

impl Target {
    pub fn connection(&self) -> Result<String, Failure> {
        self.direct_url
            .clone()
            .or(self.database_url.clone())
            .or_else(|| zerodown::input::from_pg_env(|k| std::env::var(k).ok()))
            .ok_or_else(|| {
                Failure::bad_input("give --database-url (or DATABASE_URL / PG* variables)")
            })
    }
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, env = "DIRECT_URL", hide_env_values = true)]
    pub direct_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn status(args: StatusArgs) -> Result<u8, Failure> {
    let conn = Target {
        database_url: args.database_url,
        direct_url: args.direct_url,
        id: None,
    }
    .connection()?;
    runtime()?.block_on(async {
        let list: Vec<serde_json::Value> = zerodown::control::status(&conn)
            .await?
            .into_iter()
            .map(|m| serde_json::to_value(m).unwrap_or_default())
            .collect();
        match args.format {
            Format::Json => println!("{}", serde_json::json!({ "migrations": list })),
            Format::Text if list.is_empty() => {
                println!("no zerodown migrations recorded in this database")
            }
            Format::Text => {
                for m in &list {
                    println!(
                        "{}  {}{}  steps {}/{}  rows {}  {}",
                        m["id"].as_str().unwrap_or(""),
                        m["status"].as_str().unwrap_or(""),
                        if m["paused"].as_bool().unwrap_or(false) {
                            " (paused)"
                        } else {
                            ""
                        },
                        m["steps_done"],
                        m["steps"],
                        m["rows_backfilled"],
                        m["created_at"].as_str().unwrap_or("")
                    );
                    if let Some(cur) = m["current_step"].as_str().filter(|s| !s.is_empty()) {
                        println!("    at: {cur}");
                    }
                    if let Some(rate) = m["max_rows_per_sec"].as_i64() {
                        println!(
                            "    backfill capped at {rate} rows/s (zerodown rate off lifts it)"
                        );
                    }
                    if m["status"] == "interrupted" || m["status"] == "stopped" {
                        println!(
                            "    continue with: zerodown resume {}",
                            m["id"].as_str().unwrap_or("")
                        );
                    }
                    if let Some(err) = m["error"].as_str().filter(|s| !s.is_empty()) {
                        println!("    last error: {err}");
                    }
                }
            }
        }
        Ok(exit::OK)
    })
}

/// `zerodown cutover`: lets a migration applied with --postpone-cutover swap its tables.
pub fn cutover(t: Target) -> Result<u8, Failure> {
    let conn = t.connection()?;
    runtime()?.block_on(async {
        let id = zerodown::control::cutover(&conn, t.id.as_deref()).await?;
        eprintln!(
            "migration {id}: cut-over released (the running apply swaps the table within a second)"
        );
        Ok(exit::OK)
    })
}

pub fn set_paused(t: Target, paused: bool) -> Result<u8, Failure> {
    let conn = t.connection()?;
    runtime()?.block_on(async {
        let id = zerodown::control::set_paused(&conn, t.id.as_deref(), paused).await?;
        eprintln!(
            "migration {id} {}",
            if paused {
                "paused (backfills and online copies wait between batches)"
            } else {
                "unpaused"
            }
        );
        Ok(exit::OK)
    })
}

/// A rows-per-second cap, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit(Option<i32>);

impl std::str::FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(RateLimit(None));
        }
        match s.parse::<i32>() {
            Ok(n) if n > 0 => Ok(RateLimit(Some(n))),
            _ => Err(format!(
                "`{s}` is not a rate: give a number of rows per second (1 or more) or `off`"
            )),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct RateArgs {
    /// Rows per second (1 or more), or `off` to lift the cap.
    pub rows_per_sec: RateLimit,
    #[command(flatten)]
    pub target: Target,
}

pub fn set_rate(args: RateArgs) -> Result<u8, Failure> {
    let conn = args.target.connection()?;
    let RateLimit(rate) = args.rows_per_sec;
    runtime()?.block_on(async {
        let cap = rate.map(|r| r.unsigned_abs());
        let id = zerodown::control::set_rate(&conn, args.target.id.as_deref(), cap).await?;
        match rate {
            Some(r) => {
                eprintln!("migration {id}: backfills and online copies capped at {r} rows/s")
            }
            None => eprintln!("migration {id}: rate cap lifted"),
        }
        Ok(exit::OK)
    })
}

pub fn abort(t: Target) -> Result<u8, Failure> {
    let conn = t.connection()?;
    let mut say = |text: &str| eprintln!("{text}");
    let aborted =
        runtime()?.block_on(zerodown::control::abort(&conn, t.id.as_deref(), &mut say))?;
    Ok(match aborted {
        Aborted::Requested { id } => {
            eprintln!("migration {id} is running elsewhere: it stops at its next step or batch; run zerodown abort again to undo its steps");
            exit::STOPPED
        }
        Aborted::Undone { id, steps } => {
            eprintln!("migration {id} aborted: {steps} step(s) undone");
            exit::OK
        }
    })
}
