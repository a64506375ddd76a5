//! The planner's MySQL/MariaDB facts against the real MariaDB: every action is tried on a
//! fresh 2,000-row table with each ALGORITHM (cheapest first) and LOCK (weakest first);
//! the first the server accepts must be the one `mysql_online` declares, and the table is
//! rebuilt (a new InnoDB table id) exactly when it says so. Each case's actions must also
//! be what `mysql_actions` reads from its SQL against the live table.

use mysql_async::prelude::Queryable;
use zerodown_core::mysql::actions::alter_actions;
use zerodown_core::mysql::online::{
    clause, statement, Action, Algorithm, ColumnDefault, DdlLock, Online, Position,
};

fn url() -> String {
    std::env::var("ZERODOWN_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

const TABLE: &str = "CREATE TABLE t (
    id INT PRIMARY KEY, a INT, b INT NULL, v VARCHAR(50), e ENUM('x','y'),
    c INT NOT NULL DEFAULT 0, KEY ka (a))
  ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4";
const FILL: &str =
    "INSERT INTO t SELECT seq, seq, seq, CONCAT('v', seq), 'x', 0 FROM seq_1_to_2000";

struct Case {
    alter: &'static str,
    actions: &'static [Action],
    foreign_key_checks: bool,
}

const LAST: Action = Action::AddColumn {
    position: Position::Last,
    default: ColumnDefault::Literal,
};

fn cases() -> Vec<Case> {
    let c = |alter, actions| Case {
        alter,
        actions,
        foreign_key_checks: true,
    };
    vec![
        c("ADD COLUMN n INT", &[LAST]),
        c("ADD COLUMN n INT NOT NULL", &[LAST]),
        c(
            "ADD COLUMN n INT AFTER id",
            &[Action::AddColumn {
                position: Position::Elsewhere,
                default: ColumnDefault::Literal,
            }],
        ),
        c(
            "ADD COLUMN n DATETIME DEFAULT CURRENT_TIMESTAMP",
            &[Action::AddColumn {
                position: Position::Last,
                default: ColumnDefault::Expression,
            }],
        ),
        c(
            "ADD COLUMN g INT AS (a + 1) VIRTUAL",
            &[Action::AddGeneratedColumn { stored: false }],
        ),
        c(
            "ADD COLUMN g INT AS (a + 1) STORED",
            &[Action::AddGeneratedColumn { stored: true }],
        ),
        c("DROP COLUMN b", &[Action::DropColumn { indexed: false }]),
        c("DROP COLUMN a", &[Action::DropColumn { indexed: true }]),
        c("MODIFY b INT NULL AFTER id", &[Action::ReorderColumn]),
        c("ALTER COLUMN c SET DEFAULT 5", &[Action::SetOrDropDefault]),
        c("ALTER COLUMN c DROP DEFAULT", &[Action::SetOrDropDefault]),
        c(
            "MODIFY v VARCHAR(60)",
            &[Action::WidenVarchar {
                from_bytes: 200,
                to_bytes: 240,
            }],
        ),
        c(
            "MODIFY v VARCHAR(100)",
            &[Action::WidenVarchar {
                from_bytes: 200,
                to_bytes: 400,
            }],
        ),
        c("MODIFY v VARCHAR(40)", &[Action::ShrinkVarchar]),
        c("MODIFY a BIGINT", &[Action::ChangeIntegerType]),
        c("MODIFY b INT UNSIGNED NULL", &[Action::ChangeIntegerType]),
        c("MODIFY e ENUM('x','y','z')", &[Action::AppendEnumValues]),
        c("MODIFY e ENUM('y','x')", &[Action::ReorderEnumValues]),
        c("ADD INDEX kb (b)", &[Action::AddIndex]),
        c("ADD UNIQUE INDEX ub (b)", &[Action::AddIndex]),
        c("DROP INDEX ka", &[Action::DropIndex]),
        c(
            "ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES p (id)",
            &[Action::AddForeignKey {
                foreign_key_checks: true,
                builds_index: true,
            }],
        ),
        Case {
            alter: "ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES p (id)",
            actions: &[Action::AddForeignKey {
                foreign_key_checks: false,
                builds_index: true,
            }],
            foreign_key_checks: false,
        },
        Case {
            alter: "ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (id)",
            actions: &[Action::AddForeignKey {
                foreign_key_checks: false,
                builds_index: false,
            }],
            foreign_key_checks: false,
        },
        c("MODIFY b INT NOT NULL", &[Action::SetNotNull]),
        c("MODIFY c INT NULL DEFAULT 0", &[Action::DropNotNull]),
        c("FORCE", &[Action::Rebuild]),
        c(
            "ADD COLUMN n INT, ADD INDEX kb (b)",
            &[LAST, Action::AddIndex],
        ),
        c(
            "ADD COLUMN n INT, MODIFY a BIGINT",
            &[LAST, Action::ChangeIntegerType],
        ),
        c(
            "ALTER COLUMN c SET DEFAULT 5, ADD INDEX kb (b)",
            &[Action::SetOrDropDefault, Action::AddIndex],
        ),
    ]
}

async fn fresh(conn: &mut mysql_async::Conn) {
    conn.query_drop("DROP TABLE IF EXISTS t")
        .await
        .expect("drop");
    conn.query_drop(TABLE).await.expect("create");
    conn.query_drop(FILL).await.expect("fill");
}

async fn table_id(conn: &mut mysql_async::Conn) -> u64 {
    conn.query_first(
        "SELECT TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME = CONCAT(DATABASE(), '/t')",
    )
    .await
    .expect("table id")
    .expect("t exists")
}

/// The cheapest algorithm, then the weakest lock, the server accepts for `case`.
async fn cheapest(conn: &mut mysql_async::Conn, case: &Case) -> Option<(Algorithm, DdlLock)> {
    for (algorithm, a) in [
        (Algorithm::Instant, "INSTANT"),
        (Algorithm::Nocopy, "NOCOPY"),
        (Algorithm::Inplace, "INPLACE"),
        (Algorithm::Copy, "COPY"),
    ] {
        for (lock, l) in [
            (DdlLock::None, "NONE"),
            (DdlLock::Shared, "SHARED"),
            (DdlLock::Exclusive, "EXCLUSIVE"),
        ] {
            fresh(conn).await;
            let sql = format!("ALTER TABLE t {}, ALGORITHM={a}, LOCK={l}", case.alter);
            if conn.query_drop(&sql).await.is_ok() {
                return Some((algorithm, lock));
            }
        }
    }
    None
}

#[tokio::test]
async fn declared_algorithm_lock_and_rebuild_match_what_mariadb_does() {
    let pool = mysql_async::Pool::new(url().as_str());
    let mut conn = pool
        .get_conn()
        .await
        .expect("MariaDB (scripts/setup.sh starts it)");
    let profile = zerodown_mysql::server_profile(&mut conn)
        .await
        .expect("profile");
    let db = format!("zdt_online_{}", std::process::id());
    conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .expect("drop db");
    conn.query_drop(format!("CREATE DATABASE {db}"))
        .await
        .expect("create db");
    conn.query_drop(format!("USE {db}")).await.expect("use");
    conn.query_drop("CREATE TABLE p (id INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO p SELECT seq FROM seq_1_to_2000")
        .await
        .expect("parent");

    let mut wrong = Vec::new();
    for case in cases() {
        let checks = if case.foreign_key_checks { 1 } else { 0 };
        conn.query_drop(format!("SET SESSION foreign_key_checks = {checks}"))
            .await
            .expect("fk checks");
        // The same actions read from the SQL against the live table.
        fresh(&mut conn).await;
        let info = zerodown_mysql::table_info(&mut conn, "t")
            .await
            .expect("table info");
        let read = alter_actions(
            &format!("ALTER TABLE t {}", case.alter),
            &info,
            case.foreign_key_checks,
        );
        if read.as_deref() != Ok(case.actions) {
            wrong.push(format!("{}: read as {read:?}", case.alter));
        }
        let declared: Online = statement(&profile, case.actions);
        let seen = cheapest(&mut conn, &case).await;
        // Rebuilt or not: the declared clause on a fresh table, then its table id.
        fresh(&mut conn).await;
        let before = table_id(&mut conn).await;
        let sql = format!(
            "ALTER TABLE t {}, {}",
            case.alter,
            clause(&profile, declared)
        );
        let ran = conn.query_drop(&sql).await;
        let rebuilt = table_id(&mut conn).await != before;
        if seen != Some((declared.algorithm, declared.lock))
            || ran.is_err()
            || rebuilt != declared.rebuilds
        {
            wrong.push(format!(
                "{}: declared {declared:?}, server accepts at best {seen:?}, declared clause {:?}, rebuilt {rebuilt}",
                case.alter,
                ran.err().map(|e| e.to_string())
            ));
        }
    }
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .expect("cleanup");
    drop(conn);
    pool.disconnect().await.expect("disconnect");
    assert!(wrong.is_empty(), "on {profile:?}:\n{}", wrong.join("\n"));
}
