//! Synthetic rows for rehearsals: SQL that fills a table with rows whose values respect
//! the column types, NOT NULL, unique indexes, foreign keys and CHECK constraints. Pure:
//! the caller runs the statements, parents first ([`fill_order`]).
//!
//! Row `k` of a table gets, in every column that is part of a key (primary key, unique
//! index), a value that is a function of `k` alone and different for every `k`; a
//! foreign key column of a child picks a row `k'` of its parent and computes the same
//! function, so it always hits an existing key. Other columns get plausible random
//! values, their default when they have one, and NULLs at the rate `pg_stats` measured.
//! CHECK constraints filter the rows: a row they reject is left out, never inserted wrong
//! (a parent's left-out row is a gap a child may point at: that insert then fails, naming
//! the foreign key).

use std::collections::{BTreeMap, BTreeSet};

use crate::pg::catalog::{ConstraintType, Table};
use crate::pg::ir::{QualName, TypeRef};
use crate::pg::parse::rewrite::uses_column;
use crate::sql::quote::{ident, qual};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    #[error("{table}.{column} is {ty} and {why}, and zerodown cannot generate values of that type; give the column a default, or rehearse on a scratch database holding a copy of the data")]
    NoGenerator {
        table: String,
        column: String,
        ty: String,
        why: &'static str,
    },
    #[error(
        "{table}.{column} ({ty}) is part of a unique key, but {rows} rows do not fit in its type"
    )]
    KeyTooNarrow {
        table: String,
        column: String,
        ty: String,
        rows: u64,
    },
    #[error("{table} references {parent}, which is not filled: add it to the rehearsal's tables")]
    MissingParent { table: String, parent: String },
    #[error("foreign keys form a cycle through {0}: fill those tables from a copy of the data")]
    Cycle(String),
}

/// The order to fill `tables` in: every table after the tables its foreign keys reference.
pub fn fill_order(tables: &[&Table]) -> Result<Vec<QualName>, SynthError> {
    let names: BTreeSet<&QualName> = tables.iter().map(|t| &t.name).collect();
    let mut parents: BTreeMap<&QualName, BTreeSet<&QualName>> = BTreeMap::new();
    for t in tables {
        let mut ps = BTreeSet::new();
        for fk in foreign_keys(t) {
            let Some(parent) = &fk.ref_table else {
                continue;
            };
            if parent == &t.name {
                continue; // self-references are filled within the table
            }
            if !names.contains(parent) {
                return Err(SynthError::MissingParent {
                    table: t.name.to_string(),
                    parent: parent.to_string(),
                });
            }
            ps.insert(parent);
        }
        parents.insert(&t.name, ps);
    }
    let mut order: Vec<QualName> = Vec::new();
    while order.len() < tables.len() {
        let ready: Vec<&QualName> = parents
            .iter()
            .filter(|(n, ps)| !order.contains(n) && ps.iter().all(|p| order.contains(p)))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let stuck = parents
                .keys()
                .find(|n| !order.contains(n))
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(SynthError::Cycle(stuck));
        }
        order.extend(ready.into_iter().cloned());
    }
    Ok(order)
}

/// An INSERT of rows `first..=last` of `t` (row numbers, so a large table can be filled
/// in chunks). `rows_of` gives the row count planned for each parent table.
pub fn fill_sql(
    t: &Table,
    first: u64,
    last: u64,
    rows_of: &dyn Fn(&QualName) -> Option<u64>,
) -> Result<String, SynthError> {
    insert_sql(
        t,
        &format!("generate_series({first}, {last}) g"),
        last,
        rows_of,
    )
}

/// An INSERT of the one row whose number is bound to `$1` (int8): what a synthetic
/// client inserts, with keys above those filled so they never collide.
pub fn insert_one_sql(
    t: &Table,
    rows_of: &dyn Fn(&QualName) -> Option<u64>,
) -> Result<String, SynthError> {
    insert_sql(t, "(SELECT $1::int8 AS g) one_row", 0, rows_of)
}

