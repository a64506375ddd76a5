//! What the MySQL/MariaDB planner knows of the server: its tables (columns, indexes, size,
//! row format, triggers, instant row versions), `binlog_format`, the transactions open now,
//! and the session settings the migration changes; advanced statement by statement.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlparser::ast::{
    AlterTableOperation, CharacterLength, ColumnDef, ColumnOption, CreateTable, DataType,
    RenameTableNameKind, TableConstraint,
};

use crate::mysql::actions::{ColumnInfo, TableInfo};
use crate::mysql::parse::{table_name as table_name_of, AlterOp, MyKind, OpKind};
use crate::mysql::ExtraOp;

/// One table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MyTable {
    pub info: TableInfo,
    /// Its columns are known (read live, or created by an earlier statement).
    pub known: bool,
    /// Created by this migration: empty, so its locks block no one.
    pub new: bool,
    /// `TABLE_ROWS` (an estimate) or a `--rows` hint.
    pub rows: Option<f64>,
    pub data_bytes: Option<u64>,
    pub index_bytes: Option<u64>,
    pub row_format: Option<String>,
    pub triggers: Vec<String>,
    /// Foreign keys on the table or pointing at it (constraint names).
    pub foreign_keys: Vec<String>,
    /// MySQL 8.0.29+: row versions made by instant ADD/DROP COLUMN so far.
    pub total_row_versions: Option<u32>,
    /// Sessions holding a metadata lock on the table now, when the server can tell
    /// (MariaDB's metadata_lock_info plugin, MySQL's performance_schema); None when it
    /// cannot, and then any open transaction may be one.
    pub lock_holders: Option<Vec<OpenTransaction>>,
}

impl MyTable {
    pub fn is_empty(&self) -> bool {
        self.new || self.rows == Some(0.0)
    }

    pub fn primary_key(&self) -> Option<&[String]> {
        self.info.indexes.get("PRIMARY").map(Vec::as_slice)
    }

    /// Why zerodown's online rebuild (shadow table, binlog, rename) cannot take this
    /// table, if it cannot: what it refuses at run time, known here from the catalog.
    pub fn online_rebuild_obstacle(&self) -> Option<String> {
        if !self.triggers.is_empty() {
            return Some(format!(
                "it has triggers ({}), which would stay with the old table",
                self.triggers.join(", ")
            ));
        }
        if !self.foreign_keys.is_empty() {
            return Some(format!(
                "foreign keys ({}) point to or from it, and would follow the old table",
                self.foreign_keys.join(", ")
            ));
        }
        if self.known && self.primary_key().is_none() {
            return Some("it has no primary key to copy it by".into());
        }
        for key in self.primary_key().unwrap_or_default() {
            let Some(c) = self.info.columns.get(key) else {
                continue;
            };
            if let Some(why) = unfollowable_key(&c.column_type, c.charset.as_deref()) {
                return Some(format!(
                    "its primary key column {key} ({}{}) cannot be followed: {why}",
                    c.column_type,
                    c.charset
                        .as_deref()
                        .map(|s| format!(" {s}"))
                        .unwrap_or_default()
                ));
            }
        }
        None
    }
}

/// Why the online rebuild cannot follow a primary key column of this type (`DATA_TYPE`
/// or `COLUMN_TYPE`) and character set, if it cannot: its binary log reader takes keys as
/// UTF-8 text. Bytes that are not UTF-8 are misread (a BINARY(16) key ended the copy after
/// its first chunk; a latin1 'é' made the re-copy fail, and latin1 bytes that happen to be
/// valid UTF-8 would name another row).
pub fn unfollowable_key(column_type: &str, charset: Option<&str>) -> Option<&'static str> {
    let data_type = column_type
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match (data_type.as_str(), charset) {
        ("binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob", _) => {
            Some("a binary key is read from the binary log as text")
        }
        (_, Some("utf8mb4" | "utf8mb3" | "utf8" | "ascii")) | (_, None) => None,
        (_, Some(_)) => {
            Some("only UTF-8 and ASCII keys are read from the binary log as they are stored")
        }
    }
}

