//! SQL the planner rewrites: a column renamed inside an expression, an index
//! definition retargeted to a new column and built concurrently. Identifier tokens
//! come from the PostgreSQL scanner and every result is parsed again to check it.

use pg_query::protobuf;
use pg_query::NodeEnum;

use super::print::print;
use super::walk::Tree;

/// Column names referenced by an expression, in order (last field of each reference).
fn column_refs(expr: &str) -> Option<Vec<String>> {
    let tree = pg_query::parse(&format!("SELECT {expr}"), 0).ok()?;
    let raw = tree.protobuf.stmts.first()?;
    let node = raw.stmt.as_ref()?.node.as_ref()?;
    Some(Tree::of(node).column_names())
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
        n.node
            .as_ref()
            .is_some_and(|n| Tree::of(n).column_names().iter().any(|c| c == old_col))
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
    print(NodeEnum::IndexStmt(ix)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // References inside ARRAY[...], COLLATE and subscripts are references too.
        assert_eq!(
            rename_column_in_expr("ARRAY[a] <> '{}'", "a", "x").as_deref(),
            Some("ARRAY[\"x\"] <> '{}'")
        );
        assert!(uses_column("(name COLLATE \"C\") <> ''", "name"));
        assert!(uses_column("(tags[1]) IS NOT NULL", "tags"));
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
}
