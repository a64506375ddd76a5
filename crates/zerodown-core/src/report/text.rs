//! The plan for people: one block per statement (lock, rewrite, scan, time, verdict,
//! what to do), then the phased plan.

use std::fmt::Write;

use super::{summary, Meta};
use crate::analysis::{StatementAnalysis, Verdict};
use crate::engine::{Engine, ServerProfile};
use crate::findings::{Code, Severity};
use crate::mysql::online::Online;
use crate::pipeline::Outcome;
use crate::plan::{Step, StepKind};

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Safe => "SAFE",
        Verdict::Caution => "CAUTION",
        Verdict::Unsafe => "UNSAFE",
    }
}

/// Seconds as a person reads them.
pub fn human_seconds(s: Option<f64>) -> String {
    match s {
        None => "unknown".to_owned(),
        Some(s) if s < 0.01 => "brief".to_owned(),
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) if s < 120.0 => format!("{s:.1} s"),
        Some(s) if s < 7200.0 => format!("{:.1} min", s / 60.0),
        Some(s) => format!("{:.1} h", s / 3600.0),
    }
}

fn one_line(sql: &str, max: usize) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        format!("{}...", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `ALGORITHM=INPLACE, LOCK=NONE` in words, for MySQL/MariaDB.
fn online_words(o: Online, prefix: &str) -> String {
    format!(
        "{prefix}ALGORITHM={} LOCK={}",
        o.algorithm.name(),
        o.lock.name()
    )
}

fn statement_block(out: &mut impl Write, i: usize, s: &StatementAnalysis) {
    let unmodeled = s
        .findings
        .iter()
        .any(|f| f.code == Code::UnmodeledStatement);
    let online = s.impact.online.map(|o| online_words(o, ""));
    let lock = match (s.impact.lock, &online) {
        (Some(l), _) => l.pg_name(),
        (None, _) if unmodeled => "unknown (not modeled)",
        (None, Some(o)) => o.as_str(),
        (None, None) => "no table lock",
    };
    let blocks = match (s.impact.blocks_reads, s.impact.blocks_writes) {
        _ if unmodeled => "review by hand",
        (true, _) => "blocks reads and writes",
        (false, true) => "blocks writes",
        _ => "blocks neither reads nor writes",
    };
    let _ = writeln!(
        out,
        "{:>3}. {}:{}:{}  {}",
        i + 1,
        s.file,
        s.line,
        s.column,
        verdict_word(s.verdict)
    );
    let _ = writeln!(out, "     {}", one_line(&s.sql, 110));
    let tables = s
        .impact
        .tables
        .iter()
        .map(|t| {
            format!(
                "{} on {}{}",
                t.lock,
                t.table,
                if t.held_from_earlier_statement {
                    " (held from earlier in the transaction)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "     lock: {lock} ({blocks}){}",
        if tables.is_empty() {
            String::new()
        } else {
            format!(" - {tables}")
        }
    );
    let _ = writeln!(
        out,
        "     rewrites table: {}   scans table: {}   est. time: {}{}",
        yes_no(s.impact.rewrites_table),
        yes_no(s.impact.scans_table),
        human_seconds(s.impact.estimated_seconds),
        if s.in_transaction {
            "   (inside a transaction)"
        } else {
            ""
        }
    );
    for f in &s.findings {
        let mark = match f.severity {
            Severity::Error => "x",
            Severity::Warning => "!",
            Severity::Info => "i",
        };
        let _ = writeln!(out, "     {mark} [{}] {}", f.code, f.message);
        if let Some(h) = &f.hint {
            let _ = writeln!(out, "       what to do: {h}");
        }
    }
}

fn step_line(out: &mut impl Write, n: usize, s: &Step) {
    let kind = match s.kind {
        StepKind::Ddl => "ddl",
        StepKind::CreateIndexConcurrently => "index concurrently",
        StepKind::DropIndexConcurrently => "drop index concurrently",
        StepKind::ReindexConcurrently => "reindex concurrently",
        StepKind::ValidateConstraint => "validate",
        StepKind::Backfill => "backfill",
        StepKind::Swap => "swap",
        StepKind::Analyze => "analyze",
        StepKind::AsWritten => "as written",
        StepKind::OnlineRebuild => "online rebuild",
    };
    let online = s
        .online
        .as_deref()
        .map(|&o| online_words(o, "brief exclusive metadata lock, "));
    let lock = match (s.lock, &online) {
        (Some(l), _) => l.pg_name(),
        (None, _) if s.unmodeled => "locks unknown (not modeled)",
        (None, Some(o)) => o.as_str(),
        (None, None) if s.kind == StepKind::OnlineRebuild => {
            "no lock while copying, brief metadata locks at the cut-over"
        }
        (None, None) => "no table lock",
    };
    let work = match (s.rewrites_table, s.scans_table) {
        _ if s.unmodeled => "review by hand",
        _ if s.kind == StepKind::Backfill => "writes rows in short batches",
        _ if s.kind == StepKind::Analyze => "reads a sample",
        (true, _) => "rewrites",
        (false, true) => "scans",
        _ => "catalog only",
    };
    let txn = if s.transactional {
        "in a transaction"
    } else {
        "outside a transaction"
    };
    let danger = if s.blocks_traffic_while_working() {
        "  << BLOCKS TRAFFIC"
    } else {
        ""
    };
    let _ = writeln!(out, "  {n:>3}. [{kind}] {}{danger}", s.description);
    let _ = writeln!(
        out,
        "       {lock}, {work}, {txn}, lock_timeout {} ms",
        s.lock_timeout_ms
    );
    if let Some(b) = &s.backfill {
        let key = if b.key.is_empty() {
            "the primary key".to_owned()
        } else {
            b.key.join(", ")
        };
        let _ = writeln!(
            out,
            "       batches of {} rows by ({key}), ~{} ms each, resumable",
            b.batch_size, b.target_batch_ms
        );
    }
    for sql in &s.statements {
        let _ = writeln!(out, "       {}", one_line(sql, 140));
    }
}

/// Renders the whole report as text.
pub fn render_text(profile: &ServerProfile, meta: &Meta, outcome: &Outcome) -> String {
    let mut out = String::new();
    write_text(&mut out, profile, meta, outcome);
    out
}

/// The report for people, written piece by piece: a long migration's report is many
/// times its input, too much to build whole before printing. Errors of `out` are its
/// own to keep (see `zerodown::Planned::print_text`).
pub fn write_text(out: &mut impl Write, profile: &ServerProfile, meta: &Meta, outcome: &Outcome) {
    let from = match &meta.database {
        Some(db) => format!("live catalog of {db}"),
        None => "offline, no database".to_owned(),
    };
    let engine = match profile.engine {
        Engine::Postgres => "PostgreSQL",
        Engine::MySql => "MySQL",
        Engine::MariaDb => "MariaDB",
    };
    let _ = writeln!(
        out,
        "zerodown plan for {engine} {} ({from})\n",
        profile.version
    );
    if let Some(h) = &meta.history {
        history_lines(out, h);
    }
    if !meta.assumptions.is_empty() {
        let _ = writeln!(out, "Assumed (no database):");
        for a in &meta.assumptions {
            let _ = writeln!(out, "  - {a}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Statements as written:");
    for (i, s) in outcome.statements.iter().enumerate() {
        statement_block(out, i, s);
    }
    let _ = writeln!(
        out,
        "\nSafe plan ({}):",
        if outcome.plan.safe {
            "no step blocks traffic while it rewrites or scans"
        } else {
            "SOME STEPS STILL BLOCK TRAFFIC, see notes"
        }
    );
    let mut n = 0;
    for phase in &outcome.plan.phases {
        let _ = writeln!(out, "  {}:", phase.name.name());
        for s in &phase.steps {
            n += 1;
            step_line(out, n, s);
        }
    }
    if !outcome.plan.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in &outcome.plan.notes {
            let _ = writeln!(out, "  - {note}");
        }
    }
    let s = summary(outcome);
    let _ = writeln!(
        out,
        "\n{} statement(s): {} safe, {} caution, {} unsafe. Verdict: {}.",
        s.statements,
        s.safe,
        s.caution,
        s.unsafe_,
        verdict_word(s.verdict)
    );
}

fn history_lines(out: &mut impl Write, h: &super::HistoryMeta) {
    let c = &h.chosen;
    let table = if c.exists {
        format!("its table {}", c.table)
    } else {
        format!("table {}, made as {} makes it", c.table, c.tool.name())
    };
    let _ = writeln!(
        out,
        "Migration tool: {} ({}); each file is recorded in {table} as it completes.",
        c.tool.name(),
        c.why
    );
    if !h.applied.is_empty() {
        let _ = writeln!(
            out,
            "  {} file(s) {} applied already are left out: {}",
            h.applied.len(),
            c.tool.name(),
            h.applied.join(", ")
        );
    }
    if h.pending == 0 {
        let _ = writeln!(
            out,
            "  Nothing is pending: {} has applied every file.",
            c.tool.name()
        );
    }
    let _ = writeln!(out);
}
