//! PostgreSQL impact rules: the lock, rewrite and scan of every modelled form, per
//! version (via `capabilities`). Sources: shared/facts/postgres.md.

use std::borrow::Cow;

use super::alter::alter_action;
use crate::analysis::TableLock;
use crate::capabilities as cap;
use crate::engine::ServerProfile;
use crate::estimate::CostModel;
use crate::findings::{Code, Finding, Severity};
use crate::lock::LockMode::{self, *};
use crate::pg::catalog::{Catalog, Table};
use crate::pg::ir::*;

/// A table smaller than this, with a known short estimate, gets a caution, not a stop.
const SMALL_TABLE_ROWS: f64 = 10_000.0;
const SMALL_TABLE_SECONDS: f64 = 1.0;

/// The kinds of long work a statement does on a table (each with its cost estimate).
#[derive(Debug, Clone, Copy)]
pub(super) enum Work {
    Scan,
    Rewrite,
    IndexBuild,
    FkValidation,
}

/// What one statement does, before the verdict.
#[derive(Debug, Default)]
pub(crate) struct Effect {
    pub locks: Vec<TableLock>,
    /// Tables created in this migration: locks on them block no one.
    pub new_tables: Vec<String>,
    pub rewrites: bool,
    pub scans: bool,
    pub seconds: Option<f64>,
    pub findings: Vec<Finding>,
    /// Zero when no lock is taken; None once any needed size is unknown.
    unknown_time: bool,
}

impl Effect {
    pub(super) fn lock(&mut self, t: &Table, mode: LockMode) {
        let name = t.name.to_string();
        if t.created_in_migration && !self.new_tables.contains(&name) {
            self.new_tables.push(name.clone());
        }
        match self.locks.iter_mut().find(|l| l.table == name) {
            Some(l) => l.lock = l.lock.max(mode),
            None => self.locks.push(TableLock {
                table: name,
                lock: mode,
                held_from_earlier_statement: false,
            }),
        }
    }

    pub(super) fn time(&mut self, seconds: Option<f64>) {
        match seconds {
            Some(s) => self.seconds = Some(self.seconds.unwrap_or(0.0) + s),
            None => self.unknown_time = true,
        }
    }

    pub(super) fn finding(&mut self, f: Finding) {
        if !self
            .findings
            .iter()
            .any(|x| x.code == f.code && x.message == f.message)
        {
            self.findings.push(f);
        }
    }

    /// A catalog-only change that breaks application versions still using the old shape
    /// (nothing to break on a table created in this migration).
    pub(super) fn breaking(&mut self, t: &Table, code: Code, message: String, hint: &str) {
        self.lock(t, AccessExclusive);
        self.time(Some(CostModel::default().catalog_seconds));
        if !t.created_in_migration {
            self.finding(Finding::new(code, Severity::Warning, message).hint(hint));
        }
    }

    /// The safe plan for this statement backfills in batches by a unique key.
    pub(super) fn needs_backfill_key(&mut self, t: &Table) {
        if !t.assumed && !t.is_empty() && t.primary_key().is_none() {
            self.finding(
                Finding::new(
                    Code::NoPrimaryKey,
                    Severity::Warning,
                    format!("{} has no primary key: the safe plan backfills in batches by a unique NOT NULL key", t.name),
                )
                .hint("add a primary key first (CREATE UNIQUE INDEX CONCURRENTLY + ADD PRIMARY KEY USING INDEX)"),
            );
        }
    }

    /// Long work on `t` under the statement's lock: marks the scan or rewrite, adds its
    /// estimated time, and raises the hazard when the table has traffic to block.
    pub(super) fn work(
        &mut self,
        t: &Table,
        work: Work,
        cost: &CostModel,
        code: Code,
        message: String,
        hint: &str,
    ) {
        let secs = match work {
            Work::Scan => cost.scan(t),
            Work::Rewrite => cost.rewrite(t),
            Work::IndexBuild => cost.index_build(t),
            Work::FkValidation => cost.fk_validation(t),
        };
        match work {
            Work::Rewrite => self.rewrites = true,
            _ => self.scans = true,
        }
        self.time(secs);
        self.hazard(t, secs, code, message, hint);
    }

