//! CREATE TABLE, CREATE INDEX, DROP, RENAME, REINDEX, LOCK and UPDATE.

use pg_query::protobuf::{self, DropBehavior, ObjectType};
use pg_query::NodeEnum;

use crate::lock::LockMode;
use crate::pg::ir::*;

use super::*;

pub(super) fn create_table(s: &protobuf::CreateStmt) -> Conv<DdlOp> {
    let mut columns = Vec::new();
    let mut constraints = Vec::new();
    for elt in &s.table_elts {
        match elt.node.as_ref() {
            Some(NodeEnum::ColumnDef(c)) => columns.push(column_def(c)?),
            Some(NodeEnum::Constraint(k)) => constraints.push(constraint_def(k, None)?),
            _ => {}
        }
    }
    for k in &s.constraints {
        if let Some(NodeEnum::Constraint(k)) = k.node.as_ref() {
            constraints.push(constraint_def(k, None)?);
        }
    }
    // Kept for the whole run: no growth slack.
    columns.shrink_to_fit();
    constraints.shrink_to_fit();
    let partition_of = match (&s.partbound, s.inh_relations.first()) {
        (Some(_), Some(parent)) => match parent.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) => Some(range_var(Some(rv))?),
            _ => None,
        },
        _ => None,
    };
    Ok(DdlOp::CreateTable {
        table: range_var(s.relation.as_ref())?,
        columns,
        constraints,
        partitioned: s.partspec.is_some(),
        partition_of,
        if_not_exists: s.if_not_exists,
    })
}

/// Columns named by an index element list (plain names and column refs inside expressions).
pub(super) fn index_columns(params: &[protobuf::Node]) -> Vec<String> {
    let mut cols = Vec::new();
    for p in params {
        let Some(NodeEnum::IndexElem(e)) = p.node.as_ref() else {
            continue;
        };
        if !e.name.is_empty() {
            cols.push(e.name.clone());
        } else if let Some(x) = e.expr.as_deref().and_then(|x| x.node.as_ref()) {
            cols.extend(Tree::of(x).column_names());
        }
    }
    cols
}

pub(super) fn index_def(s: &protobuf::IndexStmt) -> Conv<IndexDef> {
    let table = range_var(s.relation.as_ref())?;
    let only = s.relation.as_ref().is_some_and(|r| !r.inh);
    // Print the body through the deparser with placeholder names, then cut it out.
    let mut body = s.clone();
    body.idxname = "zd_placeholder_idx".into();
    body.concurrent = false;
    body.if_not_exists = false;
    body.unique = false;
    body.relation = Some(protobuf::RangeVar {
        relname: "zd_placeholder_tbl".into(),
        inh: true,
        relpersistence: "p".into(),
        ..Default::default()
    });
    let text = print(NodeEnum::IndexStmt(Box::new(body)))
        .map_err(|e| format!("cannot print index: {e}"))?;
    let body_sql = text
        .split_once("ON zd_placeholder_tbl ")
        .map(|(_, b)| b.to_owned())
        .ok_or("cannot print index body")?;
    Ok(IndexDef {
        name: (!s.idxname.is_empty()).then(|| s.idxname.clone()),
        table,
        unique: s.unique,
        concurrently: s.concurrent,
        if_not_exists: s.if_not_exists,
        only,
        columns: index_columns(&s.index_params),
        body_sql,
    })
}

