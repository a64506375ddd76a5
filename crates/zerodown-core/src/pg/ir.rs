//! PostgreSQL's IR: our own small model of DDL operations, produced from libpg_query's
//! tree by `pg::parse`.
//!
//! Everything downstream (catalog simulation, analysis, planning) works on these
//! types only, so the planner never depends on a parser's node layout.

use serde::Serialize;

use crate::lock::LockMode;
// The IR names tables and places statements with the shared types.
pub use crate::sql::name::QualName;
pub use crate::sql::source::Span;

/// A canonical SQL type: `name` is PostgreSQL's internal name (int4, varchar, timestamptz).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeRef {
    pub name: String,
    /// Type modifiers as written: varchar(20) -> [20], numeric(10,2) -> [10, 2].
    pub mods: Vec<i64>,
    pub array: bool,
    /// The type as SQL, ready to be rendered.
    pub sql: String,
}

/// An SQL expression kept as text, with what the analysis needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expr {
    pub sql: String,
    /// Functions it calls, lower-cased and without schema (volatility is decided later,
    /// from the live catalog or the built-in table).
    pub functions: Vec<String>,
    /// Whether it contains a sub-query (always treated as volatile).
    pub has_subquery: bool,
}

/// A column definition, in CREATE TABLE or ADD COLUMN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ColumnDef {
    pub name: String,
    pub ty: TypeRef,
    pub default: Option<Expr>,
    pub not_null: bool,
    /// `serial`, `bigserial`, `smallserial`: an implicit sequence default.
    pub serial: bool,
    /// `GENERATED ALWAYS|BY DEFAULT AS IDENTITY`: Some("always") / Some("by default").
    pub identity: Option<String>,
    pub generated: Option<Generated>,
    /// Inline PRIMARY KEY / UNIQUE / CHECK / REFERENCES, as table constraints on this column.
    pub constraints: Vec<ConstraintDef>,
}

/// A generated column expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generated {
    pub expr: Expr,
    pub stored: bool,
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstraintDef {
    pub name: Option<String>,
    pub kind: ConstraintKind,
    pub not_valid: bool,
    pub deferrable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ConstraintKind {
    Check {
        expr: Expr,
    },
    ForeignKey {
        columns: Vec<String>,
        ref_table: QualName,
        ref_columns: Vec<String>,
        /// The referential actions as written (`ON DELETE CASCADE` ...), ready to render.
        actions_sql: String,
    },
    Unique {
        columns: Vec<String>,
        using_index: Option<String>,
        nulls_not_distinct: bool,
    },
    PrimaryKey {
        columns: Vec<String>,
        using_index: Option<String>,
    },
    Exclude,
    /// PostgreSQL 18 named NOT NULL constraint.
    NotNull {
        column: String,
    },
}

/// One column or expression of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexDef {
    pub name: Option<String>,
    pub table: QualName,
    pub unique: bool,
    pub concurrently: bool,
    pub if_not_exists: bool,
    /// `ON ONLY parent` (partitioned tables).
    pub only: bool,
    /// Plain column names used by the index (expressions contribute the columns they name).
    pub columns: Vec<String>,
    /// The index body after the table name: `USING btree (a, lower(b)) WHERE ...`.
    pub body_sql: String,
}

/// Transaction control statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnControl {
    Begin,
    Commit,
    Rollback,
    /// SAVEPOINT / RELEASE / ROLLBACK TO: stay inside the transaction.
    Savepoint,
}

