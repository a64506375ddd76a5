//! MySQL/MariaDB `ALTER TABLE` text -> the actions [`super::online`] knows, read
//! with sqlparser's MySQL dialect and the table as the catalog has it (a MODIFY is a
//! widening or a shrinking only against the column's current type). An operation it does
//! not model is an error that names it: never dropped silently.

use std::collections::BTreeMap;

use sqlparser::ast::{
    AlterColumnOperation, AlterTableOperation, ColumnOption, DataType, Expr, GeneratedAs,
    GeneratedExpressionMode, TableConstraint,
};

use super::online::{Action, ColumnDefault, Position};
use crate::mysql::parse::{self, AlterOp, MyKind, MyStatement, OpKind};
use crate::mysql::ExtraOp;

/// A column as `information_schema.COLUMNS` has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// `COLUMN_TYPE`: `varchar(50)`, `int(11)`, `bigint(20) unsigned`, `enum('x','y')`.
    pub column_type: String,
    /// `CHARACTER_OCTET_LENGTH` of character columns.
    pub max_bytes: Option<u32>,
    pub nullable: bool,
    /// `CHARACTER_SET_NAME` of character columns.
    pub charset: Option<String>,
}

/// What the mapping needs of a table (lower-case names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    pub columns: BTreeMap<String, ColumnInfo>,
    /// Index name (`PRIMARY` for the primary key) -> its columns in order.
    pub indexes: BTreeMap<String, Vec<String>>,
}

impl TableInfo {
    /// Whether `column` appears in some index.
    pub fn indexed(&self, column: &str) -> bool {
        self.indexes
            .values()
            .any(|cols| cols.iter().any(|c| c == column))
    }

    /// Whether some index starts with `column` (an FK on it needs no new index).
    pub fn leads(&self, column: &str) -> bool {
        self.indexes
            .values()
            .any(|cols| cols.first().is_some_and(|c| c == column))
    }
}

/// Parses one `ALTER TABLE` (or CREATE/DROP INDEX) and returns its actions, in order.
pub fn alter_actions(
    sql: &str,
    table: &TableInfo,
    foreign_key_checks: bool,
) -> Result<Vec<Action>, String> {
    let (statements, diagnostics) = parse::parse_file("", sql);
    if let Some(d) = diagnostics.first() {
        return Err(d.message.clone());
    }
    let [MyStatement {
        kind: MyKind::AlterTable { ops, .. },
        ..
    }] = statements.as_slice()
    else {
        return Err("expected one ALTER TABLE statement".into());
    };
    let mut out = Vec::new();
    for op in ops {
        out.extend(op_actions(op, table, foreign_key_checks).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// Why an operation could not be read into actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// It names a column the table does not have (bad input when the table is known).
    UnknownColumn(String),
    /// A form zerodown does not model: reviewed by hand.
    Unmodelled(String),
    /// It gives a column or index a name the table already has (the server refuses it).
    NameTaken(String),
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::UnknownColumn(m)
            | ActionError::Unmodelled(m)
            | ActionError::NameTaken(m) => f.write_str(m),
        }
    }
}

/// The actions of one operation of an `ALTER TABLE`, against the table as it is.
pub fn op_actions(
    op: &AlterOp,
    table: &TableInfo,
    foreign_key_checks: bool,
) -> Result<Vec<Action>, ActionError> {
    match &op.kind {
        OpKind::Parsed(op) => match name_taken(op, table) {
            Some(m) => Err(ActionError::NameTaken(m)),
            None => operation(op, table, foreign_key_checks).map_err(|m| {
                if m.starts_with(UNKNOWN_COLUMN) {
                    ActionError::UnknownColumn(m)
                } else {
                    ActionError::Unmodelled(m)
                }
            }),
        },
        OpKind::Extra(ExtraOp::Force | ExtraOp::Engine(_) | ExtraOp::RowFormat(_)) => {
            Ok(vec![Action::Rebuild])
        }
        OpKind::Extra(ExtraOp::ConvertCharset { .. }) => Ok(vec![Action::ChangeCharset]),
        OpKind::Extra(ExtraOp::RenameIndex { .. }) => Ok(vec![Action::RenameIndex]),
        OpKind::Unread => Err(ActionError::Unmodelled(format!(
            "zerodown does not read `{}` (a server operation it does not model)",
            op.text
        ))),
    }
}

