//! What an offline `plan` or `check` takes for granted, in words for its report: without
//! a server, each unknown is taken at its costly case, and the reader must be able to
//! see which (the flags that settle them are named).

use std::collections::BTreeSet;

use crate::engine::ServerProfile;
use crate::migrations::SourceFile;
use crate::mysql::parse::{MyKind, MyStatement};
use crate::pg::ir::{DdlOp, QualName};
use crate::pg::parse::ParsedFile;
use crate::pipeline;

/// Names shown before "and N more".
const SHOWN: usize = 8;

/// PostgreSQL: the session, the transactions and the objects the files do not define.
pub fn postgres(files: &[ParsedFile], profile: &ServerProfile) -> Vec<String> {
    let mut out = vec![
        match &profile.settings.timezone {
            Some(zone) => format!("TimeZone: {zone} (--timezone)"),
            None => "TimeZone: not known (--timezone): a timestamp <-> timestamptz change is taken to rewrite the table".to_owned(),
        },
        match &profile.settings.search_path {
            Some(path) => format!("search_path: {} (--search-path)", path.join(", ")),
            None => "search_path: unqualified names are in schema public (--search-path)".to_owned(),
        },
    ];
    out.push(transactions(files.iter().map(|f| &f.source)));
    let mut made: BTreeSet<QualName> = BTreeSet::new();
    for s in files.iter().flat_map(|f| &f.statements) {
        match &s.op {
            DdlOp::CreateTable { table, .. } | DdlOp::CreateTableAs { table, .. } => {
                made.insert(table.resolved());
            }
            DdlOp::RenameTable { table, new_name } => {
                made.insert(QualName {
                    name: new_name.clone(),
                    ..table.resolved()
                });
            }
            DdlOp::CreateIndex(ix) => {
                if let Some(name) = &ix.name {
                    made.insert(QualName {
                        name: name.clone(),
                        ..ix.table.resolved()
                    });
                }
            }
            _ => {}
        }
    }
    let refs = pipeline::references(files);
    let unknown = |names: &BTreeSet<QualName>| -> Vec<String> {
        names
            .iter()
            .filter(|n| !made.contains(&n.resolved()))
            .map(|n| n.to_string())
            .collect()
    };
    out.extend(listed(
        "tables the files do not create exist, size unknown",
        &unknown(&refs.tables),
    ));
    out.extend(listed(
        "indexes the files do not create are on such a table",
        &unknown(&refs.indexes),
    ));
    out
}

/// MySQL/MariaDB: the transactions, the SQL mode and the tables the files do not define.
pub fn mysql(statements: &[MyStatement], sources: &[SourceFile]) -> Vec<String> {
    let mut out = vec![
        "sql_mode: without ANSI_QUOTES or NO_BACKSLASH_ESCAPES (quotes and backslashes read as by default)".to_owned(),
        transactions(sources.iter()),
    ];
    let mut made: BTreeSet<String> = BTreeSet::new();
    for s in statements {
        match &s.kind {
            MyKind::CreateTable { table, .. } => {
                made.insert(table.clone());
            }
            MyKind::RenameTable { pairs } => made.extend(pairs.iter().map(|(_, to)| to.clone())),
            MyKind::AlterTable { ops, .. } => {
                made.extend(ops.iter().filter_map(crate::mysql::catalog::renamed_to));
            }
            _ => {}
        }
    }
    let unknown: Vec<String> = pipeline::mysql_tables(statements)
        .into_iter()
        .filter(|t| !made.contains(t))
        .collect();
    out.extend(listed(
        "tables the files do not create exist, size and columns unknown",
        &unknown,
    ));
    out
}

/// How the files' transactions were taken (`--file-transaction` settles it).
fn transactions<'a>(sources: impl Iterator<Item = &'a SourceFile>) -> String {
    let (mut wrapped, mut plain) = (0, 0);
    for s in sources {
        if s.implicit_transaction {
            wrapped += 1;
        } else {
            plain += 1;
        }
    }
    format!(
        "transactions: {wrapped} file(s) each run in one transaction, {plain} statement by statement, as their migration tool runs them (--file-transaction)"
    )
}

fn listed(what: &str, names: &[String]) -> Option<String> {
    let (first, rest) = names.split_at(names.len().min(SHOWN));
    match (first.is_empty(), rest.len()) {
        (true, _) => None,
        (false, 0) => Some(format!("{what}: {}", first.join(", "))),
        (false, n) => Some(format!("{what}: {} and {n} more", first.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::classify;

    #[test]
    fn says_what_the_files_do_not_define() {
        let sources = [
            classify("001_a.sql", "CREATE TABLE a (id bigint PRIMARY KEY);"),
            classify(
                "change.sql",
                "ALTER TABLE a ADD COLUMN x int; ALTER TABLE app.b ADD COLUMN y int; DROP INDEX old_idx;",
            ),
        ];
        let (files, d) = pipeline::parse_sources(&sources);
        assert!(d.is_empty());
        let said = postgres(&files, &"postgres:17".parse().expect("target")).join("\n");
        assert!(said.contains("TimeZone: not known"), "{said}");
        assert!(
            said.contains("1 file(s) each run in one transaction, 1 statement by statement"),
            "{said}"
        );
        // `a` is created by the first file: not assumed.
        assert!(said.contains("size unknown: app.b\n"), "{said}");
        assert!(said.contains("on such a table: old_idx"), "{said}");
    }
}
