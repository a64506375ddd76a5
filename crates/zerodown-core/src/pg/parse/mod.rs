//! PostgreSQL SQL -> IR, with the real PostgreSQL parser (libpg_query via `pg_query`).
//!
//! Each statement is parsed on its own so one syntax error does not hide the others:
//! the file is split by the PostgreSQL scanner, then every piece is parsed and
//! converted at once into [`DdlOp`]. Problems are returned as data with spans.

use pg_query::protobuf::{
    self, AlterTableType, ConstrType, DropBehavior, ObjectType, TransactionStmtKind,
};
use pg_query::{NodeEnum, NodeRef};

use crate::lock::LockMode;
use crate::migrations::SourceFile;
use crate::pg::ir::*;
use crate::pg::types::canonical_type_name;
use crate::sql::source::{first_token_offset, line_col, Diagnostic};

/// A migration file after parsing.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub source: SourceFile,
    pub statements: Vec<Statement>,
}

/// Parses a migration file's text. `file` is the name used in spans.
/// Returns every statement it could read and a diagnostic for every one it could not.
pub fn parse_file(file: &str, text: &str) -> (Vec<Statement>, Vec<Diagnostic>) {
    let mut statements = Vec::new();
    let mut diagnostics = Vec::new();
    let pieces = match pg_query::split_with_scanner(text) {
        Ok(p) => p,
        Err(e) => {
            diagnostics.push(Diagnostic {
                span: span_at(file, text, 0, text.len()),
                message: clean_error(&e),
            });
            return (statements, diagnostics);
        }
    };
    for piece in pieces {
        let base = piece.as_ptr() as usize - text.as_ptr() as usize;
        let Some(skip) = first_token_offset(piece) else {
            continue; // only whitespace and comments
        };
        let start = base + skip;
        let end = base + piece.len();
        let sql = text[start..end].trim_end().to_owned();
        let span = span_at(file, text, start, end);
        match pg_query::parse(&sql, 0) {
            Ok(tree) => {
                for raw in &tree.protobuf.stmts {
                    let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
                    if let Some(NodeEnum::DoStmt(d)) = node {
                        if let Some(inner) = plain_do_body(file, text, start, &sql, d) {
                            statements.extend(inner);
                            continue;
                        }
                    }
                    if let Some(node) = node {
                        match convert_statement(node) {
                            Ok(op) => statements.push(Statement {
                                span: span.clone(),
                                sql: sql.clone(),
                                op,
                            }),
                            Err(message) => diagnostics.push(Diagnostic {
                                span: span.clone(),
                                message,
                            }),
                        }
                    }
                }
            }
            Err(e) => {
                let message = clean_error(&e);
                let offset = error_offset(&sql, &message);
                diagnostics.push(Diagnostic {
                    span: span_at(file, text, start + offset, end),
                    message,
                });
            }
        }
    }
    (statements, diagnostics)
}

/// The statements of a `DO` block whose body is plain SQL (`BEGIN <statements> END`,
/// no variables, conditions or loops), read as if written in the file at their place;
/// None when the body is real PL/pgSQL (it stays one statement zerodown does not model).
fn plain_do_body(
    file: &str,
    text: &str,
    statement_start: usize,
    sql: &str,
    d: &pg_query::protobuf::DoStmt,
) -> Option<Vec<Statement>> {
    let mut body = None;
    for arg in &d.args {
        if let Some(NodeEnum::DefElem(e)) = arg.node.as_ref() {
            let value = e.arg.as_ref().and_then(|a| a.node.as_ref());
            match (e.defname.as_str(), value) {
                ("as", Some(NodeEnum::String(v))) => body = Some(v.sval.clone()),
                ("language", Some(NodeEnum::String(v))) if v.sval != "plpgsql" => return None,
                _ => {}
            }
        }
    }
    let body = body?;
    // Where the body is in the file: the dollar-quoted text inside the statement.
    let at = statement_start + sql.find(body.as_str())?;
    let trimmed = body.trim_start();
    let lead = body.len() - trimmed.len();
    let words: Vec<&str> = trimmed.split_whitespace().take(1).collect();
    if !words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("begin"))
    {
        return None;
    }
    let inner_start = lead + "begin".len();
    let tail = body.trim_end().trim_end_matches(';').trim_end();
    let end_word = tail.len().checked_sub(3)?;
    if !tail[end_word..].eq_ignore_ascii_case("end") {
        return None;
    }
    let inner = &body[inner_start..end_word];
    // The inner statements, at their own lines and columns in the file.
    let blank: String = text[..at + inner_start]
        .chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect();
    let padded = format!("{blank}{inner}");
    let (statements, diagnostics) = parse_file(file, &padded);
    // A DO block runs in a transaction of its own: a CONCURRENTLY statement in it fails,
    // and analysed out of it would look fine, so such a body stays unmodelled.
    let plain = diagnostics.is_empty()
        && !statements.is_empty()
        && statements.iter().all(|s| {
            !matches!(s.op, DdlOp::Opaque { .. } | DdlOp::Transaction(_))
                && !s.sql.to_ascii_uppercase().contains("CONCURRENTLY")
        });
    plain.then_some(statements)
}

