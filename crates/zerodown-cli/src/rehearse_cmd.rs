//! `zerodown rehearse` and `zerodown demo`: a migration on synthetic data at the real
//! volume, under synthetic traffic, on a throwaway server, with the proof reported.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use zerodown::exec::Event;
use zerodown::rehearse::{html, report, Config, Family, Mix, Progress, Schema, Server};

use crate::exit::{self, Failure};
use crate::input::{read_sources, FileTransaction};
use crate::plan_cmd::{parse_rows, runtime, Format, Tuning};

/// The engine of a throwaway rehearsal server.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineArg {
    Postgres,
    Mariadb,
}

impl From<EngineArg> for Family {
    fn from(e: EngineArg) -> Family {
        match e {
            EngineArg::Postgres => Family::Postgres,
            EngineArg::Mariadb => Family::MySql,
        }
    }
}

/// What both commands share: traffic, budget, report.
#[derive(clap::Args, Debug)]
pub struct Traffic {
    /// Synthetic client connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// Weights of point reads, updates and inserts by key.
    #[arg(long, default_value = "read=70,update=25,insert=5")]
    pub mix: Mix,
    /// Seconds of traffic before and after the migration, to compare with.
    #[arg(long, default_value_t = 5)]
    pub settle_secs: u64,
    /// A client waiting longer than this during the migration fails the rehearsal.
    #[arg(long, default_value_t = 250.0)]
    pub max_stall_ms: f64,
    /// Write the self-contained HTML report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::Args, Debug)]
pub struct RehearseArgs {
    /// A .sql file, a folder of migrations, or - for stdin.
    pub input: String,
    /// The database the migration is for: its schema is copied and its row estimates
    /// size the tables (only read). Also read from DATABASE_URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub from: Option<String>,
    /// SQL that creates the tables, instead of --from.
    #[arg(long, conflicts_with = "from")]
    pub schema: Option<PathBuf>,
    /// Rehearse on this server (zerodown creates and drops its own databases there)
    /// instead of a throwaway cluster.
    #[arg(long)]
    pub scratch: Option<String>,
    /// Rows of TABLE to generate (repeatable), over the source's estimates.
    #[arg(long = "rows", value_name = "TABLE=ROWS")]
    pub rows: Vec<String>,
    /// Rows of a table with no estimate and no --rows.
    #[arg(long, default_value_t = 100_000)]
    pub default_rows: u64,
    /// Also run the SQL as written, on its own copy of the data, side by side.
    #[arg(long)]
    pub compare_naive: bool,
    /// The engine of the throwaway server, when neither --from nor --scratch is a URL
    /// that says it (mysql:// and mariadb:// mean MariaDB/MySQL).
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    #[arg(long, value_enum, default_value_t = FileTransaction::Auto)]
    pub file_transaction: FileTransaction,
    #[command(flatten)]
    pub traffic: Traffic,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Rows of the demo table.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// postgres: NOT NULL DEFAULT gen_random_uuid() on a throwaway PostgreSQL cluster;
    /// mariadb: an INT primary key widened to BIGINT on a throwaway MariaDB.
    #[arg(long, value_enum, default_value_t = EngineArg::Postgres)]
    pub engine: EngineArg,
    #[command(flatten)]
    pub traffic: Traffic,
}

pub fn rehearse(args: RehearseArgs) -> Result<u8, Failure> {
    let sources = read_sources(&args.input, args.file_transaction)?;
    let schema = match (&args.from, &args.schema) {
        (_, Some(path)) => Schema::Sql(std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(format!("{}: {e}", path.display()))
        })?),
        (Some(url), None) => Schema::From(url.clone()),
        (None, None) => {
            return Err(Failure::bad_input(
                "rehearse needs the schema of the tables: --from URL of the database the migration is for (only read), or --schema FILE.sql",
            ))
        }
    };
    let rows = parse_rows(&args.rows)?
        .into_iter()
        .map(|(n, r)| (n, r.max(0.0) as u64))
        .collect();
    let urls: Vec<&str> = [&args.from, &args.scratch]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let family = zerodown::rehearse::family(&urls, args.engine.map(Family::from))?;
    let cfg = Config {
        family,
        sources,
        server: args.scratch.map_or(Server::Throwaway, Server::Scratch),
        schema,
        rows,
        default_rows: args.default_rows,
        clients: usize::from(args.traffic.clients),
        mix: args.traffic.mix,
        settle: Duration::from_secs(args.traffic.settle_secs),
        compare_as_written: args.compare_naive,
        plan: args.tuning.plan_options(),
        max_stall_ms: args.traffic.max_stall_ms,
        interrupt: Arc::new(AtomicBool::new(false)),
    };
    run(&cfg, &args.traffic)
}

