//! Canonical PostgreSQL type names and the binary-coercibility rules for ALTER COLUMN TYPE.

use crate::capabilities;
use crate::engine::ServerProfile;
use crate::pg::ir::TypeRef;

/// Maps a type name as written (or as in `pg_type.typname`) to PostgreSQL's internal name.
pub fn canonical_type_name(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("pg_catalog.").unwrap_or(&n);
    match n {
        "int" | "integer" => "int4",
        "bigint" => "int8",
        "smallint" => "int2",
        "serial" | "serial4" => "serial",
        "bigserial" | "serial8" => "bigserial",
        "smallserial" | "serial2" => "smallserial",
        "character varying" => "varchar",
        "character" | "char" => "bpchar",
        "decimal" => "numeric",
        "real" => "float4",
        "double precision" | "float" => "float8",
        "boolean" => "bool",
        "timestamp without time zone" => "timestamp",
        "timestamp with time zone" => "timestamptz",
        "time without time zone" => "time",
        "time with time zone" => "timetz",
        "bit varying" => "varbit",
        other => other,
    }
    .to_owned()
}

/// Decodes `pg_attribute.atttypmod` into the modifiers a user would write.
pub fn decode_typmod(typname: &str, typmod: i32) -> Vec<i64> {
    if typmod < 0 {
        return Vec::new();
    }
    let t = i64::from(typmod);
    match typname {
        "varchar" | "bpchar" => vec![t - 4],
        "numeric" => {
            let v = t - 4;
            vec![(v >> 16) & 0xffff, v & 0xffff]
        }
        // timestamp/time/interval precision and bit lengths are stored as is.
        _ => vec![t],
    }
}

/// Whether a type maps to a sequence-backed default (serial family).
pub fn is_serial(ty: &TypeRef) -> bool {
    matches!(ty.name.as_str(), "serial" | "bigserial" | "smallserial")
}

/// The integer type a serial pseudo-type stands for.
pub fn serial_base(ty: &TypeRef) -> &'static str {
    match ty.name.as_str() {
        "bigserial" => "bigint",
        "smallserial" => "smallint",
        _ => "integer",
    }
}

/// What changing a column's type does to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeChange {
    /// Same type and modifiers: nothing to do.
    NoOp,
    /// Binary-coercible: no table rewrite; indexes on the column are kept.
    InPlace,
    /// Binary-coercible, but indexes on the column are rebuilt (different operator class).
    InPlaceIndexRebuild,
    /// The table and its indexes are rewritten.
    Rewrite,
}

/// Decides whether `old -> new` rewrites, per the ALTER TABLE notes in the manual
/// (binary-coercible types, typmod relaxations with planner "support" functions).
pub fn type_change(old: &TypeRef, new: &TypeRef, p: &ServerProfile) -> TypeChange {
    if old.array != new.array {
        return TypeChange::Rewrite;
    }
    if old.name == new.name && old.mods == new.mods {
        return TypeChange::NoOp;
    }
    let widened = |old: &[i64], new: &[i64]| -> bool {
        // Unbounded new type, or every bound at least as large.
        new.is_empty() || (!old.is_empty() && old.len() == new.len() && new[0] >= old[0])
    };
    match (old.name.as_str(), new.name.as_str()) {
        ("varchar", "varchar") if widened(&old.mods, &new.mods) => TypeChange::InPlace,
        ("varchar", "text") => TypeChange::InPlace,
        ("text", "varchar") if new.mods.is_empty() => TypeChange::InPlace,
        ("numeric", "numeric") => {
            // Precision may grow, the scale must stay (numeric_support).
            if new.mods.is_empty()
                || (old.mods.len() == 2
                    && new.mods.len() == 2
                    && new.mods[0] >= old.mods[0]
                    && new.mods[1] == old.mods[1])
            {
                TypeChange::InPlace
            } else {
                TypeChange::Rewrite
            }
        }
        ("varbit", "varbit") if widened(&old.mods, &new.mods) => TypeChange::InPlace,
        (a, b)
            if a == b
                && matches!(
                    a,
                    "timestamp" | "timestamptz" | "time" | "timetz" | "interval"
                ) =>
        {
            if widened(&old.mods, &new.mods) {
                TypeChange::InPlace
            } else {
                TypeChange::Rewrite
            }
        }
        ("cidr", "inet") => TypeChange::InPlace,
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp")
            if capabilities::timestamptz_cast_without_rewrite(p) && old.mods == new.mods =>
        {
            TypeChange::InPlaceIndexRebuild
        }
        _ => TypeChange::Rewrite,
    }
}

/// timestamp <-> timestamptz: whether the rows are kept depends on the session TimeZone.
pub fn timestamp_zone_change(old: &TypeRef, new: &TypeRef) -> bool {
    matches!(
        (old.name.as_str(), new.name.as_str()),
        ("timestamp", "timestamptz") | ("timestamptz", "timestamp")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, mods: &[i64]) -> TypeRef {
        TypeRef {
            name: name.into(),
            mods: mods.to_vec(),
            array: false,
            sql: name.into(),
        }
    }

    #[test]
    fn coercible_changes() {
        let mut p = ServerProfile::postgres(15, 0);
        p.settings.timezone = Some("UTC".into());
        use TypeChange::*;
        assert_eq!(
            type_change(&t("varchar", &[20]), &t("varchar", &[40]), &p),
            InPlace
        );
        assert_eq!(
            type_change(&t("varchar", &[40]), &t("varchar", &[20]), &p),
            Rewrite
        );
        assert_eq!(
            type_change(&t("varchar", &[40]), &t("text", &[]), &p),
            InPlace
        );
        assert_eq!(
            type_change(&t("text", &[]), &t("varchar", &[10]), &p),
            Rewrite
        );
        assert_eq!(
            type_change(&t("numeric", &[10, 2]), &t("numeric", &[12, 2]), &p),
            InPlace
        );
        assert_eq!(
            type_change(&t("numeric", &[10, 2]), &t("numeric", &[12, 3]), &p),
            Rewrite
        );
        assert_eq!(type_change(&t("int4", &[]), &t("int8", &[]), &p), Rewrite);
        assert_eq!(
            type_change(&t("timestamp", &[]), &t("timestamptz", &[]), &p),
            InPlaceIndexRebuild
        );
        assert_eq!(
            type_change(
                &t("timestamp", &[]),
                &t("timestamptz", &[]),
                &ServerProfile::postgres(11, 0)
            ),
            Rewrite
        );
        assert_eq!(type_change(&t("int4", &[]), &t("int4", &[]), &p), NoOp);
    }

    #[test]
    fn typmods() {
        assert_eq!(decode_typmod("varchar", 24), vec![20]);
        assert_eq!(decode_typmod("numeric", ((10 << 16) | 2) + 4), vec![10, 2]);
        assert_eq!(decode_typmod("text", -1), Vec::<i64>::new());
        assert_eq!(canonical_type_name("character varying"), "varchar");
    }
}
