//! The pure pipeline: sources -> IR -> analysis -> plan, with every problem in the
//! input reported at once as diagnostics (nothing is planned from bad input).

use std::collections::BTreeSet;

use crate::analysis::StatementAnalysis;
use crate::engine::ServerProfile;
use crate::estimate::CostModel;
use crate::migrations::{Layout, SourceFile};
use crate::mysql::catalog::MyCatalog;
use crate::mysql::parse::{self as parse_mysql, MyKind, MyStatement};
use crate::pg::catalog::Catalog;
use crate::pg::ir::{AlterAction, DdlOp, QualName};
use crate::pg::parse as parse_pg;
use crate::pg::parse::ParsedFile;
use crate::plan::{Plan, PlanOptions};
use crate::sql::source::Diagnostic;

/// Analysis and plan of a whole migration.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub statements: Vec<StatementAnalysis>,
    pub plan: Plan,
}

/// Parses every source; diagnostics for every statement that does not parse.
pub fn parse_sources(sources: &[SourceFile]) -> (Vec<ParsedFile>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    for s in sources {
        let (statements, diags) = parse_pg::parse_file(&s.name, &s.text);
        diagnostics.extend(diags);
        let mut file = ParsedFile {
            source: s.clone(),
            statements,
        };
        if s.layout == Layout::Flyway && s.implicit_transaction {
            diagnostics.extend(flyway_transaction(&mut file));
        }
        files.push(file);
    }
    (files, diagnostics)
}

/// Flyway runs a file whose every statement cannot run in a transaction (CREATE INDEX
/// CONCURRENTLY...) without one, and refuses a file that mixes such statements with
/// others (unless its `mixed` setting is on, which `--transaction never` stands for).
fn flyway_transaction(file: &mut ParsedFile) -> Option<Diagnostic> {
    let outside = |s: &&crate::pg::ir::Statement| crate::pg::plan::never_in_transaction(&s.op);
    let first = file.statements.iter().find(outside)?;
    if file.statements.iter().all(|s| outside(&s)) {
        file.source.implicit_transaction = false;
        return None;
    }
    Some(Diagnostic {
        span: first.span.clone(),
        message: "Flyway refuses this file: it mixes a statement that cannot run in a transaction (this one) with statements that run in one; put this statement in a migration of its own (or, if Flyway's mixed setting is on, give --transaction never)".to_owned(),
    })
}

/// Parses every source as MySQL/MariaDB; diagnostics for every statement that does not parse.
pub fn parse_mysql_sources(sources: &[SourceFile]) -> (Vec<MyStatement>, Vec<Diagnostic>) {
    let mut statements = Vec::new();
    let mut diagnostics = Vec::new();
    for s in sources {
        let (stmts, diags) = parse_mysql::parse_file(&s.name, &s.text);
        statements.extend(stmts);
        diagnostics.extend(diags);
    }
    (statements, diagnostics)
}

/// The tables a MySQL/MariaDB migration names, to be read from the live catalog.
pub fn mysql_tables(statements: &[MyStatement]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in statements {
        match &s.kind {
            MyKind::AlterTable { table, .. } | MyKind::Update { table, .. } => {
                out.insert(table.clone());
            }
            MyKind::DataChange { table, reads, .. } => {
                out.insert(table.clone());
                out.extend(reads.iter().cloned());
            }
            MyKind::CreateTable { statement, .. } => {
                if let Some(query) = &statement.query {
                    out.extend(crate::mysql::parse::relations(query.as_ref()));
                }
            }
            MyKind::DropTable { tables } => out.extend(tables.iter().cloned()),
            MyKind::RenameTable { pairs } => out.extend(pairs.iter().map(|(f, _)| f.clone())),
            _ => {}
        }
    }
    out
}

/// Analyses and plans a MySQL/MariaDB migration. Err: bad input found against the catalog.
pub fn run_mysql(
    statements: &[MyStatement],
    catalog: &MyCatalog,
    profile: &ServerProfile,
    cost: &CostModel,
    opts: &PlanOptions,
) -> Result<Outcome, Vec<Diagnostic>> {
    let (analysis, diagnostics) =
        crate::mysql::analyze::analyze(statements, catalog, profile, cost);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(Outcome {
        statements: analysis,
        plan: crate::mysql::plan::plan(statements, catalog, profile, opts),
    })
}

/// What the migration names, to be read from the live catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// Tables, including referenced ones (foreign keys, partitions).
    pub tables: BTreeSet<QualName>,
    /// Indexes dropped or rebuilt (their tables are looked up).
    pub indexes: BTreeSet<QualName>,
    /// Functions called in defaults (their volatility is read).
    pub functions: BTreeSet<String>,
    /// Types of added columns (to know which are domains with constraints).
    pub types: BTreeSet<String>,
}