/// One subcommand of `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum AlterAction {
    AddColumn {
        column: ColumnDef,
        if_not_exists: bool,
    },
    DropColumn {
        column: String,
        if_exists: bool,
    },
    AlterColumnType {
        column: String,
        new_type: TypeRef,
        using: Option<Expr>,
    },
    SetDefault {
        column: String,
        default: Expr,
    },
    DropDefault {
        column: String,
    },
    SetNotNull {
        column: String,
    },
    DropNotNull {
        column: String,
    },
    AddConstraint {
        constraint: ConstraintDef,
    },
    ValidateConstraint {
        name: String,
    },
    DropConstraint {
        name: String,
        if_exists: bool,
    },
    AttachPartition {
        partition: QualName,
        /// The clause as PostgreSQL prints it (with its bound).
        sql: String,
    },
    DetachPartition {
        partition: QualName,
        concurrently: bool,
    },
    /// Forms that rewrite the whole table (SET TABLESPACE, SET LOGGED, SET ACCESS METHOD).
    Rewrite {
        what: String,
        /// The clause as PostgreSQL prints it.
        sql: String,
    },
    /// Forms that only change catalog metadata, with the lock they take.
    Metadata {
        what: String,
        lock: LockMode,
        /// The clause as PostgreSQL prints it.
        sql: String,
    },
}

/// A DDL (or migration-relevant DML) operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DdlOp {
    CreateTable {
        table: QualName,
        columns: Vec<ColumnDef>,
        constraints: Vec<ConstraintDef>,
        partitioned: bool,
        partition_of: Option<QualName>,
        if_not_exists: bool,
    },
    AlterTable {
        table: QualName,
        actions: Vec<AlterAction>,
    },
    CreateIndex(IndexDef),
    DropIndex {
        names: Vec<QualName>,
        concurrently: bool,
        if_exists: bool,
    },
    DropTable {
        names: Vec<QualName>,
    },
    /// `TRUNCATE t [, ...] [CASCADE]`: every row of the tables deleted, and with CASCADE
    /// every row of the tables whose foreign keys reference them.
    Truncate {
        tables: Vec<QualName>,
        cascade: bool,
    },
    RenameTable {
        table: QualName,
        new_name: String,
    },
    RenameColumn {
        table: QualName,
        column: String,
        new_name: String,
    },
    AddEnumValue {
        type_name: QualName,
        value: String,
    },
    CreateTrigger {
        table: QualName,
        name: String,
    },
    DropTrigger {
        table: QualName,
        name: String,
    },
    /// `UPDATE t SET c = expr [WHERE ...]`: a data change the plan turns into a batched backfill.
    Update {
        table: QualName,
        assignments: Vec<(String, Expr)>,
        filter: Option<Expr>,
    },
    /// `CREATE TABLE … AS` / `SELECT … INTO`: a new table, filled from `reads`; its
    /// columns are not known.
    CreateTableAs {
        table: QualName,
        reads: Vec<QualName>,
    },
    /// INSERT, DELETE, or an UPDATE the planner does not batch (with FROM, WITH or
    /// RETURNING): a data change kept as written, judged by the rows it touches.
    DataChange {
        verb: DataVerb,
        table: QualName,
        /// Other relations it reads (FROM, USING, subqueries, the SELECT of an INSERT).
        reads: Vec<QualName>,
        /// `INSERT … VALUES`: how many rows; None when the rows come from the data.
        values_rows: Option<usize>,
    },
    /// `CREATE DOMAIN`; `constrained` when it has CHECK or NOT NULL constraints (a column
    /// of such a type is checked row by row: ADD COLUMN rewrites the table).
    CreateDomain {
        name: QualName,
        constrained: bool,
    },
    /// `REINDEX INDEX|TABLE name [CONCURRENTLY]`.
    Reindex {
        /// The index (when `table` is false) or the table.
        name: QualName,
        table: bool,
        concurrently: bool,
    },
    /// `LOCK TABLE ... IN <mode> MODE`: held until the end of the transaction.
    LockTable {
        tables: Vec<QualName>,
        mode: LockMode,
    },
    /// Whole-table maintenance that rewrites under ACCESS EXCLUSIVE (VACUUM FULL, CLUSTER).
    TableRewrite {
        table: Option<QualName>,
        what: String,
    },
    Transaction(TxnControl),
    /// `SET [LOCAL] name = value`.
    Set {
        name: String,
        value: String,
        local: bool,
    },
    /// A statement understood to touch no existing table's data (CREATE FUNCTION,
    /// CREATE SCHEMA, COMMENT, GRANT, CREATE VIEW...).
    CatalogOnly {
        what: String,
    },
    /// A statement we do not model: kept, reported, never dropped.
    Opaque {
        what: String,
    },
}

