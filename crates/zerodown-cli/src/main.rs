//! The `zerodown` binary: arguments -> one call into the `zerodown` library ->
//! printing and an exit code.

mod apply_cmd;
mod check_cmd;
mod control_cmd;
mod exit;
mod input;
mod plan_cmd;
mod progress;
mod rehearse_cmd;
mod signals;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Safe, invisible schema changes for PostgreSQL, MySQL and MariaDB: know the true impact
/// of a migration and turn it into a phased plan that never blocks traffic.
#[derive(Parser, Debug)]
#[command(name = "zerodown", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the impact of each statement and the safe phased plan.
    Plan(plan_cmd::PlanArgs),
    /// Check migration files for unsafe changes, offline (for CI): rules with stable
    /// ids, suppressions with a reason, text/JSON/SARIF/GitHub output.
    Check(check_cmd::CheckArgs),
    /// Run the safe plan of a migration against the database, resumably.
    Apply(apply_cmd::ApplyArgs),
    /// Continue a stopped or interrupted migration from its last checkpoint.
    Resume(apply_cmd::ResumeArgs),
    /// Show the migrations recorded in the database and their progress.
    Status(control_cmd::StatusArgs),
    /// Pause a running migration's backfill or online copy (from another terminal).
    Pause(control_cmd::Target),
    /// Let a paused migration go on.
    Unpause(control_cmd::Target),
    /// Cap a migration's backfill or online copy at N rows per second, or lift the cap
    /// (`off`), while it runs.
    Rate(control_cmd::RateArgs),
    /// Stop a migration and undo its steps when that is safe (before the contract phase).
    Abort(control_cmd::Target),
    /// Let a migration applied with --postpone-cutover swap in its rebuilt tables
    /// (MySQL/MariaDB online rebuilds).
    Cutover(control_cmd::Target),
    /// Run a migration on synthetic data at the real volume, under synthetic traffic, on a
    /// throwaway server, and report what clients and the server saw.
    Rehearse(rehearse_cmd::RehearseArgs),
    /// Rehearse adding a NOT NULL column with a volatile default to a 1,000,000-row table
    /// (--engine mariadb: widening an INT key), as written and with zerodown, side by side
    /// (needs only the database server's binaries).
    Demo(rehearse_cmd::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan_cmd::run(args),
        Command::Check(args) => check_cmd::run(args),
        Command::Apply(args) => apply_cmd::apply(args),
        Command::Resume(args) => apply_cmd::resume(args),
        Command::Status(args) => control_cmd::status(args),
        Command::Pause(args) => control_cmd::set_paused(args, true),
        Command::Unpause(args) => control_cmd::set_paused(args, false),
        Command::Rate(args) => control_cmd::set_rate(args),
        Command::Abort(args) => control_cmd::abort(args),
        Command::Cutover(args) => control_cmd::cutover(args),
        Command::Rehearse(args) => rehearse_cmd::rehearse(args),
        Command::Demo(args) => rehearse_cmd::demo(args),
    };
    match result {
        Ok(code) => exit::code(code),
        Err(f) => {
            eprintln!("zerodown: {}", f.message);
            exit::code(f.code)
        }
    }
}