const UNKNOWN_COLUMN: &str = "there is no column ";

/// The error when an operation adds a column or index under a name the table has.
fn name_taken(op: &AlterTableOperation, table: &TableInfo) -> Option<String> {
    let (column, name) = match op {
        AlterTableOperation::AddColumn {
            if_not_exists: false,
            column_def,
            ..
        } => (true, &column_def.name),
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::Index {
                name: Some(name), ..
            },
            ..
        } => (false, name),
        // MySQL names a unique index by its index name, else by the constraint's name.
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::Unique {
                name, index_name, ..
            },
            ..
        } => (false, index_name.as_ref().or(name.as_ref())?),
        _ => return None,
    };
    let (what, taken, hint) = if column {
        let taken = table.columns.contains_key(&lower(name));
        (
            "column",
            taken,
            ", or write ADD COLUMN IF NOT EXISTS (MariaDB)",
        )
    } else {
        ("index", table.indexes.contains_key(&lower(name)), "")
    };
    taken.then(|| {
        format!(
            "{what} {} already exists: the server would refuse the statement; choose another name{hint}",
            name.value
        )
    })
}

fn lower(name: &sqlparser::ast::Ident) -> String {
    name.value.to_ascii_lowercase()
}

fn unmodelled(op: &AlterTableOperation) -> String {
    format!("zerodown does not model `{op}` on MySQL/MariaDB yet")
}

fn operation(
    op: &AlterTableOperation,
    table: &TableInfo,
    foreign_key_checks: bool,
) -> Result<Vec<Action>, String> {
    let column = |name: &str| {
        table
            .columns
            .get(name)
            .ok_or_else(|| format!("{UNKNOWN_COLUMN}{name}"))
    };
    Ok(match op {
        AlterTableOperation::AddColumn {
            column_def,
            column_position,
            ..
        } => {
            let generated = column_def.options.iter().find_map(|o| match &o.option {
                ColumnOption::Generated {
                    generated_as: GeneratedAs::ExpStored,
                    ..
                } => Some(true),
                ColumnOption::Generated {
                    generation_expr_mode,
                    ..
                } => Some(*generation_expr_mode == Some(GeneratedExpressionMode::Stored)),
                _ => None,
            });
            match generated {
                Some(stored) => vec![Action::AddGeneratedColumn { stored }],
                None => vec![Action::AddColumn {
                    position: if column_position.is_some() {
                        Position::Elsewhere
                    } else {
                        Position::Last
                    },
                    default: default_kind(&column_def.options),
                }],
            }
        }
        AlterTableOperation::DropColumn { column_names, .. } => column_names
            .iter()
            .map(|c| Action::DropColumn {
                indexed: table.indexed(&lower(c)),
            })
            .collect(),
        AlterTableOperation::AlterColumn {
            op: AlterColumnOperation::SetDefault { .. } | AlterColumnOperation::DropDefault,
            ..
        } => vec![Action::SetOrDropDefault],
        AlterTableOperation::ModifyColumn {
            col_name,
            data_type,
            options,
            column_position,
        } => modify(
            column(&lower(col_name))?,
            data_type,
            options,
            column_position.is_some(),
        )?,
        AlterTableOperation::ChangeColumn {
            old_name,
            new_name,
            data_type,
            options,
            column_position,
        } if lower(old_name) == lower(new_name) => modify(
            column(&lower(old_name))?,
            data_type,
            options,
            column_position.is_some(),
        )?,
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::Index { .. } | TableConstraint::Unique { .. },
            ..
        } => vec![Action::AddIndex],
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::ForeignKey { columns, .. },
            ..
        } => vec![Action::AddForeignKey {
            foreign_key_checks,
            builds_index: columns.first().is_none_or(|c| !table.leads(&lower(c))),
        }],
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::PrimaryKey { .. },
            ..
        }
        | AlterTableOperation::DropPrimaryKey { .. } => vec![Action::Rebuild],
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::FulltextOrSpatial { fulltext, .. },
            ..
        } => vec![Action::AddFulltextOrSpatialIndex {
            fulltext: *fulltext,
        }],
        AlterTableOperation::RenameTable { .. } => vec![Action::RenameTable],
        AlterTableOperation::DropIndex { .. } => vec![Action::DropIndex],
        AlterTableOperation::RenameColumn {
            old_column_name, ..
        } => {
            column(&lower(old_column_name))?;
            vec![Action::RenameColumn]
        }
        AlterTableOperation::ChangeColumn {
            old_name,
            data_type,
            options,
            column_position,
            ..
        } => {
            let same = modify(
                column(&lower(old_name))?,
                data_type,
                options,
                column_position.is_some(),
            )?;
            if !same.is_empty() {
                return Err(format!(
                    "`{op}` renames and changes the column at once: write RENAME COLUMN and MODIFY as separate operations"
                ));
            }
            vec![Action::RenameColumn]
        }
        AlterTableOperation::AutoIncrement { .. } => vec![Action::SetAutoIncrement],
        AlterTableOperation::DropForeignKey { .. } => vec![Action::DropForeignKey],
        other => return Err(unmodelled(other)),
    })
}