/// A transaction open on the server now (it may hold metadata locks on any table it
/// touched: the server does not say which without `metadata_lock_info` or
/// `performance_schema`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenTransaction {
    pub id: u64,
    /// PROCESSLIST `COMMAND` (`Sleep` for an idle one) and `STATE`.
    pub state: String,
    pub seconds: f64,
    pub query: String,
}

/// The MySQL/MariaDB catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct MyCatalog {
    /// By name as written in the migration (`db.t` when qualified).
    pub tables: BTreeMap<String, MyTable>,
    pub binlog_format: Option<String>,
    pub open_transactions: Vec<OpenTransaction>,
    /// Read live: unknown tables are bad input, not assumed.
    pub live: bool,
    /// The migration's `SET foreign_key_checks` so far.
    pub foreign_key_checks: bool,
}

impl MyCatalog {
    /// At a file boundary of a folder of migrations: tables the earlier files created
    /// are existing tables for the later ones (possibly large by the time those run:
    /// size unknown), as when `zerodown check` reads a whole history.
    pub fn end_of_file(&mut self) {
        for t in self.tables.values_mut().filter(|t| t.new) {
            t.new = false;
            t.rows = None;
            t.data_bytes = None;
            t.index_bytes = None;
        }
    }
}

impl Default for MyCatalog {
    fn default() -> Self {
        MyCatalog {
            tables: BTreeMap::new(),
            binlog_format: None,
            open_transactions: Vec::new(),
            live: false,
            foreign_key_checks: true,
        }
    }
}

impl MyCatalog {
    /// The table, or (offline) an existing table whose columns are unknown.
    pub fn table(&self, name: &str) -> Option<MyTable> {
        match self.tables.get(name) {
            Some(t) => Some(t.clone()),
            None if !self.live => Some(MyTable::default()),
            None => None,
        }
    }

    /// A `--rows` hint (live: only for a table that exists, so a typo cannot invent one).
    pub fn hint_rows(&mut self, name: &str, rows: f64) {
        if self.live && !self.tables.contains_key(name) {
            return;
        }
        let t = self.tables.entry(name.to_owned()).or_default();
        t.rows = Some(rows);
        if t.data_bytes.is_none() {
            // InnoDB rows of a typical narrow table, pages included.
            t.data_bytes = Some((rows * 100.0) as u64);
        }
    }

    /// Advances the catalog past a statement.
    pub fn apply(&mut self, kind: &MyKind) {
        match kind {
            MyKind::CreateTable { table, statement } => {
                self.tables.insert(table.clone(), created(statement));
            }
            MyKind::AlterTable { table, ops, .. } => {
                let t = self.tables.entry(table.clone()).or_default();
                for op in ops {
                    alter(&mut t.info, op);
                }
                // `RENAME [TO|AS] t2` moves the table, with what the other operations did.
                if let Some(to) = ops.iter().rev().find_map(renamed_to) {
                    if let Some(t) = self.tables.remove(table) {
                        self.tables.insert(to, t);
                    }
                }
            }
            MyKind::DropTable { tables } => {
                for t in tables {
                    self.tables.remove(t);
                }
            }
            MyKind::RenameTable { pairs } => {
                for (from, to) in pairs {
                    if let Some(t) = self.tables.remove(from) {
                        self.tables.insert(to.clone(), t);
                    }
                }
            }
            MyKind::SetVariable { name, value } => {
                if name.trim_start_matches("session.") == "foreign_key_checks" {
                    self.foreign_key_checks =
                        !matches!(value.to_ascii_lowercase().as_str(), "0" | "off" | "false");
                }
            }
            MyKind::Update { .. } | MyKind::DataChange { .. } | MyKind::Other => {}
        }
    }
}

