//! The PostgreSQL planner: walks the statements of the files in order, plans each one
//! through its operation in `ops/`, and groups the steps into rounds of phases
//! (expand -> backfill -> contract). Pure: no I/O.

mod ops;

pub(crate) use ops::never_in_transaction;

use std::collections::BTreeSet;

use crate::engine::ServerProfile;
use crate::pg::analyze::statement_effect;
use crate::pg::catalog::{simulate, Catalog, Table};
use crate::pg::ir::{AlterAction, DdlOp, QualName, Statement};
use crate::pg::parse::ParsedFile;
use crate::plan::{Phase, PhaseSteps, Plan, PlanOptions, Step, StepKind};

/// Builds the plan for all statements of the files, in order.
pub fn plan(
    files: &[ParsedFile],
    catalog: &Catalog,
    profile: &ServerProfile,
    opts: &PlanOptions,
) -> Plan {
    let mut cat = catalog.clone();
    cat.index_owners_from_tables();
    let mut rounds: Vec<Vec<Step>> = vec![Vec::new()];
    let mut contract_touched: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    // Columns backfilled in the current round, by table.
    let mut backfilled: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    let mut notes = Vec::new();
    for file in files {
        let mut next = 0;
        while next < file.statements.len() {
            let stmt = &file.statements[next];
            // The statements of one DO block go together: one transaction, one step.
            let members = match &stmt.block {
                Some(b) => file.statements[next..]
                    .iter()
                    .take_while(|s| s.block.as_ref() == Some(b))
                    .count(),
                None => 1,
            };
            let members = &file.statements[next..next + members];
            next += members.len();
            let touched: Vec<_> = members
                .iter()
                .flat_map(|s| touched_columns(&s.op))
                .collect();
            let conflict = touched.iter().any(|(t, c)| {
                contract_touched.contains(&(t.clone(), None))
                    || contract_touched.contains(&(t.clone(), c.clone()))
                    || (c.is_none() && contract_touched.iter().any(|(tt, _)| tt == t))
            });
            if conflict {
                // A later statement uses what an earlier one changes in its contract
                // phase: finish that migration round first.
                rounds.push(Vec::new());
                contract_touched.clear();
                backfilled.clear();
            }
            let block = stmt.block.as_deref().map(|b| {
                // Each statement's effect on the catalog as its earlier ones left it.
                let effects: Vec<_> = members
                    .iter()
                    .map(|m| {
                        let effect = as_written_effect(m, &cat, profile);
                        simulate::apply(&mut cat, &m.op);
                        effect
                    })
                    .collect();
                (b, effects)
            });
            let mut ctx = ops::Ctx::new(&cat, profile, opts, stmt);
            match &block {
                Some((b, effects)) => ops::do_block(&mut ctx, b, effects),
                None => ops::plan_statement(&mut ctx, stmt),
            }
            // An index on a column this round backfills is built after the backfill: one
            // build over the filled column, instead of every batch maintaining the index.
            if touched.iter().any(|tc| backfilled.contains(tc)) {
                for s in ctx.steps.iter_mut().filter(|s| {
                    s.phase == Phase::Expand && s.kind == StepKind::CreateIndexConcurrently
                }) {
                    s.phase = Phase::Backfill;
                }
            }
            for s in &ctx.steps {
                if let (Some(table), Some(spec)) = (&s.table, &s.backfill) {
                    backfilled.extend(
                        spec.set
                            .iter()
                            .map(|a| (table.clone(), Some(a.column.clone()))),
                    );
                }
            }
            for s in ctx.steps.iter().filter(|s| s.phase == Phase::Contract) {
                if matches!(
                    s.kind,
                    StepKind::Swap | StepKind::AsWritten | StepKind::DropIndexConcurrently
                ) {
                    contract_touched.extend(touched.iter().cloned());
                }
            }
            notes.extend(ctx.notes);
            if let Some(r) = rounds.last_mut() {
                r.extend(ctx.steps);
            }
            if block.is_none() {
                simulate::apply(&mut cat, &stmt.op);
            }
        }
        simulate::end_of_file(&mut cat);
    }
    let mut phases = Vec::new();
    for mut round in rounds {
        let analyze = ops::analyze_steps(&round, opts);
        // Steps move into their phase, each sized to fit (a long file's steps are most of
        // the memory: no copy, no growth slack).
        round.shrink_to_fit();
        let count = |phase| round.iter().filter(|s| s.phase == phase).count();
        let mut expand = Vec::with_capacity(count(Phase::Expand));
        let mut backfill = Vec::with_capacity(count(Phase::Backfill));
        let mut contract = Vec::with_capacity(count(Phase::Contract) + analyze.len());
        for s in round {
            match s.phase {
                Phase::Expand => expand.push(s),
                Phase::Backfill => backfill.push(s),
                Phase::Contract => contract.push(s),
            }
        }
        contract.extend(analyze);
        for (name, steps) in [
            (Phase::Expand, expand),
            (Phase::Backfill, backfill),
            (Phase::Contract, contract),
        ] {
            if !steps.is_empty() {
                phases.push(PhaseSteps { name, steps });
            }
        }
    }
    let blocking: Vec<String> = phases
        .iter()
        .flat_map(|p| p.steps.iter())
        .filter(|s| s.blocks_traffic_while_working())
        .map(|s| format!("{}:{}: {}", s.source.file, s.source.line, s.description))
        .collect();
    for b in &blocking {
        notes.push(format!(
            "still blocks traffic while it works (no online form): {b}"
        ));
    }
    let concurrent_builds = phases.iter().flat_map(|p| p.steps.iter()).any(|s| {
        matches!(
            s.kind,
            StepKind::CreateIndexConcurrently | StepKind::ReindexConcurrently
        )
    });
    if concurrent_builds && crate::capabilities::concurrent_index_corruption_bug(profile) {
        notes.push(format!(
            "PostgreSQL {} can corrupt indexes built or rebuilt CONCURRENTLY (fixed in 14.4): upgrade before running this plan",
            profile.version
        ));
    }
    notes.dedup();
    Plan {
        phases,
        safe: blocking.is_empty(),
        notes,
        history: None,
    }
}

