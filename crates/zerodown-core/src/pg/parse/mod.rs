//! PostgreSQL SQL -> IR, with the real PostgreSQL parser (libpg_query via `pg_query`).
//!
//! Each statement is parsed on its own so one syntax error does not hide the others:
//! the file is split by the PostgreSQL scanner, then every piece is parsed and
//! converted at once into [`DdlOp`] (`convert/`), a `DO` block of plain SQL read as
//! its statements (`do_block.rs`). Problems are returned as data with spans.
//! `rewrite.rs` and `names.rs` serve the planner: SQL it rewrites and relation names
//! it reads, always through the same parser.

mod convert;
mod do_block;
pub mod names;
mod print;
pub mod rewrite;
mod walk;

use pg_query::NodeEnum;

use convert::convert_statement;
use do_block::plain_do_body;

use crate::migrations::SourceFile;
use crate::pg::ir::*;
use crate::sql::source::{first_token_offset, Diagnostic, Locator};

/// A migration file after parsing.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub source: SourceFile,
    pub statements: Vec<Statement>,
}

/// Parses a migration file's text. `file` is the name used in spans.
/// Returns every statement it could read and a diagnostic for every one it could not.
pub fn parse_file(file: &str, text: &str) -> (Vec<Statement>, Vec<Diagnostic>) {
    let file_name: std::sync::Arc<str> = file.into();
    let mut at = Locator::new(text);
    let mut statements = Vec::new();
    let mut diagnostics = Vec::new();
    let pieces = match pieces(text) {
        Ok(p) => p,
        Err(e) => {
            diagnostics.push(Diagnostic {
                span: at.span(&file_name, 0, text.len()),
                message: clean_error(&e),
            });
            return (statements, diagnostics);
        }
    };
    for (base, end) in pieces {
        let piece = &text[base..end];
        let Some(skip) = first_token_offset(piece) else {
            continue; // only whitespace and comments
        };
        let start = base + skip;
        let end = base + piece.len();
        let sql = text[start..end].trim_end().to_owned();
        let span = at.span(&file_name, start, end);
        match pg_query::parse(&sql, 0) {
            Ok(tree) => {
                for raw in &tree.protobuf.stmts {
                    let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
                    if let Some(NodeEnum::DoStmt(d)) = node {
                        if let Some(mut inner) = plain_do_body(file, text, start, &sql, d) {
                            let block = std::sync::Arc::new(DoBlock {
                                span: span.clone(),
                                sql: sql.clone(),
                            });
                            for s in &mut inner {
                                s.block = Some(block.clone());
                            }
                            statements.extend(inner);
                            continue;
                        }
                    }
                    if let Some(node) = node {
                        match convert_statement(node) {
                            Ok(op) => statements.push(Statement {
                                span: span.clone(),
                                sql: sql.clone(),
                                op,
                                block: None,
                            }),
                            Err(message) => diagnostics.push(Diagnostic {
                                span: span.clone(),
                                message,
                            }),
                        }
                    }
                }
            }
            Err(e) => {
                let message = clean_error(&e);
                let offset = error_offset(&sql, &message);
                diagnostics.push(Diagnostic {
                    span: at.span(&file_name, start + offset, end),
                    message,
                });
            }
        }
    }
    // Kept for the whole run: no growth slack (a long file's statements are much of it).
    statements.shrink_to_fit();
    (statements, diagnostics)
}

/// The byte ranges of `text`'s statements. The scanner's split leaves out a statement
/// whose first word is not a keyword (`SELEC 1`): every stretch between its pieces is
/// split again at its semicolons, so that such a statement is parsed (and reported)
/// at its place instead of dropped.
fn pieces(text: &str) -> Result<Vec<(usize, usize)>, pg_query::Error> {
    let mut out = Vec::new();
    let mut pos = 0;
    for piece in pg_query::split_with_scanner(text)? {
        let start = piece.as_ptr() as usize - text.as_ptr() as usize;
        between(text, pos, start, &mut out);
        out.push((start, start + piece.len()));
        pos = start + piece.len();
    }
    between(text, pos, text.len(), &mut out);
    Ok(out)
}

