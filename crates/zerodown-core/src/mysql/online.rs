//! What MySQL and MariaDB do with one `ALTER TABLE` on InnoDB: the cheapest algorithm the
//! server accepts for each action (INSTANT, NOCOPY, INPLACE, COPY), the weakest lock it
//! allows concurrent clients, whether the table is rebuilt, and what mixing actions in one
//! statement does to all of them. The facts of `shared/facts/mysql-mariadb.md` as data;
//! version-dependent ones come from `capabilities`. A live test tries every action on the
//! real MariaDB with each algorithm and lock and compares.

use serde::{Deserialize, Serialize};
use sqlparser::ast::{AlterTableAlgorithm, AlterTableLock};

use crate::capabilities as cap;
use crate::engine::{Engine, ServerProfile};

/// `ALGORITHM=`, cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Algorithm {
    /// Metadata only.
    Instant,
    /// MariaDB: in place without rebuilding the clustered index (may build an index).
    Nocopy,
    /// In place; concurrent DML allowed; may rebuild the table.
    Inplace,
    /// A copy of the table; concurrent writes blocked for the whole copy.
    Copy,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Instant => "INSTANT",
            Algorithm::Nocopy => "NOCOPY",
            Algorithm::Inplace => "INPLACE",
            Algorithm::Copy => "COPY",
        }
    }
}

/// `LOCK=`: what concurrent clients may do while the statement runs (all DDL still takes
/// an exclusive metadata lock briefly at its start and end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DdlLock {
    /// Reads and writes go on.
    None,
    /// Reads go on, writes wait.
    Shared,
    /// Reads and writes wait.
    Exclusive,
}

impl DdlLock {
    pub fn name(self) -> &'static str {
        match self {
            DdlLock::None => "NONE",
            DdlLock::Shared => "SHARED",
            DdlLock::Exclusive => "EXCLUSIVE",
        }
    }
}

/// The best a statement can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Online {
    pub algorithm: Algorithm,
    pub lock: DdlLock,
    /// The clustered index (all the rows) is written again.
    pub rebuilds: bool,
}

/// Where an added column goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Last,
    /// `FIRST` or `AFTER x`.
    Elsewhere,
}

/// An added column's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnDefault {
    /// None, or a literal (a NOT NULL column without one gets the type's zero value).
    Literal,
    /// `CURRENT_TIMESTAMP` or another expression.
    Expression,
}

/// One action of an `ALTER TABLE`, as far as the server's choice of algorithm goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AddColumn {
        position: Position,
        default: ColumnDefault,
    },
    AddGeneratedColumn {
        stored: bool,
    },
    DropColumn {
        indexed: bool,
    },
    /// `MODIFY c <same type> AFTER x`.
    ReorderColumn,
    SetOrDropDefault,
    /// A VARCHAR made longer: its maximum length in bytes before and after.
    WidenVarchar {
        from_bytes: u32,
        to_bytes: u32,
    },
    ShrinkVarchar,
    /// INT -> BIGINT and any other integer widening or signedness change.
    ChangeIntegerType,
    AppendEnumValues,
    ReorderEnumValues,
    AddIndex,
    /// FULLTEXT (`fulltext`) or SPATIAL: built with writes blocked.
    AddFulltextOrSpatialIndex {
        fulltext: bool,
    },
    DropIndex,
    /// `ALTER TABLE … RENAME [TO|AS] t2`.
    RenameTable,
    AddForeignKey {
        foreign_key_checks: bool,
        /// No index starts with the referencing columns: the server builds one.
        builds_index: bool,
    },
    DropForeignKey,
    SetNotNull,
    DropNotNull,
    /// `FORCE`, `ENGINE=InnoDB`, `ROW_FORMAT=`, a new primary key.
    Rebuild,
    /// `CONVERT TO CHARACTER SET`: every character column re-encoded.
    ChangeCharset,
    /// `RENAME COLUMN`, or `CHANGE a b` with the same definition.
    RenameColumn,
    RenameIndex,
    /// `AUTO_INCREMENT = n`.
    SetAutoIncrement,
    /// A change to a column whose definition is unknown (offline, table not created in
    /// the migration): the worst, a copy, is assumed.
    UnknownColumnChange,
}

