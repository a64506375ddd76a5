//! Advances the catalog through a statement, so each statement is analysed against
//! the schema the earlier ones leave behind (a table created in this migration is new
//! and empty; a CHECK validated earlier lets SET NOT NULL skip its scan).

use super::{Catalog, Column, Constraint, ConstraintType, Index, Table};
use crate::pg::ir::{AlterAction, ColumnDef, ConstraintDef, ConstraintKind, DdlOp, QualName};
use crate::pg::types::{is_serial, serial_base};
use crate::sql::quote::{ident, ident_list, qual};

/// The name PostgreSQL would give an unnamed constraint or index
/// (`ChooseConstraintName`: table_columns_suffix, truncated to 63 bytes).
pub fn default_name(table: &str, columns: &[String], suffix: &str) -> String {
    let mut base = table.to_owned();
    for c in columns {
        base.push('_');
        base.push_str(c);
    }
    let max = 63 - suffix.len() - 1;
    while base.len() > max {
        base.pop();
    }
    format!("{base}_{suffix}")
}

/// The name a constraint gets: as written, or PostgreSQL's default.
pub fn constraint_name(table: &QualName, c: &ConstraintDef) -> String {
    if let Some(n) = &c.name {
        return n.clone();
    }
    match &c.kind {
        ConstraintKind::Check { expr } => {
            // PostgreSQL names a CHECK after the first column it mentions.
            let col = expr
                .sql
                .split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .find(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or("check");
            default_name(&table.name, &[col.to_owned()], "check")
        }
        ConstraintKind::ForeignKey { columns, .. } => default_name(&table.name, columns, "fkey"),
        ConstraintKind::Unique { columns, .. } => default_name(&table.name, columns, "key"),
        ConstraintKind::PrimaryKey { .. } => default_name(&table.name, &[], "pkey"),
        ConstraintKind::Exclude => default_name(&table.name, &[], "excl"),
        ConstraintKind::NotNull { column } => {
            default_name(&table.name, std::slice::from_ref(column), "not_null")
        }
    }
}

fn column_from_def(d: &ColumnDef) -> Column {
    let mut ty = d.ty.clone();
    if is_serial(&d.ty) {
        ty.name = match serial_base(&d.ty) {
            "bigint" => "int8",
            "smallint" => "int2",
            _ => "int4",
        }
        .to_owned();
    }
    Column {
        name: d.name.clone(),
        ty,
        not_null: d.not_null || is_serial(&d.ty),
        default: d.default.as_ref().map(|e| e.sql.clone()),
        identity: d.identity.is_some(),
        generated: d.generated.is_some(),
        null_frac: None,
    }
}

fn add_constraint(t: &mut Table, c: &ConstraintDef) {
    let name = constraint_name(&t.name, c);
    let (kind, columns, check_expr, ref_table) = match &c.kind {
        ConstraintKind::Check { expr } => (
            ConstraintType::Check,
            Vec::new(),
            Some(expr.sql.clone()),
            None,
        ),
        ConstraintKind::ForeignKey {
            columns, ref_table, ..
        } => (
            ConstraintType::ForeignKey,
            columns.clone(),
            None,
            Some(ref_table.clone()),
        ),
        ConstraintKind::Unique { columns, .. } => {
            (ConstraintType::Unique, columns.clone(), None, None)
        }
        ConstraintKind::PrimaryKey { columns, .. } => {
            (ConstraintType::PrimaryKey, columns.clone(), None, None)
        }
        ConstraintKind::Exclude => (ConstraintType::Exclude, Vec::new(), None, None),
        ConstraintKind::NotNull { column } => {
            (ConstraintType::NotNull, vec![column.clone()], None, None)
        }
    };
    match &c.kind {
        ConstraintKind::Unique { using_index, .. }
        | ConstraintKind::PrimaryKey { using_index, .. } => {
            let primary = kind == ConstraintType::PrimaryKey;
            if primary {
                for col in &columns {
                    if let Some(x) = t.column_mut(col) {
                        x.not_null = true;
                    }
                }
            }
            match using_index {
                Some(ix) => {
                    if let Some(i) = t.indexes.iter_mut().find(|i| &i.name == ix) {
                        i.constraint = Some(name.clone());
                        i.primary = primary;
                        i.name = name.clone(); // ADD CONSTRAINT ... USING INDEX renames the index
                    }
                }
                None => t.indexes.push(Index {
                    name: name.clone(),
                    columns: columns.clone(),
                    unique: true,
                    primary,
                    valid: true,
                    bytes: None,
                    constraint: Some(name.clone()),
                    definition: Some(format!(
                        "CREATE UNIQUE INDEX {} ON {} USING btree ({})",
                        ident(&name),
                        qual(&t.name),
                        ident_list(&columns)
                    )),
                }),
            }
        }
        ConstraintKind::NotNull { column } if !c.not_valid => {
            if let Some(x) = t.column_mut(column) {
                x.not_null = true;
            }
        }
        _ => {}
    }
    t.constraints.retain(|x| x.name != name);
    t.constraints.push(Constraint {
        name,
        kind,
        columns,
        validated: !c.not_valid,
        check_expr,
        definition: Some(crate::pg::render::constraint_body(c)),
        ref_table,
    });
}

fn new_table(name: &QualName, columns: &[ColumnDef], constraints: &[ConstraintDef]) -> Table {
    let mut t = Table::assumed(name.resolved());
    t.assumed = false;
    t.created_in_migration = true;
    t.rows = Some(0.0);
    t.heap_bytes = Some(0);
    t.total_bytes = Some(0);
    for d in columns {
        t.columns.push(column_from_def(d));
    }
    for d in columns {
        for c in &d.constraints {
            add_constraint(&mut t, c);
        }
    }
    for c in constraints {
        add_constraint(&mut t, c);
    }
    t
}

/// Makes sure a table the statement names exists in the catalog (offline, a table not
/// defined in the files is assumed to exist with unknown size).
pub fn ensure_table<'a>(cat: &'a mut Catalog, name: &QualName) -> &'a mut Table {
    cat.tables
        .entry(name.resolved())
        .or_insert_with(|| Table::assumed(name.resolved()))
}

