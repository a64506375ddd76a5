//! MySQL/MariaDB migration text -> statements, with sqlparser's MySQL dialect.
//!
//! The text is split at top-level semicolons by sqlparser's tokenizer (quotes, backquotes
//! and `#`/`--`/`/* */` comments respected); each statement is parsed on its own, so one
//! syntax error never hides the others. `ALTER TABLE` is read one operation at a time:
//! the few MySQL table options sqlparser 0.59 cannot parse (`FORCE`, `ENGINE=`,
//! `ROW_FORMAT=`, `CONVERT TO CHARACTER SET`, `RENAME INDEX`) are read by
//! [`super::alter_extra`]; anything else it cannot read is a diagnostic, never a
//! dropped statement.

use sqlparser::ast::{
    AlterTableAlgorithm, AlterTableLock, AlterTableOperation, ObjectName, ObjectType, Statement,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Whitespace};

use super::alter_extra::{self, ExtraOp};
use super::tokens::{locate, solid, solid_text, stretches, Located};
use super::written;
use crate::pg::ir::{DataVerb, Span};
use crate::sql::source::{Diagnostic, Locator};

/// One operation of an `ALTER TABLE`: what it is, and the user's text of it (what is
/// sent).
#[derive(Debug, Clone, PartialEq)]
pub struct AlterOp {
    pub kind: OpKind,
    pub text: String,
}

/// What an `ALTER TABLE` operation is.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a handful per statement: boxing would buy nothing
pub enum OpKind {
    Parsed(AlterTableOperation),
    Extra(ExtraOp),
    /// An operation of the server's that is not read: the statement is kept as written,
    /// unmodelled.
    Unread,
}

impl std::fmt::Display for AlterOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a statement is, as far as planning goes.
#[derive(Debug, Clone, PartialEq)]
pub enum MyKind {
    /// `ALTER TABLE`, and `CREATE INDEX` / `DROP INDEX` read as the ALTER TABLE they are.
    AlterTable {
        table: String,
        ops: Vec<AlterOp>,
        /// `ALGORITHM=` / `LOCK=` as written (the plan chooses its own).
        algorithm: Option<AlterTableAlgorithm>,
        lock: Option<AlterTableLock>,
        /// Written as CREATE INDEX / DROP INDEX.
        index_statement: bool,
    },
    CreateTable {
        table: String,
        statement: Box<sqlparser::ast::CreateTable>,
    },
    /// `UPDATE t SET c = expr [WHERE ...]` on one table (a backfill).
    Update {
        table: String,
        set: Vec<(String, String)>,
        filter: Option<String>,
    },
    /// INSERT, DELETE, or an UPDATE over several tables: kept as written, judged by the
    /// rows it goes through.
    DataChange {
        verb: DataVerb,
        table: String,
        /// Other tables it reads (joins, USING, the SELECT of an INSERT).
        reads: Vec<String>,
        /// `INSERT … VALUES`: how many rows; None when they come from the data.
        values_rows: Option<usize>,
    },
    /// `SET [SESSION] name = value`.
    SetVariable {
        name: String,
        value: String,
    },
    DropTable {
        tables: Vec<String>,
    },
    RenameTable {
        pairs: Vec<(String, String)>,
    },
    /// Anything else, kept as written and reviewed by hand.
    Other,
}

/// One statement of a MySQL/MariaDB migration.
#[derive(Debug, Clone, PartialEq)]
pub struct MyStatement {
    pub span: Span,
    /// The statement as written (without its semicolon).
    pub sql: String,
    pub kind: MyKind,
}

/// Parses a migration file's text. `file` is the name used in spans.
pub fn parse_file(file: &str, text: &str) -> (Vec<MyStatement>, Vec<Diagnostic>) {
    parse_in_stretches(file, text, STRETCH_BYTES)
}

fn parse_in_stretches(
    file: &str,
    text: &str,
    stretch_bytes: usize,
) -> (Vec<MyStatement>, Vec<Diagnostic>) {
    let file: std::sync::Arc<str> = file.into();
    let mut read = Read {
        file,
        at: Locator::new(text),
        statements: Vec::new(),
        diagnostics: Vec::new(),
    };
    for stretch in stretches(text, stretch_bytes) {
        if !read.stretch(text, stretch) {
            break;
        }
    }
    (read.statements, read.diagnostics)
}

/// Bytes of text tokenized at a time (more when a statement is longer).
const STRETCH_BYTES: usize = 256 * 1024;

