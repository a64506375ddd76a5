//! The parts of a MySQL `ALTER TABLE` read with sqlparser's tokenizer rather than its
//! parser: the statement's head and its operations split at top-level commas (so each
//! operation is parsed and planned on its own), and the table options sqlparser 0.59
//! does not parse (`FORCE`, `ENGINE=`, `ROW_FORMAT=`, `CONVERT TO CHARACTER SET`,
//! `RENAME INDEX|KEY`).

use std::fmt;

use sqlparser::tokenizer::Token;

use super::tokens::{locate, solid, solid_text, Located};

use crate::sql::quote::mysql_ident;

/// An `ALTER TABLE` operation read here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraOp {
    Force,
    Engine(String),
    RowFormat(String),
    ConvertCharset {
        charset: String,
        collate: Option<String>,
    },
    RenameIndex {
        from: String,
        to: String,
    },
}

impl fmt::Display for ExtraOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtraOp::Force => f.write_str("FORCE"),
            ExtraOp::Engine(e) => write!(f, "ENGINE={e}"),
            ExtraOp::RowFormat(r) => write!(f, "ROW_FORMAT={r}"),
            ExtraOp::ConvertCharset { charset, collate } => {
                write!(f, "CONVERT TO CHARACTER SET {charset}")?;
                match collate {
                    Some(c) => write!(f, " COLLATE {c}"),
                    None => Ok(()),
                }
            }
            ExtraOp::RenameIndex { from, to } => {
                write!(
                    f,
                    "RENAME INDEX {} TO {}",
                    mysql_ident(from),
                    mysql_ident(to)
                )
            }
        }
    }
}

/// Words and other tokens of a piece, whitespace and comments left out.
fn solid_tokens(sql: &str) -> Result<Vec<Token>, String> {
    Ok(solid(sql)?.into_iter().map(|t| t.token).collect())
}

fn upper(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// An identifier token: a bare word or a backquoted one.
fn ident(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.value.clone()),
        _ => None,
    }
}

/// A name made only of letters, digits and `_` (engines, row formats, charsets).
fn plain_name(t: Option<&Token>) -> Option<String> {
    let w = ident(t?)?;
    w.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then_some(w)
}

/// Whether the statement starts with `ALTER TABLE` (or `ALTER ONLINE|IGNORE TABLE`).
pub fn is_alter_table(sql: &str) -> bool {
    let Ok(tokens) = solid_tokens(sql) else {
        return false;
    };
    let words: Vec<String> = tokens.iter().take(3).filter_map(upper).collect();
    words.first().map(String::as_str) == Some("ALTER") && words.iter().skip(1).any(|w| w == "TABLE")
}

/// Whether the statement is `CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX`.
pub fn is_create_index(sql: &str) -> bool {
    let Ok(tokens) = solid_tokens(sql) else {
        return false;
    };
    let words: Vec<String> = tokens.iter().take(3).filter_map(upper).collect();
    match words.as_slice() {
        [create, index, ..] if create == "CREATE" && index == "INDEX" => true,
        [create, kind, index] => {
            create == "CREATE"
                && matches!(kind.as_str(), "UNIQUE" | "FULLTEXT" | "SPATIAL")
                && index == "INDEX"
        }
        _ => false,
    }
}

