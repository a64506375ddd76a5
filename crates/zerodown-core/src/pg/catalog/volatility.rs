//! Function volatility, as `pg_proc.provolatile` reports it, for functions commonly
//! used in defaults when no live catalog is available.

use serde::Serialize;

/// `pg_proc.provolatile`: i (immutable) < s (stable) < v (volatile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    pub fn from_provolatile(c: &str) -> Volatility {
        match c {
            "i" => Volatility::Immutable,
            "s" => Volatility::Stable,
            _ => Volatility::Volatile,
        }
    }
}

/// Built-in functions seen in migrations, with their `provolatile` in PostgreSQL 11..18.
pub fn builtin_volatility(name: &str) -> Option<Volatility> {
    use Volatility::*;
    Some(match name {
        "gen_random_uuid" | "uuid_generate_v1" | "uuid_generate_v1mc" | "uuid_generate_v4"
        | "uuidv4" | "uuidv7" | "random" | "clock_timestamp" | "timeofday" | "nextval"
        | "setval" | "txid_current" | "pg_current_xact_id" | "gen_random_bytes"
        | "random_normal" => Volatile,
        "now"
        | "statement_timestamp"
        | "transaction_timestamp"
        | "current_setting"
        | "to_char"
        | "to_timestamp"
        | "current_database"
        | "current_schema"
        | "age" => Stable,
        "lower" | "upper" | "length" | "char_length" | "coalesce" | "concat" | "md5" | "abs"
        | "round" | "trim" | "btrim" | "ltrim" | "rtrim" | "substring" | "substr" | "replace"
        | "split_part" | "left" | "right" | "jsonb_build_object" | "json_build_object"
        | "jsonb_build_array" | "array_length" | "greatest" | "least" | "nullif" | "int4"
        | "int8" | "text" | "float8" | "numeric" | "make_date" | "date_trunc" | "uuid_nil" => {
            Immutable
        }
        _ => return None,
    })
}
