//! SQL text for plan steps. Identifiers always go through `quote`; expressions and
//! types come from the PostgreSQL deparser (the parser's own printing of user SQL).

use crate::pg::ir::{ColumnDef, ConstraintDef, ConstraintKind, QualName};
use crate::sql::quote::{ident, ident_list, literal, qual};

/// `ALTER TABLE t <clause>`.
pub fn alter_table(table: &QualName, clause: &str) -> String {
    format!("ALTER TABLE {} {clause}", qual(table))
}

/// A column definition. `with_default` / `with_not_null` let a plan add them later.
pub fn column_def(c: &ColumnDef, with_default: bool, with_not_null: bool) -> String {
    let mut s = format!("{} {}", ident(&c.name), c.ty.sql);
    if let Some(g) = &c.generated {
        s.push_str(&format!(
            " GENERATED ALWAYS AS ({}){}",
            g.expr.sql,
            if g.stored { " STORED" } else { " VIRTUAL" }
        ));
    }
    if let Some(id) = &c.identity {
        s.push_str(&format!(
            " GENERATED {} AS IDENTITY",
            if id == "always" {
                "ALWAYS"
            } else {
                "BY DEFAULT"
            }
        ));
    }
    if with_default {
        if let Some(d) = &c.default {
            s.push_str(&format!(" DEFAULT {}", d.sql));
        }
    }
    if with_not_null && c.not_null && c.identity.is_none() {
        s.push_str(" NOT NULL");
    }
    s
}

/// `CONSTRAINT name <body> [NOT VALID]`.
pub fn constraint(name: &str, c: &ConstraintDef, not_valid: bool) -> String {
    let body = constraint_body(c);
    let deferrable = if c.deferrable { " DEFERRABLE" } else { "" };
    let nv = if not_valid { " NOT VALID" } else { "" };
    format!("CONSTRAINT {} {body}{deferrable}{nv}", ident(name))
}

/// The constraint itself, as `pg_get_constraintdef` prints it (`CHECK (...)`, `FOREIGN KEY ...`).
pub fn constraint_body(c: &ConstraintDef) -> String {
    match &c.kind {
        ConstraintKind::Check { expr } => format!("CHECK ({})", expr.sql),
        ConstraintKind::ForeignKey {
            columns,
            ref_table,
            ref_columns,
            actions_sql,
        } => {
            let refcols = if ref_columns.is_empty() {
                String::new()
            } else {
                format!(" ({})", ident_list(ref_columns))
            };
            format!(
                "FOREIGN KEY ({}) REFERENCES {}{refcols}{actions_sql}",
                ident_list(columns),
                qual(&ref_table.resolved())
            )
        }
        ConstraintKind::Unique {
            columns,
            using_index,
            nulls_not_distinct,
        } => match using_index {
            Some(ix) => format!("UNIQUE USING INDEX {}", ident(ix)),
            None => format!(
                "UNIQUE{} ({})",
                if *nulls_not_distinct {
                    " NULLS NOT DISTINCT"
                } else {
                    ""
                },
                ident_list(columns)
            ),
        },
        ConstraintKind::PrimaryKey {
            columns,
            using_index,
        } => match using_index {
            Some(ix) => format!("PRIMARY KEY USING INDEX {}", ident(ix)),
            None => format!("PRIMARY KEY ({})", ident_list(columns)),
        },
        ConstraintKind::Exclude => "EXCLUDE".to_owned(),
        ConstraintKind::NotNull { column } => format!("NOT NULL {}", ident(column)),
    }
}

/// `EXISTS (constraint name on table [validated])` as a boolean query.
pub fn constraint_exists(table: &QualName, name: &str, validated: bool) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = {} AND conname = {}{})",
        crate::sql::quote::regclass(table),
        literal(name),
        if validated { " AND convalidated" } else { "" }
    )
}

/// A boolean query: the column exists on the table.
pub fn column_exists(table: &QualName, column: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped)",
        crate::sql::quote::regclass(table),
        literal(column)
    )
}

/// A boolean query: the column is NOT NULL.
pub fn column_not_null(table: &QualName, column: &str) -> String {
    format!(
        "SELECT COALESCE((SELECT attnotnull FROM pg_catalog.pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped), false)",
        crate::sql::quote::regclass(table),
        literal(column)
    )
}

/// A boolean query: a valid index of that name exists in the table's schema.
pub fn valid_index_exists(table: &QualName, index: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = {} AND c.relname = {} AND i.indisvalid)",
        crate::sql::quote::regclass(table),
        literal(index)
    )
}

/// A name of at most 63 bytes (PostgreSQL's NAMEDATALEN - 1). A longer one keeps its
/// first bytes (cut at a char boundary) and ends in a hash of the whole name: cut alone,
/// two long names sharing a start would become one, and `<63-byte column>_zd_new` the
/// column itself.
pub fn short_name(name: &str) -> String {
    const MAX: usize = 63;
    if name.len() <= MAX {
        return name.to_owned();
    }
    // FNV-1a: stable across Rust releases, as the names are stored in plans.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut keep = MAX - 9;
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}_{:08x}", &name[..keep], hash as u32)
}

#[cfg(test)]
mod tests {
    use super::short_name;

    #[test]
    fn long_names_stay_distinct_within_63_bytes() {
        let a = format!("{}_a", "x".repeat(58));
        let b = format!("{}_b", "x".repeat(58));
        let (na, nb) = (
            short_name(&format!("{a}_zd_new")),
            short_name(&format!("{b}_zd_new")),
        );
        assert_ne!(na, nb);
        let full = "c".repeat(63);
        let tmp = short_name(&format!("{full}_zd_new"));
        assert_ne!(tmp, full, "the new column is not the old one");
        let wide = "é".repeat(40);
        for n in [na, nb, tmp, short_name(&wide)] {
            assert!(n.len() <= 63, "{n}");
        }
        assert_eq!(short_name("zd_sync_t_c"), "zd_sync_t_c");
    }
}
