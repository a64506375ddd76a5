//! ALTER TABLE subcommands, each into an [`AlterAction`] with its own SQL.

use pg_query::protobuf::{self, AlterTableType, ObjectType};
use pg_query::NodeEnum;

use crate::lock::LockMode;
use crate::pg::ir::*;

use super::*;

/// One ALTER TABLE subcommand printed on its own by the deparser (`SET STATISTICS 500`).
pub(super) fn clause_sql(c: &protobuf::AlterTableCmd) -> Conv<String> {
    let stmt = protobuf::AlterTableStmt {
        relation: Some(protobuf::RangeVar {
            relname: "zd_placeholder_tbl".into(),
            inh: true,
            relpersistence: "p".into(),
            ..Default::default()
        }),
        cmds: vec![protobuf::Node {
            node: Some(NodeEnum::AlterTableCmd(Box::new(c.clone()))),
        }],
        objtype: ObjectType::ObjectTable as i32,
        missing_ok: false,
    };
    let text = print(NodeEnum::AlterTableStmt(stmt))
        .map_err(|e| format!("cannot print ALTER TABLE clause: {e}"))?;
    text.strip_prefix("ALTER TABLE zd_placeholder_tbl ")
        .map(str::to_owned)
        .ok_or_else(|| "cannot print ALTER TABLE clause".to_owned())
}

/// Whether a USING is the column itself, or its cast to the new type: the server builds
/// the same conversion as with no USING (tablecmds.c, ATColumnChangeRequiresRewrite
/// looks through it), so no rewrite where none would be.
fn plain_using(using: Option<&protobuf::Node>, column: &str, new_type: &TypeRef) -> bool {
    let is_column = |n: &protobuf::Node| match n.node.as_ref() {
        Some(NodeEnum::ColumnRef(r)) => {
            let parts = strings(&r.fields);
            parts.len() == r.fields.len() && parts.last().is_some_and(|p| p == column)
        }
        _ => false,
    };
    match using.and_then(|u| u.node.as_ref()) {
        Some(NodeEnum::ColumnRef(_)) => using.is_some_and(is_column),
        Some(NodeEnum::TypeCast(cast)) => {
            cast.arg.as_deref().is_some_and(is_column)
                && cast
                    .type_name
                    .as_ref()
                    .and_then(|t| type_ref(t).ok())
                    .is_some_and(|t| t.sql == new_type.sql)
        }
        _ => false,
    }
}