/// (table, column) pairs a statement reads or changes; column None = the whole table.
fn touched_columns(op: &DdlOp) -> Vec<(String, Option<String>)> {
    let t = |q: &QualName| q.resolved().to_string();
    match op {
        DdlOp::AlterTable { table, actions } => actions
            .iter()
            .map(|a| {
                let col = match a {
                    AlterAction::AddColumn { column, .. } => Some(column.name.clone()),
                    AlterAction::DropColumn { column, .. }
                    | AlterAction::AlterColumnType { column, .. }
                    | AlterAction::SetDefault { column, .. }
                    | AlterAction::DropDefault { column }
                    | AlterAction::SetNotNull { column }
                    | AlterAction::DropNotNull { column } => Some(column.clone()),
                    _ => None,
                };
                (t(table), col)
            })
            .collect(),
        DdlOp::CreateIndex(ix) => ix
            .columns
            .iter()
            .map(|c| (t(&ix.table), Some(c.clone())))
            .collect(),
        DdlOp::RenameColumn { table, column, .. } => vec![(t(table), Some(column.clone()))],
        DdlOp::Update {
            table, assignments, ..
        } => assignments
            .iter()
            .map(|(c, _)| (t(table), Some(c.clone())))
            .collect(),
        DdlOp::RenameTable { table, .. } => vec![(t(table), None)],
        DdlOp::DropTable { names } | DdlOp::Truncate { tables: names, .. } => {
            names.iter().map(|n| (t(n), None)).collect()
        }
        _ => Vec::new(),
    }
}

/// The table a statement names, from the catalog or assumed (offline).
pub(crate) fn table_or_assumed(cat: &Catalog, name: &QualName) -> Table {
    cat.table(name)
        .cloned()
        .unwrap_or_else(|| Table::assumed(name.resolved()))
}

/// Lock, rewrite and scan of a statement as written (for as-written steps).
pub(crate) fn as_written_effect(
    stmt: &Statement,
    cat: &Catalog,
    p: &ServerProfile,
) -> (
    Option<crate::lock::LockMode>,
    Option<String>,
    bool,
    bool,
    bool,
) {
    match statement_effect(&stmt.op, cat, p) {
        Some((locks, new_tables, rewrites, scans)) => {
            let strongest = locks.iter().max_by_key(|l| l.lock);
            let all_new = !locks.is_empty() && locks.iter().all(|l| new_tables.contains(&l.table));
            (
                strongest.map(|l| l.lock),
                strongest.map(|l| l.table.clone()),
                rewrites,
                scans,
                all_new,
            )
        }
        None => (None, None, false, false, false),
    }
}
