//! Relation names as PostgreSQL prints them, read back by its own parser.

use pg_query::NodeEnum;

use super::convert::range_var;
use crate::pg::ir::QualName;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