/// At the end of a migration file: tables it created are existing tables for the next
/// files (possibly large by the time those run), with unknown size unless hinted.
pub fn end_of_file(cat: &mut Catalog) {
    let hints = cat.size_hints.clone();
    for t in cat.tables.values_mut().filter(|t| t.created_in_migration) {
        t.created_in_migration = false;
        match hints.get(&t.name) {
            Some(rows) => super::apply_hint(t, *rows),
            None => {
                t.rows = None;
                t.heap_bytes = None;
                t.total_bytes = None;
                for i in &mut t.indexes {
                    i.bytes = None;
                }
            }
        }
    }
}

/// Applies one statement's effect to the catalog.
pub fn apply(cat: &mut Catalog, op: &DdlOp) {
    apply_op(cat, op);
    // The tables that may now have an index under a new name, or a new name themselves.
    match op {
        DdlOp::CreateTable { table, .. } | DdlOp::AlterTable { table, .. } => {
            cat.note_indexes_of(table)
        }
        DdlOp::CreateIndex(ix) => cat.note_indexes_of(&ix.table),
        DdlOp::RenameTable { table, new_name } => {
            let mut renamed = table.resolved();
            renamed.name = new_name.clone();
            cat.note_indexes_of(&renamed)
        }
        _ => {}
    }
}

