//! `DO` blocks whose body is plain SQL, flattened into the statements they run.

use pg_query::NodeEnum;

use super::parse_file;
use crate::pg::ir::*;

/// The statements of a `DO` block whose body is plain SQL (`BEGIN <statements> END`,
/// no variables, conditions or loops), read as if written in the file at their place;
/// None when the body is real PL/pgSQL (it stays one statement zerodown does not model).
pub(super) fn plain_do_body(
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
    // `get`: the last three bytes may cut a multi-byte character (then it is no END).
    if !tail.get(end_word..)?.eq_ignore_ascii_case("end") {
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
