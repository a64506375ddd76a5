//! One parsed statement (libpg_query's tree) into the IR's [`DdlOp`]: the statement
//! kinds here, columns and constraints in `column.rs`, ALTER TABLE subcommands in
//! `alter.rs`, the other DDL statements in `statements.rs`.

mod alter;
mod column;
mod session;
mod statements;

use alter::*;
use column::*;
use statements::*;

use pg_query::protobuf::{self, ObjectType, TransactionStmtKind};
use pg_query::NodeEnum;

use crate::pg::ir::*;
use crate::pg::parse::print::print;
use crate::pg::parse::walk::Tree;
use crate::pg::types::canonical_type_name;

type Conv<T> = Result<T, String>;

pub(super) fn convert_statement(node: &NodeEnum) -> Conv<DdlOp> {
    Ok(match node {
        NodeEnum::AlterTableStmt(s) => {
            let objtype = ObjectType::try_from(s.objtype).unwrap_or(ObjectType::ObjectTable);
            if objtype != ObjectType::ObjectTable {
                return Ok(DdlOp::CatalogOnly {
                    what: format!("ALTER {}", object_word(objtype)),
                });
            }
            let table = range_var(s.relation.as_ref())?;
            let mut actions = Vec::with_capacity(s.cmds.len());
            for cmd in &s.cmds {
                if let Some(NodeEnum::AlterTableCmd(c)) = cmd.node.as_ref() {
                    actions.push(alter_action(c)?);
                }
            }
            DdlOp::AlterTable { table, actions }
        }
        NodeEnum::CreateStmt(s) => create_table(s)?,
        NodeEnum::IndexStmt(s) => DdlOp::CreateIndex(index_def(s)?),
        NodeEnum::DropStmt(s) => drop_stmt(s)?,
        NodeEnum::RenameStmt(s) => rename_stmt(s)?,
        NodeEnum::AlterEnumStmt(s) => {
            if !s.old_val.is_empty() {
                DdlOp::CatalogOnly {
                    what: "ALTER TYPE ... RENAME VALUE".into(),
                }
            } else {
                DdlOp::AddEnumValue {
                    type_name: name_list(&s.type_name)?,
                    value: s.new_val.clone(),
                }
            }
        }
        NodeEnum::TransactionStmt(s) => {
            let kind = TransactionStmtKind::try_from(s.kind)
                .map_err(|_| "unknown transaction statement")?;
            DdlOp::Transaction(match kind {
                TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
                    TxnControl::Begin
                }
                TransactionStmtKind::TransStmtCommit => TxnControl::Commit,
                TransactionStmtKind::TransStmtRollback
                | TransactionStmtKind::TransStmtRollbackTo => return Err(session::rollback()),
                TransactionStmtKind::TransStmtSavepoint | TransactionStmtKind::TransStmtRelease => {
                    TxnControl::Savepoint
                }
                _ => {
                    return Ok(DdlOp::Opaque {
                        what: "two-phase commit".into(),
                    })
                }
            })
        }
        NodeEnum::VariableSetStmt(s) => session::variable_set(s)?,
        NodeEnum::CreateTrigStmt(s) => DdlOp::CreateTrigger {
            table: range_var(s.relation.as_ref())?,
            name: s.trigname.clone(),
        },
        NodeEnum::UpdateStmt(s) => update_stmt(s, node)?,
        NodeEnum::VacuumStmt(s) => {
            let full = s.options.iter().any(
                |o| matches!(o.node.as_ref(), Some(NodeEnum::DefElem(d)) if d.defname == "full"),
            );
            if !s.is_vacuumcmd {
                DdlOp::CatalogOnly {
                    what: "ANALYZE".into(),
                }
            } else if full {
                let table = s.rels.first().and_then(|r| match r.node.as_ref() {
                    Some(NodeEnum::VacuumRelation(v)) => {
                        v.relation.as_ref().and_then(|rv| range_var(Some(rv)).ok())
                    }
                    _ => None,
                });
                DdlOp::TableRewrite {
                    table,
                    what: "VACUUM FULL".into(),
                }
            } else {
                DdlOp::Opaque {
                    what: "VACUUM (cannot run inside a transaction block)".into(),
                }
            }
        }
        NodeEnum::ClusterStmt(s) => DdlOp::TableRewrite {
            table: s.relation.as_ref().and_then(|r| range_var(Some(r)).ok()),
            what: "CLUSTER".into(),
        },
        NodeEnum::CreateFunctionStmt(_) => catalog("CREATE FUNCTION"),
        NodeEnum::CreateSchemaStmt(_) => catalog("CREATE SCHEMA"),
        NodeEnum::CreateSeqStmt(_) => catalog("CREATE SEQUENCE"),
        NodeEnum::AlterSeqStmt(_) => catalog("ALTER SEQUENCE"),
        NodeEnum::CreateEnumStmt(_) => catalog("CREATE TYPE AS ENUM"),
        NodeEnum::CompositeTypeStmt(_) => catalog("CREATE TYPE"),
        NodeEnum::CreateDomainStmt(s) => DdlOp::CreateDomain {
            name: name_list(&s.domainname)?,
            constrained: !s.constraints.is_empty(),
        },
        NodeEnum::CreateExtensionStmt(_) => catalog("CREATE EXTENSION"),
        NodeEnum::CommentStmt(_) => catalog("COMMENT"),
        NodeEnum::GrantStmt(_) => catalog("GRANT/REVOKE"),
        NodeEnum::GrantRoleStmt(_) => catalog("GRANT role"),
        NodeEnum::CreateRoleStmt(_) => catalog("CREATE ROLE"),
        NodeEnum::ViewStmt(_) => catalog("CREATE VIEW"),
        NodeEnum::CreatePolicyStmt(_) => catalog("CREATE POLICY"),
        NodeEnum::AlterOwnerStmt(_) => catalog("ALTER ... OWNER"),
        NodeEnum::SelectStmt(s) if s.into_clause.is_some() => {
            let into = s.into_clause.as_ref().and_then(|i| i.rel.as_ref());
            create_table_as(range_var(into)?, node)
        }
        NodeEnum::SelectStmt(_) => session::select(node),
        NodeEnum::CreateTableAsStmt(s) if s.objtype == ObjectType::ObjectTable as i32 => {
            let into = s.into.as_ref().and_then(|i| i.rel.as_ref());
            create_table_as(range_var(into)?, node)
        }
        NodeEnum::InsertStmt(s) => insert_stmt(s, node)?,
        NodeEnum::DeleteStmt(s) => delete_stmt(s, node)?,
        NodeEnum::DoStmt(_) => DdlOp::Opaque {
            what: "DO block".into(),
        },
        NodeEnum::LockStmt(s) => lock_stmt(s)?,
        NodeEnum::ReindexStmt(s) => reindex_stmt(s)?,
        NodeEnum::TruncateStmt(s) => truncate_stmt(s)?,
        other => DdlOp::Opaque {
            what: format!("{:?}", other.to_ref())
                .split('(')
                .next()
                .unwrap_or("statement")
                .to_owned(),
        },
    })
}