fn apply_op(cat: &mut Catalog, op: &DdlOp) {
    match op {
        DdlOp::CreateTable {
            table,
            columns,
            constraints,
            partitioned,
            partition_of,
            ..
        } => {
            if cat.table(table).is_some_and(|t| !t.assumed) {
                return; // IF NOT EXISTS on an existing table
            }
            let mut t = new_table(table, columns, constraints);
            if let Some(rows) = cat.size_hints.get(&t.name) {
                // The user says how big it is: plan as for an existing table of that size.
                super::apply_hint(&mut t, *rows);
            }
            t.partitioned = *partitioned;
            t.partition_of = partition_of.as_ref().map(QualName::resolved);
            if let Some(parent) = partition_of {
                ensure_table(cat, parent).partitions.push(table.resolved());
            }
            cat.tables.insert(table.resolved(), t);
        }
        DdlOp::CreateTableAs { table, .. } => {
            if cat.table(table).is_some_and(|t| !t.assumed) {
                return; // IF NOT EXISTS on an existing table
            }
            // New in this file; its columns come from the query and are not known.
            let mut t = Table::assumed(table.resolved());
            t.created_in_migration = true;
            cat.tables.insert(table.resolved(), t);
        }
        DdlOp::AlterTable { table, actions } => {
            let t = ensure_table(cat, table);
            for a in actions {
                apply_action(t, a);
            }
        }
        DdlOp::CreateIndex(ix) => {
            let t = ensure_table(cat, &ix.table);
            let name = ix
                .name
                .clone()
                .unwrap_or_else(|| default_name(&ix.table.name, &ix.columns, "idx"));
            if !t.indexes.iter().any(|i| i.name == name) {
                t.indexes.push(Index {
                    name: name.clone(),
                    columns: ix.columns.clone(),
                    unique: ix.unique,
                    primary: false,
                    valid: true,
                    bytes: t.created_in_migration.then_some(0),
                    constraint: None,
                    definition: Some(format!(
                        "CREATE {}INDEX {} ON {} {}",
                        if ix.unique { "UNIQUE " } else { "" },
                        ident(&name),
                        qual(&ix.table.resolved()),
                        ix.body_sql
                    )),
                });
            }
        }
        DdlOp::DropIndex { names, .. } => {
            for n in names {
                // Only the table that has it (names are unique in a schema): going
                // through every table's indexes made a long file quadratic.
                let owner = cat.table_of_index(n).map(|t| t.name.resolved());
                if let Some(t) = owner.and_then(|o| cat.tables.get_mut(&o)) {
                    t.indexes.retain(|i| i.name != n.name);
                }
            }
        }
        DdlOp::DropTable { names } => {
            for n in names {
                cat.tables.remove(&n.resolved());
            }
        }
        DdlOp::Truncate { tables, cascade } => {
            for name in cat.truncated(tables, *cascade) {
                let t = ensure_table(cat, &name);
                t.rows = Some(0.0);
                t.heap_bytes = Some(0);
                t.total_bytes = Some(0);
            }
        }
        DdlOp::RenameTable { table, new_name } => {
            if let Some(mut t) = cat.tables.remove(&table.resolved()) {
                t.name.name = new_name.clone();
                cat.tables.insert(t.name.clone(), t);
            }
        }
        DdlOp::RenameColumn {
            table,
            column,
            new_name,
        } => {
            if let Some(t) = cat.table_mut(table) {
                if let Some(c) = t.column_mut(column) {
                    c.name = new_name.clone();
                }
                for i in &mut t.indexes {
                    for c in &mut i.columns {
                        if c == column {
                            c.clone_from(new_name);
                        }
                    }
                }
            }
        }
        DdlOp::CreateTrigger { table, name } => {
            ensure_table(cat, table).triggers.push(name.clone())
        }
        DdlOp::DropTrigger { table, name } => {
            if let Some(t) = cat.table_mut(table) {
                t.triggers.retain(|x| x != name);
            }
        }
        DdlOp::CreateDomain { name, constrained } => {
            if *constrained {
                cat.constrained_domains
                    .insert(name.name.to_ascii_lowercase());
                cat.constrained_domains
                    .insert(name.resolved().to_string().to_ascii_lowercase());
            }
        }
        DdlOp::Update {
            table, assignments, ..
        } => {
            if let Some(t) = cat.table_mut(table) {
                for (c, _) in assignments {
                    if let Some(col) = t.column_mut(c) {
                        col.null_frac = None;
                    }
                }
            }
        }
        DdlOp::AddEnumValue { .. }
        | DdlOp::TableRewrite { .. }
        | DdlOp::LockTable { .. }
        | DdlOp::Reindex { .. }
        | DdlOp::Transaction(_)
        | DdlOp::Set { .. }
        | DdlOp::CatalogOnly { .. }
        | DdlOp::DataChange { .. }
        | DdlOp::Opaque { .. } => {}
    }
}

fn apply_action(t: &mut Table, a: &AlterAction) {
    match a {
        AlterAction::AddColumn { column, .. } => {
            if t.column(&column.name).is_none() {
                t.columns.push(column_from_def(column));
                for c in &column.constraints {
                    add_constraint(t, c);
                }
            }
        }
        AlterAction::DropColumn { column, .. } => {
            t.columns.retain(|c| &c.name != column);
            t.indexes.retain(|i| !i.columns.contains(column));
            t.constraints.retain(|c| !c.columns.contains(column));
        }
        AlterAction::AlterColumnType {
            column, new_type, ..
        } => {
            if let Some(c) = t.column_mut(column) {
                c.ty = new_type.clone();
            }
        }
        AlterAction::SetDefault { column, default } => {
            if let Some(c) = t.column_mut(column) {
                c.default = Some(default.sql.clone());
            }
        }
        AlterAction::DropDefault { column } => {
            if let Some(c) = t.column_mut(column) {
                c.default = None;
            }
        }
        AlterAction::SetNotNull { column } => {
            if let Some(c) = t.column_mut(column) {
                c.not_null = true;
            }
        }
        AlterAction::DropNotNull { column } => {
            if let Some(c) = t.column_mut(column) {
                c.not_null = false;
            }
        }
        AlterAction::AddConstraint { constraint } => add_constraint(t, constraint),
        AlterAction::ValidateConstraint { name } => {
            let mut validated_not_null = None;
            if let Some(c) = t.constraints.iter_mut().find(|c| &c.name == name) {
                c.validated = true;
                if c.kind == ConstraintType::NotNull {
                    validated_not_null = c.columns.first().cloned();
                }
            }
            if let Some(col) = validated_not_null.and_then(|c| t.column_mut(&c).map(|_| c)) {
                if let Some(c) = t.column_mut(&col) {
                    c.not_null = true;
                }
            }
        }
        AlterAction::DropConstraint { name, .. } => {
            t.constraints.retain(|c| &c.name != name);
            t.indexes
                .retain(|i| i.constraint.as_deref() != Some(name.as_str()));
        }
        AlterAction::AttachPartition { partition, .. } => t.partitions.push(partition.resolved()),
        AlterAction::DetachPartition { partition, .. } => {
            t.partitions.retain(|p| p != &partition.resolved())
        }
        AlterAction::Rewrite { .. } | AlterAction::Metadata { .. } => {}
    }
}