/// The table and the operations of an `ALTER TABLE`, split at top-level commas, each
/// operation the user's own text (comments inside it kept, those around it left out).
pub fn split_alter(sql: &str) -> Result<(String, Vec<String>), String> {
    let tokens = locate(sql).map_err(|e| e.message)?;
    let solid: Vec<&Located> = tokens.iter().filter(|t| t.is_solid()).collect();
    let mut i = 0;
    let mut words = Vec::new();
    while let Some(t) = solid.get(i) {
        i += 1;
        let w = t.keyword().unwrap_or_default();
        words.push(w.clone());
        if w == "TABLE" {
            break;
        }
    }
    if words.iter().any(|w| w == "ONLINE" || w == "IGNORE") {
        return Err("ALTER ONLINE / ALTER IGNORE TABLE is not modelled: write a plain ALTER TABLE (zerodown chooses the online algorithm)".into());
    }
    let mut table = Vec::new();
    loop {
        let t = solid.get(i).ok_or("ALTER TABLE without a table name")?;
        if t.keyword().as_deref() == Some("IF") {
            return Err("ALTER TABLE IF EXISTS is not modelled: name a table that exists".into());
        }
        table.push(ident(&t.token).ok_or("ALTER TABLE without a table name")?);
        i += 1;
        match solid.get(i).map(|t| &t.token) {
            Some(Token::Period) => i += 1,
            _ => break,
        }
    }
    let rest = solid.get(i).map_or(tokens.len(), |first| {
        tokens
            .iter()
            .position(|t| t.at.start == first.at.start)
            .unwrap_or(tokens.len())
    });
    let mut pieces = Vec::new();
    let mut start = rest;
    let mut depth = 0i32;
    for (k, t) in tokens.iter().enumerate().skip(rest) {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                pieces.push(solid_text(sql, &tokens[start..k]).unwrap_or_default());
                start = k + 1;
            }
            _ => {}
        }
    }
    pieces.push(solid_text(sql, &tokens[start..]).unwrap_or_default());
    if pieces.iter().any(|p| p.is_empty()) {
        return Err("ALTER TABLE with an empty operation (a stray comma, or nothing to do)".into());
    }
    Ok((
        table
            .iter()
            .map(|p| crate::sql::name::shown_part(p).into_owned())
            .collect::<Vec<_>>()
            .join("."),
        pieces.into_iter().map(str::to_owned).collect(),
    ))
}

/// The statement as sqlparser can read it, for the analysis only (what is sent is always
/// the user's text): the column attribute `BINARY` (`VARCHAR(10) BINARY`, the `_bin`
/// collation of the column's character set) becomes that `COLLATE`, the `ARRAY` of a
/// multi-valued index (`CAST(… AS UNSIGNED ARRAY)`) is left out, and `RENAME [AS] t2`
/// gets the `TO` sqlparser needs.
pub fn readable(sql: &str) -> std::borrow::Cow<'_, str> {
    // Most statements have none of the words: no second tokenizing for them.
    let has = |w: &str| {
        sql.as_bytes()
            .windows(w.len())
            .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
    };
    if !(has("BINARY") || has("ARRAY") || has("RENAME")) {
        return sql.into();
    }
    let Ok(tokens) = locate(sql) else {
        return sql.into();
    };
    let solid: Vec<&Located> = tokens.iter().filter(|t| t.is_solid()).collect();
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut charset: Option<String> = None;
    for (k, t) in solid.iter().enumerate() {
        let prev = k.checked_sub(1).and_then(|p| solid.get(p));
        let next = solid.get(k + 1);
        match t.keyword().as_deref() {
            Some("CHARSET") => charset = next.and_then(|n| ident(&n.token)),
            Some("SET") if prev.and_then(|p| p.keyword()).as_deref() == Some("CHARACTER") => {
                charset = next.and_then(|n| ident(&n.token))
            }
            Some("BINARY") => {
                let after_type = prev.is_some_and(|p| {
                    p.token == Token::RParen
                        || matches!(
                            p.keyword().as_deref(),
                            Some(
                                "CHAR"
                                    | "VARCHAR"
                                    | "TEXT"
                                    | "TINYTEXT"
                                    | "MEDIUMTEXT"
                                    | "LONGTEXT"
                            )
                        )
                        || charset
                            .as_deref()
                            .is_some_and(|c| ident(&p.token).as_deref() == Some(c))
                });
                if after_type && next.is_none_or(|n| n.token != Token::LParen) {
                    let cs = charset.clone().unwrap_or_else(|| "utf8mb4".into());
                    edits.push((t.at.clone(), format!("COLLATE {cs}_bin")));
                }
            }
            // `ALTER TABLE t RENAME [AS] t2`: TO is optional to the server.
            Some("RENAME") => match next.map(|n| (n, n.keyword())) {
                Some((n, Some(w))) if w == "AS" => edits.push((n.at.clone(), "TO".into())),
                Some((_, Some(w)))
                    if matches!(w.as_str(), "TO" | "COLUMN" | "INDEX" | "KEY" | "TABLE") => {}
                Some((n, _)) => edits.push((n.at.start..n.at.start, "TO ".into())),
                None => {}
            },
            Some("ARRAY") if next.is_some_and(|n| n.token == Token::RParen) => {
                edits.push((t.at.clone(), String::new()));
            }
            _ => {}
        }
        if t.token == Token::Comma {
            charset = None;
        }
    }
    if edits.is_empty() {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut last = 0;
    for (range, with) in edits {
        out.push_str(&sql[last..range.start]);
        out.push_str(&with);
        last = range.end;
    }
    out.push_str(&sql[last..]);
    out.into()
}