impl ConstraintDef {
    fn relation_names_mut(&mut self) -> Vec<&mut QualName> {
        match &mut self.kind {
            ConstraintKind::ForeignKey { ref_table, .. } => vec![ref_table],
            _ => Vec::new(),
        }
    }
}

impl DdlOp {
    /// Every table or index name the operation refers to, for name resolution.
    pub fn relation_names_mut(&mut self) -> Vec<&mut QualName> {
        match self {
            DdlOp::CreateTable {
                table,
                columns,
                constraints,
                partition_of,
                ..
            } => {
                let mut v = vec![table];
                v.extend(partition_of.iter_mut());
                v.extend(
                    constraints
                        .iter_mut()
                        .flat_map(ConstraintDef::relation_names_mut),
                );
                for c in columns {
                    v.extend(
                        c.constraints
                            .iter_mut()
                            .flat_map(ConstraintDef::relation_names_mut),
                    );
                }
                v
            }
            DdlOp::AlterTable { table, actions } => {
                let mut v = vec![table];
                for a in actions {
                    match a {
                        AlterAction::AddColumn { column, .. } => v.extend(
                            column
                                .constraints
                                .iter_mut()
                                .flat_map(ConstraintDef::relation_names_mut),
                        ),
                        AlterAction::AddConstraint { constraint } => {
                            v.extend(constraint.relation_names_mut())
                        }
                        AlterAction::AttachPartition { partition, .. }
                        | AlterAction::DetachPartition { partition, .. } => v.push(partition),
                        _ => {}
                    }
                }
                v
            }
            DdlOp::CreateIndex(ix) => vec![&mut ix.table],
            DdlOp::DropIndex { names, .. } | DdlOp::DropTable { names } => {
                names.iter_mut().collect()
            }
            DdlOp::LockTable { tables, .. } | DdlOp::Truncate { tables, .. } => {
                tables.iter_mut().collect()
            }
            DdlOp::RenameTable { table, .. }
            | DdlOp::RenameColumn { table, .. }
            | DdlOp::CreateTrigger { table, .. }
            | DdlOp::DropTrigger { table, .. }
            | DdlOp::Update { table, .. } => vec![table],
            DdlOp::DataChange { table, reads, .. } | DdlOp::CreateTableAs { table, reads } => {
                std::iter::once(table).chain(reads.iter_mut()).collect()
            }
            DdlOp::Reindex { name, .. } => vec![name],
            DdlOp::TableRewrite { table, .. } => table.iter_mut().collect(),
            DdlOp::AddEnumValue { .. }
            | DdlOp::CreateDomain { .. }
            | DdlOp::Transaction(_)
            | DdlOp::Set { .. }
            | DdlOp::CatalogOnly { .. }
            | DdlOp::Opaque { .. } => Vec::new(),
        }
    }
}

/// What a [`DdlOp::DataChange`] does to its table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DataVerb {
    Insert,
    Delete,
    Update,
}

impl DataVerb {
    pub fn sql(self) -> &'static str {
        match self {
            DataVerb::Insert => "INSERT",
            DataVerb::Delete => "DELETE",
            DataVerb::Update => "UPDATE",
        }
    }
}

/// A parsed statement: where it is, its text, and what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    pub span: Span,
    pub sql: String,
    pub op: DdlOp,
    /// The `DO` block it was read from (a body of plain SQL), shared by its statements:
    /// they run as one transaction, so they are planned as that one statement.
    #[serde(skip)]
    pub block: Option<std::sync::Arc<DoBlock>>,
}

/// A `DO` statement whose body is plain SQL: where it is and its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoBlock {
    pub span: Span,
    pub sql: String,
}
