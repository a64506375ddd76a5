//! Transaction state across statements: locks taken in a transaction are held until
//! COMMIT, so a quick ALTER followed by a long statement blocks for the long one.

use super::statement::Effect;
use crate::analysis::TableLock;
use crate::findings::{Code, Finding, Severity};
use crate::pg::catalog::simulate::constraint_name;
use crate::pg::catalog::Catalog;
use crate::pg::ir::{AlterAction, DdlOp, TxnControl};

struct Held {
    lock: TableLock,
    /// The table was created in this migration: nobody else can be waiting for it.
    new_table: bool,
}

pub(crate) struct TxnState {
    active: bool,
    held: Vec<Held>,
    /// (table, constraint) added NOT VALID in the current transaction.
    not_valid_added: Vec<(String, String)>,
}

impl TxnState {
    /// `implicit`: the migration tool runs the whole file in one transaction.
    pub fn new(implicit: bool) -> Self {
        TxnState {
            active: implicit,
            held: Vec::new(),
            not_valid_added: Vec::new(),
        }
    }

    pub fn active(&self) -> bool {
        self.active
    }

    pub fn before(&mut self, op: &DdlOp) {
        if matches!(op, DdlOp::Transaction(TxnControl::Begin)) {
            self.active = true;
        }
    }

    pub fn after(&mut self, op: &DdlOp) {
        if matches!(
            op,
            DdlOp::Transaction(TxnControl::Commit | TxnControl::Rollback)
        ) {
            self.active = false;
            self.held.clear();
            self.not_valid_added.clear();
        }
    }

    /// Adds what holding earlier locks means for this statement, then records its locks.
    pub fn account(&mut self, op: &DdlOp, cat: &Catalog, e: &mut Effect) {
        if !self.active {
            return;
        }
        if let DdlOp::AlterTable { table, actions } = op {
            let tname = table.resolved().to_string();
            for a in actions {
                match a {
                    AlterAction::ValidateConstraint { name }
                        if self
                            .not_valid_added
                            .contains(&(tname.clone(), name.clone())) =>
                    {
                        e.findings.push(
                            Finding::new(
                                Code::ValidateInSameTransaction,
                                Severity::Error,
                                format!("VALIDATE CONSTRAINT {name} runs in the same transaction that added it NOT VALID: the ADD's lock is held for the whole validation scan"),
                            )
                            .hint("commit after the ADD ... NOT VALID and VALIDATE in a separate transaction"),
                        );
                    }
                    AlterAction::AddConstraint { constraint } if constraint.not_valid => {
                        let name = constraint_name(&table.resolved(), constraint);
                        self.not_valid_added.push((tname.clone(), name));
                    }
                    _ => {}
                }
            }
        }
        let blocking_held: Vec<&Held> = self
            .held
            .iter()
            .filter(|h| !h.new_table && (h.lock.lock.blocks_reads() || h.lock.lock.blocks_writes()))
            .collect();
        let long = e.scans || e.rewrites;
        if long && !blocking_held.is_empty() {
            let names: Vec<String> = blocking_held
                .iter()
                .map(|h| format!("{} on {}", h.lock.lock, h.lock.table))
                .collect();
            let short = e.seconds.is_some_and(|s| s < 1.0);
            e.findings.push(
                Finding::new(
                    Code::LocksHeldInTransaction,
                    if short { Severity::Warning } else { Severity::Error },
                    format!(
                        "this statement runs for its whole duration while the transaction still holds {} from earlier statements: traffic on those tables waits until COMMIT",
                        names.join(", ")
                    ),
                )
                .hint("split the migration: commit the quick DDL first, run this in its own transaction"),
            );
            for h in &blocking_held {
                if !e
                    .locks
                    .iter()
                    .any(|l| l.table == h.lock.table && l.lock >= h.lock.lock)
                {
                    e.locks.retain(|l| l.table != h.lock.table);
                    e.locks.push(TableLock {
                        held_from_earlier_statement: true,
                        ..h.lock.clone()
                    });
                }
            }
        }
        // A second table locked against traffic in the same transaction.
        let blocking_new: Vec<&TableLock> = e
            .locks
            .iter()
            .filter(|l| !l.held_from_earlier_statement)
            .filter(|l| !e.new_tables.contains(&l.table))
            .filter(|l| l.lock.blocks_writes())
            .filter(|l| !blocking_held.iter().any(|h| h.lock.table == l.table))
            .collect();
        if !blocking_new.is_empty() && !blocking_held.is_empty() {
            e.findings.push(
                Finding::new(
                    Code::SeveralStrongLocks,
                    Severity::Warning,
                    format!(
                        "the transaction now blocks traffic on several tables ({} and {}): queries wait on all of them until COMMIT, and lock order may deadlock with the application",
                        blocking_held.iter().map(|h| h.lock.table.as_str()).collect::<Vec<_>>().join(", "),
                        blocking_new.iter().map(|l| l.table.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .hint("one table per transaction"),
            );
        }
        for l in e.locks.iter().filter(|l| !l.held_from_earlier_statement) {
            let new_table = e.new_tables.contains(&l.table)
                || cat
                    .tables
                    .values()
                    .any(|t| t.created_in_migration && t.name.to_string() == l.table);
            match self.held.iter_mut().find(|h| h.lock.table == l.table) {
                Some(h) => h.lock.lock = h.lock.lock.max(l.lock),
                None => self.held.push(Held {
                    lock: l.clone(),
                    new_table,
                }),
            }
        }
    }
}