/// Whether an ALTER TABLE operation sqlparser cannot read starts as one of the server's
/// own (refman and MariaDB KB "ALTER TABLE": constraints and index visibility, keys,
/// partitions, tablespaces, table options, system versioning). Such a statement is kept
/// as written; any other unreadable operation is a mistake to fix.
pub fn server_operation(piece: &str) -> bool {
    let Ok(tokens) = solid_tokens(piece) else {
        return false;
    };
    let words: Vec<String> = tokens
        .iter()
        .take(3)
        .map(|t| upper(t).unwrap_or_default())
        .collect();
    let w = |k: usize| words.get(k).map_or("", String::as_str);
    let partition = words.iter().any(|x| x.starts_with("PARTITION"));
    partition
        || matches!(
            (w(0), w(1)),
            ("DROP" | "ALTER", "CHECK" | "CONSTRAINT" | "INDEX" | "KEY")
                | ("DISABLE" | "ENABLE", "KEYS")
                | ("ORDER", "BY")
                | ("DISCARD" | "IMPORT", "TABLESPACE")
                | ("ADD" | "DROP", "PERIOD")
                | ("ADD", "SYSTEM")
                | ("DROP", "SYSTEM")
                | ("WITH" | "WITHOUT", "SYSTEM")
                | ("DEFAULT", "CHARSET" | "CHARACTER" | "COLLATE")
        )
        || matches!(
            w(0),
            "AUTO_INCREMENT"
                | "AVG_ROW_LENGTH"
                | "CHECKSUM"
                | "COMMENT"
                | "COMPRESSION"
                | "CONNECTION"
                | "DATA"
                | "INDEX"
                | "DELAY_KEY_WRITE"
                | "ENCRYPTION"
                | "INSERT_METHOD"
                | "KEY_BLOCK_SIZE"
                | "MAX_ROWS"
                | "MIN_ROWS"
                | "PACK_KEYS"
                | "PAGE_CHECKSUM"
                | "PAGE_COMPRESSED"
                | "STATS_AUTO_RECALC"
                | "STATS_PERSISTENT"
                | "STATS_SAMPLE_PAGES"
                | "TABLESPACE"
                | "TRANSACTIONAL"
                | "UNION"
                | "SECONDARY_ENGINE"
                | "CHARSET"
                | "CHARACTER"
                | "COLLATE"
                | "REMOVE"
                | "COALESCE"
                | "REORGANIZE"
                | "EXCHANGE"
                | "TRUNCATE"
                | "OPTIMIZE"
                | "REBUILD"
                | "REPAIR"
                | "ANALYZE"
        )
}

