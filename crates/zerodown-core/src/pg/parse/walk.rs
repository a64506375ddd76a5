//! Every node of a parse tree, for the questions zerodown asks of an expression: which
//! functions it calls, which columns it names, which kinds of node it holds, and whether
//! a type modifier is an expression.
//!
//! pg_query's own walker (`NodeEnum::nodes`) follows only the fields that lead to table
//! references and skips ARRAY[...], COLLATE, indirection, type modifiers and column
//! definitions: `DEFAULT ARRAY[random()]` looked constant, so a table rewrite was called
//! catalog-only. The generated tree types implement `serde::Serialize` and so name every
//! struct and field they hold; the walker is a serializer that writes nothing and reads
//! those names as it goes, without building a copy of the tree.

use serde::ser::{self, Serialize};

/// What a tree holds, read in one pass.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    kinds: Vec<&'static str>,
    functions: Vec<String>,
    columns: Vec<String>,
    /// Relations named (`schema.name`, schema empty when unqualified), and CTE names.
    relations: Vec<(String, String)>,
    ctes: Vec<String>,
    expression_typmod: bool,
}

impl Tree {
    /// Any part of a tree: a node, or a typed field such as a WITH clause.
    pub(crate) fn of<T: Serialize + ?Sized>(node: &T) -> Tree {
        let mut walker = Walker::default();
        // The walker itself never fails; an error would only cut the walk short.
        let _ = node.serialize(&mut walker);
        walker.tree
    }

    /// Whether the tree holds a node of one of these kinds (struct names: `FuncCall`,
    /// `SubLink`, `RangeVar`, `SqlValueFunction`, ...).
    pub(crate) fn has(&self, kinds: &[&str]) -> bool {
        self.kinds.iter().any(|k| kinds.contains(k))
    }

    /// Lower-cased names of the functions called (last part of each name), in tree order.
    pub(crate) fn function_names(&self) -> Vec<String> {
        self.functions.clone()
    }

    /// Column names referenced (last field of each reference), in tree order.
    pub(crate) fn column_names(&self) -> Vec<String> {
        self.columns.clone()
    }

    /// Relations the tree reads or names, as (schema, name) with an empty schema when
    /// unqualified, leaving out the names its own WITH clauses define.
    pub(crate) fn relations(&self) -> Vec<(String, String)> {
        self.relations
            .iter()
            .filter(|(schema, name)| !(schema.is_empty() && self.ctes.contains(name)))
            .cloned()
            .collect()
    }

    /// Whether a type name has a modifier other than a constant, a parameter or a name
    /// (`numeric(1+1)`): the grammar accepts it, the server and the deparser do not.
    pub(crate) fn has_expression_typmod(&self) -> bool {
        self.expression_typmod
    }
}

/// One struct being serialized, and the field of it being serialized now.
struct Frame {
    name: &'static str,
    field: &'static str,
    /// For a function or column reference: one slot per part of its name, the string
    /// when the part is one (`t.*` ends in a star, not a string).
    parts: Vec<Option<String>>,
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    tree: Tree,
}

impl Walker {
    /// The innermost frame that is not a `Node` wrapper, below the top `skip` frames.
    fn owner(&mut self, skip: usize) -> Option<&mut Frame> {
        let below = self.stack.len().checked_sub(skip)?;
        self.stack[..below]
            .iter_mut()
            .rev()
            .find(|f| f.name != "Node")
    }

    fn begin(&mut self, name: &'static str) {
        if name != "Node" {
            if !self.tree.kinds.contains(&name) {
                self.tree.kinds.push(name);
            }
            match self.owner(0).map(|o| (o.name, o.field)) {
                Some(("FuncCall", "funcname") | ("ColumnRef", "fields")) => {
                    if let Some(o) = self.owner(0) {
                        o.parts.push(None);
                    }
                }
                Some(("TypeName", "typmods"))
                    if !matches!(name, "AConst" | "ParamRef" | "ColumnRef") =>
                {
                    self.tree.expression_typmod = true;
                }
                _ => {}
            }
        }
        let parts = if name == "RangeVar" {
            vec![None, None]
        } else {
            Vec::new()
        };
        self.stack.push(Frame {
            name,
            field: "",
            parts,
        });
    }

