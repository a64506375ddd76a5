//! Findings: what the analysis says about a statement, with stable codes.
//!
//! Codes are part of the JSON contract and will be the rule ids of `zerodown check`:
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
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    /// What to do instead, in one sentence.
    pub hint: Option<String>,
}

impl Finding {
    pub fn new(code: &'static str, severity: Severity, message: impl Into<String>) -> Self {
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

/// Every finding code, with a one-line description (the docs index).
pub const CODES: &[(&str, &str)] = &[
    (
        "add-column-volatile-default",
        "ADD COLUMN with a volatile default rewrites the table under ACCESS EXCLUSIVE",
    ),
    (
        "add-column-identity",
        "ADD COLUMN ... GENERATED AS IDENTITY rewrites the table",
    ),
    (
        "add-column-serial",
        "ADD COLUMN of a serial type rewrites the table (nextval default)",
    ),
    (
        "add-column-stored-generated",
        "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED rewrites the table",
    ),
    (
        "add-column-default-rewrite",
        "ADD COLUMN with a default rewrites the table before PostgreSQL 11",
    ),
    (
        "add-column-constrained-domain",
        "ADD COLUMN of a domain type with constraints rewrites the table",
    ),
    (
        "reindex-blocks",
        "REINDEX without CONCURRENTLY blocks writes, and reads that use the index",
    ),
    (
        "add-column-not-null-without-default",
        "ADD COLUMN NOT NULL without a default fails on a table with rows",
    ),
    (
        "unsupported-on-version",
        "the statement is not accepted by the target version",
    ),
    (
        "type-change-rewrite",
        "ALTER COLUMN TYPE rewrites the table and its indexes",
    ),
    (
        "type-change-index-rebuild",
        "ALTER COLUMN TYPE keeps the table but rebuilds indexes on the column",
    ),
    (
        "type-change-unknown-old-type",
        "the column's current type is unknown offline: a rewrite is assumed",
    ),
    (
        "set-not-null-has-nulls",
        "SET NOT NULL on a column that has NULLs (per statistics) fails",
    ),
    (
        "lock-outside-transaction",
        "LOCK TABLE outside a transaction block is rejected by PostgreSQL",
    ),
    (
        "set-not-null-scan",
        "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
    ),
    (
        "add-check-scan",
        "ADD CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE",
    ),
    (
        "add-foreign-key-scan",
        "ADD FOREIGN KEY without NOT VALID scans under SHARE ROW EXCLUSIVE on both tables",
    ),
    (
        "add-not-null-constraint-scan",
        "ADD CONSTRAINT ... NOT NULL without NOT VALID scans the table",
    ),
    (
        "add-unique-builds-index",
        "ADD UNIQUE / PRIMARY KEY builds an index under ACCESS EXCLUSIVE",
    ),
    (
        "add-exclusion-constraint",
        "ADD EXCLUDE builds an index under ACCESS EXCLUSIVE, with no online path",
    ),
    (
        "primary-key-sets-not-null",
        "ADD PRIMARY KEY on nullable columns scans to set NOT NULL",
    ),
    (
        "create-index-blocks-writes",
        "CREATE INDEX without CONCURRENTLY blocks writes for the whole build",
    ),
    (
        "concurrently-in-transaction",
        "CONCURRENTLY cannot run inside a transaction block",
    ),
    (
        "concurrently-on-partitioned",
        "CREATE INDEX CONCURRENTLY is not supported on a partitioned table",
    ),
    (
        "concurrent-index-corruption-bug",
        "PostgreSQL 14.0-14.3 can corrupt indexes built CONCURRENTLY",
    ),
    (
        "drop-index-blocks",
        "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table",
    ),
    (
        "breaking-drop-column",
        "DROP COLUMN breaks application versions that still use the column",
    ),
    (
        "breaking-drop-table",
        "DROP TABLE breaks application versions that still use the table",
    ),
    (
        "breaking-rename-column",
        "RENAME COLUMN breaks application versions that use the old name",
    ),
    (
        "breaking-rename-table",
        "RENAME TABLE breaks application versions that use the old name",
    ),
    (
        "enum-value-in-transaction",
        "ALTER TYPE ... ADD VALUE inside a transaction",
    ),
    (
        "validate-in-same-transaction",
        "VALIDATE in the same transaction as the ADD keeps the ADD's lock during the scan",
    ),
    (
        "locks-held-in-transaction",
        "a long statement runs while the transaction holds blocking locks from earlier statements",
    ),
    (
        "several-strong-locks",
        "one transaction takes blocking locks on several tables (deadlock risk)",
    ),
    (
        "table-rewrite",
        "the statement rewrites the whole table under ACCESS EXCLUSIVE",
    ),
    (
        "whole-table-update",
        "a large UPDATE in a migration locks every row it touches until commit",
    ),
    (
        "attach-partition-scan",
        "ATTACH PARTITION scans the partition unless a CHECK proves the bound",
    ),
    (
        "detach-partition-blocking",
        "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the parent",
    ),
    (
        "lock-queue-risk",
        "sessions hold conflicting locks now: the DDL would queue and block everyone behind it (MySQL/MariaDB: the table's metadata-lock holders where the server shows them — MariaDB's metadata_lock_info plugin, MySQL's performance_schema —, else every open transaction as a possible one)",
    ),
    (
        "mysql-copy",
        "MySQL/MariaDB: the ALTER TABLE runs with ALGORITHM=COPY, writes blocked for the whole copy; zerodown plans an online rebuild instead, unless the table has triggers, foreign keys (to or from it) or no primary key, and then keeps the blocking copy and says why",
    ),
    (
        "mysql-instant-mixed",
        "MySQL/MariaDB: an instant change mixed with others makes the whole ALTER TABLE rebuild the table",
    ),
    (
        "mysql-online-rebuild",
        "MySQL/MariaDB: the ALTER TABLE rebuilds the table in place (online, but every row rewritten and replicas lag by its duration)",
    ),
    (
        "mysql-blocking-lock",
        "MySQL/MariaDB: the ALTER TABLE needs LOCK=SHARED or EXCLUSIVE for its whole run",
    ),
    (
        "mysql-row-versions",
        "MySQL 8.0.29+: instant ADD/DROP COLUMN has a limit of row versions per table",
    ),
    (
        "mysql-no-algorithm-clause",
        "MySQL/MariaDB: ALTER TABLE without ALGORITHM/LOCK lets the server fall back to a blocking algorithm silently",
    ),
    (
        "unmodeled-statement",
        "zerodown does not model this statement: review its locking by hand",
    ),
    (
        "setting-in-migration",
        "a SET in the migration file; zerodown apply sets its own timeouts per step",
    ),
    (
        "unknown-function-volatility",
        "a function of unknown volatility is treated as volatile",
    ),
    (
        "no-primary-key",
        "the table has no primary key: batched backfill needs a unique NOT NULL key",
    ),
];

/// The finding codes as a Markdown page (docs/findings.md).
pub fn codes_markdown() -> String {
    let mut out = String::from(
        "# Finding codes\n\nStable ids of what `zerodown plan` reports (and, later, the rule ids of `zerodown check`).\n\
         A code is never renamed. Generated from `CODES` in crates/zerodown-core/src/findings.rs.\n\n\
         | code | what it means |\n|---|---|\n",
    );
    for (code, what) in CODES {
        out.push_str(&format!("| `{code}` | {what} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::CODES;

    /// docs/findings.md is generated from CODES; `ZERODOWN_BLESS=1 cargo test` rewrites it.
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

    /// Every code the analysis emits is declared (and so documented): in the analysis
    /// sources every kebab-case string literal is a finding code.
    #[test]
    fn emitted_codes_are_declared() {
        let sources = [
            include_str!("pg/analyze/statement.rs"),
            include_str!("pg/analyze/alter.rs"),
            include_str!("pg/analyze/txn.rs"),
            include_str!("mysql/analyze.rs"),
        ];
        let is_code = |s: &str| {
            s.contains('-')
                && !s.starts_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let mut emitted = 0;
        for src in sources {
            for literal in src.split('"').skip(1).step_by(2).filter(|l| is_code(l)) {
                assert!(
                    CODES.iter().any(|(c, _)| *c == literal),
                    "{literal} is emitted but not in CODES"
                );
                emitted += 1;
            }
        }
        assert!(
            emitted > 30,
            "found only {emitted} codes: has the emitting code moved?"
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut seen: Vec<&str> = CODES.iter().map(|(c, _)| *c).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), CODES.len());
    }
}