/// A literal (or no) default keeps ADD COLUMN instant everywhere; an expression may not.
fn default_kind(options: &[sqlparser::ast::ColumnOptionDef]) -> ColumnDefault {
    let expression = options.iter().any(|o| match &o.option {
        ColumnOption::Default(Expr::Value(_)) => false,
        ColumnOption::Default(Expr::UnaryOp { expr, .. }) => !matches!(**expr, Expr::Value(_)),
        ColumnOption::Default(_) => true,
        _ => false,
    });
    if expression {
        ColumnDefault::Expression
    } else {
        ColumnDefault::Literal
    }
}

fn not_null(options: &[ColumnOption]) -> bool {
    options.iter().any(|o| matches!(o, ColumnOption::NotNull))
}

/// The number in `varchar(50)`.
fn declared_length(column_type: &str) -> Option<u32> {
    let inner = column_type.split_once('(')?.1.split_once(')')?.0;
    inner.trim().parse().ok()
}

fn is_integer(t: &DataType) -> bool {
    let s = t.to_string().to_ascii_lowercase();
    [
        "tinyint",
        "smallint",
        "mediumint",
        "int",
        "integer",
        "bigint",
    ]
    .iter()
    .any(|i| s == *i || s.starts_with(&format!("{i}(")) || s.starts_with(&format!("{i} ")))
}

