//! Statements that act on the session rather than on the schema: SET, RESET, ROLLBACK
//! and SELECT. zerodown runs each step in a short transaction of its own, so what such a
//! statement would do to the statements after it cannot be carried into the steps:
//! whatever would change their meaning is refused with what to do instead.

use pg_query::protobuf::{VariableSetKind, VariableSetStmt};
use pg_query::NodeEnum;

use super::{deparse_expr, Conv};
use crate::pg::ir::DdlOp;
use crate::pg::parse::walk::Tree;

/// Settings a migration may set without changing what its statements do: zerodown's
/// own timeouts (each step sets them itself), messages, and speed-only settings.
const NEUTRAL_SETTINGS: &[&str] = &[
    "lock_timeout",
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "transaction_timeout",
    "client_min_messages",
    "application_name",
    "check_function_bodies",
    "maintenance_work_mem",
    "work_mem",
    "max_parallel_maintenance_workers",
    "max_parallel_workers_per_gather",
    "synchronous_commit",
];

/// `SET` / `RESET`: kept (as a no-op for the plan) when neutral, refused otherwise.
pub(super) fn variable_set(s: &VariableSetStmt) -> Conv<DdlOp> {
    let name = s.name.to_ascii_lowercase();
    let value = s
        .args
        .iter()
        .map(|a| deparse_expr(a).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ");
    let kind = VariableSetKind::try_from(s.kind).unwrap_or(VariableSetKind::Undefined);
    let neutral = match kind {
        VariableSetKind::VarResetAll => true,
        // `standard_conforming_strings = on` is how zerodown's parser reads strings.
        _ if name == "standard_conforming_strings" => {
            kind == VariableSetKind::VarReset || value.trim_matches('\'') == "on"
        }
        _ => NEUTRAL_SETTINGS.contains(&name.as_str()),
    };
    if !neutral {
        let what = match name.as_str() {
            "search_path" => "qualify the names instead (app.t), or set it for the role that runs zerodown (ALTER ROLE … SET search_path)",
            "role" | "session_authorization" => "connect as that role instead (the database URL's user)",
            _ => "set it for the role or database that runs zerodown (ALTER ROLE … SET, ALTER DATABASE … SET), or run the migration by hand",
        };
        let shown = if name.is_empty() {
            "this SET".to_owned()
        } else {
            format!("SET {name}")
        };
        return Err(format!(
            "{shown} changes what the statements after it do, and zerodown runs each step in a session transaction of its own where it would not hold: {what}"
        ));
    }
    Ok(DdlOp::Set {
        name,
        value,
        local: s.is_local,
    })
}

/// ROLLBACK and ROLLBACK TO SAVEPOINT discard what came before them, which zerodown's
/// own transactions will have committed.
pub(super) fn rollback() -> String {
    "ROLLBACK discards what its transaction did, but zerodown runs each step in a transaction of its own and commits it: remove the ROLLBACK and the statements it would discard".into()
}

/// A SELECT that calls a function or reads a relation may change anything (a function
/// can run DDL or write rows); one of constants only changes nothing.
pub(super) fn select(node: &NodeEnum) -> DdlOp {
    let runs_something = Tree::of(node).has(&["FuncCall", "RangeVar", "SubLink"]);
    if runs_something {
        DdlOp::Opaque {
            what: "SELECT that calls functions or reads tables".into(),
        }
    } else {
        DdlOp::CatalogOnly {
            what: "SELECT".into(),
        }
    }
}
