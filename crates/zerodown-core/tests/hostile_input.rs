//! Hostile input: the corpus under `tests/hostile/` (inputs that once broke zerodown) and
//! random mutations of it go through parse -> analyze -> plan and `check` for both
//! engines. Whatever the input: no panic, and every refusal is a diagnostic placed in
//! the file at a line it has. CI runs proptest's default number of cases (256 per
//! engine); `PROPTEST_CASES=100000 cargo test -p zerodown-core --test hostile_input`
//! is the long run.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zerodown_core::check;
use zerodown_core::engine::{Engine, ServerProfile};
use zerodown_core::estimate::CostModel;
use zerodown_core::migrations::{Layout, SourceFile};
use zerodown_core::mysql::catalog::MyCatalog;
use zerodown_core::pg::catalog::Catalog;
use zerodown_core::pipeline;
use zerodown_core::plan::PlanOptions;
use zerodown_core::sql::source::Diagnostic;

const PG_CORPUS: &str = include_str!("hostile/pg.sql");
const MYSQL_CORPUS: &str = include_str!("hostile/mysql.sql");

fn source(text: &str) -> Vec<SourceFile> {
    vec![SourceFile {
        name: "m.sql".into(),
        text: text.to_owned(),
        layout: Layout::Plain,
        implicit_transaction: false,
    }]
}

/// Each diagnostic names the file and a line the text has.
fn placed(text: &str, diagnostics: &[Diagnostic]) -> Result<(), String> {
    let lines = text.split('\n').count() as u32;
    for d in diagnostics {
        if &*d.span.file != "m.sql" || d.span.line == 0 || d.span.line > lines {
            return Err(format!("misplaced diagnostic {d:?} for {text:?}"));
        }
        if d.message.trim().is_empty() {
            return Err(format!("empty message for {text:?}"));
        }
    }
    Ok(())
}

/// `text` through parse, analyze and plan, then `check`, for `target`: every refusal on
/// the way must be placed in the file.
fn through(text: &str, target: &str) -> Result<(), String> {
    let sources = source(text);
    let profile: ServerProfile = target.parse().map_err(|e| format!("{e:?}"))?;
    let (cost, opts) = (CostModel::default(), PlanOptions::default());
    let (diagnostics, planned) = if profile.engine == Engine::Postgres {
        let (files, d) = pipeline::parse_sources(&sources);
        let planned = d
            .is_empty()
            .then(|| pipeline::run(&files, &Catalog::default(), &profile, &cost, &opts));
        (d, planned.and_then(Result::err))
    } else {
        let (statements, d) = pipeline::parse_mysql_sources(&sources);
        let planned = d.is_empty().then(|| {
            pipeline::run_mysql(&statements, &MyCatalog::default(), &profile, &cost, &opts)
        });
        (d, planned.and_then(Result::err))
    };
    placed(text, &diagnostics)?;
    placed(text, &planned.unwrap_or_default())?;
    let lines = text.split('\n').count() as u32;
    for p in check::check(&sources, &profile, &BTreeMap::new(), &|_: &str| true).problems {
        if p.file != "m.sql" || p.line == 0 || p.line > lines || p.message.trim().is_empty() {
            return Err(format!("misplaced problem {p:?} for {text:?}"));
        }
    }
    Ok(())
}

fn through_pg(text: &str) -> Result<(), String> {
    through(text, "postgres:15")
}

fn through_mysql(text: &str) -> Result<(), String> {
    through(text, "mariadb:10.11")
}

/// The corpus as inputs: the whole file, and each line alone.
fn inputs(corpus: &'static str) -> Vec<String> {
    std::iter::once(corpus.to_owned())
        .chain(corpus.lines().map(str::to_owned))
        .collect()
}

#[test]
fn the_corpus_is_read_without_panic_and_refusals_are_placed() {
    for text in inputs(PG_CORPUS) {
        through_pg(&text).unwrap_or_else(|e| panic!("{e}"));
    }
    for text in inputs(MYSQL_CORPUS) {
        through_mysql(&text).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Pieces that tend to break readers: quotes, comment starts, semicolons, multi-byte
/// characters, keywords.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "$$",
    "$a$",
    "--",
    "--\t",
    "#",
    "/*",
    "*/",
    "/*!",
    "/*M!",
    ";",
    "\\",
    "''",
    "\n",
    "\r\n",
    "(",
    ")",
    ",",
    ".",
    "é",
    "🚀",
    "\u{0}",
    "BEGIN",
    "END",
    "ROLLBACK",
    "SET",
    "DO",
    "ALTER TABLE t ",
    "ADD COLUMN ",
    "DROP ",
    "CREATE INDEX i ON t (a)",
    "UPDATE t SET ",
    "WHERE ",
    "DEFAULT ",
    "COMMENT ",
    "DELIMITER ",
    "IF NOT EXISTS ",
    "CONCURRENTLY ",
    // Type modifiers and casts: the deparser cannot print every tree the grammar accepts.
    "numeric(",
    "::",
    " + 1",
    "ARRAY[",
    "]",
    "COLLATE \"C\" ",
];

/// One mutation: insert a piece, delete a range, or duplicate a range (at char boundaries).
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, p)| Mutation::Insert(at, p)),
        (any::<usize>(), 0..40usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 0..40usize).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(base: &str, mutations: &[Mutation]) -> String {
    let mut text = base.to_owned();
    for m in mutations {
        match *m {
            Mutation::Insert(at, p) => {
                let at = boundary(&text, at);
                text.insert_str(at, PIECES[p]);
            }
            Mutation::Delete(at, n) | Mutation::Duplicate(at, n) => {
                let from = boundary(&text, at);
                let to = boundary(&text, from + n.min(text.len() - from));
                if let Mutation::Duplicate(..) = m {
                    let copy = text[from..to].to_owned();
                    text.insert_str(to, &copy);
                } else {
                    text.replace_range(from..to, "");
                }
            }
        }
    }
    text
}

proptest! {
    #[test]
    fn mutated_postgres_input_never_panics(
        base in prop::sample::select(inputs(PG_CORPUS)),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let text = mutate(&base, &mutations);
        prop_assert_eq!(through_pg(&text), Ok(()));
    }

    #[test]
    fn mutated_mysql_input_never_panics(
        base in prop::sample::select(inputs(MYSQL_CORPUS)),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let text = mutate(&base, &mutations);
        prop_assert_eq!(through_mysql(&text), Ok(()));
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        prop_assert_eq!(through_pg(&text), Ok(()));
        prop_assert_eq!(through_mysql(&text), Ok(()));
    }
}
