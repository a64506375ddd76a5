//! The `zerodown` binary: arguments -> configuration -> library calls -> exit code.

mod exit;
mod input;
mod plan_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Safe, invisible schema changes for PostgreSQL: know the true impact of a migration
/// and turn it into a phased plan that never blocks traffic.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan_cmd::run(args),
    };
    match result {
        Ok(code) => exit::code(code),
        Err(f) => {
            eprintln!("zerodown: {}", f.message);
            exit::code(f.code)
        }
    }
}