/// `MODIFY c <type> [NULL|NOT NULL] [FIRST|AFTER x]` against the column as it is.
fn modify(
    old: &ColumnInfo,
    new_type: &DataType,
    options: &[ColumnOption],
    moves: bool,
) -> Result<Vec<Action>, String> {
    let old_type = old.column_type.to_ascii_lowercase();
    let new_text = new_type.to_string().to_ascii_lowercase();
    let mut actions = Vec::new();
    let same_type = match new_type {
        DataType::Varchar(_) | DataType::CharacterVarying(_) if old_type.starts_with("varchar") => {
            let (from, to) = (declared_length(&old_type), declared_length(&new_text));
            match (from, to, old.max_bytes) {
                (Some(f), Some(t), _) if f == t => true,
                (Some(f), Some(t), Some(bytes)) if t > f => {
                    let per_char = bytes / f.max(1);
                    actions.push(Action::WidenVarchar {
                        from_bytes: bytes,
                        to_bytes: t * per_char,
                    });
                    false
                }
                (Some(_), Some(_), _) => {
                    actions.push(Action::ShrinkVarchar);
                    false
                }
                _ => return Err(format!("cannot compare {old_type} with {new_text}")),
            }
        }
        DataType::Enum(members, _) if old_type.starts_with("enum(") => {
            let new_values: Vec<String> = members
                .iter()
                .map(|m| match m {
                    sqlparser::ast::EnumMember::Name(n) => format!("'{n}'"),
                    sqlparser::ast::EnumMember::NamedValue(n, _) => format!("'{n}'"),
                })
                .collect();
            let old_list = old_type.trim_start_matches("enum(").trim_end_matches(')');
            let joined = new_values.join(",");
            if joined == old_list {
                true
            } else {
                actions.push(if joined.starts_with(old_list) {
                    Action::AppendEnumValues
                } else {
                    Action::ReorderEnumValues
                });
                false
            }
        }
        t if is_integer(t) => {
            // COLUMN_TYPE carries a display width on MariaDB (`int(11)`): compare names.
            let base = |s: &str| {
                let unsigned = s.contains("unsigned");
                let name = s
                    .split(['(', ' '])
                    .next()
                    .unwrap_or(s)
                    .replace("integer", "int");
                (name, unsigned)
            };
            if base(&old_type) == base(&new_text) {
                true
            } else {
                actions.push(Action::ChangeIntegerType);
                false
            }
        }
        _ if old_type == new_text => true,
        // A change zerodown cannot judge (DECIMAL precision, …): the costly case.
        _ => {
            actions.push(Action::UnknownColumnChange);
            false
        }
    };
    let wants_not_null = not_null(options);
    if old.nullable && wants_not_null {
        actions.push(Action::SetNotNull);
    } else if !old.nullable && !wants_not_null {
        actions.push(Action::DropNotNull);
    }
    if moves && same_type && actions.is_empty() {
        actions.push(Action::ReorderColumn);
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableInfo {
        let col = |t: &str, bytes: Option<u32>, nullable| ColumnInfo {
            column_type: t.into(),
            max_bytes: bytes,
            nullable,
            charset: bytes.map(|_| "utf8mb4".into()),
        };
        TableInfo {
            columns: [
                ("id".to_owned(), col("int(11)", None, false)),
                ("a".to_owned(), col("int(11)", None, true)),
                ("v".to_owned(), col("varchar(50)", Some(200), true)),
                ("e".to_owned(), col("enum('x','y')", Some(4), true)),
            ]
            .into_iter()
            .collect(),
            indexes: [
                ("PRIMARY".to_owned(), vec!["id".to_owned()]),
                ("ka".to_owned(), vec!["a".to_owned()]),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn reads_actions_against_the_table() {
        let t = table();
        let acts = |sql: &str| alter_actions(sql, &t, true);
        assert_eq!(
            acts("ALTER TABLE t ADD COLUMN n INT, ADD INDEX k (v)"),
            Ok(vec![
                Action::AddColumn {
                    position: Position::Last,
                    default: ColumnDefault::Literal
                },
                Action::AddIndex
            ])
        );
        assert_eq!(
            acts("ALTER TABLE t MODIFY v VARCHAR(100)"),
            Ok(vec![Action::WidenVarchar {
                from_bytes: 200,
                to_bytes: 400
            }])
        );
        assert_eq!(
            acts("ALTER TABLE t MODIFY a BIGINT"),
            Ok(vec![Action::ChangeIntegerType])
        );
        assert_eq!(
            acts("ALTER TABLE t MODIFY a INT NOT NULL"),
            Ok(vec![Action::SetNotNull])
        );
        assert_eq!(
            acts("ALTER TABLE t MODIFY e ENUM('x','y','z')"),
            Ok(vec![Action::AppendEnumValues])
        );
        assert_eq!(acts("alter table t force;"), Ok(vec![Action::Rebuild]));
        assert_eq!(
            acts("ALTER TABLE t RENAME TO u"),
            Ok(vec![Action::RenameTable])
        );
        assert!(acts("ALTER TABLE t ADD CONSTRAINT c1 CHECK (a > 0)")
            .expect_err("unmodelled")
            .contains("does not model"));
        assert!(acts("ALTER TABLE t DROP CHECK c1")
            .expect_err("unread")
            .contains("does not read `DROP CHECK c1`"));
        assert!(acts("ALTER TABLE t MODIFY nope INT")
            .expect_err("unknown")
            .contains("no column"));
    }
}
