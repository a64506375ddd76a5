//! Findings: what the analysis says about a statement, with stable codes.
//!
//! Codes are part of the JSON contract and are the rule ids of `zerodown check`:
//! never rename one, add new ones instead.

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One thing the analysis found about a statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// What to do instead, in one sentence.
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(code: Code, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Declares [`Code`]: each variant with its stable id and one-line description, in
/// the order docs/findings.md lists them.
macro_rules! codes {
    ($($variant:ident = $id:literal: $what:literal,)*) => {
        /// Every finding code. The serialized id (kebab-case) is part of the JSON, SARIF
        /// and check contracts: never rename one, add new ones instead.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in the docs' order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable id, e.g. `add-column-volatile-default`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $id,)*
                }
            }

            /// What the code means, in one line (the docs index).
            pub fn description(self) -> &'static str {
                match self {
                    $(Code::$variant => $what,)*
                }
            }
        }
    };
}

codes! {
    AddColumnVolatileDefault = "add-column-volatile-default":
        "ADD COLUMN with a volatile default rewrites the table under ACCESS EXCLUSIVE",
    AddColumnIdentity = "add-column-identity":
        "ADD COLUMN ... GENERATED AS IDENTITY rewrites the table",
    AddColumnSerial = "add-column-serial":
        "ADD COLUMN of a serial type rewrites the table (nextval default)",
    AddColumnStoredGenerated = "add-column-stored-generated":
        "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED rewrites the table",
    AddColumnDefaultRewrite = "add-column-default-rewrite":
        "ADD COLUMN with a default rewrites the table before PostgreSQL 11",
    AddColumnConstrainedDomain = "add-column-constrained-domain":
        "ADD COLUMN of a domain type with constraints rewrites the table",
    ReindexBlocks = "reindex-blocks":
        "REINDEX without CONCURRENTLY blocks writes, and reads that use the index",
    AddColumnNotNullWithoutDefault = "add-column-not-null-without-default":
        "ADD COLUMN NOT NULL without a default fails on a table with rows",
    UnsupportedOnVersion = "unsupported-on-version":
        "the statement is not accepted by the target version",
    TypeChangeRewrite = "type-change-rewrite":
        "ALTER COLUMN TYPE rewrites the table and its indexes",
    TypeChangeIndexRebuild = "type-change-index-rebuild":
        "ALTER COLUMN TYPE keeps the table but rebuilds indexes on the column",
    TypeChangeUnknownOldType = "type-change-unknown-old-type":
        "the column's current type is unknown offline: a rewrite is assumed",
    SetNotNullHasNulls = "set-not-null-has-nulls":
        "SET NOT NULL on a column that has NULLs (per statistics) fails",
    LockOutsideTransaction = "lock-outside-transaction":
        "LOCK TABLE outside a transaction block is rejected by PostgreSQL",
    SetNotNullScan = "set-not-null-scan":
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
    AddCheckScan = "add-check-scan":
        "ADD CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE",
    AddForeignKeyScan = "add-foreign-key-scan":
        "ADD FOREIGN KEY without NOT VALID scans under SHARE ROW EXCLUSIVE on both tables",
    AddNotNullConstraintScan = "add-not-null-constraint-scan":
        "ADD CONSTRAINT ... NOT NULL without NOT VALID scans the table",
    AddUniqueBuildsIndex = "add-unique-builds-index":
        "ADD UNIQUE / PRIMARY KEY builds an index under ACCESS EXCLUSIVE",
    AddExclusionConstraint = "add-exclusion-constraint":
        "ADD EXCLUDE builds an index under ACCESS EXCLUSIVE, with no online path",
    PrimaryKeySetsNotNull = "primary-key-sets-not-null":
        "ADD PRIMARY KEY on nullable columns scans to set NOT NULL",
    CreateIndexBlocksWrites = "create-index-blocks-writes":
        "CREATE INDEX without CONCURRENTLY blocks writes for the whole build",
    ConcurrentlyInTransaction = "concurrently-in-transaction":
        "CONCURRENTLY cannot run inside a transaction block",
    ConcurrentlyOnPartitioned = "concurrently-on-partitioned":
        "CREATE INDEX CONCURRENTLY is not supported on a partitioned table",
    ConcurrentIndexCorruptionBug = "concurrent-index-corruption-bug":
        "PostgreSQL 14.0-14.3 can corrupt indexes built CONCURRENTLY",
    DropIndexBlocks = "drop-index-blocks":
        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table",
    BreakingDropColumn = "breaking-drop-column":
        "DROP COLUMN breaks application versions that still use the column",
    BreakingDropTable = "breaking-drop-table":
        "DROP TABLE breaks application versions that still use the table",
    BreakingRenameColumn = "breaking-rename-column":
        "RENAME COLUMN breaks application versions that use the old name",
    TruncateDeletesRows = "truncate-deletes-rows":
        "TRUNCATE deletes every row under ACCESS EXCLUSIVE (with CASCADE, of the referencing tables too) and is not MVCC-safe",
    BreakingRenameTable = "breaking-rename-table":
        "RENAME TABLE breaks application versions that use the old name",
    EnumValueInTransaction = "enum-value-in-transaction":
        "ALTER TYPE ... ADD VALUE inside a transaction",
    ValidateInSameTransaction = "validate-in-same-transaction":
        "VALIDATE in the same transaction as the ADD keeps the ADD's lock during the scan",
    LocksHeldInTransaction = "locks-held-in-transaction":
        "a long statement runs while the transaction holds blocking locks from earlier statements",
    SeveralStrongLocks = "several-strong-locks":
        "one transaction takes blocking locks on several tables (deadlock risk)",
    TableRewrite = "table-rewrite":
        "the statement rewrites the whole table under ACCESS EXCLUSIVE",
    WholeTableUpdate = "whole-table-update":
        "a large UPDATE in a migration locks every row it touches until commit",
    LargeDataChange = "large-data-change":
        "a DELETE, an INSERT … SELECT or an UPDATE with FROM/WITH on existing data runs as one statement: row locks, a long transaction, a burst of WAL",
    AttachPartitionScan = "attach-partition-scan":
        "ATTACH PARTITION scans the partition unless a CHECK proves the bound",
    DetachPartitionBlocking = "detach-partition-blocking":
        "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the parent",
    LockQueueRisk = "lock-queue-risk":
        "sessions hold conflicting locks now: the DDL would queue and block everyone behind it (MySQL/MariaDB: the table's metadata-lock holders where the server shows them — MariaDB's metadata_lock_info plugin, MySQL's performance_schema —, else every open transaction as a possible one)",
    MysqlCopy = "mysql-copy":
        "MySQL/MariaDB: the ALTER TABLE runs with ALGORITHM=COPY, writes blocked for the whole copy; zerodown plans an online rebuild instead, unless the table has triggers, foreign keys (to or from it) or no primary key, and then keeps the blocking copy and says why",
    MysqlInstantMixed = "mysql-instant-mixed":
        "MySQL/MariaDB: an instant change mixed with others makes the whole ALTER TABLE rebuild the table",
    MysqlOnlineRebuild = "mysql-online-rebuild":
        "MySQL/MariaDB: the ALTER TABLE rebuilds the table in place (online, but every row rewritten and replicas lag by its duration)",
    MysqlBlockingLock = "mysql-blocking-lock":
        "MySQL/MariaDB: the ALTER TABLE needs LOCK=SHARED or EXCLUSIVE for its whole run",
    MysqlRowVersions = "mysql-row-versions":
        "MySQL 8.0.29+: instant ADD/DROP COLUMN has a limit of row versions per table",
    MysqlNoAlgorithmClause = "mysql-no-algorithm-clause":
        "MySQL/MariaDB: ALTER TABLE without ALGORITHM/LOCK lets the server fall back to a blocking algorithm silently",
    UnmodeledStatement = "unmodeled-statement":
        "zerodown does not model this statement: review its locking by hand",
    SettingInMigration = "setting-in-migration":
        "a SET in the migration file; zerodown apply sets its own timeouts per step",
    UnknownFunctionVolatility = "unknown-function-volatility":
        "a function of unknown volatility is treated as volatile",
    NoPrimaryKey = "no-primary-key":
        "the table has no primary key: batched backfill needs a unique NOT NULL key",
}