pub(super) fn alter_action(c: &protobuf::AlterTableCmd) -> Conv<AlterAction> {
    use AlterTableType as A;
    let sql = || clause_sql(c);
    let subtype = A::try_from(c.subtype).unwrap_or(A::Undefined);
    let col = || c.name.clone();
    let def = c.def.as_deref().and_then(|d| d.node.as_ref());
    Ok(match subtype {
        A::AtAddColumn => match def {
            Some(NodeEnum::ColumnDef(cd)) => AlterAction::AddColumn {
                column: column_def(cd)?,
                if_not_exists: c.missing_ok,
            },
            _ => return Err("ADD COLUMN without a column definition".into()),
        },
        A::AtDropColumn => AlterAction::DropColumn {
            column: col(),
            if_exists: c.missing_ok,
        },
        A::AtAlterColumnType => match def {
            Some(NodeEnum::ColumnDef(cd)) => {
                let new_type = type_ref(cd.type_name.as_ref().ok_or("TYPE without a type")?)?;
                let using = boxed_expr(&cd.raw_default)?
                    .filter(|_| !plain_using(cd.raw_default.as_deref(), &c.name, &new_type));
                AlterAction::AlterColumnType {
                    column: col(),
                    new_type,
                    using,
                }
            }
            _ => return Err("ALTER COLUMN TYPE without a type".into()),
        },
        A::AtColumnDefault => match c.def.as_deref() {
            Some(d) => AlterAction::SetDefault {
                column: col(),
                default: expr(d)?,
            },
            None => AlterAction::DropDefault { column: col() },
        },
        A::AtSetNotNull => AlterAction::SetNotNull { column: col() },
        A::AtDropNotNull => AlterAction::DropNotNull { column: col() },
        A::AtAddConstraint => match def {
            Some(NodeEnum::Constraint(k)) => AlterAction::AddConstraint {
                constraint: constraint_def(k, None)?,
            },
            _ => return Err("ADD CONSTRAINT without a constraint".into()),
        },
        A::AtValidateConstraint => AlterAction::ValidateConstraint { name: col() },
        A::AtDropConstraint => AlterAction::DropConstraint {
            name: col(),
            if_exists: c.missing_ok,
        },
        A::AtAttachPartition | A::AtDetachPartition => match def {
            Some(NodeEnum::PartitionCmd(p)) => {
                let partition = range_var(p.name.as_ref())?;
                if subtype == A::AtAttachPartition {
                    AlterAction::AttachPartition {
                        partition,
                        sql: sql()?,
                    }
                } else {
                    AlterAction::DetachPartition {
                        partition,
                        concurrently: p.concurrent,
                    }
                }
            }
            _ => return Err("partition command without a partition".into()),
        },
        A::AtSetTableSpace => rewrite("SET TABLESPACE", sql()?),
        A::AtSetLogged => rewrite("SET LOGGED", sql()?),
        A::AtSetUnLogged => rewrite("SET UNLOGGED", sql()?),
        A::AtSetAccessMethod => rewrite("SET ACCESS METHOD", sql()?),
        A::AtSetExpression => rewrite("ALTER COLUMN SET EXPRESSION", sql()?),
        A::AtAddIdentity => meta(
            "ALTER COLUMN ADD GENERATED AS IDENTITY",
            LockMode::AccessExclusive,
            sql()?,
        ),
        A::AtSetIdentity => meta(
            "ALTER COLUMN SET identity option",
            LockMode::AccessExclusive,
            sql()?,
        ),
        A::AtDropIdentity => meta(
            "ALTER COLUMN DROP IDENTITY",
            LockMode::AccessExclusive,
            sql()?,
        ),
        A::AtDropExpression => meta(
            "ALTER COLUMN DROP EXPRESSION",
            LockMode::AccessExclusive,
            sql()?,
        ),
        A::AtSetStatistics => meta(
            "ALTER COLUMN SET STATISTICS",
            LockMode::ShareUpdateExclusive,
            sql()?,
        ),
        A::AtSetOptions | A::AtResetOptions => meta(
            "ALTER COLUMN SET (attribute_option)",
            LockMode::ShareUpdateExclusive,
            sql()?,
        ),
        A::AtSetRelOptions | A::AtResetRelOptions | A::AtReplaceRelOptions => meta(
            "SET (storage parameter)",
            LockMode::ShareUpdateExclusive,
            sql()?,
        ),
        A::AtClusterOn | A::AtDropCluster => {
            meta("CLUSTER ON", LockMode::ShareUpdateExclusive, sql()?)
        }
        A::AtSetStorage => meta(
            "ALTER COLUMN SET STORAGE",
            LockMode::AccessExclusive,
            sql()?,
        ),
        A::AtSetCompression => meta(
            "ALTER COLUMN SET COMPRESSION",
            LockMode::AccessExclusive,
            sql()?,
        ),
        A::AtEnableTrig
        | A::AtEnableAlwaysTrig
        | A::AtEnableReplicaTrig
        | A::AtDisableTrig
        | A::AtEnableTrigAll
        | A::AtDisableTrigAll
        | A::AtEnableTrigUser
        | A::AtDisableTrigUser => meta(
            "ENABLE/DISABLE TRIGGER",
            LockMode::ShareRowExclusive,
            sql()?,
        ),
        A::AtChangeOwner => meta("OWNER TO", LockMode::AccessExclusive, sql()?),
        A::AtReplicaIdentity => meta("REPLICA IDENTITY", LockMode::AccessExclusive, sql()?),
        A::AtEnableRowSecurity
        | A::AtDisableRowSecurity
        | A::AtForceRowSecurity
        | A::AtNoForceRowSecurity => meta("ROW LEVEL SECURITY", LockMode::AccessExclusive, sql()?),
        A::AtAlterConstraint => meta("ALTER CONSTRAINT", LockMode::AccessExclusive, sql()?),
        other => meta(
            format!("{other:?}").trim_start_matches("At"),
            LockMode::AccessExclusive,
            sql()?,
        ),
    })
}

pub(super) fn rewrite(what: &str, sql: String) -> AlterAction {
    AlterAction::Rewrite {
        what: what.to_owned(),
        sql,
    }
}

pub(super) fn meta(what: &str, lock: LockMode, sql: String) -> AlterAction {
    AlterAction::Metadata {
        what: what.to_owned(),
        lock,
        sql,
    }
}
