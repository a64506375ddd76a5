//! The test MariaDB/MySQL server: databases each test owns, dropped after it (and, like
//! the PostgreSQL ones, by the next test when the process that made them is gone).

use mysql_async::prelude::Queryable;

use crate::unique_name;

/// Base URL of the test MariaDB/MySQL server (no database).
pub fn my_base_url() -> String {
    std::env::var("ZERODOWN_TEST_MYSQL_BASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A connection to the server's `test` database (for admin work).
pub async fn my_admin() -> mysql_async::Conn {
    mysql_async::Conn::from_url(format!("{}/test", my_base_url()))
        .await
        .expect("MariaDB on 127.0.0.1:3306 (bash scripts/setup.sh starts it)")
}

async fn drop_orphaned(admin: &mut mysql_async::Conn) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(names) = admin
        .query::<String, _>(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'zdt\\_%'",
        )
        .await
    else {
        return;
    };
    for name in names {
        let pid = name.rsplit('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_none_or(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = admin
                .query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
                .await;
            let _ = admin
                .query_drop(format!("DROP USER IF EXISTS `{name}`@'%'"))
                .await;
        }
    }
}

/// Removes zerodown's state rows of database `name` (the `_zerodown` database is shared).
async fn forget_state(admin: &mut mysql_async::Conn, name: &str) {
    for table in ["steps", "migrations"] {
        let _ = admin
            .exec_drop(
                format!("DELETE FROM `_zerodown`.{table} WHERE db = ?"),
                (name,),
            )
            .await;
    }
}

/// A MariaDB/MySQL database the test owns, and a user of the same name with the rights
/// docs/refusals.md lists for `apply` and no more: every right on this database and on
/// `_zerodown`, and PROCESS to see other sessions. [`MyTestDatabase::drop`] removes both.
pub struct MyTestDatabase {
    pub name: String,
}

impl MyTestDatabase {
    pub async fn create(tag: &str) -> MyTestDatabase {
        let mut admin = my_admin().await;
        drop_orphaned(&mut admin).await;
        let name = unique_name(tag);
        admin
            .query_drop(format!(
                "CREATE DATABASE `{name}`;
                 CREATE USER `{name}`@'%';
                 GRANT ALL ON `{name}`.* TO `{name}`@'%';
                 GRANT ALL ON `\\_zerodown`.* TO `{name}`@'%';
                 GRANT PROCESS ON *.* TO `{name}`@'%';"
            ))
            .await
            .expect("create test database and its user");
        let _ = admin.disconnect().await;
        MyTestDatabase { name }
    }

    /// `mysql://<user>@…/<name>`: the database's own user, no global rights but PROCESS.
    pub fn url(&self) -> String {
        let base = my_base_url();
        let (scheme, rest) = base.split_once("://").unwrap_or(("mysql", &base));
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{}@{host}/{}", self.name, self.name)
    }

    /// The database as root sees it, for what a test sets up around zerodown.
    pub fn admin_url(&self) -> String {
        format!("{}/{}", my_base_url(), self.name)
    }

    pub async fn connect(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.url())
            .await
            .expect("connect to the test database")
    }

    /// Drops the database (and the `_zerodown` state of runs against it, if any).
    pub async fn drop(self) {
        let mut admin = my_admin().await;
        admin
            .query_drop(format!(
                "DROP DATABASE IF EXISTS `{0}`; DROP USER IF EXISTS `{0}`@'%'",
                self.name
            ))
            .await
            .expect("drop test database");
        forget_state(&mut admin, &self.name).await;
        let _ = admin.disconnect().await;
    }
}
