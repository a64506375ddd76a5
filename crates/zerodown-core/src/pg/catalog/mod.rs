//! What the planner knows about the database: tables with sizes, columns, indexes,
//! constraints, function volatility and current activity.
//!
//! Filled from the live catalog by a driver, or built offline from earlier migration
//! files and `--rows` hints; then advanced statement by statement ([`simulate`]).

pub mod simulate;
mod volatility;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::lock::LockMode;
use crate::pg::ir::{QualName, TypeRef};
pub use volatility::{builtin_volatility, Volatility};

/// A column as the catalog has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    pub ty: TypeRef,
    pub not_null: bool,
    /// Default expression text, if any.
    pub default: Option<String>,
    pub identity: bool,
    pub generated: bool,
    /// Fraction of NULLs per `pg_stats.null_frac` (live, after ANALYZE); None when unknown.
    pub null_frac: Option<f64>,
}

/// An index on a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
    /// `pg_index.indisvalid`: false for a failed CREATE INDEX CONCURRENTLY leftover.
    pub valid: bool,
    pub bytes: Option<u64>,
    /// Name of the constraint this index backs (UNIQUE / PRIMARY KEY / EXCLUDE).
    pub constraint: Option<String>,
    /// `CREATE INDEX` statement as the server prints it (`pg_get_indexdef`), when live.
    pub definition: Option<String>,
}

/// A constraint kind as stored in `pg_constraint.contype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintType {
    Check,
    ForeignKey,
    Unique,
    PrimaryKey,
    Exclude,
    NotNull,
}

/// A constraint on a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintType,
    pub columns: Vec<String>,
    /// `pg_constraint.convalidated`.
    pub validated: bool,
    /// For CHECK: the expression text; for FK: the referenced table.
    pub check_expr: Option<String>,
    /// The constraint body as `pg_get_constraintdef` prints it (`FOREIGN KEY (a) REFERENCES ...`).
    pub definition: Option<String>,
    pub ref_table: Option<QualName>,
}

/// A foreign key of another table that references a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Referrer {
    pub constraint: String,
    pub table: QualName,
}

/// A table (or partitioned table) and its size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    pub name: QualName,
    /// Estimated rows (`pg_class.reltuples`, or a `--rows` hint). None when unknown.
    pub rows: Option<f64>,
    /// Heap size in bytes (`relpages * block size`), None when unknown.
    pub heap_bytes: Option<u64>,
    /// Heap + indexes + TOAST.
    pub total_bytes: Option<u64>,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
    pub constraints: Vec<Constraint>,
    pub triggers: Vec<String>,
    pub partitioned: bool,
    pub partitions: Vec<QualName>,
    pub partition_of: Option<QualName>,
    /// Foreign keys of other tables that reference this one (live: the referencing
    /// tables themselves may not be in the catalog).
    pub referenced_by: Vec<Referrer>,
    /// Created earlier in this migration: new, empty, unseen by the application.
    pub created_in_migration: bool,
    /// Schema and size are only guesses (offline, table not defined in the files).
    pub assumed: bool,
}

impl Table {
    /// A table known only by name (offline): existing, size unknown.
    pub fn assumed(name: QualName) -> Self {
        Table {
            name,
            rows: None,
            heap_bytes: None,
            total_bytes: None,
            columns: Vec::new(),
            indexes: Vec::new(),
            constraints: Vec::new(),
            triggers: Vec::new(),
            partitioned: false,
            partitions: Vec::new(),
            partition_of: None,
            referenced_by: Vec::new(),
            created_in_migration: false,
            assumed: true,
        }
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn column_mut(&mut self, name: &str) -> Option<&mut Column> {
        self.columns.iter_mut().find(|c| c.name == name)
    }

    pub fn constraint(&self, name: &str) -> Option<&Constraint> {
        self.constraints.iter().find(|c| c.name == name)
    }

    /// Whether the table is known to hold no rows (new in this migration, or 0 rows live).
    pub fn is_empty(&self) -> bool {
        self.created_in_migration || self.rows == Some(0.0)
    }

    /// Indexes that contain `column`.
    pub fn indexes_on(&self, column: &str) -> Vec<&Index> {
        self.indexes
            .iter()
            .filter(|i| i.columns.iter().any(|c| c == column))
            .collect()
    }

    /// Whether a validated CHECK constraint proves `column IS NOT NULL`.
    pub fn has_valid_not_null_check(&self, column: &str) -> bool {
        self.constraints.iter().any(|c| {
            c.kind == ConstraintType::Check
                && c.validated
                && c.check_expr
                    .as_deref()
                    .is_some_and(|e| is_not_null_check(e, column))
        })
    }

    /// The primary key columns, if the table has a primary key.
    pub fn primary_key(&self) -> Option<Vec<String>> {
        self.indexes
            .iter()
            .find(|i| i.primary)
            .map(|i| i.columns.clone())
            .or_else(|| {
                self.constraints
                    .iter()
                    .find(|c| c.kind == ConstraintType::PrimaryKey)
                    .map(|c| c.columns.clone())
            })
    }
}

/// Sets a table's size from a row count (indexes assumed half the heap).
pub fn apply_hint(t: &mut Table, rows: f64) {
    t.rows = Some(rows);
    let heap = (rows * ASSUMED_ROW_BYTES) as u64;
    t.heap_bytes = Some(heap);
    t.total_bytes = Some(heap + heap / 2);
    t.created_in_migration = false;
}

/// Whether a CHECK expression is exactly `column IS NOT NULL` (any parentheses, quoting).
pub fn is_not_null_check(expr: &str, column: &str) -> bool {
    let norm: String = expr
        .to_ascii_lowercase()
        .trim_start_matches("check")
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '"'))
        .collect();
    norm == format!("{}isnotnull", column.to_ascii_lowercase().replace('"', ""))
}

