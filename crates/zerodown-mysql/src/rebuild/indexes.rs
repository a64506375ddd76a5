//! Secondary indexes built after the copy. Inserting a million rows into a B-tree in key
//! order is cheap for the primary key but scatters writes over a secondary index; building
//! it once from the copied rows (ALGORITHM=INPLACE sorts them) took half the time under
//! load (bench/mysql_online_vs_ptosc.sh, BENCHMARKS.md). Only plain non-unique indexes are
//! put off: a unique one keeps failing the copy on a duplicate where it happens, and
//! FULLTEXT/SPATIAL ones are built differently. They are put off all or none, so the new
//! table lists its indexes in the order a direct ALTER TABLE would give.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde::{Deserialize, Serialize};
use zerodown_core::sql::quote::mysql_ident;
use zerodown_exec::DriverError;

use super::Rebuild;
use crate::errors::classify;

/// An index dropped from the empty shadow, to be added back after the copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    pub name: String,
    /// Its definition as the server printed it in SHOW CREATE TABLE (`KEY `k` (`c`)`):
    /// the server's own text, sent back to it unchanged, so nothing of the definition
    /// (prefix lengths, order, comments, visibility) is lost by re-rendering.
    pub definition: String,
}

/// The name in a `KEY `name` (…)` line (backquotes doubled inside), and the rest.
fn key_line_name(line: &str) -> Option<String> {
    let rest = line.strip_prefix("KEY `")?;
    let mut name = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '`' {
            if chars.peek() == Some(&'`') {
                chars.next();
            } else {
                return Some(name);
            }
        }
        name.push(ch);
    }
    None
}

/// The plain non-unique indexes of SHOW CREATE TABLE's text, when they are exactly the
/// `expected` names in order (anything else — a name with a line break, a FULLTEXT or
/// SPATIAL index among them — and none are put off).
pub fn deferrable(create_table: &str, expected: &[(String, String)]) -> Vec<Deferred> {
    if expected.iter().any(|(_, kind)| kind != "BTREE") {
        return Vec::new();
    }
    let found: Vec<Deferred> = create_table
        .lines()
        .map(|l| l.trim().trim_end_matches(','))
        .filter_map(|l| {
            key_line_name(l).map(|name| Deferred {
                name,
                definition: l.to_owned(),
            })
        })
        .collect();
    let names_match =
        found.len() == expected.len() && found.iter().zip(expected).all(|(f, (e, _))| &f.name == e);
    if names_match {
        found
    } else {
        Vec::new()
    }
}

impl Rebuild {
    /// The shadow's non-unique secondary indexes, in the server's order, with their kind.
    async fn non_unique(&self, c: &mut Conn) -> Result<Vec<(String, String)>, DriverError> {
        c.exec(
            "SELECT INDEX_NAME, MAX(INDEX_TYPE) FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 1
              GROUP BY INDEX_NAME",
            (self.db.clone(), self.shadow.clone()),
        )
        .await
        .map_err(|e| classify(&e))
    }

    /// Drops the empty shadow's plain non-unique indexes; returns them to add back.
    pub(super) async fn defer_indexes(&self, c: &mut Conn) -> Result<Vec<Deferred>, DriverError> {
        let expected = self.non_unique(c).await?;
        if expected.is_empty() {
            return Ok(Vec::new());
        }
        let Some(create) = self.show_create(c, &self.shadow_sql()).await? else {
            return Ok(Vec::new());
        };
        let deferred = deferrable(&create, &self.in_definition_order(&create, expected));
        if !deferred.is_empty() {
            let drops = deferred
                .iter()
                .map(|d| format!("DROP INDEX {}", mysql_ident(&d.name)))
                .collect::<Vec<_>>()
                .join(", ");
            c.query_drop(format!("ALTER TABLE {} {drops}", self.shadow_sql()))
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(deferred)
    }

    /// information_schema lists indexes by name; SHOW CREATE TABLE in the table's order.
    fn in_definition_order(
        &self,
        create: &str,
        mut indexes: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        let position = |name: &str| {
            create
                .lines()
                .position(|l| key_line_name(l.trim()).as_deref() == Some(name))
                .unwrap_or(usize::MAX)
        };
        indexes.sort_by_key(|(name, _)| position(name));
        indexes
    }

    /// Adds back, in one ALTER TABLE, the put-off indexes the shadow does not have (a
    /// resumed run may find them built).
    pub(super) async fn build_deferred(
        &self,
        c: &mut Conn,
        deferred: &[Deferred],
    ) -> Result<(), DriverError> {
        let present: Vec<String> = self
            .non_unique(c)
            .await?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let adds: Vec<String> = deferred
            .iter()
            .filter(|d| !present.contains(&d.name))
            .map(|d| format!("ADD {}", d.definition))
            .collect();
        if adds.is_empty() {
            return Ok(());
        }
        c.query_drop(format!(
            "ALTER TABLE {} {}, ALGORITHM=INPLACE, LOCK=NONE",
            self.shadow_sql(),
            adds.join(", ")
        ))
        .await
        .map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CREATE TABLE `t_zdnew` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `k` bigint(20) NOT NULL DEFAULT 0,
  `c` char(120) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  UNIQUE KEY `u` (`c`),
  KEY `k_1` (`k`),
  KEY `odd``name` (`c`(10),`k`) COMMENT 'why, (not)'
) ENGINE=InnoDB";

    fn kinds(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "BTREE".to_owned()))
            .collect()
    }

    #[test]
    fn plain_keys_are_taken_with_their_text() {
        let d = deferrable(CREATE, &kinds(&["k_1", "odd`name"]));
        assert_eq!(
            d,
            vec![
                Deferred {
                    name: "k_1".into(),
                    definition: "KEY `k_1` (`k`)".into()
                },
                Deferred {
                    name: "odd`name".into(),
                    definition: "KEY `odd``name` (`c`(10),`k`) COMMENT 'why, (not)'".into()
                },
            ]
        );
    }

    #[test]
    fn anything_unexpected_puts_off_none() {
        // A name the text does not show as expected, or a FULLTEXT index among them.
        assert!(deferrable(CREATE, &kinds(&["k_1"])).is_empty());
        assert!(deferrable(CREATE, &kinds(&["odd`name", "k_1"])).is_empty());
        let mut with_fulltext = kinds(&["k_1", "odd`name"]);
        with_fulltext[1].1 = "FULLTEXT".into();
        assert!(deferrable(CREATE, &with_fulltext).is_empty());
    }
}