pub(super) fn drop_stmt(s: &protobuf::DropStmt) -> Conv<DdlOp> {
    let kind = ObjectType::try_from(s.remove_type).unwrap_or(ObjectType::Undefined);
    let names = || -> Conv<Vec<QualName>> {
        s.objects
            .iter()
            .map(|o| match o.node.as_ref() {
                Some(NodeEnum::List(l)) => name_list(&l.items),
                Some(NodeEnum::String(x)) => Ok(QualName::new(None, &x.sval)),
                _ => Err("cannot read dropped object name".into()),
            })
            .collect()
    };
    let _cascade = DropBehavior::try_from(s.behavior) == Ok(DropBehavior::DropCascade);
    Ok(match kind {
        ObjectType::ObjectTable => DdlOp::DropTable { names: names()? },
        ObjectType::ObjectIndex => DdlOp::DropIndex {
            names: names()?,
            concurrently: s.concurrent,
            if_exists: s.missing_ok,
        },
        ObjectType::ObjectTrigger => {
            // DROP TRIGGER name ON table: the list is [schema?, table, trigger].
            let parts = match s.objects.first().and_then(|o| o.node.as_ref()) {
                Some(NodeEnum::List(l)) => strings(&l.items),
                _ => Vec::new(),
            };
            match parts.as_slice() {
                [table, name] => DdlOp::DropTrigger {
                    table: QualName::new(None, table),
                    name: name.clone(),
                },
                [schema, table, name] => DdlOp::DropTrigger {
                    table: QualName::new(Some(schema), table),
                    name: name.clone(),
                },
                _ => return Err("cannot read DROP TRIGGER target".into()),
            }
        }
        other => DdlOp::CatalogOnly {
            what: format!("DROP {}", object_word(other)),
        },
    })
}

pub(super) fn rename_stmt(s: &protobuf::RenameStmt) -> Conv<DdlOp> {
    let kind = ObjectType::try_from(s.rename_type).unwrap_or(ObjectType::Undefined);
    Ok(match kind {
        ObjectType::ObjectTable => DdlOp::RenameTable {
            table: range_var(s.relation.as_ref())?,
            new_name: s.newname.clone(),
        },
        ObjectType::ObjectColumn
            if ObjectType::try_from(s.relation_type) == Ok(ObjectType::ObjectTable) =>
        {
            DdlOp::RenameColumn {
                table: range_var(s.relation.as_ref())?,
                column: s.subname.clone(),
                new_name: s.newname.clone(),
            }
        }
        ObjectType::ObjectTabconstraint => DdlOp::AlterTable {
            table: range_var(s.relation.as_ref())?,
            actions: vec![meta(
                "RENAME CONSTRAINT",
                LockMode::AccessExclusive,
                format!(
                    "RENAME CONSTRAINT {} TO {}",
                    crate::sql::quote::ident(&s.subname),
                    crate::sql::quote::ident(&s.newname)
                ),
            )],
        },
        ObjectType::ObjectIndex => DdlOp::CatalogOnly {
            what: "ALTER INDEX ... RENAME".into(),
        },
        other => DdlOp::CatalogOnly {
            what: format!("RENAME {}", object_word(other)),
        },
    })
}

pub(super) fn reindex_stmt(s: &protobuf::ReindexStmt) -> Conv<DdlOp> {
    use protobuf::ReindexObjectType as K;
    let concurrently = s.params.iter().any(
        |p| matches!(p.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"),
    );
    let table = match K::try_from(s.kind) {
        Ok(K::ReindexObjectIndex) => false,
        Ok(K::ReindexObjectTable) => true,
        _ => {
            return Ok(DdlOp::Opaque {
                what: "REINDEX SCHEMA/DATABASE/SYSTEM".into(),
            })
        }
    };
    Ok(DdlOp::Reindex {
        name: range_var(s.relation.as_ref())?,
        table,
        concurrently,
    })
}

pub(super) fn lock_stmt(s: &protobuf::LockStmt) -> Conv<DdlOp> {
    // PostgreSQL's lock mode numbers (storage/lockdefs.h): 1 = AccessShareLock ... 8.
    let mode = usize::try_from(s.mode)
        .ok()
        .and_then(|m| m.checked_sub(1))
        .and_then(|i| LockMode::ALL.get(i).copied())
        .ok_or("unknown lock mode")?;
    let tables = relations(&s.relations, "LOCK TABLE")?;
    Ok(DdlOp::LockTable { tables, mode })
}

/// The tables a statement lists (LOCK TABLE, TRUNCATE).
fn relations(nodes: &[protobuf::Node], statement: &str) -> Conv<Vec<QualName>> {
    nodes
        .iter()
        .map(|r| match r.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) => range_var(Some(rv)),
            _ => Err(format!("cannot read {statement} target")),
        })
        .collect()
}

