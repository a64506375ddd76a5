//! Impact of each MySQL/MariaDB statement as written: the algorithm and lock the server
//! gives it, whether it rebuilds the table, how long on the table's real size, and what
//! a person must know (findings). Walks the catalog forward statement by statement.

use super::actions::{op_actions, ActionError};
use super::online::{self, Action, Algorithm, DdlLock, Online};
use crate::analysis::{Impact, StatementAnalysis, Verdict};
use crate::capabilities as cap;
use crate::engine::ServerProfile;
use crate::estimate::CostModel;
use crate::findings::{Code, Finding, Severity};
use crate::mysql::catalog::{MyCatalog, MyTable};
use crate::mysql::parse::{AlterOp, MyKind, MyStatement};
use crate::pg::ir::DataVerb;
use crate::sql::source::Diagnostic;
use sqlparser::ast::{AlterTableAlgorithm, AlterTableLock};

/// Tables with fewer rows than this are updated in one statement without an error.
const SMALL_TABLE_ROWS: f64 = 10_000.0;

/// The actions of an `ALTER TABLE`, each operation's own, against the table as it is.
/// Offline, a change to a column of a table whose columns are unknown is assumed a copy.
pub fn alter_actions(
    ops: &[AlterOp],
    table: &MyTable,
    foreign_key_checks: bool,
) -> Result<Vec<Vec<Action>>, ActionError> {
    ops.iter()
        .map(|op| match op_actions(op, &table.info, foreign_key_checks) {
            Err(ActionError::UnknownColumn(_)) if !table.known => {
                Ok(vec![Action::UnknownColumnChange])
            }
            other => other,
        })
        .collect()
}

/// Seconds a statement with this outcome works on the table.
pub fn seconds(o: Online, actions: &[Action], t: &MyTable, cost: &CostModel) -> Option<f64> {
    if t.is_empty() || o.algorithm == Algorithm::Instant {
        return Some(cost.catalog_seconds);
    }
    let data = t.data_bytes? as f64;
    let index = t.index_bytes.unwrap_or(0) as f64;
    if o.rebuilds {
        Some((data + index) / cost.rewrite_bytes_per_sec)
    } else if actions.iter().any(|a| builds_index(*a)) {
        Some(data / cost.index_build_bytes_per_sec)
    } else {
        Some(cost.catalog_seconds)
    }
}

pub fn builds_index(a: Action) -> bool {
    matches!(
        a,
        Action::AddIndex
            | Action::AddForeignKey {
                builds_index: true,
                ..
            }
    )
}

struct Analysis {
    findings: Vec<Finding>,
    online: Option<Online>,
    seconds: Option<f64>,
    new_table: bool,
    /// An index is built: every row is read.
    scans: bool,
}

impl Analysis {
    fn new() -> Self {
        Analysis {
            findings: Vec::new(),
            online: None,
            seconds: Some(0.0),
            new_table: false,
            scans: false,
        }
    }

    fn add(&mut self, code: Code, severity: Severity, message: String, hint: &str) {
        self.findings
            .push(Finding::new(code, severity, message).hint(hint));
    }
}

/// Analyses every statement in order. Err: bad input (a table or column that does not
/// exist on the live server).
pub fn analyze(
    statements: &[MyStatement],
    catalog: &MyCatalog,
    profile: &ServerProfile,
    cost: &CostModel,
) -> (Vec<StatementAnalysis>, Vec<Diagnostic>) {
    let mut cat = catalog.clone();
    let mut out = Vec::with_capacity(statements.len());
    let mut diagnostics = Vec::new();
    let mut file: Option<&str> = None;
    for s in statements {
        if file.is_some_and(|f| *f != *s.span.file) {
            cat.end_of_file();
        }
        file = Some(&s.span.file);
        match statement(s, &cat, profile, cost) {
            Ok(a) => out.push(finish(s, a)),
            Err(message) => diagnostics.push(Diagnostic {
                span: s.span.clone(),
                message,
            }),
        }
        cat.apply(&s.kind);
    }
    (out, diagnostics)
}