/// A server session that holds or waits for a lock on a table the migration touches,
/// or has a long-running transaction (it can make our DDL queue and everyone behind it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backend {
    pub pid: i32,
    pub state: String,
    pub transaction_seconds: Option<f64>,
    pub query: String,
    /// Table locks it holds (granted) or waits for.
    pub locks: Vec<HeldLock>,
    pub blocked_by: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldLock {
    pub table: QualName,
    pub mode: LockMode,
    pub granted: bool,
}

/// Everything the planner knows about the target database.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Catalog {
    /// Tables by resolved (schema-qualified) name.
    pub tables: BTreeMap<QualName, Table>,
    /// Function volatility read from `pg_proc`, overriding the built-in table.
    pub functions: BTreeMap<String, Volatility>,
    /// Sessions of interest at planning time (live only).
    pub activity: Vec<Backend>,
    /// True when read from a live database: unknown tables and columns are errors.
    pub live: bool,
    /// Domains with CHECK / NOT NULL constraints, by name and `schema.name`.
    pub constrained_domains: std::collections::BTreeSet<String>,
    /// Row counts given by the user (`--rows t=N`), applied to any table of that name.
    pub size_hints: BTreeMap<QualName, f64>,
    /// Which tables have (or had) an index of a given name, once `index_owners_from_tables`
    /// has run; kept by `simulate::apply` as the statements are walked.
    #[serde(skip)]
    index_owners: IndexOwners,
}

/// Index name -> tables that may have an index of that name, in name order: a superset,
/// each candidate is checked on lookup (a `Vec`: almost always one table). Finding an
/// index's table by going through every table made a long file quadratic.
#[derive(Debug, Clone, Default)]
struct IndexOwners {
    built: bool,
    by_name: HashMap<String, Vec<QualName>>,
}

impl IndexOwners {
    fn add(&mut self, index: &str, table: &QualName) {
        match self.by_name.get_mut(index) {
            Some(owners) => {
                if let Err(at) = owners.binary_search(table) {
                    owners.insert(at, table.clone());
                }
            }
            None => {
                self.by_name.insert(index.to_owned(), vec![table.clone()]);
            }
        }
    }
}

/// A lookup aid, not content: two catalogs with the same tables are equal.
impl PartialEq for IndexOwners {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Bytes per row assumed when only a row count is known (a `--rows` hint).
pub const ASSUMED_ROW_BYTES: f64 = 100.0;

impl Catalog {
    /// Records a row-count hint and applies it to the table if it is known already.
    pub fn hint_rows(&mut self, name: &QualName, rows: f64) {
        let name = name.resolved();
        self.size_hints.insert(name.clone(), rows);
        let t = self
            .tables
            .entry(name.clone())
            .or_insert_with(|| Table::assumed(name));
        apply_hint(t, rows);
    }

    pub fn table(&self, name: &QualName) -> Option<&Table> {
        self.tables.get(&name.resolved())
    }

    /// The table whose display name (`schema.table`, as in a lock's `table`) is `shown`.
    pub fn table_shown_as(&self, shown: &str) -> Option<&Table> {
        self.table(&QualName::parse_shown(shown))
    }

    pub fn table_mut(&mut self, name: &QualName) -> Option<&mut Table> {
        self.tables.get_mut(&name.resolved())
    }