/// The INSERT of the rows numbered by column `g` of `from`; `last` is the highest row
/// number (to refuse keys whose type cannot hold it; 0: not known).
fn insert_sql(
    t: &Table,
    from: &str,
    last: u64,
    rows_of: &dyn Fn(&QualName) -> Option<u64>,
) -> Result<String, SynthError> {
    let keys: BTreeSet<&str> = t
        .indexes
        .iter()
        .filter(|i| i.unique || i.primary)
        .flat_map(|i| i.columns.iter().map(String::as_str))
        .collect();
    let fk_of: BTreeMap<&str, (&QualName, usize)> = foreign_keys(t)
        .flat_map(|fk| {
            let parent = fk.ref_table.as_ref();
            fk.columns
                .iter()
                .enumerate()
                .filter_map(move |(i, c)| parent.map(|p| (c.as_str(), (p, i))))
        })
        .collect();
    let err = |column: &str, ty: &TypeRef, why| SynthError::NoGenerator {
        table: t.name.to_string(),
        column: column.to_owned(),
        ty: ty.sql.clone(),
        why,
    };
    let mut columns: Vec<(&str, String)> = Vec::new();
    for c in &t.columns {
        // Sequences number a fresh table's rows 1..n in order, as row k would be.
        let from_sequence = c.default.as_deref().is_some_and(|d| d.contains("nextval("));
        if c.generated || c.identity || from_sequence {
            continue;
        }
        let value = if let Some((parent, _)) = fk_of.get(c.name.as_str()) {
            if *parent == &t.name {
                // A row points at itself: always present, whatever the chunking.
                key_value(&c.ty, "g").ok_or_else(|| err(&c.name, &c.ty, "a foreign key"))?
            } else {
                let n = rows_of(parent).ok_or_else(|| SynthError::MissingParent {
                    table: t.name.to_string(),
                    parent: parent.to_string(),
                })?;
                let k = format!("(1 + (g * 7919 + 13) % {})", n.max(1));
                key_value(&c.ty, &k).ok_or_else(|| err(&c.name, &c.ty, "a foreign key"))?
            }
        } else if keys.contains(c.name.as_str()) {
            if let Some(max) = key_capacity(&c.ty) {
                if last > max {
                    return Err(SynthError::KeyTooNarrow {
                        table: t.name.to_string(),
                        column: c.name.clone(),
                        ty: c.ty.sql.clone(),
                        rows: last,
                    });
                }
            }
            key_value(&c.ty, "g").ok_or_else(|| err(&c.name, &c.ty, "part of a unique key"))?
        } else if c.default.is_some() {
            continue; // the default fills it, as it would for the application's rows
        } else {
            match (random_value(&c.ty), c.not_null) {
                (Some(v), true) => v,
                (Some(v), false) => match c.null_frac.filter(|f| *f > 0.0) {
                    Some(f) => format!("CASE WHEN random() < {f} THEN NULL ELSE {v} END"),
                    None => v,
                },
                (None, false) => "NULL".to_owned(),
                (None, true) => return Err(err(&c.name, &c.ty, "NOT NULL without a default")),
            }
        };
        columns.push((c.name.as_str(), format!("({value})::{}", c.ty.sql)));
    }
    // CHECK constraints filter the rows, when they only read columns generated here.
    let generated: BTreeSet<&str> = columns.iter().map(|(c, _)| *c).collect();
    let checks: Vec<String> = t
        .constraints
        .iter()
        .filter(|c| c.kind == ConstraintType::Check)
        .filter_map(|c| c.check_expr.as_deref().map(check_body))
        .filter(|expr| {
            t.columns
                .iter()
                .all(|c| generated.contains(c.name.as_str()) || !uses_column(expr, &c.name))
        })
        .collect();
    let names: Vec<String> = columns.iter().map(|(c, _)| ident(c)).collect();
    let values: Vec<String> = columns
        .iter()
        .map(|(c, v)| format!("{v} AS {}", ident(c)))
        .collect();
    let filter = if checks.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", checks.join(" AND "))
    };
    if columns.is_empty() {
        return Ok(format!("INSERT INTO {} SELECT FROM {from}", qual(&t.name)));
    }
    Ok(format!(
        "INSERT INTO {} ({}) SELECT {} FROM (SELECT {} FROM {from}) zd_rows{filter}",
        qual(&t.name),
        names.join(", "),
        names.join(", "),
        values.join(", "),
    ))
}

fn foreign_keys(t: &Table) -> impl Iterator<Item = &crate::pg::catalog::Constraint> {
    t.constraints
        .iter()
        .filter(|c| c.kind == ConstraintType::ForeignKey)
}

/// `CHECK ((a > 0)) NOT VALID` -> `((a > 0))`.
fn check_body(def: &str) -> String {
    let body = def.trim().strip_prefix("CHECK").unwrap_or(def).trim();
    body.strip_suffix("NOT VALID")
        .unwrap_or(body)
        .trim()
        .to_owned()
}

/// A value of `ty` that is a function of the row number `k` and differs for every `k`.
fn key_value(ty: &TypeRef, k: &str) -> Option<String> {
    if ty.array {
        return None;
    }
    Some(match ty.name.as_str() {
        "int2" | "int4" | "int8" | "numeric" | "float4" | "float8" | "oid" => k.to_owned(),
        "text" | "varchar" | "bpchar" | "name" | "citext" => format!("({k})::text"),
        "uuid" => format!("md5(({k})::text)::uuid"),
        "timestamp" | "timestamptz" => {
            format!("timestamp '2000-01-01' + ({k}) * interval '1 second'")
        }
        "date" => format!("date '2000-01-01' + ({k})::int"),
        "bytea" => format!("convert_to(({k})::text, 'UTF8')"),
        _ => return None,
    })
}

/// The largest row number a key of `ty` holds, when it is small enough to matter.
fn key_capacity(ty: &TypeRef) -> Option<u64> {
    match ty.name.as_str() {
        "int2" => Some(i16::MAX as u64),
        "int4" => Some(i32::MAX as u64),
        // A varchar(n) key holds the row number's digits.
        "varchar" | "bpchar" => ty
            .mods
            .first()
            .and_then(|n| u32::try_from(*n).ok())
            .map(|n| 10u64.saturating_pow(n.min(19)) - 1),
        _ => None,
    }
}

