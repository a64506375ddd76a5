//! Column definitions and constraints.

use pg_query::protobuf::{self, ConstrType};
use pg_query::NodeEnum;

use crate::pg::ir::*;

use super::*;

pub(super) fn column_def(c: &protobuf::ColumnDef) -> Conv<ColumnDef> {
    let ty = type_ref(c.type_name.as_ref().ok_or("column without a type")?)?;
    let mut col = ColumnDef {
        name: c.colname.clone(),
        serial: crate::pg::types::is_serial(&ty),
        ty,
        default: boxed_expr(&c.raw_default)?,
        not_null: c.is_not_null,
        identity: None,
        generated: None,
        constraints: Vec::new(),
    };
    for n in &c.constraints {
        let Some(NodeEnum::Constraint(k)) = n.node.as_ref() else {
            continue;
        };
        match ConstrType::try_from(k.contype).unwrap_or(ConstrType::Undefined) {
            ConstrType::ConstrNotnull => col.not_null = true,
            ConstrType::ConstrNull => col.not_null = false,
            ConstrType::ConstrDefault => col.default = boxed_expr(&k.raw_expr)?,
            ConstrType::ConstrIdentity => {
                col.identity = Some(
                    if k.generated_when == "a" {
                        "always"
                    } else {
                        "by default"
                    }
                    .into(),
                );
                col.not_null = true;
            }
            ConstrType::ConstrGenerated => {
                let e = k
                    .raw_expr
                    .as_deref()
                    .ok_or("generated column without expression")?;
                col.generated = Some(Generated {
                    expr: expr(e)?,
                    stored: k.generated_kind != "v",
                });
            }
            ConstrType::ConstrPrimary => {
                col.not_null = true;
                col.constraints.push(constraint_def(k, Some(&c.colname))?);
            }
            ConstrType::ConstrCheck
            | ConstrType::ConstrUnique
            | ConstrType::ConstrForeign
            | ConstrType::ConstrExclusion => {
                col.constraints.push(constraint_def(k, Some(&c.colname))?);
            }
            _ => {} // DEFERRABLE etc. attributes are folded by the parser.
        }
    }
    Ok(col)
}

pub(super) fn fk_actions(k: &protobuf::Constraint) -> String {
    let word = |c: &str| match c {
        "r" => Some("RESTRICT"),
        "c" => Some("CASCADE"),
        "n" => Some("SET NULL"),
        "d" => Some("SET DEFAULT"),
        _ => None, // 'a' (NO ACTION) is the default
    };
    let mut out = String::new();
    if k.fk_matchtype == "f" {
        out.push_str(" MATCH FULL");
    }
    if let Some(w) = word(&k.fk_upd_action) {
        out.push_str(&format!(" ON UPDATE {w}"));
    }
    if let Some(w) = word(&k.fk_del_action) {
        out.push_str(&format!(" ON DELETE {w}"));
    }
    out
}

/// A table constraint; `column` is set for an inline column constraint.
pub(super) fn constraint_def(
    k: &protobuf::Constraint,
    column: Option<&str>,
) -> Conv<ConstraintDef> {
    let own_columns = |keys: &[protobuf::Node]| -> Vec<String> {
        let v = strings(keys);
        if v.is_empty() {
            column.map(|c| vec![c.to_owned()]).unwrap_or_default()
        } else {
            v
        }
    };
    let using_index = (!k.indexname.is_empty()).then(|| k.indexname.clone());
    let kind = match ConstrType::try_from(k.contype).unwrap_or(ConstrType::Undefined) {
        ConstrType::ConstrCheck => ConstraintKind::Check {
            expr: expr(k.raw_expr.as_deref().ok_or("CHECK without expression")?)?,
        },
        ConstrType::ConstrForeign => ConstraintKind::ForeignKey {
            columns: own_columns(&k.fk_attrs),
            ref_table: range_var(k.pktable.as_ref())?,
            ref_columns: strings(&k.pk_attrs),
            actions_sql: fk_actions(k),
        },
        ConstrType::ConstrUnique => ConstraintKind::Unique {
            columns: own_columns(&k.keys),
            using_index,
            nulls_not_distinct: k.nulls_not_distinct,
        },
        ConstrType::ConstrPrimary => ConstraintKind::PrimaryKey {
            columns: own_columns(&k.keys),
            using_index,
        },
        ConstrType::ConstrExclusion => ConstraintKind::Exclude,
        ConstrType::ConstrNotnull => ConstraintKind::NotNull {
            column: own_columns(&k.keys)
                .into_iter()
                .next()
                .ok_or("NOT NULL constraint without column")?,
        },
        other => return Err(format!("unsupported constraint type {other:?}")),
    };
    Ok(ConstraintDef {
        name: (!k.conname.is_empty()).then(|| k.conname.clone()),
        kind,
        not_valid: k.skip_validation,
        deferrable: k.deferrable,
    })
}