const INSTANT: Online = Online {
    algorithm: Algorithm::Instant,
    lock: DdlLock::None,
    rebuilds: false,
};
const REBUILD_ONLINE: Online = Online {
    algorithm: Algorithm::Inplace,
    lock: DdlLock::None,
    rebuilds: true,
};
const COPY: Online = Online {
    algorithm: Algorithm::Copy,
    lock: DdlLock::Shared,
    rebuilds: true,
};

/// In place without a rebuild: NOCOPY where MariaDB has it, INPLACE otherwise.
fn no_rebuild(p: &ServerProfile) -> Online {
    Online {
        algorithm: if cap::nocopy_algorithm(p) {
            Algorithm::Nocopy
        } else {
            Algorithm::Inplace
        },
        lock: DdlLock::None,
        rebuilds: false,
    }
}

/// Metadata only: INSTANT on MariaDB (10.3.7+), in place without rebuild on MySQL (its
/// table says "Instant: No" for these even where nothing is rewritten).
fn metadata_only(p: &ServerProfile) -> Online {
    if p.engine == Engine::MariaDb && cap::nocopy_algorithm(p) {
        INSTANT
    } else {
        Online {
            algorithm: Algorithm::Inplace,
            lock: DdlLock::None,
            rebuilds: false,
        }
    }
}

/// VARCHAR lengths of up to 255 bytes keep a 1-byte length prefix; longer ones need 2.
const ONE_BYTE_LENGTH_MAX: u32 = 255;

/// The cheapest algorithm and weakest lock the server accepts for `action` alone.
pub fn action(p: &ServerProfile, action: Action) -> Online {
    match action {
        Action::AddColumn {
            default: ColumnDefault::Expression,
            ..
        } if p.engine == Engine::MySql => REBUILD_ONLINE, // facts file: (verify)
        Action::AddColumn {
            position: Position::Last,
            ..
        }
        | Action::AddGeneratedColumn { stored: false }
            if cap::instant_add_column_last(p) =>
        {
            INSTANT
        }
        Action::AddColumn { .. } | Action::DropColumn { indexed: false }
            if cap::instant_add_anywhere_and_drop_column(p) =>
        {
            INSTANT
        }
        Action::AddColumn { .. } | Action::AddGeneratedColumn { stored: false } => REBUILD_ONLINE,
        Action::DropColumn { indexed: true }
            if p.engine == Engine::MariaDb && cap::instant_add_anywhere_and_drop_column(p) =>
        {
            no_rebuild(p)
        }
        Action::DropColumn { .. } => REBUILD_ONLINE,
        Action::ReorderColumn if cap::instant_reorder_column(p) => INSTANT,
        Action::ReorderColumn => REBUILD_ONLINE,
        Action::RenameColumn if cap::instant_rename_column(p) => INSTANT,
        Action::RenameColumn
        | Action::RenameIndex
        | Action::RenameTable
        | Action::SetAutoIncrement => metadata_only(p),
        // refman "Online DDL Operations", index operations: FULLTEXT and SPATIAL are
        // built in place with no concurrent DML, and the first FULLTEXT index rebuilds
        // the table (it adds FTS_DOC_ID); MariaDB's "InnoDB Online DDL Operations with
        // ALGORITHM=INPLACE" says the same. The rebuild is assumed (the costly case).
        Action::AddFulltextOrSpatialIndex { fulltext } => Online {
            algorithm: Algorithm::Inplace,
            lock: DdlLock::Shared,
            rebuilds: fulltext,
        },
        Action::SetOrDropDefault | Action::AppendEnumValues => {
            if cap::instant_add_column_last(p) {
                INSTANT
            } else {
                metadata_only(p)
            }
        }
        Action::WidenVarchar {
            from_bytes,
            to_bytes,
        } if (from_bytes <= ONE_BYTE_LENGTH_MAX) == (to_bytes <= ONE_BYTE_LENGTH_MAX) => {
            metadata_only(p)
        }
        Action::AddGeneratedColumn { stored: true }
        | Action::WidenVarchar { .. }
        | Action::ShrinkVarchar
        | Action::ChangeIntegerType
        | Action::ChangeCharset
        | Action::UnknownColumnChange
        | Action::ReorderEnumValues
        | Action::AddForeignKey {
            foreign_key_checks: true,
            ..
        } => COPY,
        // Unchecked: existing rows are not validated, but a missing index is still built
        // (measured on MariaDB 10.11: "Reason: ADD INDEX. Try ALGORITHM=NOCOPY").
        Action::AddIndex
        | Action::DropIndex
        | Action::AddForeignKey {
            builds_index: true, ..
        } => no_rebuild(p),
        Action::AddForeignKey { .. } | Action::DropForeignKey => metadata_only(p),
        Action::SetNotNull | Action::DropNotNull | Action::Rebuild => REBUILD_ONLINE,
    }
}

