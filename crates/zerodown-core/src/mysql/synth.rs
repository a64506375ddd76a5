//! Synthetic rows for MySQL/MariaDB rehearsals: SQL that fills a table with rows numbered
//! `n`, each column an expression of `n` that fits its type. Pure: the caller reads the
//! columns from `information_schema`, runs the statements, parents first.
//!
//! Key columns (the primary key, single-column unique indexes) get `n` itself or a text
//! that starts with it, so they never collide; a foreign key column picks a row of its
//! parent (whose key is its row number, filled the same way). Long text gets a small JSON
//! object, which is also what MariaDB's JSON columns (LONGTEXT with a JSON_VALID check)
//! accept. Generated columns are left to the server, and columns of types with no
//! generator to their default (or NULL); a NOT NULL one without a default is an error.

use crate::sql::quote::mysql_ident;

/// Rows per fill statement at most: the row numbers come from five cross-joined digits.
pub const MAX_CHUNK: u64 = 100_000;

/// A column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `DATA_TYPE`, lower case: `int`, `varchar`, `longtext`, `enum`.
    pub data_type: String,
    /// `COLUMN_TYPE`, lower case: `int(10) unsigned`, `enum('a','b')`.
    pub column_type: String,
    pub nullable: bool,
    /// `EXTRA` says VIRTUAL/STORED GENERATED.
    pub generated: bool,
    pub auto_increment: bool,
    pub has_default: bool,
    /// `CHARACTER_MAXIMUM_LENGTH` (characters or bytes).
    pub max_length: Option<u64>,
    pub precision: Option<u64>,
    pub scale: Option<u64>,
    /// Alone in the primary key or a unique index: its values must differ.
    pub unique: bool,
    /// The table and row count a foreign key on this column points into.
    pub references: Option<(String, u64)>,
}

/// A table to fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FillTable {
    pub name: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    #[error("{table}.{column} is {ty}, NOT NULL without a default, and zerodown cannot generate values of that type; give the column a default, or rehearse on a copy of the data")]
    NoGenerator {
        table: String,
        column: String,
        ty: String,
    },
    #[error("{table}.{column} references its own table: zerodown fills such columns only when they are nullable")]
    SelfReference { table: String, column: String },
}

/// `INSERT` of rows `first..=last` (at most [`MAX_CHUNK`] of them).
pub fn fill_sql(t: &FillTable, first: u64, last: u64) -> Result<String, SynthError> {
    debug_assert!(last + 1 - first <= MAX_CHUNK);
    let digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let numbers = format!(
        "(SELECT {first} + d0.d + 10 * d1.d + 100 * d2.d + 1000 * d3.d + 10000 * d4.d AS n \
         FROM {digit} d0 CROSS JOIN {digit} d1 CROSS JOIN {digit} d2 CROSS JOIN {digit} d3 CROSS JOIN {digit} d4) AS seq"
    );
    insert(t, &numbers, &format!(" WHERE n <= {last}"))
}

/// `INSERT` of one row whose number is the statement's one `?` parameter (for the
/// synthetic clients' inserts on fresh keys).
pub fn insert_one_sql(t: &FillTable) -> Result<String, SynthError> {
    insert(t, "(SELECT CAST(? AS SIGNED) AS n) AS seq", "")
}

fn insert(t: &FillTable, numbers: &str, filter: &str) -> Result<String, SynthError> {
    let mut names = Vec::new();
    let mut values = Vec::new();
    for c in &t.columns {
        if let Some(v) = value(t, c)? {
            names.push(mysql_ident(&c.name));
            values.push(v);
        }
    }
    Ok(format!(
        "INSERT INTO {} ({}) SELECT {} FROM {numbers}{filter}",
        mysql_ident(&t.name),
        names.join(", "),
        values.join(", ")
    ))
}