fn span_at(file: &str, text: &str, start: usize, end: usize) -> Span {
    let (line, column) = line_col(text, start);
    Span {
        file: file.to_owned(),
        line,
        column,
        start,
        end,
    }
}

fn clean_error(e: &pg_query::Error) -> String {
    match e {
        pg_query::Error::Parse(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Finds where PostgreSQL's `at or near "X"` points, as a byte offset in `sql`.
fn error_offset(sql: &str, message: &str) -> usize {
    if message.contains("at end of input") {
        return sql.trim_end().len();
    }
    let Some(rest) = message.split("at or near \"").nth(1) else {
        return 0;
    };
    let Some(token) = rest.rsplit_once('"').map(|(t, _)| t) else {
        return 0;
    };
    if let Ok(tokens) = pg_query::scan(sql) {
        for t in tokens.tokens {
            let (s, e) = (t.start as usize, t.end as usize);
            if sql.get(s..e).is_some_and(|x| x.eq_ignore_ascii_case(token)) {
                return s;
            }
        }
    }
    0
}

type Conv<T> = Result<T, String>;

fn convert_statement(node: &NodeEnum) -> Conv<DdlOp> {
    Ok(match node {
        NodeEnum::AlterTableStmt(s) => {
            let objtype = ObjectType::try_from(s.objtype).unwrap_or(ObjectType::ObjectTable);
            if objtype != ObjectType::ObjectTable {
                return Ok(DdlOp::CatalogOnly {
                    what: format!("ALTER {}", object_word(objtype)),
                });
            }
            let table = range_var(s.relation.as_ref())?;
            let mut actions = Vec::new();
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
                TransactionStmtKind::TransStmtRollback => TxnControl::Rollback,
                TransactionStmtKind::TransStmtSavepoint
                | TransactionStmtKind::TransStmtRelease
                | TransactionStmtKind::TransStmtRollbackTo => TxnControl::Savepoint,
                _ => {
                    return Ok(DdlOp::Opaque {
                        what: "two-phase commit".into(),
                    })
                }
            })
        }
        NodeEnum::VariableSetStmt(s) => DdlOp::Set {
            name: s.name.to_ascii_lowercase(),
            value: s
                .args
                .iter()
                .map(|a| deparse_expr(a).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", "),
            local: s.is_local,
        },
        NodeEnum::CreateTrigStmt(s) => DdlOp::CreateTrigger {
            table: range_var(s.relation.as_ref())?,
            name: s.trigname.clone(),
        },
        NodeEnum::UpdateStmt(s) => update_stmt(s)?,
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
        NodeEnum::SelectStmt(_) => catalog("SELECT"),
        NodeEnum::InsertStmt(_) => DdlOp::Opaque {
            what: "INSERT".into(),
        },
        NodeEnum::DeleteStmt(_) => DdlOp::Opaque {
            what: "DELETE".into(),
        },
        NodeEnum::DoStmt(_) => DdlOp::Opaque {
            what: "DO block".into(),
        },
        NodeEnum::LockStmt(s) => lock_stmt(s)?,
        NodeEnum::ReindexStmt(s) => reindex_stmt(s)?,
        NodeEnum::TruncateStmt(_) => DdlOp::Opaque {
            what: "TRUNCATE".into(),
        },
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

fn range_var(rv: Option<&protobuf::RangeVar>) -> Conv<QualName> {
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

fn strings(nodes: &[protobuf::Node]) -> Vec<String> {
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
    let text = NodeEnum::SelectStmt(Box::new(select))
        .deparse(Default::default())
        .map_err(|e| format!("cannot print expression: {e}"))?;
    Ok(text.strip_prefix("SELECT ").unwrap_or(&text).to_owned())
}

fn expr(node: &protobuf::Node) -> Conv<Expr> {
    let mut functions = Vec::new();
    let mut has_subquery = false;
    if let Some(n) = node.node.as_ref() {
        for (child, _, _, _) in n.nodes() {
            match child {
                NodeRef::FuncCall(f) => {
                    if let Some(name) = strings(&f.funcname).last() {
                        functions.push(name.to_ascii_lowercase());
                    }
                }
                NodeRef::SqlvalueFunction(_) => functions.push("now".into()),
                NodeRef::SubLink(_) => has_subquery = true,
                _ => {}
            }
        }
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

fn column_def(c: &protobuf::ColumnDef) -> Conv<ColumnDef> {
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

fn fk_actions(k: &protobuf::Constraint) -> String {
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
fn constraint_def(k: &protobuf::Constraint, column: Option<&str>) -> Conv<ConstraintDef> {
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

/// One ALTER TABLE subcommand printed on its own by the deparser (`SET STATISTICS 500`).
fn clause_sql(c: &protobuf::AlterTableCmd) -> Conv<String> {
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
    let text = NodeEnum::AlterTableStmt(stmt)
        .deparse(Default::default())
        .map_err(|e| format!("cannot print ALTER TABLE clause: {e}"))?;
    text.strip_prefix("ALTER TABLE zd_placeholder_tbl ")
        .map(str::to_owned)
        .ok_or_else(|| "cannot print ALTER TABLE clause".to_owned())
}

fn alter_action(c: &protobuf::AlterTableCmd) -> Conv<AlterAction> {
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
            Some(NodeEnum::ColumnDef(cd)) => AlterAction::AlterColumnType {
                column: col(),
                new_type: type_ref(cd.type_name.as_ref().ok_or("TYPE without a type")?)?,
                using: boxed_expr(&cd.raw_default)?,
            },
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

fn rewrite(what: &str, sql: String) -> AlterAction {
    AlterAction::Rewrite {
        what: what.to_owned(),
        sql,
    }
}

fn meta(what: &str, lock: LockMode, sql: String) -> AlterAction {
    AlterAction::Metadata {
        what: what.to_owned(),
        lock,
        sql,
    }
}

fn create_table(s: &protobuf::CreateStmt) -> Conv<DdlOp> {
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
fn index_columns(params: &[protobuf::Node]) -> Vec<String> {
    let mut cols = Vec::new();
    for p in params {
        let Some(NodeEnum::IndexElem(e)) = p.node.as_ref() else {
            continue;
        };
        if !e.name.is_empty() {
            cols.push(e.name.clone());
        } else if let Some(x) = e.expr.as_deref().and_then(|x| x.node.as_ref()) {
            for (child, _, _, _) in x.nodes() {
                if let NodeRef::ColumnRef(c) = child {
                    if let Some(name) = strings(&c.fields).last() {
                        cols.push(name.clone());
                    }
                }
            }
        }
    }
    cols
}

fn index_def(s: &protobuf::IndexStmt) -> Conv<IndexDef> {
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
    let text = NodeEnum::IndexStmt(Box::new(body))
        .deparse(Default::default())
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

fn drop_stmt(s: &protobuf::DropStmt) -> Conv<DdlOp> {
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

fn rename_stmt(s: &protobuf::RenameStmt) -> Conv<DdlOp> {
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

fn reindex_stmt(s: &protobuf::ReindexStmt) -> Conv<DdlOp> {
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

fn lock_stmt(s: &protobuf::LockStmt) -> Conv<DdlOp> {
    // PostgreSQL's lock mode numbers (storage/lockdefs.h): 1 = AccessShareLock ... 8.
    let mode = usize::try_from(s.mode)
        .ok()
        .and_then(|m| m.checked_sub(1))
        .and_then(|i| LockMode::ALL.get(i).copied())
        .ok_or("unknown lock mode")?;
    let tables = s
        .relations
        .iter()
        .map(|r| match r.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) => range_var(Some(rv)),
            _ => Err("cannot read LOCK TABLE target".into()),
        })
        .collect::<Conv<Vec<_>>>()?;
    Ok(DdlOp::LockTable { tables, mode })
}

fn update_stmt(s: &protobuf::UpdateStmt) -> Conv<DdlOp> {
    let table = range_var(s.relation.as_ref())?;
    if !s.from_clause.is_empty() || s.returning_clause.is_some() || s.with_clause.is_some() {
        return Ok(DdlOp::Opaque {
            what: "UPDATE with FROM/RETURNING/WITH".into(),
        });
    }
    let mut assignments = Vec::new();
    for t in &s.target_list {
        let Some(NodeEnum::ResTarget(r)) = t.node.as_ref() else {
            return Ok(DdlOp::Opaque {
                what: "UPDATE".into(),
            });
        };
        let Some(val) = r.val.as_deref() else {
            return Ok(DdlOp::Opaque {
                what: "UPDATE".into(),
            });
        };
        if !r.indirection.is_empty() || matches!(val.node, Some(NodeEnum::MultiAssignRef(_))) {
            return Ok(DdlOp::Opaque {
                what: "UPDATE with multi-column assignment".into(),
            });
        }
        assignments.push((r.name.clone(), expr(val)?));
    }
    Ok(DdlOp::Update {
        table,
        assignments,
        filter: boxed_expr(&s.where_clause)?,
    })
}

/// Reads a (possibly quoted, schema-qualified) relation name as PostgreSQL prints it,
/// e.g. `public."My_seq"`. None unless the text is exactly one relation name.
pub fn parse_relation_name(text: &str) -> Option<QualName> {
    let tree = pg_query::parse(&format!("SELECT FROM {text}"), 0).ok()?;
    let raw = tree.protobuf.stmts.first()?;
    if tree.protobuf.stmts.len() != 1 {
        return None;
    }
    let Some(NodeEnum::SelectStmt(sel)) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
        return None;
    };
    match sel.from_clause.as_slice() {
        [one] => match one.node.as_ref() {
            Some(NodeEnum::RangeVar(rv)) if sel.where_clause.is_none() => range_var(Some(rv)).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Column names referenced by an expression, in order (last field of each reference).
fn column_refs(expr: &str) -> Option<Vec<String>> {
    let tree = pg_query::parse(&format!("SELECT {expr}"), 0).ok()?;
    let raw = tree.protobuf.stmts.first()?;
    let node = raw.stmt.as_ref()?.node.as_ref()?;
    Some(
        node.nodes()
            .into_iter()
            .filter_map(|(n, _, _, _)| match n {
                NodeRef::ColumnRef(c) => strings(&c.fields).last().cloned(),
                _ => None,
            })
            .collect(),
    )
}

/// Whether an SQL expression references column `column`.
pub fn uses_column(expr: &str, column: &str) -> bool {
    column_refs(expr).is_some_and(|refs| refs.iter().any(|c| c == column))
}

/// Renames column `old` to `new` in an SQL expression (a CHECK body, a key list).
/// The scanner finds identifier tokens; the result is re-parsed to verify that exactly
/// the references to `old` changed. None when the column is not used, or when the
/// rename cannot be verified.
pub fn rename_column_in_expr(expr: &str, old: &str, new: &str) -> Option<String> {
    let before = column_refs(expr)?;
    if !before.iter().any(|c| c == old) {
        return None;
    }
    let tokens = pg_query::scan(expr).ok()?.tokens;
    let text = |i: usize| -> &str {
        tokens
            .get(i)
            .map_or("", |t| &expr[t.start as usize..t.end as usize])
    };
    let mut out = String::with_capacity(expr.len() + 8);
    let mut last = 0;
    for (i, t) in tokens.iter().enumerate() {
        let raw = text(i);
        let name = if raw.starts_with('"') && raw.ends_with('"') && raw.len() >= 2 {
            raw[1..raw.len() - 1].replace("\"\"", "\"")
        } else {
            raw.to_ascii_lowercase()
        };
        let prev = if i > 0 { text(i - 1) } else { "" };
        if name == old && prev != "." && prev != "::" && text(i + 1) != "(" && text(i + 1) != "." {
            out.push_str(&expr[last..t.start as usize]);
            out.push_str(&crate::sql::quote::ident(new));
            last = t.end as usize;
        }
    }
    out.push_str(&expr[last..]);
    let want: Vec<String> = before
        .iter()
        .map(|c| if c == old { new.to_owned() } else { c.clone() })
        .collect();
    (column_refs(&out)? == want).then_some(out)
}

/// Rewrites an index definition (`pg_get_indexdef` text) to a concurrent build of
/// `new_name` on `new_col` instead of `old_col`. None when the column is used inside an
/// expression or predicate (not rewritten automatically) or the text is not an index.
pub fn retarget_index(def: &str, new_name: &str, old_col: &str, new_col: &str) -> Option<String> {
    let tree = pg_query::parse(def, 0).ok()?;
    let raw = tree.protobuf.stmts.first()?;
    let Some(NodeEnum::IndexStmt(ix)) = raw.stmt.as_ref().and_then(|n| n.node.as_ref()) else {
        return None;
    };
    let mut ix = ix.clone();
    let uses_in_expr = |n: &protobuf::Node| {
        n.node.as_ref().is_some_and(|n| {
            n.nodes().iter().any(|(c, _, _, _)| {
                matches!(c, NodeRef::ColumnRef(r) if strings(&r.fields).last().map(String::as_str) == Some(old_col))
            })
        })
    };
    if ix.where_clause.as_deref().is_some_and(uses_in_expr) {
        return None;
    }
    for p in ix
        .index_params
        .iter_mut()
        .chain(ix.index_including_params.iter_mut())
    {
        let Some(NodeEnum::IndexElem(e)) = p.node.as_mut() else {
            continue;
        };
        if e.name == old_col {
            e.name = new_col.to_owned();
        } else if e.expr.as_deref().is_some_and(uses_in_expr) {
            return None;
        }
    }
    ix.idxname = new_name.to_owned();
    ix.concurrent = true;
    ix.if_not_exists = false;
    NodeEnum::IndexStmt(ix).deparse(Default::default()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> DdlOp {
        let (stmts, diags) = parse_file("t.sql", sql);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stmts.len(), 1, "{stmts:?}");
        stmts.into_iter().next().expect("one").op
    }

    #[test]
    fn add_column_with_volatile_default() {
        let op =
            one("ALTER TABLE app.users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()");
        let DdlOp::AlterTable { table, actions } = op else {
            panic!()
        };
        assert_eq!(table, QualName::new(Some("app"), "users"));
        let AlterAction::AddColumn { column, .. } = &actions[0] else {
            panic!()
        };
        assert_eq!(column.ty.name, "uuid");
        assert!(column.not_null);
        let d = column.default.as_ref().expect("default");
        assert_eq!(d.functions, vec!["gen_random_uuid"]);
        assert_eq!(d.sql, "gen_random_uuid()");
    }

    #[test]
    fn types_and_constraints() {
        let op = one("ALTER TABLE t ALTER COLUMN c TYPE varchar(40), ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE NOT VALID");
        let DdlOp::AlterTable { actions, .. } = op else {
            panic!()
        };
        let AlterAction::AlterColumnType { new_type, .. } = &actions[0] else {
            panic!()
        };
        assert_eq!(
            (new_type.name.as_str(), new_type.mods.as_slice()),
            ("varchar", &[40][..])
        );
        assert_eq!(new_type.sql, "varchar(40)");
        let AlterAction::AddConstraint { constraint } = &actions[1] else {
            panic!()
        };
        assert!(constraint.not_valid);
        let ConstraintKind::ForeignKey {
            columns,
            ref_table,
            actions_sql,
            ..
        } = &constraint.kind
        else {
            panic!()
        };
        assert_eq!(columns, &["a"]);
        assert_eq!(ref_table.name, "p");
        assert_eq!(actions_sql, " ON DELETE CASCADE");
    }

    #[test]
    fn index_body_and_spans() {
        let (stmts, _) = parse_file("m.sql", "-- header\nBEGIN;\n\n  CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING btree (lower(email)) WHERE deleted_at IS NULL;\nCOMMIT;\n");
        assert_eq!(stmts.len(), 3);
        assert_eq!((stmts[1].span.line, stmts[1].span.column), (4, 3));
        let DdlOp::CreateIndex(ix) = &stmts[1].op else {
            panic!()
        };
        assert!(ix.unique && ix.concurrently && ix.if_not_exists);
        assert_eq!(ix.columns, vec!["email"]);
        assert_eq!(
            ix.body_sql,
            "USING btree (lower(email)) WHERE deleted_at IS NULL"
        );
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        let (stmts, diags) = parse_file(
            "bad.sql",
            "SELECT 1;\nALTER TABLE t ADD COLUMN c intt eger;\nSELECT 2;",
        );
        assert_eq!(stmts.len(), 2);
        assert_eq!(diags.len(), 1);
        assert_eq!((diags[0].span.line, diags[0].span.column), (2, 33));
        assert!(
            diags[0].message.contains("syntax error"),
            "{}",
            diags[0].message
        );
    }

    #[test]
    fn reads_relation_names() {
        assert_eq!(
            parse_relation_name("public.\"My_seq\""),
            Some(QualName::new(Some("public"), "My_seq"))
        );
        assert_eq!(
            parse_relation_name("t_id_seq"),
            Some(QualName::new(None, "t_id_seq"))
        );
        assert_eq!(parse_relation_name("a; DROP TABLE x"), None);
    }

    #[test]
    fn renames_columns_in_expressions() {
        assert_eq!(
            rename_column_in_expr("(a > 0) AND (b < a)", "a", "a_new").as_deref(),
            Some("(\"a_new\" > 0) AND (b < \"a_new\")")
        );
        assert_eq!(
            rename_column_in_expr("(\"a\" IS NOT NULL)", "a", "x").as_deref(),
            Some("(\"x\" IS NOT NULL)")
        );
        // A function or a type of the same name is not the column.
        assert_eq!(
            rename_column_in_expr("text(a) <> a::text", "text", "x"),
            None
        );
        assert_eq!(
            rename_column_in_expr("length(text) > 0", "text", "x").as_deref(),
            Some("length(\"x\") > 0")
        );
        assert_eq!(rename_column_in_expr("b > 0", "a", "x"), None);
    }

    #[test]
    fn retargets_index_definitions() {
        let out = retarget_index(
            "CREATE UNIQUE INDEX t_a_b_key ON public.t USING btree (a, b) INCLUDE (c)",
            "t_a_b_key_new",
            "a",
            "a_new",
        );
        assert_eq!(out.as_deref(), Some("CREATE UNIQUE INDEX CONCURRENTLY t_a_b_key_new ON public.t USING btree (a_new, b) INCLUDE (c)"));
        assert_eq!(
            retarget_index("CREATE INDEX i ON t (lower(a))", "n", "a", "x"),
            None
        );
        assert_eq!(
            retarget_index("CREATE INDEX i ON t (b) WHERE a > 0", "n", "a", "x"),
            None
        );
    }

    #[test]
    fn update_becomes_backfill_and_generated_kinds() {
        let op = one("UPDATE t SET c = lower(b) WHERE c IS NULL");
        assert!(
            matches!(op, DdlOp::Update { ref assignments, filter: Some(_), .. } if assignments[0].0 == "c")
        );
        let op = one("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED");
        let DdlOp::AlterTable { actions, .. } = op else {
            panic!()
        };
        let AlterAction::AddColumn { column, .. } = &actions[0] else {
            panic!()
        };
        assert!(column.generated.as_ref().is_some_and(|g| g.stored));
        let op = one("ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY");
        let DdlOp::AlterTable { actions, .. } = op else {
            panic!()
        };
        let AlterAction::AddColumn { column, .. } = &actions[0] else {
            panic!()
        };
        assert_eq!(column.identity.as_deref(), Some("always"));
    }
}