    /// The tables a `TRUNCATE` of `named` empties: those, and with CASCADE every table
    /// whose foreign keys reference one of them, and so on (PostgreSQL's TRUNCATE).
    pub fn truncated(&self, named: &[QualName], cascade: bool) -> Vec<QualName> {
        let mut out: Vec<QualName> = named.iter().map(QualName::resolved).collect();
        let mut i = 0;
        while cascade && i < out.len() {
            let target = out[i].clone();
            // Offline the referencing table's constraints say it; live, the referenced
            // table's `referenced_by` (the referencing one may not have been read).
            let from_constraints = self.tables.values().filter(|t| {
                t.constraints.iter().any(|k| {
                    k.kind == ConstraintType::ForeignKey
                        && k.ref_table.as_ref().map(QualName::resolved).as_ref() == Some(&target)
                })
            });
            let mut referencing: Vec<QualName> = from_constraints.map(|t| t.name.clone()).collect();
            if let Some(t) = self.table(&target) {
                referencing.extend(t.referenced_by.iter().map(|r| r.table.resolved()));
            }
            for name in referencing {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
            i += 1;
        }
        out
    }

    /// Volatility of an expression's functions: the most volatile one wins, unknown
    /// functions count as volatile (the safe assumption: it leads to a backfill plan).
    pub fn volatility(&self, functions: &[String], has_subquery: bool) -> Volatility {
        if has_subquery {
            return Volatility::Volatile;
        }
        functions
            .iter()
            .map(|f| {
                self.functions
                    .get(f)
                    .copied()
                    .or_else(|| builtin_volatility(f))
                    .unwrap_or(Volatility::Volatile)
            })
            .max()
            .unwrap_or(Volatility::Immutable)
    }

    /// The table an index belongs to (the first in name order when several schemas have
    /// an index of that name and `index` names no schema).
    pub fn table_of_index(&self, index: &QualName) -> Option<&Table> {
        let owns = |t: &&Table| {
            (index.schema.is_none() || index.schema == t.name.schema)
                && t.indexes.iter().any(|i| i.name == index.name)
        };
        if !self.index_owners.built {
            return self.tables.values().find(owns);
        }
        let candidates = self.index_owners.by_name.get(&index.name)?;
        candidates
            .iter()
            .filter_map(|name| self.tables.get(name))
            .find(owns)
    }

    /// Starts keeping the index-name lookup: from here on, every change to the tables
    /// must go through `simulate::apply` (which calls `note_indexes_of`).
    pub fn index_owners_from_tables(&mut self) {
        let mut owners = IndexOwners {
            built: true,
            by_name: HashMap::new(),
        };
        for (key, t) in &self.tables {
            for i in &t.indexes {
                owners.add(&i.name, key);
            }
        }
        self.index_owners = owners;
    }

    /// Records the indexes `table` has now (after a statement that may have added or
    /// renamed some, or renamed the table).
    pub(crate) fn note_indexes_of(&mut self, table: &QualName) {
        if !self.index_owners.built {
            return;
        }
        let key = table.resolved();
        let Some(t) = self.tables.get(&key) else {
            return;
        };
        for i in &t.indexes {
            self.index_owners.add(&i.name, &key);
        }
    }

    /// Sessions holding a granted lock on `table` that conflicts with `mode`.
    pub fn conflicting_holders(&self, table: &QualName, mode: LockMode) -> Vec<&Backend> {
        let t = table.resolved();
        self.activity
            .iter()
            .filter(|b| {
                b.locks
                    .iter()
                    .any(|l| l.granted && l.table.resolved() == t && l.mode.conflicts_with(mode))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_null_check_forms() {
        assert!(is_not_null_check("CHECK ((email IS NOT NULL))", "email"));
        assert!(is_not_null_check("(\"email\" IS NOT NULL)", "email"));
        assert!(is_not_null_check("email IS NOT NULL", "email"));
        assert!(!is_not_null_check("email IS NOT NULL AND x > 0", "email"));
        assert!(!is_not_null_check("other IS NOT NULL", "email"));
    }

    /// The kept index-name lookup answers as going through every table does, after each
    /// statement that creates, renames, moves or drops indexes and tables.
    #[test]
    fn index_lookup_kept_by_simulate_matches_a_full_scan() {
        let sql = "CREATE TABLE a (id int PRIMARY KEY, x int);
            CREATE TABLE app.a (id int, x int, CONSTRAINT a_pkey PRIMARY KEY (id));
            CREATE INDEX ix ON a (x);
            CREATE INDEX ix ON app.a (x);
            CREATE UNIQUE INDEX u ON a (x);
            ALTER TABLE a ADD CONSTRAINT a_x_key UNIQUE USING INDEX u;
            ALTER TABLE a RENAME TO b;
            CREATE INDEX ix2 ON b (x);
            DROP INDEX ix;
            DROP INDEX app.ix;
            ALTER TABLE b ADD CONSTRAINT b_x UNIQUE (x);
            DROP TABLE b;
            CREATE TABLE b (id int);
            CREATE INDEX ix2 ON b (id);
            ALTER TABLE b DROP COLUMN id;";
        let (statements, diagnostics) = crate::pg::parse::parse_file("t.sql", sql);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let names = [
            "ix",
            "app.ix",
            "public.ix",
            "u",
            "a_x_key",
            "a_pkey",
            "app.a_pkey",
            "ix2",
            "b_x",
            "nope",
        ];
        let mut scanned = Catalog::default();
        let mut kept = Catalog::default();
        kept.index_owners_from_tables();
        for stmt in &statements {
            simulate::apply(&mut scanned, &stmt.op);
            simulate::apply(&mut kept, &stmt.op);
            for n in names {
                let q = QualName::parse_shown(n);
                assert_eq!(
                    kept.table_of_index(&q).map(|t| &t.name),
                    scanned.table_of_index(&q).map(|t| &t.name),
                    "{n} after {}",
                    stmt.sql
                );
            }
        }
        assert!(kept.table_of_index(&QualName::parse_shown("ix2")).is_none());
    }
}