impl Code {
    /// The code whose id this is.
    pub fn from_id(id: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == id)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The finding codes as a Markdown page (docs/findings.md).
pub fn codes_markdown() -> String {
    let mut out = String::from(
        "# Finding codes\n\nStable ids of what `zerodown plan` reports, and rule ids of `zerodown check`.\n\
         A code is never renamed. Generated from `Code` in crates/zerodown-core/src/findings.rs.\n\n\
         | code | what it means |\n|---|---|\n",
    );
    for code in Code::ALL {
        let what = code.description();
        out.push_str(&format!("| `{code}` | {what} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Code;

    /// docs/findings.md is generated from Code; `ZERODOWN_BLESS=1 cargo test` rewrites it.
    #[test]
    fn docs_list_every_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/findings.md");
        let want = super::codes_markdown();
        if std::env::var_os("ZERODOWN_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/findings.md");
        }
        let have = std::fs::read_to_string(path).expect("read docs/findings.md");
        assert!(have == want, "docs/findings.md is out of date: run ZERODOWN_BLESS=1 cargo test -p zerodown-core findings");
    }

    /// Ids are unique, kebab-case, and what a code serializes to.
    #[test]
    fn ids_are_unique_kebab_case_and_serialized() {
        let mut seen: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), Code::ALL.len());
        for c in Code::ALL {
            let id = c.as_str();
            assert!(
                id.split('-').all(|w| !w.is_empty()
                    && w.chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit())),
                "{id} is not kebab-case"
            );
            assert_eq!(
                serde_json::to_string(c).expect("serialize"),
                format!("\"{id}\"")
            );
            assert_eq!(Code::from_id(id), Some(*c));
        }
    }
}