pub(super) fn truncate_stmt(s: &protobuf::TruncateStmt) -> Conv<DdlOp> {
    Ok(DdlOp::Truncate {
        tables: relations(&s.relations, "TRUNCATE")?,
        cascade: DropBehavior::try_from(s.behavior) == Ok(DropBehavior::DropCascade),
    })
}

/// The relations a statement names other than its own `table` (once each).
fn reads_besides(table: &QualName, whole: &NodeEnum) -> Vec<QualName> {
    let mut reads: Vec<QualName> = Vec::new();
    let mut target_seen = false;
    for (schema, name) in Tree::of(whole).relations() {
        let n = QualName::new((!schema.is_empty()).then_some(schema.as_str()), &name);
        // The statement's own table comes first; a second mention is a read of it.
        if !target_seen && n == *table {
            target_seen = true;
        } else if !reads.contains(&n) {
            reads.push(n);
        }
    }
    reads
}

/// INSERT, DELETE or a complex UPDATE: its table, and every other relation it reads.
fn data_change(
    verb: DataVerb,
    table: QualName,
    whole: &NodeEnum,
    values_rows: Option<usize>,
) -> DdlOp {
    let reads = reads_besides(&table, whole);
    DdlOp::DataChange {
        verb,
        table,
        reads,
        values_rows,
    }
}

/// `CREATE TABLE … AS` / `SELECT … INTO`: the new table and what it is filled from.
pub(super) fn create_table_as(table: QualName, whole: &NodeEnum) -> DdlOp {
    let reads = reads_besides(&table, whole);
    DdlOp::CreateTableAs { table, reads }
}

pub(super) fn insert_stmt(s: &protobuf::InsertStmt, whole: &NodeEnum) -> Conv<DdlOp> {
    let table = range_var(s.relation.as_ref())?;
    let values_rows = match s.select_stmt.as_deref().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::SelectStmt(sel)) if !sel.values_lists.is_empty() => {
            Some(sel.values_lists.len())
        }
        _ => None,
    };
    Ok(data_change(DataVerb::Insert, table, whole, values_rows))
}

pub(super) fn delete_stmt(s: &protobuf::DeleteStmt, whole: &NodeEnum) -> Conv<DdlOp> {
    let table = range_var(s.relation.as_ref())?;
    Ok(data_change(DataVerb::Delete, table, whole, None))
}

pub(super) fn update_stmt(s: &protobuf::UpdateStmt, whole: &NodeEnum) -> Conv<DdlOp> {
    let table = range_var(s.relation.as_ref())?;
    if !s.from_clause.is_empty() || s.returning_clause.is_some() || s.with_clause.is_some() {
        return Ok(data_change(DataVerb::Update, table, whole, None));
    }
    let mut assignments = Vec::with_capacity(s.target_list.len());
    for t in &s.target_list {
        let val = match t.node.as_ref() {
            Some(NodeEnum::ResTarget(r)) => r.val.as_deref().map(|v| (r, v)),
            _ => None,
        };
        // Multi-column and subscripted assignments are not batched: kept as written.
        let Some((r, val)) = val.filter(|(r, v)| {
            r.indirection.is_empty() && !matches!(v.node, Some(NodeEnum::MultiAssignRef(_)))
        }) else {
            return Ok(data_change(DataVerb::Update, table, whole, None));
        };
        assignments.push((r.name.clone(), expr(val)?));
    }
    Ok(DdlOp::Update {
        table,
        assignments,
        filter: boxed_expr(&s.where_clause)?,
    })
}