/// The statements in `text[from..to]`, a stretch the scanner's split left out, cut at
/// its semicolons (as the scanner reads them: not inside strings or comments).
fn between(text: &str, from: usize, to: usize, out: &mut Vec<(usize, usize)>) {
    let stretch = &text[from..to];
    let semicolons: Vec<usize> = match pg_query::scan(stretch) {
        Ok(scan) => scan
            .tokens
            .iter()
            .map(|t| t.start as usize)
            .filter(|&s| stretch.get(s..s + 1) == Some(";"))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut start = 0;
    for end in semicolons.into_iter().chain([stretch.len()]) {
        let part = &stretch[start..end];
        if first_token_offset(part).is_some() {
            out.push((from + start, from + end));
        }
        start = (end + 1).min(stretch.len());
    }
}

fn clean_error(e: &pg_query::Error) -> String {
    match e {
        pg_query::Error::Parse(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Finds where PostgreSQL's `at or near "X"` points, as a byte offset in `sql`.
fn error_offset(sql: &str, message: &str) -> usize {
    if message.contains("at end of input") {
        return sql.trim_end().len();
    }
    let Some(rest) = message.split("at or near \"").nth(1) else {
        return 0;
    };
    let Some(token) = rest.rsplit_once('"').map(|(t, _)| t) else {
        return 0;
    };
    if let Ok(tokens) = pg_query::scan(sql) {
        for t in tokens.tokens {
            let (s, e) = (t.start as usize, t.end as usize);
            if sql.get(s..e).is_some_and(|x| x.eq_ignore_ascii_case(token)) {
                return s;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> DdlOp {
        let (stmts, diags) = parse_file("t.sql", sql);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stmts.len(), 1, "{stmts:?}");
        stmts.into_iter().next().expect("one").op
    }

    /// What zerodown cannot carry into its steps is refused, at its line, with what to
    /// do; never dropped from the plan.
    #[test]
    fn statements_whose_effect_steps_cannot_carry_are_refused() {
        let refused = |sql: &str| -> Vec<String> {
            let (_, diags) = parse_file("m.sql", sql);
            diags.into_iter().map(|d| d.message).collect()
        };
        for sql in [
            "BEGIN; ALTER TABLE t ADD COLUMN c int; ROLLBACK;",
            "SAVEPOINT s; ALTER TABLE t ADD COLUMN c int; ROLLBACK TO SAVEPOINT s;",
            "SET search_path = app;",
            "SET ROLE migrator;",
            "SET SESSION AUTHORIZATION migrator;",
            "SET timezone = 'America/New_York';",
            "SET LOCAL search_path TO app, public;",
            "SET standard_conforming_strings = off;",
        ] {
            let messages = refused(sql);
            assert_eq!(messages.len(), 1, "{sql}: {messages:?}");
            assert!(
                messages[0].contains("zerodown") && messages[0].contains(": "),
                "{sql}: says why and what to do: {}",
                messages[0]
            );
        }
        // Settings that change nothing of what the statements do stay allowed.
        for sql in [
            "SET lock_timeout = '2s';",
            "SET statement_timeout TO 0;",
            "SET client_min_messages = warning;",
            "SET maintenance_work_mem = '1GB';",
            "SET standard_conforming_strings = on;",
            "RESET ALL;",
            "SAVEPOINT s; RELEASE SAVEPOINT s;",
        ] {
            assert_eq!(refused(sql), Vec::<String>::new(), "{sql}");
        }
    }

    /// A SELECT that calls a function or reads a table may change anything: it is not
    /// catalog-only.
    #[test]
    fn a_select_that_runs_functions_is_not_catalog_only() {
        assert!(matches!(one("SELECT 1"), DdlOp::CatalogOnly { .. }));
        for sql in [
            "SELECT pg_catalog.set_config('search_path', '', false)",
            "SELECT migrate_orders()",
            "SELECT count(*) FROM t",
            // Calls inside what pg_query's own walker skips.
            "SELECT ARRAY[migrate_orders()]",
            "SELECT (migrate_orders()::text COLLATE \"C\")",
            "SELECT (ARRAY[1])[migrate_orders()]",
        ] {
            assert!(matches!(one(sql), DdlOp::Opaque { .. }), "{sql}");
        }
    }

    #[test]
    fn add_column_with_volatile_default() {
        let op =
            one("ALTER TABLE app.users ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()");
        let DdlOp::AlterTable { table, actions } = op else {
            panic!()
        };
        assert_eq!(table, QualName::new(Some("app"), "users"));
        let AlterAction::AddColumn { column, .. } = &actions[0] else {
            panic!()
        };
        assert_eq!(column.ty.name, "uuid");
        assert!(column.not_null);
        let d = column.default.as_ref().expect("default");
        assert_eq!(d.functions, vec!["gen_random_uuid"]);
        assert_eq!(d.sql, "gen_random_uuid()");
    }

    /// A volatile call anywhere in a default makes it volatile: inside ARRAY[...],
    /// COLLATE or a subscript too (the table is rewritten for those).
    #[test]
    fn functions_are_found_anywhere_in_a_default() {
        for (sql, want) in [
            ("ARRAY[(random() * 10)::int]", "random"),
            ("(gen_random_uuid()::text COLLATE \"C\")", "gen_random_uuid"),
            ("('{1,2}'::int[])[1 + (random() * 1)::int]", "random"),
            ("ROW(clock_timestamp())", "clock_timestamp"),
        ] {
            let op = one(&format!("ALTER TABLE t ADD COLUMN c text DEFAULT {sql}"));
            let DdlOp::AlterTable { actions, .. } = op else {
                panic!("{sql}")
            };
            let AlterAction::AddColumn { column, .. } = &actions[0] else {
                panic!("{sql}")
            };
            let functions = &column.default.as_ref().expect("default").functions;
            assert!(functions.iter().any(|f| f == want), "{sql}: {functions:?}");
        }
    }

    #[test]
    fn index_columns_inside_collate_and_subscripts() {
        for (sql, want) in [
            ("CREATE INDEX i ON t ((name COLLATE \"C\"))", "name"),
            ("CREATE INDEX i ON t ((tags[1]))", "tags"),
            ("CREATE INDEX i ON t ((ARRAY[a]))", "a"),
        ] {
            let DdlOp::CreateIndex(ix) = one(sql) else {
                panic!("{sql}")
            };
            assert_eq!(ix.columns, vec![want], "{sql}");
        }
    }

    #[test]
    fn types_and_constraints() {
        let op = one("ALTER TABLE t ALTER COLUMN c TYPE varchar(40), ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE NOT VALID");
        let DdlOp::AlterTable { actions, .. } = op else {
            panic!()
        };
        let AlterAction::AlterColumnType { new_type, .. } = &actions[0] else {
            panic!()
        };
        assert_eq!(
            (new_type.name.as_str(), new_type.mods.as_slice()),
            ("varchar", &[40][..])
        );
        assert_eq!(new_type.sql, "varchar(40)");
        let AlterAction::AddConstraint { constraint } = &actions[1] else {
            panic!()
        };
        assert!(constraint.not_valid);
        let ConstraintKind::ForeignKey {
            columns,
            ref_table,
            actions_sql,
            ..
        } = &constraint.kind
        else {
            panic!()
        };
        assert_eq!(columns, &["a"]);
        assert_eq!(ref_table.name, "p");
        assert_eq!(actions_sql, " ON DELETE CASCADE");
    }

    #[test]
    fn index_body_and_spans() {
        let (stmts, _) = parse_file("m.sql", "-- header\nBEGIN;\n\n  CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING btree (lower(email)) WHERE deleted_at IS NULL;\nCOMMIT;\n");
        assert_eq!(stmts.len(), 3);
        assert_eq!((stmts[1].span.line, stmts[1].span.column), (4, 3));
        let DdlOp::CreateIndex(ix) = &stmts[1].op else {
            panic!()
        };
        assert!(ix.unique && ix.concurrently && ix.if_not_exists);
        assert_eq!(ix.columns, vec!["email"]);
        assert_eq!(
            ix.body_sql,
            "USING btree (lower(email)) WHERE deleted_at IS NULL"
        );
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        let (stmts, diags) = parse_file(
            "bad.sql",
            "SELECT 1;\nALTER TABLE t ADD COLUMN c intt eger;\nSELECT 2;",
        );
        assert_eq!(stmts.len(), 2);
        assert_eq!(diags.len(), 1);
        assert_eq!((diags[0].span.line, diags[0].span.column), (2, 33));
        assert!(
            diags[0].message.contains("syntax error"),
            "{}",
            diags[0].message
        );
    }

    /// Every byte belongs to a statement, a comment or a diagnostic: a statement whose
    /// first word is misspelt is a syntax error at its place, never dropped.
    #[test]
    fn a_statement_that_does_not_start_with_a_keyword_is_a_diagnostic() {
        let text =
            "SELEC 1;\nALTER TABLE t ADD COLUMN a int;\nUPDAT t SETT x = 1;\n  FOO;\nfoo bar";
        let (stmts, diags) = parse_file("t.sql", text);
        assert_eq!(stmts.len(), 1, "{stmts:?}");
        let places: Vec<(u32, u32)> = diags.iter().map(|d| (d.span.line, d.span.column)).collect();
        assert_eq!(places, vec![(1, 1), (3, 1), (4, 3), (5, 1)], "{diags:?}");
        assert!(
            diags.iter().all(|d| d.message.contains("syntax error")),
            "{diags:?}"
        );
    }

    /// A DO block whose body ends in a multi-byte character panicked (a byte index
    /// inside the character): it is one statement zerodown does not model.
    #[test]
    fn a_do_block_ending_in_a_multi_byte_character_is_read() {
        for text in [
            "DO $$ BEGIN ALTER TABLE t ADD COLUMN a int; END -- 🚀\n$$;",
            "DO $$BEGIN ALTER TABLE t ADD COLUMN a int; END🚀$$",
            "DO $$BEGIN ALTER TABLE t ADD COLUMN a int; ENDé$$",
        ] {
            let (stmts, diags) = parse_file("t.sql", text);
            assert!(diags.is_empty(), "{text}: {diags:?}");
            assert!(
                matches!(stmts.as_slice(), [s] if matches!(s.op, DdlOp::Opaque { .. })),
                "{text}: {stmts:?}"
            );
        }
    }

    #[test]
    fn truncate_names_its_tables_and_cascade() {
        assert_eq!(
            one("TRUNCATE TABLE a, s.b RESTART IDENTITY"),
            DdlOp::Truncate {
                tables: vec![QualName::new(None, "a"), QualName::new(Some("s"), "b")],
                cascade: false,
            }
        );
        assert!(matches!(
            one("TRUNCATE a CASCADE"),
            DdlOp::Truncate { cascade: true, .. }
        ));
    }

    #[test]
    fn update_becomes_backfill_and_generated_kinds() {
        let op = one("UPDATE t SET c = lower(b) WHERE c IS NULL");
        assert!(
            matches!(op, DdlOp::Update { ref assignments, filter: Some(_), .. } if assignments[0].0 == "c")
        );
        let op = one("ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED");
        let DdlOp::AlterTable { actions, .. } = op else {
            panic!()
        };
        let AlterAction::AddColumn { column, .. } = &actions[0] else {
            panic!()
        };
        assert!(column.generated.as_ref().is_some_and(|g| g.stored));
        let op = one("ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY");
        let DdlOp::AlterTable { actions, .. } = op else {
            panic!()
        };
        let AlterAction::AddColumn { column, .. } = &actions[0] else {
            panic!()
        };
        assert_eq!(column.identity.as_deref(), Some("always"));
    }
}