/// Actions that change the row format instantly: mixed with anything that is not
/// instant, the whole statement loses INSTANT and rebuilds the table.
fn reshapes_rows(a: Action) -> bool {
    matches!(
        a,
        Action::AddColumn { .. }
            | Action::AddGeneratedColumn { .. }
            | Action::DropColumn { .. }
            | Action::ReorderColumn
    )
}

/// One `ALTER TABLE` with several actions: the server picks one algorithm for all of them,
/// the most expensive any of them needs; an instant column change mixed with any action
/// that is not instant turns the statement into a rebuild (measured on MariaDB 10.11:
/// `ADD COLUMN` + `ADD INDEX` ran as INPLACE with a rebuild; MySQL's manual: ADD COLUMN
/// cannot combine with actions that do not support INSTANT).
pub fn statement(p: &ServerProfile, actions: &[Action]) -> Online {
    let each: Vec<Online> = actions.iter().map(|a| action(p, *a)).collect();
    let mut out = each.iter().copied().fold(INSTANT, |acc, o| Online {
        algorithm: acc.algorithm.max(o.algorithm),
        lock: acc.lock.max(o.lock),
        rebuilds: acc.rebuilds || o.rebuilds,
    });
    let degraded = out.algorithm != Algorithm::Instant
        && actions
            .iter()
            .zip(&each)
            .any(|(a, o)| reshapes_rows(*a) && o.algorithm == Algorithm::Instant);
    if degraded {
        out.algorithm = out.algorithm.max(Algorithm::Inplace);
        out.rebuilds = true;
    }
    out
}

/// What the server does when the statement names `ALGORITHM=` / `LOCK=` itself: a
/// heavier algorithm or lock than the server's own choice is what runs (`ALGORITHM=COPY`
/// copies an instant change; `ALGORITHM=INPLACE` rebuilds for a column the server would
/// add instantly; `LOCK=SHARED` blocks writes). A lighter one makes the server refuse
/// the statement, which blocks nothing: the server's choice stands.
pub fn as_written(
    o: Online,
    actions: &[Action],
    algorithm: Option<AlterTableAlgorithm>,
    lock: Option<AlterTableLock>,
) -> Online {
    let mut out = o;
    match algorithm {
        Some(AlterTableAlgorithm::Copy) => {
            out.algorithm = Algorithm::Copy;
            out.rebuilds = true;
            out.lock = out.lock.max(DdlLock::Shared);
        }
        Some(AlterTableAlgorithm::Inplace) if o.algorithm < Algorithm::Inplace => {
            out.algorithm = Algorithm::Inplace;
            out.rebuilds |= actions.iter().any(|a| reshapes_rows(*a));
        }
        _ => {}
    }
    match lock {
        Some(AlterTableLock::Exclusive) => out.lock = DdlLock::Exclusive,
        Some(AlterTableLock::Shared) => out.lock = out.lock.max(DdlLock::Shared),
        _ => {}
    }
    out
}