/// The expression of `n` for column `c`, or None to leave it to the server.
fn value(t: &FillTable, c: &Column) -> Result<Option<String>, SynthError> {
    if c.generated || (c.auto_increment && !c.unique) {
        return Ok(None);
    }
    if let Some((parent, rows)) = &c.references {
        if parent == &t.name {
            return if c.nullable {
                Ok(None)
            } else {
                Err(SynthError::SelfReference {
                    table: t.name.clone(),
                    column: c.name.clone(),
                })
            };
        }
        return Ok(Some(format!("1 + MOD(n * 7919, {})", (*rows).max(1))));
    }
    let scrambled = |cap: u64| format!("MOD(n * 7919, {})", cap.max(1));
    let unsigned = c.column_type.contains("unsigned");
    let expr = match c.data_type.as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
            let bits = match c.data_type.as_str() {
                "tinyint" => 8,
                "smallint" => 16,
                "mediumint" => 24,
                "int" | "integer" => 32,
                _ => 64,
            };
            let max = if unsigned {
                (1u128 << bits) - 1
            } else {
                (1u128 << (bits - 1)) - 1
            };
            let cap = u64::try_from(max.min(1_000_000)).unwrap_or(1_000_000);
            // A 0/1 flag (tinyint(1)) stays 0 or 1.
            if c.column_type.starts_with("tinyint(1)") {
                "MOD(n, 2)".to_owned()
            } else if c.unique {
                "n".to_owned()
            } else {
                scrambled(cap)
            }
        }
        "decimal" | "numeric" => {
            let whole = c
                .precision
                .unwrap_or(10)
                .saturating_sub(c.scale.unwrap_or(0));
            let cap = 10u64.pow(u32::try_from(whole.min(9)).unwrap_or(9));
            if c.unique {
                "n".to_owned()
            } else {
                scrambled(cap)
            }
        }
        "float" | "double" | "real" => format!("{} / 7.0", scrambled(100_000)),
        "char" | "varchar" => {
            let len = c.max_length.unwrap_or(1).max(1);
            format!("LEFT(CONCAT(n, '-', MD5(n)), {len})")
        }
        "tinytext" => "CONCAT(n, '-', MD5(n))".to_owned(),
        "text" | "mediumtext" | "longtext" => "JSON_OBJECT('n', n, 'note', MD5(n))".to_owned(),
        "binary" | "varbinary" => {
            let len = c.max_length.unwrap_or(1).max(1);
            format!("LEFT(CONCAT(n, UNHEX(MD5(n))), {len})")
        }
        "tinyblob" | "blob" | "mediumblob" | "longblob" => "UNHEX(MD5(n))".to_owned(),
        "date" => format!("DATE('2020-01-01') + INTERVAL {} DAY", scrambled(2000)),
        "datetime" | "timestamp" => format!(
            "TIMESTAMP('2020-01-01 00:00:00') + INTERVAL {} SECOND",
            scrambled(157_680_000)
        ),
        "time" => format!("SEC_TO_TIME({})", scrambled(86_400)),
        "year" => "2000 + MOD(n, 50)".to_owned(),
        "enum" => format!("1 + MOD(n, {})", enum_values(&c.column_type).max(1)),
        "set" => "1".to_owned(),
        "bit" => "MOD(n, 2)".to_owned(),
        "json" => "JSON_OBJECT('n', n, 'note', MD5(n))".to_owned(),
        "uuid" => "UUID()".to_owned(),
        _ if c.nullable || c.has_default => return Ok(None),
        _ => {
            return Err(SynthError::NoGenerator {
                table: t.name.clone(),
                column: c.name.clone(),
                ty: c.column_type.clone(),
            })
        }
    };
    Ok(Some(expr))
}

/// How many values `enum('a','b,c')` lists (commas inside quotes do not count).
fn enum_values(column_type: &str) -> u64 {
    let mut count = 0;
    let mut quoted = false;
    let mut chars = column_type.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                chars.next();
            }
            '\'' => {
                quoted = !quoted;
                if quoted {
                    count += 1;
                }
            }
            _ => {}
        }
    }
    count
}

