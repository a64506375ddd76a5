//! The one table of "this engine at this version does X".
//!
//! Every version-dependent fact the planner uses lives here, with its source, so a
//! change in a new release is one edit. Sources are collected in
//! `shared/facts/postgres.md` (PostgreSQL manual and release notes) and
//! `shared/facts/mysql-mariadb.md` (MySQL reference manual and release notes, MariaDB
//! knowledge base, measurements on MariaDB 10.11.19).

use crate::engine::{Engine, ServerProfile, Version};

fn pg_at_least(p: &ServerProfile, major: u32) -> bool {
    p.engine == Engine::Postgres && p.version.major >= major
}

/// `ADD COLUMN ... DEFAULT <non-volatile>` stores the value in the catalog, no rewrite.
/// Source: PostgreSQL 11 release notes; manual "5.6.1 Adding a Column".
pub fn fast_default(p: &ServerProfile) -> bool {
    pg_at_least(p, 11)
}

/// `SET NOT NULL` skips its full scan when a valid `CHECK (c IS NOT NULL)` exists.
/// Source: PostgreSQL 12 release notes.
pub fn set_not_null_uses_valid_check(p: &ServerProfile) -> bool {
    pg_at_least(p, 12)
}

/// `ADD CONSTRAINT n NOT NULL c NOT VALID` + `VALIDATE CONSTRAINT` exist natively.
/// Source: PostgreSQL 18 release notes.
pub fn not_null_not_valid(p: &ServerProfile) -> bool {
    pg_at_least(p, 18)
}

/// Virtual generated columns exist (and are the default kind) and never rewrite.
/// Source: PostgreSQL 18 release notes.
pub fn virtual_generated_columns(p: &ServerProfile) -> bool {
    pg_at_least(p, 18)
}

/// Stored generated columns exist. Source: PostgreSQL 12 release notes.
pub fn stored_generated_columns(p: &ServerProfile) -> bool {
    pg_at_least(p, 12)
}

/// `timestamp <-> timestamptz` is binary-coercible when the session TimeZone is UTC.
/// Source: PostgreSQL 12 (commit 3c59263), manual ALTER TABLE notes.
pub fn timestamptz_cast_without_rewrite(p: &ServerProfile) -> bool {
    pg_at_least(p, 12) && p.settings.timezone.as_deref().is_some_and(is_utc)
}

fn is_utc(tz: &str) -> bool {
    matches!(
        tz.to_ascii_uppercase().as_str(),
        "UTC" | "ETC/UTC" | "UCT" | "ETC/UCT" | "GMT" | "ETC/GMT" | "ZULU" | "Z" | "UNIVERSAL"
    )
}

/// `ATTACH PARTITION` takes SHARE UPDATE EXCLUSIVE (not ACCESS EXCLUSIVE) on the parent.
/// Source: PostgreSQL 12 release notes.
pub fn attach_partition_share_update_exclusive(p: &ServerProfile) -> bool {
    pg_at_least(p, 12)
}

/// `DETACH PARTITION ... CONCURRENTLY` exists. Source: PostgreSQL 14 release notes.
pub fn detach_partition_concurrently(p: &ServerProfile) -> bool {
    pg_at_least(p, 14)
}

/// `REINDEX ... CONCURRENTLY` exists. Source: PostgreSQL 12 release notes.
pub fn reindex_concurrently(p: &ServerProfile) -> bool {
    pg_at_least(p, 12)
}

/// `ALTER TYPE ... ADD VALUE` may run inside a transaction block.
/// Source: PostgreSQL 12 release notes; manual ALTER TYPE.
pub fn enum_add_value_in_transaction(p: &ServerProfile) -> bool {
    pg_at_least(p, 12)
}

/// `NOT VALID` foreign keys on partitioned tables. Not allowed through 17; the
/// PostgreSQL 18 release notes list support (the facts file marks it "verify").
pub fn fk_not_valid_on_partitioned(p: &ServerProfile) -> bool {
    pg_at_least(p, 18)
}

/// `NULLS NOT DISTINCT` unique indexes/constraints. Source: PostgreSQL 15 release notes.
pub fn unique_nulls_not_distinct(p: &ServerProfile) -> bool {
    pg_at_least(p, 15)
}

/// PostgreSQL 14.0 to 14.3 can corrupt indexes built by CREATE INDEX CONCURRENTLY
/// or REINDEX CONCURRENTLY. Source: PostgreSQL 14.4 release notes.
pub fn concurrent_index_corruption_bug(p: &ServerProfile) -> bool {
    p.engine == Engine::Postgres
        && p.version >= Version::new(14, 0)
        && p.version < Version::new(14, 4)
}