    fn end(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let last = || frame.parts.last().cloned().flatten();
        match frame.name {
            "FuncCall" => self
                .tree
                .functions
                .extend(last().map(|n| n.to_ascii_lowercase())),
            "ColumnRef" => self.tree.columns.extend(last()),
            "RangeVar" => {
                if let [schema, Some(name)] = frame.parts.as_slice() {
                    let schema = schema.clone().unwrap_or_default();
                    self.tree.relations.push((schema, name.clone()));
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, s: &str) {
        if let Some(top) = self.stack.last_mut() {
            match (top.name, top.field) {
                ("RangeVar", "schemaname") if !s.is_empty() => top.parts[0] = Some(s.to_owned()),
                ("RangeVar", "relname") => top.parts[1] = Some(s.to_owned()),
                ("CommonTableExpr", "ctename") => self.tree.ctes.push(s.to_owned()),
                _ => {}
            }
        }
        let in_sval = self
            .stack
            .last()
            .is_some_and(|f| f.name == "String" && f.field == "sval");
        if !in_sval {
            return;
        }
        if let Some(o) = self.owner(1) {
            if matches!(
                (o.name, o.field),
                ("FuncCall", "funcname") | ("ColumnRef", "fields")
            ) {
                if let Some(slot) = o.parts.last_mut() {
                    *slot = Some(s.to_owned());
                }
            }
        }
    }
}

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("walk stopped")
    }
}

impl std::error::Error for Stop {}

impl ser::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Stop
    }
}

type Done = Result<(), Stop>;

impl ser::Serializer for &mut Walker {
    type Ok = ();
    type Error = Stop;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, _: bool) -> Done {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Done {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Done {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Done {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Done {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Done {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Done {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Done {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Done {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Done {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Done {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Done {
        self.string(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Done {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        v: &T,
    ) -> Done {
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, Stop> {
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Self, Stop> {
        self.begin(name);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self, Stop> {
        self.begin(variant);
        Ok(self)
    }
}

macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for &mut Walker {
            type Ok = ();
            type Error = Stop;
            fn $method<T: ?Sized + Serialize>(&mut self, v: &T) -> Done {
                v.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for &mut Walker {
    type Ok = ();
    type Error = Stop;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, _: &T) -> Done {
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Done {
        v.serialize(&mut **self)
    }
    fn end(self) -> Done {
        Ok(())
    }
}

macro_rules! structs {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Walker {
            type Ok = ();
            type Error = Stop;
            fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Done {
                if let Some(top) = self.stack.last_mut() {
                    top.field = key;
                }
                v.serialize(&mut **self)
            }
            fn end(self) -> Done {
                Walker::end(self);
                Ok(())
            }
        }
    )*};
}

structs!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(sql: &str) -> Tree {
        let parsed = pg_query::parse(sql, 0).expect("parses");
        let stmt = parsed.protobuf.stmts[0].stmt.as_ref();
        Tree::of(stmt.and_then(|s| s.node.as_ref()).expect("a statement"))
    }

    #[test]
    fn sees_inside_what_pg_query_walker_skips() {
        let t = tree(
            "SELECT ARRAY[random()], (gen_random_uuid()::text COLLATE \"C\"), (f(a)).x[g(b)], \
             pg_catalog.clock_timestamp(), t.*, s.t.c",
        );
        let mut f = t.function_names();
        f.sort();
        assert_eq!(
            f,
            ["clock_timestamp", "f", "g", "gen_random_uuid", "random"]
        );
        let mut c = t.column_names();
        c.sort();
        assert_eq!(c, ["a", "b", "c"]);
        assert!(tree("SELECT x FROM (VALUES (1)) v(x) WHERE EXISTS (SELECT 1)").has(&["SubLink"]));
        assert!(!tree("SELECT 1 + 2").has(&["FuncCall", "SubLink", "RangeVar"]));
        assert!(tree("SELECT current_date").has(&["SqlValueFunction"]));
        assert!(tree("ALTER TABLE t ADD COLUMN c numeric(1 + 1)").has_expression_typmod());
        assert!(!tree("ALTER TABLE t ADD COLUMN c numeric(10, 2)").has_expression_typmod());
        let r = tree(
            "WITH w AS (SELECT 1) SELECT * FROM app.a JOIN b ON true, w \
                      WHERE EXISTS (SELECT 1 FROM c)",
        )
        .relations();
        assert_eq!(
            r,
            [
                ("app".into(), "a".into()),
                (String::new(), "b".into()),
                (String::new(), "c".into())
            ]
        );
    }
}