    /// A long operation under a blocking lock on `t`: an error on a big or unknown
    /// table, a caution on a small one, nothing on a table created in this migration.
    pub(super) fn hazard(
        &mut self,
        t: &Table,
        seconds: Option<f64>,
        code: Code,
        message: String,
        hint: &str,
    ) {
        if t.is_empty() {
            return;
        }
        let small = t.rows.is_some_and(|r| r < SMALL_TABLE_ROWS)
            && seconds.is_some_and(|s| s < SMALL_TABLE_SECONDS);
        let severity = if small {
            Severity::Warning
        } else {
            Severity::Error
        };
        self.finding(Finding::new(code, severity, message).hint(hint));
    }

    pub(super) fn done(mut self) -> Self {
        if self.unknown_time {
            self.seconds = None;
        }
        self
    }

    /// Adds a caution when sessions hold locks the statement would queue behind.
    pub fn live_activity(&mut self, cat: &Catalog) {
        for l in &self.locks {
            if l.held_from_earlier_statement {
                continue;
            }
            let Some(t) = cat.table_shown_as(&l.table) else {
                continue;
            };
            for b in cat.conflicting_holders(&t.name, l.lock) {
                let age = b
                    .transaction_seconds
                    .map(|s| format!(", transaction open {s:.0} s"))
                    .unwrap_or_default();
                self.findings.push(
                    Finding::new(
                        Code::LockQueueRisk,
                        Severity::Warning,
                        format!(
                            "pid {} ({}{age}) holds a lock on {} that conflicts with {}: the DDL would wait, and every query behind it too. Its query: {}",
                            b.pid, b.state, l.table, l.lock, truncate(&b.query, 120)
                        ),
                    )
                    .hint("zerodown apply uses a short lock_timeout and retries; end that transaction or wait for it"),
                );
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}...", one_line.chars().take(n).collect::<String>())
    }
}

/// The table a statement names: from the catalog, or assumed offline.
pub(super) fn table<'a>(cat: &'a Catalog, name: &QualName) -> Result<Cow<'a, Table>, String> {
    match cat.table(name) {
        Some(t) => Ok(Cow::Borrowed(t)),
        None if cat.live => Err(format!(
            "table {name} does not exist in the database (and is not created earlier in the migration); check the name and schema"
        )),
        None => Ok(Cow::Owned(Table::assumed(name.resolved()))),
    }
}

/// A new index's name must be free in its table's schema: an index or a table there of
/// that name (as far as the catalog read them) makes the server refuse the statement. An
/// invalid index (a failed concurrent build) is the plan's to drop and build again.
fn name_must_be_free(cat: &Catalog, table: &QualName, name: &str) -> Result<(), String> {
    let in_schema = QualName {
        schema: table.resolved().schema,
        name: name.to_owned(),
    };
    let owner = cat
        .table_of_index(&in_schema)
        .filter(|t| t.indexes.iter().any(|i| i.name == name && i.valid))
        .map(|t| format!("an index of {}", t.name));
    match owner.or_else(|| cat.table(&in_schema).map(|_| "a table".to_owned())) {
        Some(what) => Err(format!(
            "{in_schema} already exists ({what}): the server would refuse the statement; choose another index name, or write CREATE INDEX IF NOT EXISTS"
        )),
        None => Ok(()),
    }
}

pub(super) fn column_must_exist(cat: &Catalog, t: &Table, column: &str) -> Result<(), String> {
    if cat.live && !t.assumed && t.column(column).is_none() {
        return Err(format!(
            "column {column} does not exist in table {}; check the name",
            t.name
        ));
    }
    Ok(())
}