pub fn demo(args: DemoArgs) -> Result<u8, Failure> {
    let mut cfg = zerodown::rehearse::demo(args.engine.into(), args.rows);
    cfg.clients = usize::from(args.traffic.clients);
    cfg.mix = args.traffic.mix;
    cfg.settle = Duration::from_secs(args.traffic.settle_secs);
    cfg.max_stall_ms = args.traffic.max_stall_ms;
    let mut traffic = args.traffic;
    traffic
        .report
        .get_or_insert_with(|| PathBuf::from("zerodown-demo.html"));
    let migration = cfg.sources.first().map_or("", |s| s.text.as_str());
    eprintln!(
        "demo: {migration:?} on a {}-row table, as written and with zerodown, under {} clients",
        args.rows, traffic.clients
    );
    run(&cfg, &traffic)
}

fn run(cfg: &Config, traffic: &Traffic) -> Result<u8, Failure> {
    let progress = Bar::new();
    let interrupt = cfg.interrupt.clone();
    let result = runtime()?.block_on(async {
        let ctrl_c = tokio::spawn(async move {
            if crate::signals::stop_requested().await {
                interrupt.store(true, Ordering::Relaxed);
                eprintln!("zerodown: stopping the rehearsal and removing its server");
            }
        });
        let r = zerodown::rehearse(cfg, &progress).await;
        ctrl_c.abort();
        r
    });
    progress.bar.finish_and_clear();
    let report = result?;
    if let Some(path) = &traffic.report {
        std::fs::write(path, html::render(&report)).map_err(|e| Failure {
            code: exit::INTERNAL,
            message: format!("writing {}: {e}", path.display()),
        })?;
        eprintln!("report written to {}", path.display());
    }
    match traffic.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Failure {
                code: exit::INTERNAL,
                message: e.to_string(),
            })?
        ),
        Format::Text => print!("{}", report::render_text(&report)),
    }
    let zerodown_ok = report
        .runs
        .iter()
        .filter(|r| r.mode == report::Mode::Zerodown)
        .all(|r| r.verdict.ok);
    Ok(if zerodown_ok {
        exit::OK
    } else {
        exit::REHEARSAL_FAILED
    })
}

/// A progress bar on a terminal (a spinner between stages, a bar while rows are generated
/// or backfilled); stage lines on stderr otherwise.
struct Bar {
    bar: ProgressBar,
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {elapsed_precise} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {percent:>3}% {msg} (eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}

impl Bar {
    fn new() -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.set_style(spinner_style());
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar { bar }
    }

    fn line(&self, text: &str) {
        if self.bar.is_hidden() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    /// Shows `done` of `total` as a bar with `what` beside it.
    fn measure(&self, done: u64, total: u64, what: String) {
        if self.bar.length() != Some(total) {
            self.bar.set_style(bar_style());
            self.bar.set_length(total);
            self.bar.reset_eta();
        }
        self.bar.set_position(done.min(total));
        self.bar.set_message(what);
    }

    fn spin(&self, what: String) {
        if self.bar.length().is_some() {
            self.bar.set_style(spinner_style());
            self.bar.unset_length();
        }
        self.bar.set_message(what);
    }
}

impl Progress for Bar {
    fn stage(&self, what: &str) {
        self.line(&format!("rehearse: {what}"));
        self.spin(what.to_owned());
    }

    fn fill(&self, done: u64, total: u64) {
        self.measure(done, total, format!("generating rows: {done}/{total}"));
    }

    fn event(&self, event: &Event) {
        match event {
            Event::StepStarted {
                step,
                total,
                description,
            } => {
                self.line(&format!("  step {}/{total}: {description}", step + 1));
                self.spin(format!("step {}/{total}: {description}", step + 1));
            }
            Event::BackfillStarted {
                estimated_rows: Some(total),
                rows_done,
                step,
                ..
            } => self.measure(*rows_done, *total, format!("step {}: backfill", step + 1)),
            Event::Batch {
                step,
                rows,
                rows_per_sec,
                ..
            } => match self.bar.length() {
                Some(total) => self.measure(
                    *rows,
                    total,
                    format!(
                        "step {}: backfilled {rows} rows ({rows_per_sec:.0}/s)",
                        step + 1
                    ),
                ),
                None => self.spin(format!(
                    "step {}: backfilled {rows} rows ({rows_per_sec:.0}/s)",
                    step + 1
                )),
            },
            Event::Retry { step, reason, .. } => {
                self.line(&format!("  step {}: retrying ({reason:?})", step + 1));
            }
            _ => {}
        }
    }
}