/// The ordering of tables so that parents come before the children that reference them
/// (`parents_of` names each table's parents); a cycle is broken where it is found.
pub fn parents_first(names: &[String], parents_of: impl Fn(&str) -> Vec<String>) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut visiting: Vec<String> = Vec::new();
    fn visit(
        n: &str,
        names: &[String],
        parents_of: &dyn Fn(&str) -> Vec<String>,
        order: &mut Vec<String>,
        visiting: &mut Vec<String>,
    ) {
        if order.iter().any(|o| o == n) || visiting.iter().any(|v| v == n) {
            return;
        }
        visiting.push(n.to_owned());
        for p in parents_of(n) {
            if names.contains(&p) {
                visit(&p, names, parents_of, order, visiting);
            }
        }
        visiting.pop();
        order.push(n.to_owned());
    }
    for n in names {
        visit(n, names, &parents_of, &mut order, &mut visiting);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: &str, column_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
            column_type: column_type.into(),
            ..Column::default()
        }
    }

    #[test]
    fn keys_are_the_row_number_and_other_columns_fit_their_types() {
        let t = FillTable {
            name: "orders".into(),
            columns: vec![
                Column {
                    unique: true,
                    auto_increment: true,
                    ..col("id", "bigint", "bigint(20)")
                },
                Column {
                    references: Some(("customers".into(), 500)),
                    ..col("customer_id", "int", "int(11)")
                },
                Column {
                    max_length: Some(12),
                    ..col("code", "varchar", "varchar(12)")
                },
                col("state", "enum", "enum('new','paid, late','it''s')"),
                col("flag", "tinyint", "tinyint(1)"),
                col("small", "tinyint", "tinyint(4) unsigned"),
                Column {
                    generated: true,
                    ..col("total", "int", "int(11)")
                },
                Column {
                    has_default: true,
                    ..col("shape", "point", "point")
                },
            ],
        };
        let sql = fill_sql(&t, 1, 50_000).expect("sql");
        assert!(sql.starts_with(
            "INSERT INTO `orders` (`id`, `customer_id`, `code`, `state`, `flag`, `small`) SELECT n, 1 + MOD(n * 7919, 500), LEFT(CONCAT(n, '-', MD5(n)), 12), 1 + MOD(n, 3), MOD(n, 2), MOD(n * 7919, 255) FROM (SELECT 1 + d0.d"
        ), "{sql}");
        assert!(sql.ends_with(" WHERE n <= 50000"), "{sql}");
        let one = insert_one_sql(&t).expect("one");
        assert!(
            one.ends_with("FROM (SELECT CAST(? AS SIGNED) AS n) AS seq"),
            "{one}"
        );
    }

    #[test]
    fn a_required_column_of_an_unknown_type_is_an_error_naming_it() {
        let t = FillTable {
            name: "places".into(),
            columns: vec![col("shape", "geometry", "geometry")],
        };
        let e = fill_sql(&t, 1, 10).expect_err("no generator");
        assert!(
            e.to_string()
                .starts_with("places.shape is geometry, NOT NULL"),
            "{e}"
        );
        let t = FillTable {
            name: "tree".into(),
            columns: vec![Column {
                references: Some(("tree".into(), 10)),
                ..col("parent", "int", "int")
            }],
        };
        assert!(matches!(
            fill_sql(&t, 1, 10),
            Err(SynthError::SelfReference { .. })
        ));
    }

    #[test]
    fn parents_come_first_and_cycles_end() {
        let names: Vec<String> = ["c", "b", "a"].map(String::from).to_vec();
        let order = parents_first(&names, |n| match n {
            "c" => vec!["b".into()],
            "b" => vec!["a".into(), "c".into()],
            _ => vec![],
        });
        assert_eq!(order, ["a", "b", "c"]);
    }
}
