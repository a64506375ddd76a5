//! The only place identifiers and literals are quoted.
//!
//! Every identifier zerodown puts into SQL goes through [`ident`] or [`qual`], always
//! quoted, so user-supplied names can never change the statement's meaning.

use crate::pg::ir::QualName;

/// A PostgreSQL identifier, always double-quoted (embedded quotes doubled).
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A MySQL/MariaDB identifier, always backquoted (embedded backquotes doubled): valid
/// whatever the server's `sql_mode` (ANSI_QUOTES or not).
pub fn mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A MySQL/MariaDB `db.table` (or `table`) name as zerodown shows it
/// ([`crate::sql::name::split_shown`]), each part backquoted.
pub fn mysql_table(name: &str) -> String {
    match crate::sql::name::split_shown(name) {
        (Some(db), t) => format!("{}.{}", mysql_ident(&db), mysql_ident(&t)),
        (None, t) => mysql_ident(&t),
    }
}

/// A MySQL/MariaDB string value as a hex literal converted to utf8mb4: its meaning does
/// not depend on `sql_mode` (NO_BACKSLASH_ESCAPES, ANSI_QUOTES) or on any character in it.
pub fn mysql_literal(value: &str) -> String {
    let hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
    if hex.is_empty() {
        return "''".into();
    }
    format!("CONVERT(X'{hex}' USING utf8mb4)")
}

/// A possibly schema-qualified name, each part quoted.
pub fn qual(name: &QualName) -> String {
    match &name.schema {
        Some(s) => format!("{}.{}", ident(s), ident(&name.name)),
        None => ident(&name.name),
    }
}

/// A comma-separated list of quoted identifiers.
pub fn ident_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A string literal, standard-conforming (`'` doubled). Backslashes are plain
/// characters under `standard_conforming_strings = on`, the default since 9.1; an
/// E'' prefix is used when the value has one, so the meaning never depends on it.
pub fn literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// The text of a regclass literal for a table: `'"s"."t"'::regclass`.
pub fn regclass(name: &QualName) -> String {
    format!("{}::regclass", literal(&qual(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_names() {
        assert_eq!(ident("users"), "\"users\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(ident("Mixed Case"), "\"Mixed Case\"");
        assert_eq!(qual(&QualName::new(Some("app"), "t")), "\"app\".\"t\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("a\\b"), "E'a\\\\b'");
        assert_eq!(
            regclass(&QualName::new(Some("s"), "o'k")),
            "'\"s\".\"o''k\"'::regclass"
        );
    }
}