fn catalog(what: &str) -> DdlOp {
    DdlOp::CatalogOnly {
        what: what.to_owned(),
    }
}

fn object_word(o: ObjectType) -> &'static str {
    match o {
        ObjectType::ObjectIndex => "INDEX",
        ObjectType::ObjectSequence => "SEQUENCE",
        ObjectType::ObjectView => "VIEW",
        ObjectType::ObjectMatview => "MATERIALIZED VIEW",
        ObjectType::ObjectForeignTable => "FOREIGN TABLE",
        ObjectType::ObjectType => "TYPE",
        _ => "object",
    }
}

pub(super) fn range_var(rv: Option<&protobuf::RangeVar>) -> Conv<QualName> {
    let rv = rv.ok_or("statement has no table")?;
    Ok(QualName {
        schema: (!rv.schemaname.is_empty()).then(|| rv.schemaname.clone()),
        name: rv.relname.clone(),
    })
}

fn string_value(n: &protobuf::Node) -> Option<String> {
    match n.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

pub(super) fn strings(nodes: &[protobuf::Node]) -> Vec<String> {
    nodes.iter().filter_map(string_value).collect()
}

fn name_list(nodes: &[protobuf::Node]) -> Conv<QualName> {
    let parts = strings(nodes);
    match parts.as_slice() {
        [name] => Ok(QualName::new(None, name)),
        [.., schema, name] => Ok(QualName::new(Some(schema), name)),
        [] => Err("missing name".into()),
    }
}

/// Deparses an expression node by wrapping it in `SELECT <expr>`.
fn deparse_expr(node: &protobuf::Node) -> Conv<String> {
    let select = protobuf::SelectStmt {
        target_list: vec![protobuf::Node {
            node: Some(NodeEnum::ResTarget(Box::new(protobuf::ResTarget {
                val: Some(Box::new(node.clone())),
                ..Default::default()
            }))),
        }],
        // The C side rejects "undefined" (0) enum values.
        op: protobuf::SetOperation::SetopNone as i32,
        limit_option: protobuf::LimitOption::Default as i32,
        ..Default::default()
    };
    let text = print(NodeEnum::SelectStmt(Box::new(select)))
        .map_err(|e| format!("cannot print expression: {e}"))?;
    Ok(text.strip_prefix("SELECT ").unwrap_or(&text).to_owned())
}

fn expr(node: &protobuf::Node) -> Conv<Expr> {
    let (mut functions, mut has_subquery) = (Vec::new(), false);
    if let Some(n) = node.node.as_ref() {
        let tree = Tree::of(n);
        functions = tree.function_names();
        // CURRENT_TIMESTAMP and its kin are stable, as now() is.
        if tree.has(&["SqlValueFunction"]) {
            functions.push("now".into());
        }
        has_subquery = tree.has(&["SubLink"]);
    }
    functions.sort();
    functions.dedup();
    Ok(Expr {
        sql: deparse_expr(node)?,
        functions,
        has_subquery,
    })
}

fn boxed_expr(node: &Option<Box<protobuf::Node>>) -> Conv<Option<Expr>> {
    node.as_deref().map(expr).transpose()
}

fn type_ref(t: &protobuf::TypeName) -> Conv<TypeRef> {
    let names = strings(&t.names);
    let raw = names.last().ok_or("type without a name")?;
    let name = if names.len() == 2 && names[0] != "pg_catalog" {
        format!("{}.{}", names[0], raw)
    } else {
        canonical_type_name(raw)
    };
    let mods = t
        .typmods
        .iter()
        .filter_map(|m| match m.node.as_ref() {
            Some(NodeEnum::AConst(c)) => match &c.val {
                Some(protobuf::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    // Print the type through `SELECT NULL::type` to get valid SQL back.
    let cast = protobuf::Node {
        node: Some(NodeEnum::TypeCast(Box::new(protobuf::TypeCast {
            arg: Some(Box::new(protobuf::Node {
                node: Some(NodeEnum::AConst(protobuf::AConst {
                    isnull: true,
                    ..Default::default()
                })),
            })),
            type_name: Some(t.clone()),
            location: -1,
        }))),
    };
    let text = deparse_expr(&cast)?;
    let sql = text.strip_prefix("NULL::").unwrap_or(&text).to_owned();
    Ok(TypeRef {
        name,
        mods,
        array: !t.array_bounds.is_empty(),
        sql,
    })
}
