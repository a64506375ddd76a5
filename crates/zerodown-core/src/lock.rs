//! PostgreSQL table-level lock modes and their conflicts.
//!
//! Names and the conflict matrix follow the manual's "Explicit Locking" page
//! (https://www.postgresql.org/docs/current/explicit-locking.html).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A table-level lock mode, ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    /// All modes, weakest first.
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    /// The name PostgreSQL uses in documentation and `LOCK TABLE`.
    pub fn pg_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// The name in `pg_locks.mode` (e.g. `AccessExclusiveLock`).
    pub fn pg_locks_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }

    /// Parses a `pg_locks.mode` value.
    pub fn from_pg_locks_name(name: &str) -> Option<LockMode> {
        LockMode::ALL
            .into_iter()
            .find(|m| m.pg_locks_name() == name)
    }

    /// Whether two modes conflict (the manual's table 13.2).
    pub fn conflicts_with(self, other: LockMode) -> bool {
        use LockMode::*;
        let (a, b) = if self <= other {
            (self, other)
        } else {
            (other, self)
        };
        match a {
            AccessShare => b == AccessExclusive,
            RowShare => matches!(b, Exclusive | AccessExclusive),
            RowExclusive => matches!(b, Share | ShareRowExclusive | Exclusive | AccessExclusive),
            ShareUpdateExclusive => matches!(
                b,
                ShareUpdateExclusive | Share | ShareRowExclusive | Exclusive | AccessExclusive
            ),
            Share => matches!(b, ShareRowExclusive | Exclusive | AccessExclusive),
            ShareRowExclusive | Exclusive | AccessExclusive => true,
        }
    }

    /// Whether plain `SELECT` (ACCESS SHARE) waits behind this lock.
    pub fn blocks_reads(self) -> bool {
        self.conflicts_with(LockMode::AccessShare)
    }

    /// Whether INSERT/UPDATE/DELETE (ROW EXCLUSIVE) wait behind this lock.
    pub fn blocks_writes(self) -> bool {
        self.conflicts_with(LockMode::RowExclusive)
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.pg_name())
    }
}

impl<'de> Deserialize<'de> for LockMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        LockMode::ALL
            .into_iter()
            .find(|m| m.pg_name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown lock mode {name:?}")))
    }
}

impl Serialize for LockMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.pg_name())
    }
}

#[cfg(test)]
mod tests {
    use super::LockMode::{self, *};

    #[test]
    fn conflict_matrix_is_symmetric_and_matches_manual() {
        for a in LockMode::ALL {
            for b in LockMode::ALL {
                assert_eq!(a.conflicts_with(b), b.conflicts_with(a), "{a} vs {b}");
            }
        }
        // Rows of the manual's table: number of modes each one conflicts with.
        let counts: Vec<usize> = LockMode::ALL
            .iter()
            .map(|a| {
                LockMode::ALL
                    .iter()
                    .filter(|b| a.conflicts_with(**b))
                    .count()
            })
            .collect();
        assert_eq!(counts, vec![1, 2, 4, 5, 5, 6, 7, 8]);
        assert!(!Share.conflicts_with(Share));
        assert!(ShareUpdateExclusive.conflicts_with(ShareUpdateExclusive));
    }

    #[test]
    fn read_write_blocking() {
        assert!(AccessExclusive.blocks_reads());
        assert!(!Exclusive.blocks_reads());
        assert!(Share.blocks_writes());
        assert!(ShareRowExclusive.blocks_writes());
        assert!(!ShareUpdateExclusive.blocks_writes());
        assert_eq!(LockMode::from_pg_locks_name("ShareLock"), Some(Share));
    }
}