/// What `parse_file` has read so far.
struct Read<'t> {
    file: std::sync::Arc<str>,
    at: Locator<'t>,
    statements: Vec<MyStatement>,
    diagnostics: Vec<Diagnostic>,
}

impl Read<'_> {
    /// Reads the statements of `text[range]`; false when it cannot be tokenized (the
    /// diagnostic says where, and nothing after it is read).
    fn stretch(&mut self, text: &str, range: std::ops::Range<usize>) -> bool {
        let base = range.start;
        let part = &text[range];
        let tokens = match locate(part) {
            Ok(t) => t,
            Err(e) => {
                // As for a file read whole: that error alone.
                self.statements.clear();
                self.diagnostics.clear();
                self.diagnostics.push(Diagnostic {
                    span: self.at.span(&self.file, base + e.offset, text.len()),
                    message: e.message,
                });
                return false;
            }
        };
        for piece in server_statements(&tokens) {
            if let Some(d) = executable_comment(&self.file, &mut self.at, piece, base) {
                self.diagnostics.push(d);
            }
            let Some(sql) = solid_text(part, piece) else {
                continue; // only whitespace and comments
            };
            let start = base
                + piece
                    .iter()
                    .find(|t| t.is_solid())
                    .map_or(0, |t| t.at.start);
            let (sql, end) = (sql.to_owned(), start + sql.len());
            let span = self.at.span(&self.file, start, end);
            if first_word(piece).as_deref() == Some("DELIMITER") {
                self.diagnostics.push(Diagnostic {
                    span,
                    message: "DELIMITER is a command of the mysql client, not SQL: zerodown reads \
                              statements separated by `;` (write procedures and triggers in a file \
                              of their own and run them with the mysql client)"
                        .into(),
                });
                continue;
            }
            match read_statement(&sql) {
                Ok(kind) => self.statements.push(MyStatement { span, sql, kind }),
                Err(message) => self.diagnostics.push(Diagnostic { span, message }),
            }
        }
        true
    }
}

/// `/*! ... */` is run by MySQL and MariaDB as SQL, `/*M! ... */` by MariaDB: refuse them
/// rather than read them as comments.
fn executable_comment(
    file: &std::sync::Arc<str>,
    at: &mut Locator,
    piece: &[Located],
    base: usize,
) -> Option<Diagnostic> {
    let t = piece.iter().find(|t| {
        matches!(&t.token, Token::Whitespace(Whitespace::MultiLineComment(c))
            if c.starts_with('!') || c.starts_with("M!"))
    })?;
    Some(Diagnostic {
        span: at.span(file, base + t.at.start, base + t.at.start),
        message: "a `/*! ... */` or `/*M! ... */` comment is executed by the server as SQL: \
                  write the statement plainly so zerodown can check it"
            .into(),
    })
}

/// Whether the words of a statement's start make it a stored program (`CREATE [DEFINER=…]
/// [OR REPLACE] PROCEDURE|FUNCTION|TRIGGER|EVENT`): the first object word after CREATE
/// says, so a column named `function` in a CREATE TABLE does not.
fn stored_program<'w>(mut words: impl Iterator<Item = &'w str>) -> bool {
    const OBJECTS: &[&str] = &[
        "TABLE",
        "TEMPORARY",
        "INDEX",
        "UNIQUE",
        "FULLTEXT",
        "SPATIAL",
        "VIEW",
        "DATABASE",
        "SCHEMA",
        "USER",
        "ROLE",
        "SEQUENCE",
        "SERVER",
        "TABLESPACE",
        "PROCEDURE",
        "FUNCTION",
        "TRIGGER",
        "EVENT",
    ];
    words.next() == Some("CREATE")
        && words
            .find(|w| OBJECTS.contains(w))
            .is_some_and(|w| matches!(w, "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT"))
}

