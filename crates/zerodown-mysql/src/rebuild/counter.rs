//! The AUTO_INCREMENT counter carried to the shadow. `CREATE TABLE … LIKE` starts the
//! shadow's counter at 1, and the copy's rows only take it past the highest key copied.
//! The table's counter is often higher (its last rows deleted, inserts rolled back), and
//! after the swap the new table would hand out those numbers again: a deleted order's id
//! given to a new one. Before each cut-over attempt the shadow's counter is raised to the
//! table's. An id taken after that and before the lock by a row that is gone by then (a
//! rolled-back insert) can still be given again: that window is the cut-over's, well
//! under a second.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_exec::DriverError;

use super::Rebuild;
use crate::errors::classify;

/// The counter in SHOW CREATE TABLE's text: the `AUTO_INCREMENT=` of its table options
/// (the line that closes the columns, `) ENGINE=… AUTO_INCREMENT=n …`). None: the table
/// has no AUTO_INCREMENT column, or its counter was never moved from 1.
pub fn counter_of(create_table: &str) -> Option<u64> {
    let options = create_table.lines().find(|l| l.starts_with(") ENGINE="))?;
    // Before a COMMENT, whose text could say anything.
    let options = options.split(" COMMENT=").next()?;
    let (_, rest) = options.split_once(" AUTO_INCREMENT=")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Rebuild {
    /// The AUTO_INCREMENT counter of `table_sql`, read live (SHOW CREATE TABLE asks the
    /// engine; MySQL 8's information_schema may show a cached value).
    async fn counter(&self, c: &mut Conn, table_sql: &str) -> Result<Option<u64>, DriverError> {
        let create = self.show_create(c, table_sql).await?;
        Ok(create.as_deref().and_then(counter_of))
    }

    /// Raises the shadow's AUTO_INCREMENT counter to the table's, where that is higher.
    /// (Not under the cut-over's LOCK TABLES: an ALTER there let other sessions write
    /// the altered table, its lock gone.)
    pub(super) async fn carry_counter(&self, c: &mut Conn) -> Result<(), DriverError> {
        let Some(table) = self.counter(c, &self.source_sql()).await? else {
            return Ok(());
        };
        let shadow = self.counter(c, &self.shadow_sql()).await?;
        if shadow.is_some_and(|s| s >= table) {
            return Ok(());
        }
        // A change of the table options only: no copy, no rebuild.
        c.query_drop(format!(
            "ALTER TABLE {} AUTO_INCREMENT = {table}",
            self.shadow_sql()
        ))
        .await
        .map_err(|e| classify(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::counter_of;

    #[test]
    fn the_counter_is_read_from_the_table_options_only() {
        let create = "CREATE TABLE `t` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `note` varchar(20) DEFAULT NULL COMMENT 'AUTO_INCREMENT=7',
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=1024 DEFAULT CHARSET=utf8mb4 COMMENT='AUTO_INCREMENT=9'
 PARTITION BY HASH (`id`)
PARTITIONS 2";
        assert_eq!(counter_of(create), Some(1024));
        let never_moved = "CREATE TABLE `t` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
        assert_eq!(counter_of(never_moved), None);
        let said_in_a_comment =
            never_moved.replace("utf8mb4", "utf8mb4 COMMENT='AUTO_INCREMENT=9'");
        assert_eq!(counter_of(&said_in_a_comment), None);
    }
}
