//! The one way zerodown prints a parse tree back to SQL (pg_query's deparser).
//!
//! The raw grammar accepts trees the server refuses later and the deparser cannot print:
//! a type modifier written as an expression (`numeric(1+1)`) aborts the process in a debug
//! build and is silently dropped in a release one. Such trees are refused here, with the
//! server's own words, before the deparser sees them.

use pg_query::NodeEnum;

use super::walk::Tree;

/// `node` as SQL, or why it cannot be printed.
pub(crate) fn print(node: NodeEnum) -> Result<String, String> {
    printable(&node)?;
    node.deparse(Default::default()).map_err(|e| e.to_string())
}

/// Refuses what the deparser cannot print faithfully.
fn printable(node: &NodeEnum) -> Result<(), String> {
    if Tree::of(node).has_expression_typmod() {
        return Err("type modifiers must be simple constants or identifiers \
                    (as PostgreSQL says): write `numeric(10, 2)`, not an expression"
            .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(sql: &str) -> NodeEnum {
        let tree = pg_query::parse(sql, 0).expect("parses");
        let stmt = tree.protobuf.stmts[0].stmt.as_ref();
        stmt.and_then(|s| s.node.clone()).expect("a statement")
    }

    #[test]
    fn an_expression_as_type_modifier_is_refused_not_printed() {
        for sql in [
            "ALTER TABLE t ADD COLUMN c numeric(1+1)",
            "SELECT 'x'::numeric(now())",
            "CREATE INDEX i ON t ((a::numeric(-a, 2)))",
        ] {
            let e = print(first(sql)).expect_err("refused");
            assert!(e.contains("simple constants"), "{sql}: {e}");
        }
        let ok = print(first("ALTER TABLE t ADD COLUMN c numeric(10, 2)")).expect("prints");
        assert_eq!(ok, "ALTER TABLE t ADD COLUMN c numeric(10, 2)");
    }
}