/// The `ALGORITHM=…, LOCK=…` clause that makes the server refuse, rather than silently
/// fall back to something that blocks more. MySQL accepts only `LOCK=DEFAULT` with
/// INSTANT (refman "ALTER TABLE": "ALGORITHM=INSTANT ... LOCK=DEFAULT only").
pub fn clause(p: &ServerProfile, o: Online) -> String {
    if o.algorithm == Algorithm::Instant && p.engine == Engine::MySql {
        return "ALGORITHM=INSTANT".into();
    }
    format!("ALGORITHM={}, LOCK={}", o.algorithm.name(), o.lock.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Settings, Version};

    fn server(engine: Engine, v: Version) -> ServerProfile {
        ServerProfile {
            engine,
            version: v,
            settings: Settings::default(),
        }
    }

    #[test]
    fn versions_decide_what_is_instant() {
        let maria_10_3 = server(Engine::MariaDb, Version::with_patch(10, 3, 39));
        let maria_10_11 = server(Engine::MariaDb, Version::with_patch(10, 11, 19));
        let mysql_8_0_28 = server(Engine::MySql, Version::with_patch(8, 0, 28));
        let mysql_8_0_29 = server(Engine::MySql, Version::with_patch(8, 0, 29));
        let after = Action::AddColumn {
            position: Position::Elsewhere,
            default: ColumnDefault::Literal,
        };
        assert_eq!(action(&maria_10_3, after), REBUILD_ONLINE);
        assert_eq!(action(&maria_10_11, after), INSTANT);
        assert_eq!(action(&mysql_8_0_28, after), REBUILD_ONLINE);
        assert_eq!(action(&mysql_8_0_29, after), INSTANT);
        let drop = Action::DropColumn { indexed: false };
        assert_eq!(action(&maria_10_3, drop), REBUILD_ONLINE);
        assert_eq!(action(&mysql_8_0_29, drop), INSTANT);
        assert_eq!(action(&mysql_8_0_29, Action::ReorderColumn), REBUILD_ONLINE);
        assert_eq!(
            action(&mysql_8_0_29, Action::AddIndex).algorithm,
            Algorithm::Inplace
        );
        assert_eq!(
            action(&maria_10_11, Action::AddIndex).algorithm,
            Algorithm::Nocopy
        );
    }

    #[test]
    fn mixing_an_instant_column_change_with_an_index_rebuilds_everything() {
        let p = server(Engine::MariaDb, Version::with_patch(10, 11, 19));
        let add = Action::AddColumn {
            position: Position::Last,
            default: ColumnDefault::Literal,
        };
        assert_eq!(statement(&p, &[add]), INSTANT);
        assert_eq!(statement(&p, &[add, Action::AddIndex]), REBUILD_ONLINE);
        assert_eq!(statement(&p, &[add, Action::ChangeIntegerType]), COPY);
        // Instant actions that keep the row format mix freely with a NOCOPY index.
        assert_eq!(
            statement(&p, &[Action::SetOrDropDefault, Action::AddIndex]),
            no_rebuild(&p)
        );
    }

    #[test]
    fn the_clause_never_lets_the_server_choose() {
        let maria = server(Engine::MariaDb, Version::with_patch(10, 11, 19));
        let mysql = server(Engine::MySql, Version::with_patch(8, 0, 36));
        assert_eq!(clause(&maria, INSTANT), "ALGORITHM=INSTANT, LOCK=NONE");
        assert_eq!(clause(&mysql, INSTANT), "ALGORITHM=INSTANT");
        assert_eq!(clause(&mysql, COPY), "ALGORITHM=COPY, LOCK=SHARED");
    }
}