/// One operation's text, when it is one of the forms read here.
pub fn read(piece: &str) -> Result<Option<ExtraOp>, String> {
    let tokens = solid_tokens(piece)?;
    let words: Vec<Option<String>> = tokens.iter().map(upper).collect();
    let word = |k: usize| words.get(k).cloned().flatten();
    // `ENGINE = InnoDB` and `ENGINE InnoDB` alike.
    let value_after = |k: usize| {
        let k = if tokens.get(k) == Some(&Token::Eq) {
            k + 1
        } else {
            k
        };
        (plain_name(tokens.get(k)), k + 1)
    };
    let bad = |what: &str| Err(format!("cannot read `{piece}`: {what}"));
    Ok(Some(match word(0).as_deref() {
        Some("FORCE") if tokens.len() == 1 => ExtraOp::Force,
        Some("ENGINE") => match value_after(1) {
            (Some(e), end) if end == tokens.len() => ExtraOp::Engine(e),
            _ => return bad("expected ENGINE=name"),
        },
        Some("ROW_FORMAT") => match value_after(1) {
            (Some(r), end) if end == tokens.len() => ExtraOp::RowFormat(r.to_ascii_uppercase()),
            _ => return bad("expected ROW_FORMAT=name"),
        },
        Some("CONVERT") => {
            let (charset_at, ok) =
                match (word(1).as_deref(), word(2).as_deref(), word(3).as_deref()) {
                    (Some("TO"), Some("CHARACTER"), Some("SET")) => (4, true),
                    (Some("TO"), Some("CHARSET"), _) => (3, true),
                    _ => (0, false),
                };
            let charset = plain_name(tokens.get(charset_at));
            let collate = match word(charset_at + 1).as_deref() {
                Some("COLLATE") => match value_after(charset_at + 2) {
                    (Some(c), end) if end == tokens.len() => Some(Some(c)),
                    _ => None,
                },
                None if charset_at + 1 == tokens.len() => Some(None),
                _ => None,
            };
            match (ok, charset, collate) {
                (true, Some(charset), Some(collate)) => {
                    ExtraOp::ConvertCharset { charset, collate }
                }
                _ => return bad("expected CONVERT TO CHARACTER SET name [COLLATE name]"),
            }
        }
        Some("RENAME") if matches!(word(1).as_deref(), Some("INDEX" | "KEY")) => {
            match (
                tokens.get(2).and_then(ident),
                word(3).as_deref(),
                tokens.get(4).and_then(ident),
            ) {
                (Some(from), Some("TO"), Some(to)) if tokens.len() == 5 => {
                    ExtraOp::RenameIndex { from, to }
                }
                _ => return bad("expected RENAME INDEX old TO new"),
            }
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_operations_at_top_level_commas() {
        let (table, ops) = split_alter(
            "ALTER TABLE `db`.`t` ADD COLUMN d DECIMAL(10, 2) /* money */ DEFAULT 0, ADD INDEX k (a, b)",
        )
        .expect("reads");
        assert_eq!(table, "db.t");
        assert_eq!(
            ops,
            vec![
                "ADD COLUMN d DECIMAL(10, 2) /* money */ DEFAULT 0",
                "ADD INDEX k (a, b)"
            ]
        );
        assert!(split_alter("ALTER TABLE t ADD COLUMN a INT,").is_err());
        assert!(split_alter("ALTER IGNORE TABLE t FORCE").is_err());
        assert!(is_alter_table("alter table t force"));
        assert!(!is_alter_table("ALTER VIEW v AS SELECT 1"));
    }

    #[test]
    fn reads_the_options_sqlparser_does_not() {
        assert_eq!(read("FORCE"), Ok(Some(ExtraOp::Force)));
        assert_eq!(
            read("ENGINE = InnoDB"),
            Ok(Some(ExtraOp::Engine("InnoDB".into())))
        );
        assert_eq!(
            read("row_format=dynamic"),
            Ok(Some(ExtraOp::RowFormat("DYNAMIC".into())))
        );
        assert_eq!(
            read("CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
            Ok(Some(ExtraOp::ConvertCharset {
                charset: "utf8mb4".into(),
                collate: Some("utf8mb4_unicode_ci".into())
            }))
        );
        assert_eq!(
            read("RENAME KEY `a` TO b").map(|o| o.map(|o| o.to_string())),
            Ok(Some("RENAME INDEX `a` TO `b`".into()))
        );
        assert_eq!(read("ADD COLUMN a INT"), Ok(None));
        assert!(read("ENGINE=Inno;DB").is_err());
        assert!(read("CONVERT TO CHARACTER SET").is_err());
    }
}
