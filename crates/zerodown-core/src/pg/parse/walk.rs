//! Every node of a parse tree, for the questions zerodown asks of an expression: which
//! functions it calls, which columns it names, whether it reads a relation.
//!
//! pg_query's own walker (`NodeEnum::nodes`) follows only the fields that lead to table
//! references and skips ARRAY[...], COLLATE, indirection, type modifiers and column
//! definitions: `DEFAULT ARRAY[random()]` looked constant, so a table rewrite was called
//! catalog-only. Here the tree is walked through its serialized form, which has every
//! field of every node.

use pg_query::NodeEnum;
use serde_json::{Map, Value};

/// A parse tree opened for walking.
pub(crate) struct Tree(Value);

impl Tree {
    pub(crate) fn of(node: &NodeEnum) -> Tree {
        // The generated protobuf types serialize without failing; Null walks as empty.
        // The root is wrapped as a `Node` is, so its own kind is seen too.
        let root = serde_json::to_value(node).unwrap_or(Value::Null);
        Tree(serde_json::json!({ "node": root }))
    }

    /// Every JSON object of the tree, with the node kind when it is a tagged node
    /// (`{"FuncCall": {...}}` inside a `Node`), in a stable order.
    pub(crate) fn objects(&self) -> Vec<(Option<&str>, &Map<String, Value>)> {
        let mut out = Vec::new();
        let mut stack: Vec<(Option<&str>, &Value)> = vec![(None, &self.0)];
        while let Some((kind, v)) = stack.pop() {
            match v {
                Value::Object(fields) => {
                    out.push((kind, fields));
                    for (k, child) in fields.iter().rev() {
                        // A `Node` is `{"node": {"Kind": {...}}}`.
                        match (k.as_str(), child) {
                            ("node", Value::Object(inner)) if inner.len() == 1 => {
                                let (name, payload) = inner.iter().next().expect("one entry");
                                stack.push((Some(name.as_str()), payload));
                            }
                            _ => stack.push((None, child)),
                        }
                    }
                }
                Value::Array(items) => stack.extend(items.iter().rev().map(|i| (None, i))),
                _ => {}
            }
        }
        out
    }

    /// The nodes of one kind (`"FuncCall"`, `"ColumnRef"`, ...).
    pub(crate) fn nodes_of(&self, kind: &str) -> Vec<&Map<String, Value>> {
        self.objects()
            .into_iter()
            .filter(|(k, _)| *k == Some(kind))
            .map(|(_, n)| n)
            .collect()
    }

    pub(crate) fn has(&self, kinds: &[&str]) -> bool {
        self.objects()
            .iter()
            .any(|(k, _)| k.is_some_and(|k| kinds.contains(&k)))
    }

    /// Lower-cased names of the functions called (last part of each name).
    pub(crate) fn function_names(&self) -> Vec<String> {
        self.nodes_of("FuncCall")
            .into_iter()
            .filter_map(|f| last_string(f.get("funcname")?))
            .map(|n| n.to_ascii_lowercase())
            .collect()
    }

    /// Column names referenced (last field of each reference), in tree order.
    pub(crate) fn column_names(&self) -> Vec<String> {
        self.nodes_of("ColumnRef")
            .into_iter()
            .filter_map(|c| last_string(c.get("fields")?))
            .collect()
    }
}

/// The last `String` node of a name list (`[schema, name]` -> name); None when the last
/// part is not a string (`t.*`).
fn last_string(list: &Value) -> Option<String> {
    let last = list.as_array()?.last()?;
    let s = last.get("node")?.get("String")?.get("sval")?.as_str()?;
    Some(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(sql: &str) -> Tree {
        let parsed = pg_query::parse(sql, 0).expect("parses");
        Tree::of(
            parsed.protobuf.stmts[0]
                .stmt
                .as_ref()
                .expect("parses")
                .node
                .as_ref()
                .expect("parses"),
        )
    }

    #[test]
    fn sees_inside_what_pg_query_walker_skips() {
        let t = tree(
            "SELECT ARRAY[random()], (gen_random_uuid()::text COLLATE \"C\"), (f(a)).x[g(b)], \
             pg_catalog.clock_timestamp()",
        );
        let mut f = t.function_names();
        f.sort();
        assert_eq!(
            f,
            ["clock_timestamp", "f", "g", "gen_random_uuid", "random"]
        );
        let mut c = t.column_names();
        c.sort();
        assert_eq!(c, ["a", "b"]);
        assert!(tree("SELECT x FROM (VALUES (1)) v(x) WHERE EXISTS (SELECT 1)").has(&["SubLink"]));
        assert!(!tree("SELECT 1 + 2").has(&["FuncCall", "SubLink", "RangeVar"]));
        assert!(tree("SELECT 1").has(&["SelectStmt"]));
    }
}
