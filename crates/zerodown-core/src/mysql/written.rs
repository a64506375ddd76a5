//! Statement parts cut from the user's text: `CREATE INDEX` and `DROP INDEX` as the
//! `ALTER TABLE` they are, and an `UPDATE`'s values and filter for its backfill. Each
//! part is a byte range of what the user wrote, never a re-print of sqlparser's tree
//! (which loses a level of escaping); the tree only checks that the cut is right.

use sqlparser::ast::Expr;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use super::tokens::{solid, Located};

/// The text from token `from` to token `to` (inclusive).
fn cut<'t>(sql: &'t str, tokens: &[Located], from: usize, to: usize) -> &'t str {
    &sql[tokens[from].at.start..tokens[to].at.end]
}

/// Index of the first token from `from` that is the keyword `word` at depth 0.
fn find_keyword(tokens: &[Located], from: usize, words: &[&str]) -> Option<usize> {
    let mut depth = 0i32;
    for (k, t) in tokens.iter().enumerate().skip(from) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            _ if depth == 0 && t.keyword().is_some_and(|w| words.contains(&w.as_str())) => {
                return Some(k)
            }
            _ => {}
        }
    }
    None
}

/// The index of the `)` closing the `(` at `open`.
fn closing(tokens: &[Located], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// `ALGORITHM=x LOCK=y` from token `from` on, as ALTER TABLE operations (`, ALGORITHM=x,
/// LOCK=y`), or an error when something else is there.
fn algorithm_and_lock(sql: &str, tokens: &[Located], from: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut k = from;
    while k < tokens.len() {
        if !matches!(tokens[k].keyword().as_deref(), Some("ALGORITHM" | "LOCK")) {
            return Err(format!(
                "cannot read `{}` after the index: write the index as ALTER TABLE … ADD INDEX",
                cut(sql, tokens, k, tokens.len() - 1)
            ));
        }
        let end = find_keyword(tokens, k + 1, &["ALGORITHM", "LOCK"]).unwrap_or(tokens.len());
        out.push_str(", ");
        out.push_str(cut(sql, tokens, k, end - 1));
        k = end;
    }
    Ok(out)
}

/// `CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name [USING …] ON t (parts) [options]
/// [ALGORITHM=… LOCK=…]` as `ALTER TABLE t ADD [UNIQUE…] INDEX name [USING …] (parts)
/// [options], ALGORITHM=…, LOCK=…`, every part as written.
pub fn create_index_as_alter(sql: &str) -> Result<String, String> {
    let t = solid(sql)?;
    let index = find_keyword(&t, 0, &["INDEX", "KEY"]).ok_or("CREATE INDEX without INDEX")?;
    let modifier = (1..index)
        .map(|k| t[k].keyword().unwrap_or_default())
        .collect::<Vec<_>>();
    if !modifier
        .iter()
        .all(|w| matches!(w.as_str(), "UNIQUE" | "FULLTEXT" | "SPATIAL"))
    {
        return Err(
            "this CREATE INDEX form is not modelled: write it as ALTER TABLE … ADD INDEX".into(),
        );
    }
    let on = find_keyword(&t, index + 1, &["ON"]).ok_or("CREATE INDEX without ON")?;
    let open = (on + 1..t.len())
        .find(|&k| t[k].token == Token::LParen)
        .ok_or("CREATE INDEX without its columns")?;
    let close = closing(&t, open).ok_or("CREATE INDEX with an unclosed (")?;
    if on + 1 >= open || index + 1 >= on {
        return Err("CREATE INDEX without a name or a table".into());
    }
    let head = if index > 1 {
        format!("{} ", cut(sql, &t, 1, index))
    } else {
        cut(sql, &t, index, index).to_owned()
    };
    let head = head.trim_end();
    let options_end = find_keyword(&t, close + 1, &["ALGORITHM", "LOCK"]).unwrap_or(t.len());
    let options = if options_end > close + 1 {
        format!(" {}", cut(sql, &t, close + 1, options_end - 1))
    } else {
        String::new()
    };
    Ok(format!(
        "ALTER TABLE {} ADD {head} {} {}{options}{}",
        cut(sql, &t, on + 1, open - 1),
        cut(sql, &t, index + 1, on - 1),
        cut(sql, &t, open, close),
        algorithm_and_lock(sql, &t, options_end)?
    ))
}

/// `DROP INDEX name ON t [ALGORITHM=… LOCK=…]` as `ALTER TABLE t DROP INDEX name, …`.
pub fn drop_index_as_alter(sql: &str) -> Result<String, String> {
    let t = solid(sql)?;
    let index = find_keyword(&t, 0, &["INDEX", "KEY"]).ok_or("DROP INDEX without INDEX")?;
    let on = find_keyword(&t, index + 1, &["ON"]).ok_or("DROP INDEX without ON")?;
    if index + 1 >= on || on + 1 >= t.len() {
        return Err("DROP INDEX without a name or a table".into());
    }
    let rest = find_keyword(&t, on + 1, &["ALGORITHM", "LOCK"]).unwrap_or(t.len());
    Ok(format!(
        "ALTER TABLE {} DROP INDEX {}{}",
        cut(sql, &t, on + 1, rest - 1),
        cut(sql, &t, index + 1, on - 1),
        algorithm_and_lock(sql, &t, rest)?
    ))
}

/// Whether `text` is exactly one expression equal to `expected`.
fn same_expression(text: &str, expected: &Expr) -> bool {
    let Ok(mut parser) = Parser::new(&MySqlDialect {}).try_with_sql(text) else {
        return false;
    };
    parser.parse_expr().is_ok_and(|e| e == *expected) && parser.peek_token().token == Token::EOF
}

/// An `UPDATE`'s assigned values and its filter as written, checked against the parsed
/// `values` and `filter`; None when the text cannot be cut so.
pub fn update_parts(
    sql: &str,
    values: &[&Expr],
    filter: Option<&Expr>,
) -> Option<(Vec<String>, Option<String>)> {
    let t = solid(sql).ok()?;
    let set = find_keyword(&t, 0, &["SET"])?;
    let end = find_keyword(&t, set + 1, &["WHERE"]).unwrap_or(t.len());
    let mut commas = Vec::new();
    let mut depth = 0i32;
    for (k, token) in t.iter().enumerate().take(end).skip(set + 1) {
        match token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => commas.push(k),
            _ => {}
        }
    }
    commas.push(end);
    let mut parts = Vec::new();
    let mut start = set + 1;
    for bound in commas {
        let eq = (start..bound).find(|&i| t[i].token == Token::Eq)?;
        if eq + 1 >= bound {
            return None;
        }
        parts.push(cut(sql, &t, eq + 1, bound - 1).to_owned());
        start = bound + 1;
    }
    let written_filter = (end < t.len())
        .then(|| (end + 1 < t.len()).then(|| cut(sql, &t, end + 1, t.len() - 1).to_owned()))
        .map(|f| f.unwrap_or_default());
    let agree = parts.len() == values.len()
        && parts.iter().zip(values).all(|(p, v)| same_expression(p, v))
        && match (&written_filter, filter) {
            (Some(w), Some(f)) => same_expression(w, f),
            (None, None) => true,
            _ => false,
        };
    agree.then_some((parts, written_filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_index_keeps_every_part_as_written() {
        assert_eq!(
            create_index_as_alter(
                "CREATE UNIQUE INDEX `i``x` USING BTREE ON `db`.t ((lower(a)), b(10)) COMMENT 'a\\\\b ''c''' ALGORITHM = INPLACE LOCK=NONE"
            ),
            Ok("ALTER TABLE `db`.t ADD UNIQUE INDEX `i``x` USING BTREE ((lower(a)), b(10)) COMMENT 'a\\\\b ''c''', ALGORITHM = INPLACE, LOCK=NONE".into())
        );
        assert_eq!(
            create_index_as_alter("create index i on t (a)"),
            Ok("ALTER TABLE t ADD index i (a)".into())
        );
        assert!(create_index_as_alter("CREATE OR REPLACE INDEX i ON t (a)").is_err());
        // Index options go on as written (the ALTER's parse judges them).
        assert_eq!(
            create_index_as_alter("CREATE INDEX i ON t (a) VISIBLE LOCK=NONE"),
            Ok("ALTER TABLE t ADD INDEX i (a) VISIBLE, LOCK=NONE".into())
        );
    }

    #[test]
    fn drop_index_keeps_its_names() {
        assert_eq!(
            drop_index_as_alter("DROP INDEX `a``b` ON `t` LOCK=NONE"),
            Ok("ALTER TABLE `t` DROP INDEX `a``b`, LOCK=NONE".into())
        );
    }

    fn parsed_update(sql: &str) -> (Vec<Expr>, Option<Expr>) {
        match Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parses")
            .remove(0)
        {
            sqlparser::ast::Statement::Update {
                assignments,
                selection,
                ..
            } => (
                assignments.into_iter().map(|a| a.value).collect(),
                selection,
            ),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn update_values_and_filter_are_cut_from_the_text() {
        let sql = "UPDATE t SET a = CONCAT(a, '\\\\x'''), b = (SELECT 1 WHERE 1), c=f(1,2) WHERE a <> 'it''s'";
        let (values, filter) = parsed_update(sql);
        let values: Vec<&Expr> = values.iter().collect();
        assert_eq!(
            update_parts(sql, &values, filter.as_ref()),
            Some((
                vec![
                    "CONCAT(a, '\\\\x''')".to_owned(),
                    "(SELECT 1 WHERE 1)".to_owned(),
                    "f(1,2)".to_owned()
                ],
                Some("a <> 'it''s'".to_owned())
            ))
        );
        let sql = "UPDATE t SET a = 1";
        let (values, filter) = parsed_update(sql);
        assert_eq!(
            update_parts(sql, &values.iter().collect::<Vec<_>>(), filter.as_ref()),
            Some((vec!["1".to_owned()], None))
        );
        // A cut that does not match the tree is refused.
        assert_eq!(update_parts(sql, &[], None), None);
    }
}