/// A plausible random value of `ty` (None: no generator for it).
fn random_value(ty: &TypeRef) -> Option<String> {
    if ty.array {
        return Some(format!("'{{}}'::{}", ty.sql));
    }
    let len = ty.mods.first().copied();
    Some(match ty.name.as_str() {
        "int2" => "(random() * 1000)::int".to_owned(),
        "int4" | "int8" => "(random() * 1000000)::bigint".to_owned(),
        "numeric" => match (ty.mods.first(), ty.mods.get(1)) {
            (Some(p), s) => {
                let s = s.copied().unwrap_or(0);
                let max = 10f64.powi(i32::try_from(p - s).unwrap_or(0).min(15)) - 1.0;
                format!("round((random() * {max})::numeric, {s})")
            }
            (None, _) => "round((random() * 1000000)::numeric, 2)".to_owned(),
        },
        "float4" | "float8" => "random() * 1000".to_owned(),
        "text" | "citext" | "name" => "md5(random()::text)".to_owned(),
        "varchar" | "bpchar" => match len {
            Some(n) => format!("left(md5(random()::text), {n})"),
            None => "md5(random()::text)".to_owned(),
        },
        "bool" => "random() < 0.5".to_owned(),
        "uuid" => "md5(random()::text)::uuid".to_owned(),
        "timestamp" | "timestamptz" => "now() - random() * interval '365 days'".to_owned(),
        "date" => "current_date - (random() * 365)::int".to_owned(),
        "time" | "timetz" => "time '00:00' + random() * interval '24 hours'".to_owned(),
        "interval" => "random() * interval '30 days'".to_owned(),
        "json" | "jsonb" => "json_build_object('v', (random() * 1000)::int)".to_owned(),
        "bytea" => "decode(md5(random()::text), 'hex')".to_owned(),
        "inet" | "cidr" => "('10.0.0.' || (random() * 254)::int)::inet".to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::catalog::{Column, Constraint, Index};

    fn ty(name: &str) -> TypeRef {
        TypeRef {
            name: name.to_owned(),
            mods: Vec::new(),
            array: false,
            sql: name.to_owned(),
        }
    }

    fn col(name: &str, t: &str, default: Option<&str>) -> Column {
        Column {
            name: name.to_owned(),
            ty: ty(t),
            not_null: true,
            default: default.map(str::to_owned),
            identity: false,
            generated: false,
            null_frac: None,
        }
    }

    fn table(name: &str, columns: Vec<Column>, fk_to: Option<&str>) -> Table {
        let mut t = Table::assumed(QualName::new(Some("public"), name));
        t.columns = columns;
        t.indexes.push(Index {
            name: format!("{name}_pkey"),
            columns: vec!["id".to_owned()],
            unique: true,
            primary: true,
            valid: true,
            bytes: None,
            constraint: None,
            definition: None,
        });
        if let Some(parent) = fk_to {
            t.constraints.push(Constraint {
                name: format!("{name}_fk"),
                kind: ConstraintType::ForeignKey,
                columns: vec!["ref_id".to_owned()],
                validated: true,
                check_expr: None,
                definition: None,
                ref_table: Some(QualName::new(Some("public"), parent)),
            });
        }
        t
    }

    #[test]
    fn keys_defaults_sequences_and_foreign_keys() {
        let child = table(
            "child",
            vec![
                col("id", "int8", Some("nextval('child_id_seq'::regclass)")),
                col("ref_id", "uuid", None),
                col("at", "timestamptz", Some("now()")),
                col("n", "int4", None),
            ],
            Some("parent"),
        );
        let sql = fill_sql(&child, 1, 10, &|_| Some(500)).expect("sql");
        assert_eq!(
            sql,
            "INSERT INTO \"public\".\"child\" (\"ref_id\", \"n\") SELECT \"ref_id\", \"n\" FROM (SELECT \
             (md5(((1 + (g * 7919 + 13) % 500))::text)::uuid)::uuid AS \"ref_id\", \
             ((random() * 1000000)::bigint)::int4 AS \"n\" FROM generate_series(1, 10) g) zd_rows"
        );
    }

    #[test]
    fn order_follows_foreign_keys_and_refuses_cycles_and_missing_parents() {
        let id = || col("id", "int4", None);
        let refc = || col("ref_id", "int4", None);
        let a = table("a", vec![id()], None);
        let b = table("b", vec![id(), refc()], Some("a"));
        let c = table("c", vec![id(), refc()], Some("b"));
        let order = fill_order(&[&c, &b, &a]).expect("order");
        let names: Vec<&str> = order.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(matches!(
            fill_order(&[&c, &b]),
            Err(SynthError::MissingParent { .. })
        ));
        let x = table("x", vec![id(), refc()], Some("y"));
        let y = table("y", vec![id(), refc()], Some("x"));
        assert!(matches!(fill_order(&[&x, &y]), Err(SynthError::Cycle(_))));
    }
}