/// Everything the migration names, as written (the driver resolves unqualified names).
pub fn references(files: &[ParsedFile]) -> References {
    let mut r = References::default();
    for s in files.iter().flat_map(|f| f.statements.iter()) {
        let mut op = s.op.clone();
        let indexes = matches!(
            op,
            DdlOp::DropIndex { .. } | DdlOp::Reindex { table: false, .. }
        );
        for name in op.relation_names_mut() {
            if indexes {
                r.indexes.insert(name.clone());
            } else {
                r.tables.insert(name.clone());
            }
        }
        if let DdlOp::AlterTable { actions, .. } = &s.op {
            for a in actions {
                match a {
                    AlterAction::AddColumn { column, .. } => {
                        r.types.insert(column.ty.name.clone());
                        if let Some(d) = &column.default {
                            r.functions.extend(d.functions.iter().cloned());
                        }
                    }
                    AlterAction::SetDefault { default, .. } => {
                        r.functions.extend(default.functions.iter().cloned())
                    }
                    _ => {}
                }
            }
        }
    }
    r
}

/// Gives every unqualified table or index name the schema `schema_of` finds for it (the
/// driver resolves names along the server's search_path, as PostgreSQL would); names
/// it does not know keep no schema and are read as `public`.
pub fn resolve_names(files: &mut [ParsedFile], schema_of: impl Fn(&str) -> Option<String>) {
    for f in files {
        for s in &mut f.statements {
            for name in s.op.relation_names_mut() {
                if name.schema.is_none() {
                    name.schema = schema_of(&name.name);
                }
            }
        }
    }
}

/// Offline: gives every unqualified table or index name a schema of `search_path`, as
/// PostgreSQL would: the first schema where the files create that name, else the first
/// schema of the path (where an unqualified CREATE puts it).
pub fn resolve_offline(files: &mut [ParsedFile], search_path: &[String]) {
    let Some(first) = search_path.first() else {
        return;
    };
    let mut made: BTreeSet<(String, String)> = BTreeSet::new();
    for s in files.iter().flat_map(|f| &f.statements) {
        let name = match &s.op {
            DdlOp::CreateTable { table, .. } | DdlOp::CreateTableAs { table, .. } => table,
            _ => continue,
        };
        let schema = name.schema.clone().unwrap_or_else(|| first.clone());
        made.insert((schema, name.name.clone()));
    }
    resolve_names(files, |name| {
        let found = search_path
            .iter()
            .find(|s| made.contains(&((*s).clone(), name.to_owned())));
        Some(found.unwrap_or(first).clone())
    });
}

/// Analyses and plans parsed files. Err: bad input found against the catalog.
pub fn run(
    files: &[ParsedFile],
    catalog: &Catalog,
    profile: &ServerProfile,
    cost: &CostModel,
    opts: &PlanOptions,
) -> Result<Outcome, Vec<Diagnostic>> {
    let analysis = crate::pg::analyze::analyze(files, catalog, profile, cost);
    if !analysis.diagnostics.is_empty() {
        return Err(analysis.diagnostics);
    }
    let plan = crate::pg::plan::plan(files, catalog, profile, opts);
    Ok(Outcome {
        statements: analysis.statements,
        plan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::classify;

    /// Flyway runs a file made only of statements that cannot run in a transaction
    /// without one, and refuses a file that mixes them with others.
    #[test]
    fn flyway_files_of_concurrent_statements_run_outside_a_transaction() {
        let only = classify(
            "V2__ix.sql",
            "CREATE INDEX CONCURRENTLY i ON t (a);\nDROP INDEX CONCURRENTLY j;\n",
        );
        let (files, diags) = parse_sources(&[only]);
        assert!(diags.is_empty(), "{diags:?}");
        assert!(!files[0].source.implicit_transaction);

        let mixed = classify(
            "V3__mixed.sql",
            "ALTER TABLE t ADD COLUMN b int;\nCREATE INDEX CONCURRENTLY i ON t (b);\n",
        );
        let (_, diags) = parse_sources(&[mixed]);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].span.line, 2);
        assert!(diags[0].message.contains("Flyway"), "{}", diags[0].message);

        // sqlx wraps a file unless told otherwise: left to the analysis to report.
        let sqlx = classify("0002_ix.sql", "CREATE INDEX CONCURRENTLY i ON t (a);\n");
        let (files, diags) = parse_sources(&[sqlx]);
        assert!(diags.is_empty());
        assert!(files[0].source.implicit_transaction);
    }
}