/// The statements of a stretch, split at `;` as the server splits a multi-statement
/// text: a stored program's body (BEGIN … END, nested blocks, CASE … END) is part of its
/// CREATE. END IF / LOOP / WHILE / REPEAT close what was not counted.
fn server_statements(tokens: &[Located]) -> Vec<&[Located]> {
    // Only unquoted words count; compared without allocating (a long file has millions).
    let word = |t: &Located, w: &str| matches!(&t.token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let mut out = Vec::new();
    let (mut start, mut depth) = (0, 0usize);
    // The statement's first words, until they say whether it is a stored program.
    let mut words: Vec<String> = Vec::new();
    let mut program: Option<bool> = None;
    let solid: Vec<usize> = (0..tokens.len())
        .filter(|&k| tokens[k].is_solid())
        .collect();
    for (n, &k) in solid.iter().enumerate() {
        let t = &tokens[k];
        if t.token == Token::SemiColon && depth == 0 {
            out.push(&tokens[start..k]);
            start = k + 1;
            words.clear();
            program = None;
            continue;
        }
        if program.is_none() {
            if let Some(w) = t.keyword() {
                words.push(w);
                let is = stored_program(words.iter().map(String::as_str));
                if is || words.len() >= 16 || words[0] != "CREATE" {
                    program = Some(is);
                }
            }
        }
        if program != Some(true) {
            continue;
        }
        if word(t, "BEGIN") || (depth > 0 && word(t, "CASE")) {
            depth += 1;
        } else if word(t, "END") {
            let next = solid.get(n + 1).map(|&j| &tokens[j]);
            let closes_uncounted =
                next.is_some_and(|x| ["IF", "LOOP", "WHILE", "REPEAT"].iter().any(|w| word(x, w)));
            if !closes_uncounted {
                depth = depth.saturating_sub(1);
            }
        }
    }
    out.push(&tokens[start..]);
    out
}

fn first_word(piece: &[Located]) -> Option<String> {
    piece.iter().find_map(|t| match &t.token {
        Token::Whitespace(_) => None,
        Token::Word(w) => Some(w.value.to_ascii_uppercase()),
        _ => Some(String::new()),
    })
}

/// A table name as MySQL stores it for lookups (`db.t` kept qualified).
pub fn table_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(i) => crate::sql::name::shown_part(&i.value).into_owned(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `sql` is a stored program (see [`stored_program`]).
fn program(sql: &str) -> bool {
    let Ok(tokens) = solid(sql) else { return false };
    let words: Vec<String> = tokens
        .iter()
        .take(16)
        .filter_map(Located::keyword)
        .collect();
    stored_program(words.iter().map(String::as_str))
}

fn read_statement(sql: &str) -> Result<MyKind, String> {
    let dialect = MySqlDialect {};
    if alter_extra::is_alter_table(sql) {
        return read_alter(sql);
    }
    if alter_extra::is_create_index(sql) {
        // Read as the ALTER TABLE it is: sqlparser does not read every CREATE INDEX
        // form the server takes (FULLTEXT, SPATIAL).
        return Ok(mark_index_statement(read_alter(
            &written::create_index_as_alter(sql)?,
        )?));
    }
    let parsed = match Parser::parse_sql(&dialect, &alter_extra::readable(sql)) {
        Ok(parsed) => parsed,
        // sqlparser reads few stored programs; the server takes them: kept as written.
        Err(_) if program(sql) => return Ok(MyKind::Other),
        Err(e) => return Err(clean(&e.to_string())),
    };
    let [statement] = parsed.as_slice() else {
        return Err("expected one statement".into());
    };
    Ok(match statement {
        Statement::CreateTable(c) => MyKind::CreateTable {
            table: table_name(&c.name),
            statement: Box::new(c.clone()),
        },
        Statement::CreateIndex(_) => {
            mark_index_statement(read_alter(&written::create_index_as_alter(sql)?)?)
        }
        Statement::Drop {
            object_type: ObjectType::Index,
            table: Some(_),
            ..
        } => mark_index_statement(read_alter(&written::drop_index_as_alter(sql)?)?),
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => MyKind::DropTable {
            tables: names.iter().map(table_name).collect(),
        },
        Statement::RenameTable(pairs) => MyKind::RenameTable {
            pairs: pairs
                .iter()
                .map(|r| (table_name(&r.old_name), table_name(&r.new_name)))
                .collect(),
        },
        Statement::Update {
            table,
            assignments,
            from: None,
            selection,
            returning: None,
            limit: None,
            ..
        } if table.joins.is_empty() => {
            let values: Vec<&sqlparser::ast::Expr> = assignments.iter().map(|a| &a.value).collect();
            let columns: Option<Vec<String>> = assignments.iter().map(assigned_column).collect();
            match (
                &table.relation,
                columns,
                written::update_parts(sql, &values, selection.as_ref()),
            ) {
                (
                    sqlparser::ast::TableFactor::Table { name, .. },
                    Some(columns),
                    Some((values, filter)),
                ) => MyKind::Update {
                    table: table_name(name),
                    set: columns.into_iter().zip(values).collect(),
                    filter,
                },
                _ => MyKind::Other,
            }
        }
        Statement::Insert(ins) => {
            let values_rows = match ins.source.as_deref().map(|q| q.body.as_ref()) {
                Some(sqlparser::ast::SetExpr::Values(v)) => Some(v.rows.len()),
                _ => None,
            };
            data_change(statement, DataVerb::Insert, values_rows)
        }
        Statement::Delete(_) => data_change(statement, DataVerb::Delete, None),
        Statement::Update { .. } => data_change(statement, DataVerb::Update, None),
        Statement::Set(sqlparser::ast::Set::SingleAssignment {
            variable, values, ..
        }) if values.len() == 1 => MyKind::SetVariable {
            name: variable.to_string().to_ascii_lowercase(),
            value: values[0].to_string(),
        },
        _ => MyKind::Other,
    })
}

/// A data statement's table (the first it names) and the others it reads.
fn data_change(statement: &Statement, verb: DataVerb, values_rows: Option<usize>) -> MyKind {
    let mut relations = relations(statement).into_iter();
    let Some(table) = relations.next() else {
        return MyKind::Other;
    };
    let mut reads: Vec<String> = Vec::new();
    for r in relations {
        if !reads.contains(&r) {
            reads.push(r);
        }
    }
    MyKind::DataChange {
        verb,
        table,
        reads,
        values_rows,
    }
}

/// The tables a statement or query names, in order, less the names its own WITH
/// clauses define.
pub fn relations(node: &impl sqlparser::ast::Visit) -> Vec<String> {
    use sqlparser::ast::{Query, Visitor};
    use std::ops::ControlFlow;
    struct Names {
        relations: Vec<String>,
        ctes: Vec<String>,
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
            self.relations.push(table_name(r));
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            for cte in q.with.iter().flat_map(|w| &w.cte_tables) {
                self.ctes.push(cte.alias.name.value.to_ascii_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names {
        relations: Vec::new(),
        ctes: Vec::new(),
    };
    let _ = node.visit(&mut names);
    let ctes = names.ctes;
    names
        .relations
        .into_iter()
        .filter(|r| !ctes.contains(&r.to_ascii_lowercase()))
        .collect()
}

/// The column an assignment sets (its name, unquoted), when it is a plain column.
fn assigned_column(a: &sqlparser::ast::Assignment) -> Option<String> {
    match &a.target {
        sqlparser::ast::AssignmentTarget::ColumnName(name) => {
            name.0.last()?.as_ident().map(|i| i.value.clone())
        }
        _ => None,
    }
}

fn mark_index_statement(mut kind: MyKind) -> MyKind {
    if let MyKind::AlterTable {
        index_statement, ..
    } = &mut kind
    {
        *index_statement = true;
    }
    kind
}

fn absorb_options(kind: &mut MyKind, options: &[AlterTableOperation]) {
    if let MyKind::AlterTable {
        algorithm, lock, ..
    } = kind
    {
        for o in options {
            match o {
                AlterTableOperation::Algorithm { algorithm: a, .. } => *algorithm = Some(a.clone()),
                AlterTableOperation::Lock { lock: l, .. } => *lock = Some(l.clone()),
                _ => {}
            }
        }
    }
}

/// `ALTER TABLE t op, op, ...`: each operation parsed on its own.
fn read_alter(sql: &str) -> Result<MyKind, String> {
    let (table, pieces) = alter_extra::split_alter(sql)?;
    let mut ops = Vec::new();
    let mut kind_options = Vec::new();
    for piece in pieces {
        if let Some(extra) = alter_extra::read(&piece)? {
            ops.push(AlterOp {
                kind: OpKind::Extra(extra),
                text: piece,
            });
            continue;
        }
        let one = format!("ALTER TABLE t {piece}");
        let parsed = match Parser::parse_sql(&MySqlDialect {}, &alter_extra::readable(&one)) {
            Ok(parsed) => parsed,
            // An operation of the server's that sqlparser does not read (`DROP CHECK`,
            // `ALTER INDEX … INVISIBLE`): the statement is kept whole, as written, and
            // reviewed by hand. Anything else that does not read is a mistake.
            Err(_) if alter_extra::server_operation(&piece) => {
                ops.push(AlterOp {
                    kind: OpKind::Unread,
                    text: piece,
                });
                continue;
            }
            Err(e) => {
                return Err(format!(
                "cannot read `{piece}` ({}); write it as its own ALTER TABLE, or run it by hand",
                clean(&e.to_string())
            ))
            }
        };
        let Some(Statement::AlterTable { operations, .. }) = parsed.into_iter().next() else {
            return Err(format!("cannot read `{piece}` as an ALTER TABLE operation"));
        };
        match <[AlterTableOperation; 1]>::try_from(operations) {
            Ok(
                [op @ (AlterTableOperation::Algorithm { .. } | AlterTableOperation::Lock { .. })],
            ) => kind_options.push(op),
            Ok([op]) => ops.push(AlterOp {
                kind: OpKind::Parsed(op),
                text: piece,
            }),
            Err(_) => {
                return Err(format!(
                    "`{piece}` reads as several operations: write them separated by commas"
                ))
            }
        }
    }
    // Kept for the whole run: an operation is large (sqlparser's tree), no growth slack.
    ops.shrink_to_fit();
    let mut kind = MyKind::AlterTable {
        table,
        ops,
        algorithm: None,
        lock: None,
        index_statement: false,
    };
    absorb_options(&mut kind, &kind_options);
    Ok(kind)
}

fn clean(message: &str) -> String {
    message.trim_start_matches("sql parser error: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A long file is tokenized in stretches cut at the semicolons the server ends
    /// statements at: cut anywhere such, it reads as the whole text does (the hostile
    /// corpus: quotes, escapes, every comment form, executable comments, DELIMITER, a
    /// tokenizer error at its end).
    #[test]
    fn read_in_stretches_as_read_whole() {
        let corpus = include_str!("../../tests/hostile/mysql.sql");
        let broken = format!("{corpus}\nSELECT 'never closed;\nSELECT 3;");
        let forms = "SELECT 1; SELECT ';', \"a;b\", 'it\\'s;', `c;d`; # x;\n-- y;\n--\nSELECT 2 /* ; */; SELECT '--;'";
        for text in [corpus, &broken, forms] {
            let whole = parse_in_stretches("m.sql", text, usize::MAX);
            for bytes in [1, 2, 7, 40, 300, 4096] {
                let cut = parse_in_stretches("m.sql", text, bytes);
                assert_eq!(
                    format!("{cut:?}"),
                    format!("{whole:?}"),
                    "stretches of {bytes}"
                );
            }
        }
        assert_eq!(stretches(forms, 1).len(), 4);
    }

    #[test]
    fn splits_with_positions_and_reads_each_statement() {
        let text = "# a comment; not a statement\nALTER TABLE `t` ADD COLUMN c INT NOT NULL DEFAULT 0, ADD INDEX k (c), ALGORITHM=INPLACE;\n\n  UPDATE t SET c = a + 1 WHERE c IS NULL;\nCREATE INDEX i ON t (a);\nDROP INDEX i ON t;\nSET foreign_key_checks = 0;\nSELECT ';';";
        let (stmts, diags) = parse_file("m.sql", text);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(stmts.len(), 6);
        assert_eq!((stmts[0].span.line, stmts[0].span.column), (2, 1));
        assert!(stmts[0].sql.starts_with("ALTER TABLE `t`"));
        assert!(stmts[0].sql.ends_with("ALGORITHM=INPLACE"));
        let MyKind::AlterTable {
            table,
            ops,
            algorithm,
            ..
        } = &stmts[0].kind
        else {
            panic!("{:?}", stmts[0].kind)
        };
        assert_eq!(table, "t");
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].to_string(), "ADD INDEX k (c)");
        assert_eq!(*algorithm, Some(AlterTableAlgorithm::Inplace));
        assert_eq!((stmts[1].span.line, stmts[1].span.column), (4, 3));
        assert_eq!(
            stmts[1].kind,
            MyKind::Update {
                table: "t".into(),
                set: vec![("c".into(), "a + 1".into())],
                filter: Some("c IS NULL".into())
            }
        );
        let MyKind::AlterTable {
            ops,
            index_statement: true,
            ..
        } = &stmts[2].kind
        else {
            panic!("{:?}", stmts[2].kind)
        };
        assert_eq!(ops[0].to_string(), "ADD INDEX i (a)");
        assert!(
            matches!(&stmts[3].kind, MyKind::AlterTable { ops, .. } if ops[0].to_string() == "DROP INDEX i")
        );
        assert_eq!(
            stmts[4].kind,
            MyKind::SetVariable {
                name: "foreign_key_checks".into(),
                value: "0".into()
            }
        );
        assert_eq!(stmts[5].kind, MyKind::Other);
    }

    /// Text the server reads as a comment (or as SQL) is read the same here: what the
    /// user commented out is never sent, and what the server runs is never skipped.
    #[test]
    fn comments_are_read_as_the_server_reads_them() {
        let sql = |text: &str| -> (Vec<String>, usize) {
            let (stmts, diags) = parse_file("m.sql", text);
            (stmts.into_iter().map(|s| s.sql).collect(), diags.len())
        };
        // `--` then a TAB, a newline or the end: a comment to the end of the line.
        assert_eq!(
            sql("SELECT 1 --\tx; DROP TABLE t"),
            (vec!["SELECT 1".into()], 0)
        );
        assert_eq!(
            sql("--\n-- header\n--\nALTER TABLE t ADD COLUMN a INT --\r\n;\nSELECT 2 --"),
            (
                vec!["ALTER TABLE t ADD COLUMN a INT".into(), "SELECT 2".into()],
                0
            )
        );
        // `--` then anything else is two minus signs.
        assert_eq!(sql("SELECT 1 --1"), (vec!["SELECT 1 --1".into()], 0));
        // Inside strings and names, nothing changes.
        assert_eq!(
            sql("SELECT '--\t;', `--\t;`"),
            (vec!["SELECT '--\t;', `--\t;`".into()], 0)
        );
        // MariaDB runs `/*M! … */` as SQL, as MySQL and MariaDB run `/*! … */`.
        assert_eq!(sql("SELECT 1 /*M!100000 ; DROP TABLE t */").1, 1);
    }

    /// Tools send a file to the server as it is (multi-statement), and the server reads a
    /// stored program's BEGIN … END body as part of its CREATE: one statement, kept as
    /// written, not refused for want of DELIMITER.
    #[test]
    fn a_stored_program_is_one_statement_without_delimiter() {
        let text = "CREATE TABLE t (id INT PRIMARY KEY, a INT, `function` INT);\n\
            CREATE DEFINER=`app`@`%` PROCEDURE p(IN n INT)\n\
            lbl: BEGIN\n  DECLARE i INT DEFAULT 0;\n  WHILE i < n DO\n    SET i = i + 1;\n  END WHILE;\n\
              IF n > 1 THEN SELECT CASE WHEN n > 2 THEN 'x' ELSE 'y' END; END IF;\n\
              BEGIN SELECT 1; END;\nEND lbl;\n\
            CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END;\n\
            CREATE TRIGGER trg2 BEFORE UPDATE ON t FOR EACH ROW SET NEW.a = 2;\n\
            ALTER TABLE t ADD COLUMN b INT;\n";
        let (stmts, diags) = parse_file("m.sql", text);
        assert_eq!(diags, vec![]);
        let firsts: Vec<(u32, &str)> = stmts
            .iter()
            .map(|s| (s.span.line, s.sql.split_whitespace().nth(1).unwrap_or("")))
            .collect();
        assert_eq!(
            firsts,
            [
                (1, "TABLE"),
                (2, "DEFINER=`app`@`%`"),
                (11, "TRIGGER"),
                (12, "TRIGGER"),
                (13, "TABLE")
            ]
        );
        assert!(stmts[1].sql.ends_with("END lbl"), "{}", stmts[1].sql);
        assert_eq!(stmts[1].kind, MyKind::Other);
    }

    #[test]
    fn bad_statements_are_each_reported_and_none_is_dropped() {
        let text = "ALTER TABLE t ADD COLUMN;\nALTER TABLE t ADD COLUMN ok INT;\n/*!40101 SET NAMES utf8 */;\nDELIMITER //\n";
        let (stmts, diags) = parse_file("m.sql", text);
        assert_eq!(stmts.len(), 1);
        let lines: Vec<u32> = diags.iter().map(|d| d.span.line).collect();
        assert_eq!(lines, vec![1, 3, 4], "{diags:?}");
        assert!(
            diags[0].message.contains("ADD COLUMN"),
            "{}",
            diags[0].message
        );
        assert!(diags[1].message.contains("executed by the server"));
        assert!(diags[2].message.contains("DELIMITER"));
    }
}