fn table_of(cat: &MyCatalog, name: &str) -> Result<MyTable, String> {
    cat.table(name)
        .ok_or_else(|| format!("table {name} does not exist in the database (check the name, or the database in the URL)"))
}

fn statement(
    s: &MyStatement,
    cat: &MyCatalog,
    p: &ServerProfile,
    cost: &CostModel,
) -> Result<Analysis, String> {
    let mut a = Analysis::new();
    match &s.kind {
        MyKind::AlterTable {
            table,
            ops,
            algorithm,
            lock,
            ..
        } => {
            let t = table_of(cat, table)?;
            let per_op = match alter_actions(ops, &t, cat.foreign_key_checks) {
                Ok(per_op) => per_op,
                Err(ActionError::UnknownColumn(m) | ActionError::NameTaken(m)) => {
                    return Err(format!("{table}: {m}"))
                }
                Err(ActionError::Unmodelled(m)) => {
                    unmodelled(&mut a, &m);
                    return Ok(a);
                }
            };
            let written = (algorithm.clone(), lock.clone());
            alter(&mut a, table, &t, &per_op, written, p, cost);
            if algorithm.is_none() && lock.is_none() && !t.is_empty() {
                a.add(Code::MysqlNoAlgorithmClause, Severity::Warning,
                    "no ALGORITHM/LOCK clause: the server picks the algorithm, and may fall back to a blocking copy without saying so".into(),
                    "zerodown's plan always names them, so the server refuses rather than blocks");
            }
            for (op, acts) in ops.iter().zip(&per_op) {
                breaking(&mut a, op, acts, table);
            }
            if !t.is_empty() {
                open_transactions(&mut a, cat, table);
            }
        }
        MyKind::CreateTable { table, statement } => {
            a.new_table = true;
            a.seconds = Some(cost.catalog_seconds);
            // CREATE TABLE … SELECT reads and locks its sources as INSERT … SELECT does.
            if let Some(query) = &statement.query {
                let mut reads = crate::mysql::parse::relations(query.as_ref());
                reads.dedup();
                data_change(&mut a, DataVerb::Insert, table, &reads, None, cat, cost)?;
            }
        }
        MyKind::Update { table, .. } => {
            let t = table_of(cat, table)?;
            a.seconds = if t.is_empty() {
                Some(0.0)
            } else {
                t.rows.map(|r| r / cost.update_rows_per_sec)
            };
            if !t.is_empty() {
                let sev = if t.rows.is_some_and(|r| r < SMALL_TABLE_ROWS) {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                a.add(Code::WholeTableUpdate, sev,
                    format!("UPDATE {table} in one statement locks every row it changes until it commits (InnoDB also locks the rows it scans): concurrent writes to them wait, and replicas apply it as one long event"),
                    "let zerodown run it as a batched backfill (small transactions, throttled by load and replica lag)");
            }
        }
        MyKind::DataChange {
            verb,
            table,
            reads,
            values_rows,
        } => data_change(&mut a, *verb, table, reads, *values_rows, cat, cost)?,
        MyKind::DropTable { tables } => {
            for t in tables {
                a.add(
                    Code::BreakingDropTable,
                    Severity::Warning,
                    format!("DROP TABLE {t}: application versions still reading it fail"),
                    "deploy the application that no longer uses it first",
                );
            }
        }
        MyKind::RenameTable { pairs } => {
            for (from, to) in pairs {
                a.add(Code::BreakingRenameTable, Severity::Warning,
                    format!("RENAME TABLE {from} TO {to}: application versions that use the old name fail"),
                    "add a view under the old name, or deploy the application that uses the new name first");
            }
        }
        MyKind::SetVariable { .. } => {}
        MyKind::Other => unmodelled(&mut a, "zerodown does not model this statement"),
    }
    Ok(a)
}

/// INSERT, DELETE or a multi-table UPDATE, by the rows it goes through: its table's
/// (DELETE, UPDATE) or its sources' (INSERT … SELECT, whose rows InnoDB locks shared
/// outside READ COMMITTED: refman "Locks Set by Different SQL Statements in InnoDB").
fn data_change(
    a: &mut Analysis,
    verb: DataVerb,
    table: &str,
    reads: &[String],
    values_rows: Option<usize>,
    cat: &MyCatalog,
    cost: &CostModel,
) -> Result<(), String> {
    let t = table_of(cat, table)?;
    let sources = reads
        .iter()
        .map(|r| Ok((r.as_str(), table_of(cat, r)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let through: Vec<(&str, &MyTable)> = match verb {
        DataVerb::Insert if values_rows.is_some() => Vec::new(),
        DataVerb::Insert => sources.iter().map(|(n, s)| (*n, s)).collect(),
        DataVerb::Delete | DataVerb::Update => vec![(table, &t)],
    };
    let existing: Vec<(&str, &MyTable)> =
        through.into_iter().filter(|(_, s)| !s.is_empty()).collect();
    if existing.is_empty() {
        // Seed rows, or data only this migration made: nothing waits on it.
        a.seconds = Some(cost.catalog_seconds);
        return Ok(());
    }
    let rows: Option<f64> = existing.iter().map(|(_, s)| s.rows).sum();
    a.seconds = rows.map(|r| r / cost.update_rows_per_sec);
    let sev = if rows.is_some_and(|r| r < SMALL_TABLE_ROWS) {
        Severity::Warning
    } else {
        Severity::Error
    };
    let names = existing
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ");
    let (what, hint) = match verb {
        DataVerb::Insert => (
            format!("copying {names} into {table} in one statement (INSERT or CREATE TABLE … SELECT): InnoDB locks the rows it reads (shared, outside READ COMMITTED), so writes to them wait until it commits, and replicas apply it as one long event"),
            "copy in key ranges (… WHERE id > last ORDER BY id LIMIT 5000), each its own transaction, from a job or a later migration",
        ),
        DataVerb::Delete => (
            format!("DELETE on {table} in one statement locks every row it deletes (InnoDB also locks the rows it scans) until it commits: concurrent writes to them wait, and replicas apply it as one long event"),
            "delete in batches by primary key (DELETE … WHERE id BETWEEN a AND b, repeated), each its own transaction, from a job or a later migration",
        ),
        DataVerb::Update => (
            format!("UPDATE on {table} joined with other tables locks every row it changes (and the rows it scans) until it commits: concurrent writes to them wait, and replicas apply it as one long event"),
            "write it as UPDATE … SET … WHERE on the table alone, which zerodown runs as a batched backfill, or batch it by primary key yourself",
        ),
    };
    a.add(Code::LargeDataChange, sev, what, hint);
    Ok(())
}

fn unmodelled(a: &mut Analysis, message: &str) {
    a.seconds = None;
    a.add(
        Code::UnmodeledStatement,
        Severity::Warning,
        format!("{message}: its algorithm and locks are unknown"),
        "review it by hand; zerodown runs it as written",
    );
}

fn alter(
    a: &mut Analysis,
    table: &str,
    t: &MyTable,
    per_op: &[Vec<Action>],
    (algorithm, lock): (Option<AlterTableAlgorithm>, Option<AlterTableLock>),
    p: &ServerProfile,
    cost: &CostModel,
) {
    let actions: Vec<Action> = per_op.iter().flatten().copied().collect();
    let o = online::as_written(online::statement(p, &actions), &actions, algorithm, lock);
    a.online = Some(o);
    a.scans = actions.iter().any(|x| builds_index(*x));
    if actions.contains(&Action::UnknownColumnChange) {
        a.add(Code::TypeChangeUnknownOldType, Severity::Warning,
            format!("zerodown cannot tell whether this column change keeps the rows of {table} (its columns are unknown offline, or the type change is one it does not model): a copy of the table is assumed"),
            "plan against the live database, or include the CREATE TABLE in an earlier migration file");
    }
    a.seconds = seconds(o, &actions, t, cost);
    a.new_table = t.new;
    if t.is_empty() {
        return;
    }
    let took = crate::report::human_seconds(a.seconds);
    if o.algorithm == Algorithm::Copy {
        let fk = actions.iter().any(|x| {
            matches!(
                x,
                Action::AddForeignKey {
                    foreign_key_checks: true,
                    ..
                }
            )
        });
        let hint = match t.online_rebuild_obstacle() {
            _ if fk => "with SET foreign_key_checks = 0 the key is added in place (existing rows are not checked: zerodown checks them with a query)".to_owned(),
            None => "zerodown apply runs it as an online rebuild: a shadow table, a chunked copy, changes caught up from the binlog, an atomic cut-over".to_owned(),
            Some(why) => format!("zerodown's online rebuild cannot take {table}: {why}; the plan keeps the blocking copy (apply asks for --yes): run it in a quiet window, or remove the obstacle first"),
        };
        a.add(
            Code::MysqlCopy,
            Severity::Error,
            format!(
                "{table} is copied with ALGORITHM=COPY: writes wait for the whole copy ({took})"
            ),
            &hint,
        );
    }
    let each: Vec<Online> = actions.iter().map(|x| online::action(p, *x)).collect();
    let instant_part = each.iter().any(|e| e.algorithm == Algorithm::Instant);
    // The server's own choice: a heavier ALGORITHM written on purpose is not a mix.
    let chosen = online::statement(p, &actions);
    if instant_part
        && chosen.algorithm != Algorithm::Instant
        && chosen.rebuilds
        && !each.iter().all(|e| e.rebuilds)
    {
        a.add(Code::MysqlInstantMixed, Severity::Warning,
            format!("instant changes are mixed with others in one ALTER TABLE: the whole statement runs as {} and rebuilds {table}", chosen.algorithm.name()),
            "zerodown's plan sends the instant part as its own statement");
    }
    if o.algorithm != Algorithm::Copy && o.lock == DdlLock::None && o.rebuilds {
        a.add(Code::MysqlOnlineRebuild, Severity::Warning,
            format!("{table} is rebuilt in place ({took}): reads and writes go on, but every row is written again, and each replica replays the rebuild after it ends (replica lag of about that long)"),
            "fine on a small table; on a large one with replicas, zerodown's online rebuild throttles on replica lag");
    }
    let versions_added = actions
        .iter()
        .filter(|x| matches!(x, Action::AddColumn { .. } | Action::DropColumn { .. }))
        .count() as u32;
    if let (Some(limit), Some(used), true) = (
        cap::instant_row_versions_limit(p),
        t.total_row_versions,
        versions_added > 0 && o.algorithm == Algorithm::Instant,
    ) {
        if used + versions_added > limit {
            a.add(Code::MysqlRowVersions, Severity::Error,
                format!("{table} has used {used} of its {limit} instant row versions: this ALTER needs {versions_added} more, and MySQL refuses INSTANT (error 4092)"),
                "rebuild the table first (zerodown's online rebuild of `ALTER TABLE … FORCE`), which resets the count");
        } else if used + versions_added + 8 > limit {
            a.add(Code::MysqlRowVersions, Severity::Warning,
                format!("{table} will have used {} of its {limit} instant row versions", used + versions_added),
                "plan a rebuild (`ALTER TABLE … FORCE` through zerodown) before the limit stops instant changes");
        }
    }
    if o.lock != DdlLock::None && o.algorithm != Algorithm::Copy {
        let hint = match t.online_rebuild_obstacle() {
            None => "zerodown apply runs it as an online rebuild (a shadow table, a chunked copy, an atomic cut-over), or split the ALTER TABLE so each part can run with LOCK=NONE".to_owned(),
            Some(why) => format!("zerodown's online rebuild cannot take {table}: {why}; split the ALTER TABLE so each part can run with LOCK=NONE, or run it in a quiet window"),
        };
        a.add(
            Code::MysqlBlockingLock,
            Severity::Error,
            format!(
                "{table} is locked (LOCK={}) for the whole statement ({took})",
                o.lock.name()
            ),
            &hint,
        );
    }
}

fn breaking(a: &mut Analysis, op: &AlterOp, actions: &[Action], table: &str) {
    for act in actions {
        match act {
            Action::DropColumn { .. } => a.add(Code::BreakingDropColumn, Severity::Warning,
                format!("`{op}` on {table}: application versions that still read or write the column fail"),
                "deploy the application that no longer uses it first"),
            Action::RenameTable => a.add(Code::BreakingRenameTable, Severity::Warning,
                format!("`{op}` on {table}: application versions that use the old name fail"),
                "deploy the application that uses the new name first, or keep a view under the old name"),
            Action::RenameColumn => a.add(Code::BreakingRenameColumn, Severity::Warning,
                format!("`{op}` on {table}: application versions that use the old name fail"),
                "add the new column, write both, backfill, move the readers, then drop the old one"),
            _ => {}
        }
    }
}

/// Sessions holding a metadata lock on the table now (or, where the server cannot tell,
/// every open transaction, which may): the DDL would wait for them, and every query
/// behind it would queue.
fn open_transactions(a: &mut Analysis, cat: &MyCatalog, table: &str) {
    let known = cat.tables.get(table).and_then(|t| t.lock_holders.as_ref());
    let (holders, certain) = match known {
        Some(h) => (h.as_slice(), true),
        None => (cat.open_transactions.as_slice(), false),
    };
    let Some(oldest) = holders
        .iter()
        .max_by(|x, y| x.seconds.total_cmp(&y.seconds))
    else {
        return;
    };
    let query: String = oldest.query.chars().take(120).collect();
    let message = if certain {
        format!("{} session(s) hold a metadata lock on {table} now; the oldest, session {} ({}, in a transaction for {:.0} s), would make the ALTER wait, and every query behind the ALTER too. Its query: {query}",
            holders.len(), oldest.id, oldest.state, oldest.seconds)
    } else {
        format!("{} transaction(s) are open; the oldest, session {} ({}, {:.0} s), may hold a metadata lock on {table} (the server does not say which tables: MariaDB's metadata_lock_info plugin or MySQL's performance_schema would): the ALTER would wait for it and every query behind the ALTER too. Its query: {query}",
            holders.len(), oldest.id, oldest.state, oldest.seconds)
    };
    a.add(Code::LockQueueRisk, Severity::Warning, message,
        "zerodown apply waits with a short lock_wait_timeout and retries; end that transaction or wait for it");
}

fn finish(s: &MyStatement, a: Analysis) -> StatementAnalysis {
    let verdict = match a.findings.iter().map(|f| f.severity).max() {
        Some(Severity::Error) => Verdict::Unsafe,
        Some(Severity::Warning) => Verdict::Caution,
        _ => Verdict::Safe,
    };
    let blocks = |l: DdlLock| !a.new_table && a.online.is_some_and(|o| o.lock >= l);
    StatementAnalysis {
        file: s.span.file.clone(),
        line: s.span.line,
        column: s.span.column,
        sql: s.sql.clone(),
        in_transaction: false,
        impact: Impact {
            tables: Vec::new(),
            lock: None,
            rewrites_table: a.online.is_some_and(|o| o.rebuilds),
            scans_table: a.scans,
            blocks_reads: blocks(DdlLock::Exclusive),
            blocks_writes: blocks(DdlLock::Shared),
            estimated_seconds: a.seconds.map(|x| (x * 1000.0).round() / 1000.0),
            online: a.online,
        },
        verdict,
        findings: a.findings,
    }
}