fn mariadb_at_least(p: &ServerProfile, v: Version) -> bool {
    p.engine == Engine::MariaDb && p.version >= v
}

fn mysql_at_least(p: &ServerProfile, v: Version) -> bool {
    p.engine == Engine::MySql && p.version >= v
}

/// `ADD COLUMN` as the last column with `ALGORITHM=INSTANT`.
/// Source: MariaDB KB "InnoDB Online DDL Operations with the INSTANT Alter Algorithm"
/// (10.3.2, MDEV-11369; the ALGORITHM=INSTANT clause itself from 10.3.7, the first GA);
/// MySQL 8.0 refman "Online DDL Operations" (8.0.12).
pub fn instant_add_column_last(p: &ServerProfile) -> bool {
    mariadb_at_least(p, Version::with_patch(10, 3, 7))
        || mysql_at_least(p, Version::with_patch(8, 0, 12))
}

/// `ADD COLUMN ... FIRST | AFTER x` and `DROP COLUMN` with `ALGORITHM=INSTANT`.
/// Source: MariaDB KB, same page (10.4.0, MDEV-15562); MySQL 8.0.29 release notes.
pub fn instant_add_anywhere_and_drop_column(p: &ServerProfile) -> bool {
    mariadb_at_least(p, Version::new(10, 4)) || mysql_at_least(p, Version::with_patch(8, 0, 29))
}

/// Reordering a column (`MODIFY c ... AFTER x`, same type) with `ALGORITHM=INSTANT`.
/// Source: MariaDB KB, same page (10.4.0, MDEV-15562). MySQL 8.0: an in-place rebuild
/// (refman "Online DDL Operations", "Reordering columns": Instant No, Rebuilds Yes).
pub fn instant_reorder_column(p: &ServerProfile) -> bool {
    mariadb_at_least(p, Version::new(10, 4))
}

/// `ALGORITHM=NOCOPY` exists (in-place without rebuilding the clustered index).
/// Source: MariaDB blog "ALTER TABLE Improvements in MariaDB Server 10.3" (10.3.7).
pub fn nocopy_algorithm(p: &ServerProfile) -> bool {
    mariadb_at_least(p, Version::with_patch(10, 3, 7))
}

/// `RENAME COLUMN` / `CHANGE a b <same type>` with `ALGORITHM=INSTANT`.
/// Source: MariaDB KB INSTANT page ("renaming a column", with ALGORITHM=INSTANT from
/// 10.3.7; measured INSTANT on 10.11.19, facts file); MySQL 8.0.28 release notes
/// (INPLACE, metadata only, before).
pub fn instant_rename_column(p: &ServerProfile) -> bool {
    mariadb_at_least(p, Version::with_patch(10, 3, 7))
        || mysql_at_least(p, Version::with_patch(8, 0, 28))
}

/// How many row versions instant ADD/DROP COLUMN may create before MySQL requires a
/// rebuild (error 4092 "Maximum row versions reached"; `TOTAL_ROW_VERSIONS` of
/// `INFORMATION_SCHEMA.INNODB_TABLES` counts them). Source: MySQL 8.0.29 release notes
/// and refman "Online DDL Operations" (64; 255 from 9.1). MariaDB has no such limit.
pub fn instant_row_versions_limit(p: &ServerProfile) -> Option<u32> {
    if mysql_at_least(p, Version::new(9, 1)) {
        Some(255)
    } else if mysql_at_least(p, Version::with_patch(8, 0, 29)) {
        Some(64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(major: u32, minor: u32) -> ServerProfile {
        ServerProfile::postgres(major, minor)
    }

    #[test]
    fn version_boundaries() {
        assert!(fast_default(&pg(11, 0)));
        assert!(!set_not_null_uses_valid_check(&pg(11, 9)));
        assert!(set_not_null_uses_valid_check(&pg(12, 0)));
        assert!(!not_null_not_valid(&pg(17, 5)));
        assert!(not_null_not_valid(&pg(18, 0)));
        assert!(concurrent_index_corruption_bug(&pg(14, 3)));
        assert!(!concurrent_index_corruption_bug(&pg(14, 4)));
        assert!(!concurrent_index_corruption_bug(&pg(13, 9)));
        let mut p = pg(15, 0);
        assert!(!timestamptz_cast_without_rewrite(&p), "unknown time zone");
        p.settings.timezone = Some("Etc/UTC".into());
        assert!(timestamptz_cast_without_rewrite(&p));
        p.settings.timezone = Some("Europe/Paris".into());
        assert!(!timestamptz_cast_without_rewrite(&p));
        let mut old = pg(11, 0);
        old.settings.timezone = Some("UTC".into());
        assert!(!timestamptz_cast_without_rewrite(&old));
    }
}