/// Impact of one statement. `Err` is bad input (unknown table or column, live only).
pub(crate) fn effect(
    op: &DdlOp,
    cat: &Catalog,
    p: &ServerProfile,
    cost: &CostModel,
    in_txn: bool,
) -> Result<Effect, String> {
    let mut e = Effect::default();
    match op {
        DdlOp::CreateTable {
            columns,
            constraints,
            partition_of,
            ..
        } => {
            let fks = columns
                .iter()
                .flat_map(|c| c.constraints.iter())
                .chain(constraints.iter());
            for c in fks {
                if let ConstraintKind::ForeignKey { ref_table, .. } = &c.kind {
                    // The new table is empty: the referenced table is locked only briefly.
                    let r = table(cat, ref_table)?;
                    e.lock(&r, ShareRowExclusive);
                }
            }
            if let Some(parent) = partition_of {
                let parent = table(cat, parent)?;
                e.lock(&parent, AccessExclusive);
            }
            e.time(Some(cost.catalog_seconds));
        }
        DdlOp::AlterTable {
            table: name,
            actions,
        } => {
            let t = table(cat, name)?;
            for a in actions {
                alter_action(&mut e, a, &t, cat, p, cost)?;
            }
        }
        DdlOp::CreateIndex(ix) => create_index(&mut e, ix, cat, p, cost, in_txn)?,
        DdlOp::DropIndex {
            names,
            concurrently,
            if_exists,
        } => {
            for n in names {
                // An index the history does not show (made outside it, renamed) is on
                // some existing table of unknown size: the costly case.
                let (t, known) = match cat.table_of_index(n) {
                    Some(t) => (Cow::Borrowed(t), true),
                    None if cat.live && *if_exists => continue,
                    None if cat.live => {
                        return Err(format!("index {n} does not exist in the database"))
                    }
                    None => (
                        Cow::Owned(Table::assumed(QualName::new(None, "(table of the index)"))),
                        false,
                    ),
                };
                e.lock(
                    &t,
                    if *concurrently {
                        ShareUpdateExclusive
                    } else {
                        AccessExclusive
                    },
                );
                if !concurrently && !t.is_empty() {
                    let table = if known {
                        t.name.to_string()
                    } else {
                        "its table (the index is not known to the migrations read: created outside them or renamed; an existing table of unknown size is assumed)".to_owned()
                    };
                    e.finding(
                        Finding::new(Code::DropIndexBlocks, Severity::Warning, format!(
                            "DROP INDEX {n} takes ACCESS EXCLUSIVE on {table}: every query on it queues behind a waiting drop"))
                        .hint("use DROP INDEX CONCURRENTLY (not for constraint-backed indexes)"),
                    );
                }
            }
            if *concurrently && in_txn {
                e.finding(concurrently_in_txn("DROP INDEX CONCURRENTLY"));
            }
            e.time(Some(cost.catalog_seconds));
        }
        DdlOp::DropTable { names } => {
            for n in names {
                let t = table(cat, n)?;
                e.breaking(&t, Code::BreakingDropTable,
                    format!("DROP TABLE {n}: application versions still running that use it will fail"),
                    "deploy the application that no longer uses the table first, then drop it in a later migration");
            }
        }
        DdlOp::Truncate { tables, cascade } => {
            for n in cat.truncated(tables, *cascade) {
                // A table CASCADE reaches may not have been read: existing, size unknown.
                let t = match cat.table(&n) {
                    Some(t) => t.clone(),
                    None if tables.iter().any(|m| m.resolved() == n) => {
                        table(cat, &n)?.into_owned()
                    }
                    None => Table::assumed(n.clone()),
                };
                e.lock(&t, AccessExclusive);
                if t.is_empty() {
                    continue;
                }
                let how = if tables.iter().any(|m| m.resolved() == n) {
                    format!("TRUNCATE deletes every row of {n}")
                } else {
                    format!("TRUNCATE ... CASCADE also deletes every row of {n}, whose foreign keys reference a truncated table")
                };
                e.finding(Finding::new(Code::TruncateDeletesRows, Severity::Warning,
                    format!("{how}: application versions that read it find it empty, and so do transactions that started before it (TRUNCATE is not MVCC-safe)"))
                    .hint("make sure those rows are disposable; to empty a table the application uses without ACCESS EXCLUSIVE, DELETE in small batches instead"));
            }
            e.time(Some(cost.catalog_seconds));
        }
        DdlOp::RenameTable { table: n, new_name } => {
            let t = table(cat, n)?;
            e.breaking(&t, Code::BreakingRenameTable,
                format!("RENAME {n} TO {new_name}: running application versions still use the old name"),
                "expand/contract: create a view with the new name (or the old one) so both versions work, switch the application, then rename and drop the view");
        }
        DdlOp::RenameColumn {
            table: n,
            column,
            new_name,
        } => {
            let t = table(cat, n)?;
            column_must_exist(cat, &t, column)?;
            e.breaking(&t, Code::BreakingRenameColumn,
                format!("RENAME COLUMN {column} TO {new_name} on {n}: running application versions still use the old name"),
                "expand/contract: add the new column, keep both in sync with a trigger and backfill, move the application, then drop the old column");
        }
        DdlOp::AddEnumValue { type_name, .. } => {
            if in_txn && !cap::enum_add_value_in_transaction(p) {
                e.finding(Finding::new(Code::EnumValueInTransaction, Severity::Error,
                    format!("ALTER TYPE {type_name} ADD VALUE cannot run inside a transaction block on PostgreSQL {}", p.version))
                    .hint("run it in its own migration without a transaction"));
            } else if in_txn {
                e.finding(Finding::new(
                    Code::EnumValueInTransaction,
                    Severity::Info,
                    "the new enum value cannot be used until this transaction commits",
                ));
            }
            e.time(Some(cost.catalog_seconds));
        }
        DdlOp::CreateTrigger { table: n, .. } => {
            let t = table(cat, n)?;
            e.lock(&t, ShareRowExclusive);
            e.time(Some(cost.catalog_seconds));
        }
        DdlOp::DropTrigger { table: n, .. } => {
            let t = table(cat, n)?;
            e.lock(&t, AccessExclusive);
            e.time(Some(cost.catalog_seconds));
        }
        DdlOp::Update {
            table: n,
            assignments,
            filter,
        } => {
            let t = table(cat, n)?;
            for (c, _) in assignments {
                column_must_exist(cat, &t, c)?;
            }
            e.lock(&t, RowExclusive);
            e.scans = true;
            e.needs_backfill_key(&t);
            let secs = cost.update(&t);
            e.time(secs);
            if !t.is_empty() {
                let what = if filter.is_some() {
                    "rows matching its WHERE"
                } else {
                    "every row"
                };
                let sev = if t.rows.is_some_and(|r| r < SMALL_TABLE_ROWS) {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                e.finding(Finding::new(Code::WholeTableUpdate, sev,
                    format!("UPDATE {n} in one statement locks {what} until commit: concurrent updates of those rows wait, and it leaves a burst of dead rows and WAL"))
                    .hint("let zerodown run it as a batched backfill (small transactions, throttled)"));
            }
        }
        DdlOp::CreateTableAs { table: n, reads } => {
            let sources = read_sources(&mut e, reads, cat)?;
            // The new table is the statement's own until it commits: it blocks no one.
            let mut made = Table::assumed(n.resolved());
            made.created_in_migration = true;
            e.lock(&made, AccessExclusive);
            let through: Vec<&Table> = sources.iter().map(|s| &**s).collect();
            if let Some((existing, _)) = go_through(&mut e, through, cost) {
                e.finding(Finding::new(Code::LargeDataChange, Severity::Warning, format!(
                    "CREATE TABLE {n} AS reads {existing} in one statement: one long transaction (it holds back vacuum), a burst of WAL, and replicas apply it as one long event"))
                    .hint("create the table empty and copy in key ranges, each its own transaction, from a job or a later migration"));
            }
        }
        DdlOp::DataChange {
            verb,
            table: n,
            reads,
            values_rows,
        } => data_change(&mut e, *verb, n, reads, *values_rows, cat, cost)?,
        DdlOp::CreateDomain { .. } => e.time(Some(0.0)),
        DdlOp::Reindex {
            name,
            table: is_table,
            concurrently,
        } => reindex(&mut e, name, *is_table, *concurrently, cat, p, cost, in_txn)?,
        DdlOp::LockTable { tables, mode } => {
            for n in tables {
                let t = table(cat, n)?;
                e.lock(&t, *mode);
            }
            e.time(Some(cost.catalog_seconds));
            if !in_txn {
                e.finding(Finding::new(
                    Code::LockOutsideTransaction,
                    Severity::Error,
                    "LOCK TABLE outside a transaction block is an error in PostgreSQL",
                ));
            }
        }
        DdlOp::TableRewrite { table: n, what } => {
            if let Some(n) = n {
                let t = table(cat, n)?;
                e.lock(&t, AccessExclusive);
                e.work(&t, Work::Rewrite, cost, Code::TableRewrite, format!("{what} rewrites {n} under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite"),
                    "use pg_repack (or REPACK CONCURRENTLY on PostgreSQL 19) instead");
            } else {
                e.finding(Finding::new(
                    Code::TableRewrite,
                    Severity::Error,
                    format!("{what} of every table rewrites them under ACCESS EXCLUSIVE"),
                ));
            }
        }
        DdlOp::Set { name, .. } => {
            e.time(Some(0.0));
            if matches!(name.as_str(), "lock_timeout" | "statement_timeout") {
                e.finding(Finding::new(Code::SettingInMigration, Severity::Info,
                    format!("SET {name} in the file: zerodown apply sets lock_timeout and statement_timeout per step itself")));
            }
        }
        DdlOp::Transaction(_) | DdlOp::CatalogOnly { .. } => e.time(Some(0.0)),
        DdlOp::Opaque { what } => {
            e.finding(Finding::new(Code::UnmodeledStatement, Severity::Warning,
                format!("zerodown does not model {what}: its locks and duration are not known to the plan"))
                .hint("review it by hand, or move it to a separate migration"));
        }
    }
    Ok(e.done())
}

/// The tables a statement reads, each locked ACCESS SHARE.
fn read_sources<'c>(
    e: &mut Effect,
    reads: &[QualName],
    cat: &'c Catalog,
) -> Result<Vec<Cow<'c, Table>>, String> {
    let sources = reads
        .iter()
        .map(|r| table(cat, r))
        .collect::<Result<Vec<_>, _>>()?;
    for s in &sources {
        e.lock(s, AccessShare);
    }
    Ok(sources)
}

