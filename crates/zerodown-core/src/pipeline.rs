//! The pure pipeline: sources -> IR -> analysis -> plan, with every problem in the
//! input reported at once as diagnostics (nothing is planned from bad input).

use std::collections::BTreeSet;

use crate::analyze::{self, CostModel, ParsedFile, StatementAnalysis};
use crate::catalog::Catalog;
use crate::engine::ServerProfile;
use crate::ir::{AlterAction, ConstraintKind, DdlOp, QualName};
use crate::migrations::SourceFile;
use crate::plan::{self, Plan, PlanOptions};
use crate::sql::parse_pg::{self, Diagnostic};

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
        files.push(ParsedFile {
            source: s.clone(),
            statements,
        });
    }
    (files, diagnostics)
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

/// Everything the migration names.
pub fn references(files: &[ParsedFile]) -> References {
    References {
        tables: referenced_tables(files),
        indexes: referenced_indexes(files),
        functions: referenced_functions(files),
        types: files
            .iter()
            .flat_map(|f| f.statements.iter())
            .filter_map(|s| match &s.op {
                DdlOp::AlterTable { actions, .. } => Some(actions.iter().filter_map(|a| match a {
                    AlterAction::AddColumn { column, .. } => Some(column.ty.name.clone()),
                    _ => None,
                })),
                _ => None,
            })
            .flatten()
            .collect(),
    }
}

fn referenced_tables(files: &[ParsedFile]) -> BTreeSet<QualName> {
    let mut out = BTreeSet::new();
    let add_constraint = |out: &mut BTreeSet<QualName>, k: &ConstraintKind| {
        if let ConstraintKind::ForeignKey { ref_table, .. } = k {
            out.insert(ref_table.resolved());
        }
    };
    for f in files {
        for s in &f.statements {
            match &s.op {
                DdlOp::CreateTable {
                    columns,
                    constraints,
                    partition_of,
                    ..
                } => {
                    for k in constraints
                        .iter()
                        .chain(columns.iter().flat_map(|c| c.constraints.iter()))
                    {
                        add_constraint(&mut out, &k.kind);
                    }
                    if let Some(p) = partition_of {
                        out.insert(p.resolved());
                    }
                }
                DdlOp::AlterTable { table, actions } => {
                    out.insert(table.resolved());
                    for a in actions {
                        match a {
                            AlterAction::AddConstraint { constraint } => {
                                add_constraint(&mut out, &constraint.kind)
                            }
                            AlterAction::AddColumn { column, .. } => {
                                for k in &column.constraints {
                                    add_constraint(&mut out, &k.kind);
                                }
                            }
                            AlterAction::AttachPartition { partition }
                            | AlterAction::DetachPartition { partition, .. } => {
                                out.insert(partition.resolved());
                            }
                            _ => {}
                        }
                    }
                }
                DdlOp::CreateIndex(ix) => {
                    out.insert(ix.table.resolved());
                }
                DdlOp::DropTable { names } => out.extend(names.iter().map(QualName::resolved)),
                DdlOp::RenameTable { table, .. }
                | DdlOp::RenameColumn { table, .. }
                | DdlOp::CreateTrigger { table, .. }
                | DdlOp::DropTrigger { table, .. }
                | DdlOp::Update { table, .. } => {
                    out.insert(table.resolved());
                }
                DdlOp::Reindex {
                    name, table: true, ..
                } => {
                    out.insert(name.resolved());
                }
                DdlOp::TableRewrite { table: Some(t), .. } => {
                    out.insert(t.resolved());
                }
                DdlOp::LockTable { tables, .. } => {
                    out.extend(tables.iter().map(QualName::resolved))
                }
                _ => {}
            }
        }
    }
    out
}

fn referenced_indexes(files: &[ParsedFile]) -> BTreeSet<QualName> {
    files
        .iter()
        .flat_map(|f| f.statements.iter())
        .filter_map(|s| match &s.op {
            DdlOp::DropIndex { names, .. } => {
                Some(names.iter().map(QualName::resolved).collect::<Vec<_>>())
            }
            DdlOp::Reindex {
                name, table: false, ..
            } => Some(vec![name.resolved()]),
            _ => None,
        })
        .flatten()
        .collect()
}

fn referenced_functions(files: &[ParsedFile]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for f in files {
        for s in &f.statements {
            if let DdlOp::AlterTable { actions, .. } = &s.op {
                for a in actions {
                    match a {
                        AlterAction::AddColumn { column, .. } => {
                            if let Some(d) = &column.default {
                                out.extend(d.functions.iter().cloned());
                            }
                        }
                        AlterAction::SetDefault { default, .. } => {
                            out.extend(default.functions.iter().cloned())
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out
}

/// Analyses and plans parsed files. Err: bad input found against the catalog.
pub fn run(
    files: &[ParsedFile],
    catalog: &Catalog,
    profile: &ServerProfile,
    cost: &CostModel,
    opts: &PlanOptions,
) -> Result<Outcome, Vec<Diagnostic>> {
    let analysis = analyze::analyze(files, catalog, profile, cost);
    if !analysis.diagnostics.is_empty() {
        return Err(analysis.diagnostics);
    }
    let plan = plan::plan(files, catalog, profile, opts);
    Ok(Outcome {
        statements: analysis.statements,
        plan,
    })
}