/// The table's new name, when the operation is `RENAME [TO|AS] t2`.
pub fn renamed_to(op: &AlterOp) -> Option<String> {
    match &op.kind {
        OpKind::Parsed(AlterTableOperation::RenameTable { table_name }) => match table_name {
            RenameTableNameKind::To(n) | RenameTableNameKind::As(n) => Some(table_name_of(n)),
        },
        _ => None,
    }
}

/// Bytes per character of a character set (the maximum, as InnoDB reserves it).
fn charset_bytes(charset: &str) -> u32 {
    match charset.to_ascii_lowercase().as_str() {
        "latin1" | "ascii" | "binary" | "latin2" => 1,
        "ucs2" => 2,
        "utf8" | "utf8mb3" => 3,
        _ => 4,
    }
}

fn column_charset(def: &ColumnDef) -> Option<String> {
    def.options.iter().find_map(|o| match &o.option {
        ColumnOption::CharacterSet(name) => Some(name.to_string()),
        _ => None,
    })
}

/// A column as information_schema would show it.
pub fn column_info(def: &ColumnDef, table_charset: &str) -> ColumnInfo {
    let charset = column_charset(def).unwrap_or_else(|| table_charset.into());
    let per_char = charset_bytes(&charset);
    let textual = matches!(
        def.data_type,
        DataType::Varchar(_)
            | DataType::Char(_)
            | DataType::CharacterVarying(_)
            | DataType::Text
            | DataType::TinyText
            | DataType::MediumText
            | DataType::LongText
            | DataType::Enum(..)
            | DataType::Set(_)
    );
    let chars = match &def.data_type {
        DataType::Varchar(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::Char(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::CharacterVarying(Some(CharacterLength::IntegerLength { length, .. })) => {
            Some(*length as u32)
        }
        _ => None,
    };
    ColumnInfo {
        column_type: def.data_type.to_string().to_ascii_lowercase(),
        charset: textual.then(|| charset.to_ascii_lowercase()),
        max_bytes: chars.map(|c| c * per_char),
        nullable: !def.options.iter().any(|o| {
            matches!(
                o.option,
                ColumnOption::NotNull
                    | ColumnOption::Unique {
                        is_primary: true,
                        ..
                    }
            )
        }),
    }
}

fn created(c: &CreateTable) -> MyTable {
    let charset = c
        .table_options
        .to_string()
        .to_ascii_lowercase()
        .split_once("charset")
        .and_then(|(_, rest)| {
            rest.trim_start_matches([' ', '='])
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "utf8mb4".into());
    let mut info = TableInfo::default();
    for def in &c.columns {
        let name = def.name.value.to_ascii_lowercase();
        info.columns
            .insert(name.clone(), column_info(def, &charset));
        for o in &def.options {
            if let ColumnOption::Unique { is_primary, .. } = o.option {
                let index = if is_primary {
                    "PRIMARY".into()
                } else {
                    name.clone()
                };
                info.indexes.insert(index, vec![name.clone()]);
            }
        }
    }
    for constraint in &c.constraints {
        add_constraint(&mut info, constraint);
    }
    MyTable {
        info,
        // `CREATE TABLE … AS SELECT`: the query's columns are not known here.
        known: c.query.is_none(),
        new: true,
        rows: Some(0.0),
        ..MyTable::default()
    }
}

fn add_constraint(info: &mut TableInfo, constraint: &TableConstraint) {
    let cols = |columns: &[sqlparser::ast::IndexColumn]| -> Vec<String> {
        columns
            .iter()
            .map(|c| {
                c.column
                    .expr
                    .to_string()
                    .split('(')
                    .next()
                    .unwrap_or_default()
                    .trim_matches('`')
                    .to_ascii_lowercase()
            })
            .collect()
    };
    let (name, columns) = match constraint {
        TableConstraint::PrimaryKey { columns, .. } => ("PRIMARY".to_owned(), cols(columns)),
        TableConstraint::Unique { name, columns, .. }
        | TableConstraint::Index { name, columns, .. } => {
            let columns = cols(columns);
            let name = name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_else(|| columns.first().cloned().unwrap_or_default());
            (name, columns)
        }
        TableConstraint::ForeignKey { name, columns, .. } => {
            let columns: Vec<String> = columns
                .iter()
                .map(|c| c.value.to_ascii_lowercase())
                .collect();
            // The server builds an index for an FK no index starts with.
            if columns.first().is_some_and(|c| !info.leads(c)) {
                let name = name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
                info.indexes.insert(name, columns);
            }
            return;
        }
        _ => return,
    };
    info.indexes.insert(name, columns);
}

fn alter(info: &mut TableInfo, op: &AlterOp) {
    match &op.kind {
        OpKind::Parsed(AlterTableOperation::AddColumn { column_def, .. }) => {
            info.columns.insert(
                column_def.name.value.to_ascii_lowercase(),
                column_info(column_def, "utf8mb4"),
            );
        }
        OpKind::Parsed(AlterTableOperation::DropColumn { column_names, .. }) => {
            for c in column_names {
                let c = c.value.to_ascii_lowercase();
                info.columns.remove(&c);
                for cols in info.indexes.values_mut() {
                    cols.retain(|x| *x != c);
                }
                info.indexes.retain(|_, cols| !cols.is_empty());
            }
        }
        OpKind::Parsed(AlterTableOperation::ModifyColumn {
            col_name,
            data_type,
            options,
            ..
        }) => {
            let def = ColumnDef {
                name: col_name.clone(),
                data_type: data_type.clone(),
                options: options
                    .iter()
                    .map(|o| sqlparser::ast::ColumnOptionDef {
                        name: None,
                        option: o.clone(),
                    })
                    .collect(),
            };
            info.columns.insert(
                col_name.value.to_ascii_lowercase(),
                column_info(&def, "utf8mb4"),
            );
        }
        OpKind::Parsed(AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        })
        | OpKind::Parsed(AlterTableOperation::ChangeColumn {
            old_name: old_column_name,
            new_name: new_column_name,
            ..
        }) => {
            let (from, to) = (
                old_column_name.value.to_ascii_lowercase(),
                new_column_name.value.to_ascii_lowercase(),
            );
            if let Some(c) = info.columns.remove(&from) {
                info.columns.insert(to.clone(), c);
            }
            for cols in info.indexes.values_mut() {
                for c in cols.iter_mut().filter(|c| **c == from) {
                    *c = to.clone();
                }
            }
        }
        OpKind::Parsed(AlterTableOperation::AddConstraint { constraint, .. }) => {
            add_constraint(info, constraint)
        }
        OpKind::Parsed(AlterTableOperation::DropIndex { name }) => {
            info.indexes.remove(&name.value);
        }
        OpKind::Parsed(AlterTableOperation::DropPrimaryKey { .. }) => {
            info.indexes.remove("PRIMARY");
        }
        OpKind::Extra(ExtraOp::RenameIndex { from, to }) => {
            if let Some(cols) = info.indexes.remove(from) {
                info.indexes.insert(to.clone(), cols);
            }
        }
        OpKind::Extra(ExtraOp::ConvertCharset { charset, .. }) => {
            let per_char = charset_bytes(charset);
            for c in info.columns.values_mut() {
                if c.charset.is_some() {
                    c.charset = Some(charset.to_ascii_lowercase());
                }
                if let (Some(bytes), Some(len)) = (c.max_bytes, declared_length(&c.column_type)) {
                    if bytes > 0 {
                        c.max_bytes = Some(len * per_char);
                    }
                }
            }
        }
        OpKind::Parsed(_) | OpKind::Extra(_) | OpKind::Unread => {}
    }
}

fn declared_length(column_type: &str) -> Option<u32> {
    column_type
        .split_once('(')?
        .1
        .split_once(')')?
        .0
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::parse::parse_file;

    fn run(cat: &mut MyCatalog, sql: &str) {
        let (stmts, diags) = parse_file("m.sql", sql);
        assert!(diags.is_empty(), "{diags:?}");
        for s in stmts {
            cat.apply(&s.kind);
        }
    }

    #[test]
    fn follows_the_migration() {
        let mut cat = MyCatalog::default();
        run(
            &mut cat,
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50) CHARACTER SET latin1, w VARCHAR(10), a INT NOT NULL, KEY ka (a)) DEFAULT CHARSET=utf8mb3;
             ALTER TABLE t ADD COLUMN b BIGINT, ADD INDEX kb (b, a), RENAME COLUMN a TO a2;
             SET foreign_key_checks = 0;",
        );
        let t = &cat.tables["t"];
        assert!(t.new && t.known);
        assert_eq!(t.primary_key(), Some(&["id".to_owned()][..]));
        assert_eq!(t.info.columns["v"].max_bytes, Some(50));
        assert_eq!(t.info.columns["w"].max_bytes, Some(30));
        assert!(!t.info.columns["a2"].nullable && t.info.columns["b"].nullable);
        assert_eq!(t.info.indexes["ka"], vec!["a2"]);
        assert!(t.info.leads("b") && t.info.indexed("a2") && !t.info.leads("v"));
        assert!(!cat.foreign_key_checks);
        run(
            &mut cat,
            "ALTER TABLE t DROP COLUMN b, CONVERT TO CHARACTER SET utf8mb4; RENAME TABLE t TO u",
        );
        let u = &cat.tables["u"];
        assert!(!u.info.indexes.contains_key("kb") || u.info.indexes["kb"] == vec!["a2"]);
        assert_eq!(u.info.columns["v"].max_bytes, Some(200));
        assert!(
            cat.table("t").is_some(),
            "offline: unknown tables are assumed"
        );
        cat.live = true;
        assert!(cat.table("t").is_none());
    }

    #[test]
    fn keys_the_binary_log_reader_cannot_follow_stop_the_online_rebuild() {
        let mut cat = MyCatalog::default();
        run(
            &mut cat,
            "CREATE TABLE b (id BINARY(16) PRIMARY KEY, n INT);
             CREATE TABLE l (code VARCHAR(10) PRIMARY KEY, n INT) DEFAULT CHARSET=latin1;
             CREATE TABLE u (code VARCHAR(10) CHARACTER SET utf8mb4 PRIMARY KEY) DEFAULT CHARSET=latin1;
             CREATE TABLE i (id INT PRIMARY KEY, v VARCHAR(5)) DEFAULT CHARSET=latin1;",
        );
        let obstacle = |t: &str| cat.tables[t].online_rebuild_obstacle();
        let b = obstacle("b").expect("binary key");
        assert!(b.contains("column id (binary(16))"), "{b}");
        let l = obstacle("l").expect("latin1 key");
        assert!(l.contains("column code (varchar(10) latin1)"), "{l}");
        assert_eq!(obstacle("u"), None);
        assert_eq!(obstacle("i"), None, "a latin1 column that is not the key");
        run(&mut cat, "ALTER TABLE l CONVERT TO CHARACTER SET utf8mb4;");
        assert_eq!(
            cat.tables["l"].info.columns["code"].charset.as_deref(),
            Some("utf8mb4")
        );
        assert_eq!(cat.tables["l"].online_rebuild_obstacle(), None);
    }

    #[test]
    fn binary_and_non_utf8_key_types_are_named() {
        for (column_type, charset) in [
            ("binary", None),
            ("varbinary(20)", None),
            ("BLOB", None),
            ("varchar(10)", Some("latin1")),
            ("char", Some("cp1251")),
        ] {
            assert!(
                unfollowable_key(column_type, charset).is_some(),
                "{column_type}"
            );
        }
        for (column_type, charset) in [
            ("varchar(10)", Some("utf8mb4")),
            ("varchar", Some("utf8mb3")),
            ("char(2)", Some("ascii")),
            ("int(11) unsigned", None),
            ("datetime", None),
        ] {
            assert!(
                unfollowable_key(column_type, charset).is_none(),
                "{column_type}"
            );
        }
    }
}