/// Times a statement by the rows of the tables it goes through that hold rows already:
/// their names and row count, or None (and a catalog-only time) when none does: seed
/// rows, or data only this migration made, on which nothing waits.
fn go_through(
    e: &mut Effect,
    through: Vec<&Table>,
    cost: &CostModel,
) -> Option<(String, Option<f64>)> {
    let existing: Vec<&Table> = through.into_iter().filter(|s| !s.is_empty()).collect();
    if existing.is_empty() {
        e.time(Some(cost.catalog_seconds));
        return None;
    }
    e.scans = true;
    let rows: Option<f64> = existing.iter().map(|s| s.rows).sum();
    e.time(rows.map(|r| r / cost.update_rows_per_sec));
    let names: Vec<String> = existing.iter().map(|s| s.name.to_string()).collect();
    Some((names.join(", "), rows))
}

/// INSERT, DELETE, or an UPDATE kept as written: the rows it goes through are its
/// table's (DELETE, UPDATE) or its sources' (INSERT … SELECT); VALUES rows are few.
fn data_change(
    e: &mut Effect,
    verb: DataVerb,
    n: &QualName,
    reads: &[QualName],
    values_rows: Option<usize>,
    cat: &Catalog,
    cost: &CostModel,
) -> Result<(), String> {
    let t = table(cat, n)?;
    e.lock(&t, RowExclusive);
    let sources = read_sources(e, reads, cat)?;
    let through: Vec<&Table> = match verb {
        DataVerb::Insert if values_rows.is_some() => Vec::new(),
        DataVerb::Insert => sources.iter().map(|s| &**s).collect(),
        DataVerb::Delete | DataVerb::Update => vec![&*t],
    };
    let Some((existing, rows)) = go_through(e, through, cost) else {
        return Ok(());
    };
    let small = rows.is_some_and(|r| r < SMALL_TABLE_ROWS);
    let (sev, what, hint) = match verb {
        DataVerb::Delete => (
            if small { Severity::Warning } else { Severity::Error },
            format!("DELETE on {n} in one statement locks every row it deletes until commit: concurrent updates of those rows wait, and it leaves a burst of dead rows and WAL"),
            "delete in batches by primary key, each its own transaction (DELETE … WHERE id IN (SELECT id … ORDER BY id LIMIT 5000), repeated until none is left), from a job or a later migration",
        ),
        DataVerb::Update => (
            if small { Severity::Warning } else { Severity::Error },
            format!("UPDATE on {n} (with FROM, WITH or RETURNING) in one statement locks every row it changes until commit: concurrent updates of those rows wait, and it leaves a burst of dead rows and WAL"),
            "write it as UPDATE … SET … WHERE on the table alone, which zerodown runs as a batched backfill, or batch it by primary key yourself",
        ),
        DataVerb::Insert => (
            Severity::Warning,
            format!("INSERT … SELECT into {n} reads {existing} in one statement: one long transaction (it holds back vacuum), a burst of WAL, and replicas apply it as one long event"),
            "copy in key ranges (… WHERE id > last ORDER BY id LIMIT 5000), each its own transaction, from a job or a later migration",
        ),
    };
    e.finding(Finding::new(Code::LargeDataChange, sev, what).hint(hint));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn reindex(
    e: &mut Effect,
    name: &QualName,
    is_table: bool,
    concurrently: bool,
    cat: &Catalog,
    p: &ServerProfile,
    cost: &CostModel,
    in_txn: bool,
) -> Result<(), String> {
    let t = if is_table {
        table(cat, name)?
    } else {
        match cat.table_of_index(name) {
            Some(t) => Cow::Borrowed(t),
            None if cat.live => return Err(format!("index {name} does not exist in the database")),
            None => Cow::Owned(Table::assumed(QualName::new(None, "(table of the index)"))),
        }
    };
    let indexes = if is_table { t.indexes.len().max(1) } else { 1 };
    let secs = cost.index_build(&t).map(|s| s * indexes as f64);
    e.scans = true;
    e.time(secs);
    if concurrently {
        e.lock(&t, ShareUpdateExclusive);
        if !cap::reindex_concurrently(p) {
            e.finding(Finding::new(
                Code::UnsupportedOnVersion,
                Severity::Error,
                format!(
                    "REINDEX CONCURRENTLY needs PostgreSQL 12 (target is {})",
                    p.version
                ),
            ));
        }
        concurrent_build_checks(e, "REINDEX CONCURRENTLY", p, in_txn);
    } else {
        e.lock(&t, Share);
        e.hazard(&t, secs, Code::ReindexBlocks,
            format!("REINDEX takes SHARE on {} (writes wait) and ACCESS EXCLUSIVE on the index (queries that would use it wait) for the whole rebuild", t.name),
            if cap::reindex_concurrently(p) { "use REINDEX ... CONCURRENTLY, outside a transaction" } else { "before PostgreSQL 12: CREATE INDEX CONCURRENTLY a twin, then drop the old one concurrently" });
    }
    Ok(())
}

/// What can go wrong with a concurrent index build whatever the form.
fn concurrent_build_checks(e: &mut Effect, what: &str, p: &ServerProfile, in_txn: bool) {
    if in_txn {
        e.finding(concurrently_in_txn(what));
    }
    if cap::concurrent_index_corruption_bug(p) {
        e.finding(
            Finding::new(
                Code::ConcurrentIndexCorruptionBug,
                Severity::Error,
                format!("PostgreSQL {} can silently corrupt indexes built or rebuilt CONCURRENTLY (fixed in 14.4)", p.version),
            )
            .hint("upgrade to 14.4 or later before building indexes concurrently"),
        );
    }
}

fn concurrently_in_txn(what: &str) -> Finding {
    Finding::new(
        Code::ConcurrentlyInTransaction,
        Severity::Error,
        format!("{what} cannot run inside a transaction block: PostgreSQL rejects it (the migration tool wraps this file in a transaction, or BEGIN was used)"),
    )
    .hint("put it in a migration of its own without a transaction (sqlx: -- no-transaction; dbmate: transaction:false); zerodown apply runs it outside a transaction")
}

fn create_index(
    e: &mut Effect,
    ix: &IndexDef,
    cat: &Catalog,
    p: &ServerProfile,
    cost: &CostModel,
    in_txn: bool,
) -> Result<(), String> {
    let t = table(cat, &ix.table)?;
    for c in &ix.columns {
        column_must_exist(cat, &t, c)?;
    }
    if let Some(name) = ix.name.as_ref().filter(|_| cat.live && !ix.if_not_exists) {
        name_must_be_free(cat, &t.name, name)?;
    }
    let secs = if t.partitioned && !t.partitions.is_empty() {
        // Every partition is built; sizes live on the partitions.
        let mut total = Some(0.0);
        for part in &t.partitions {
            let s = cat.table(part).and_then(|pt| cost.index_build(pt));
            total = total.zip(s).map(|(a, b)| a + b);
        }
        total
    } else {
        cost.index_build(&t)
    };
    e.scans = true;
    e.time(secs);
    if ix.concurrently {
        e.lock(&t, ShareUpdateExclusive);
        concurrent_build_checks(e, "CREATE INDEX CONCURRENTLY", p, in_txn);
        if t.partitioned {
            e.finding(Finding::new(Code::ConcurrentlyOnPartitioned, Severity::Error,
                format!("CREATE INDEX CONCURRENTLY is not supported on partitioned table {}", t.name))
                .hint("CREATE INDEX ... ON ONLY the parent, CREATE INDEX CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION"));
        }
    } else {
        e.lock(&t, Share);
        e.hazard(&t, secs, Code::CreateIndexBlocksWrites,
            format!("CREATE INDEX on {} takes SHARE: INSERT, UPDATE and DELETE wait for the whole build", t.name),
            "use CREATE INDEX CONCURRENTLY, outside a transaction");
    }
    Ok(())
}
