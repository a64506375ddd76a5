//! `check` over a migration history as teams have them: several files in order, each
//! judged against the schema the earlier ones left. One refused statement must not hide
//! the findings of the other files.

use zerodown_core::check::{self, Levels, Problem};
use zerodown_core::engine::ServerProfile;
use zerodown_core::migrations::classify;

fn check(target: &str, files: &[(&str, &str)]) -> Vec<Problem> {
    let profile: ServerProfile = target.parse().expect("target");
    let sources: Vec<_> = files.iter().map(|(n, t)| classify(n, t)).collect();
    check::check(&sources, &profile, &Levels::new(), &|_| true).problems
}

/// `file:line rule` of each problem.
fn found(problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| format!("{}:{} {}", p.file, p.line, p.rule))
        .collect()
}

#[test]
fn a_refused_statement_is_a_finding_among_the_others() {
    for (target, broken, table) in [
        (
            "postgres:17",
            "SELEC 1;\n",
            "CREATE TABLE t (id bigint PRIMARY KEY);\n",
        ),
        (
            "mariadb:10.11",
            "SELEC 1;\n",
            "CREATE TABLE t (id BIGINT PRIMARY KEY);\n",
        ),
    ] {
        let later = if target.starts_with("postgres") {
            "ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();\n"
        } else {
            "ALTER TABLE t MODIFY COLUMN id INT;\n"
        };
        let problems = check(
            target,
            &[
                ("001_t.sql", table),
                ("002_bad.sql", broken),
                ("003_c.sql", later),
            ],
        );
        let found = found(&problems);
        assert!(
            found.contains(&"002_bad.sql:1 refused-statement".to_owned()),
            "{target}: {found:?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("003_c.sql:1 ") && !f.ends_with("missing-lock-timeout")),
            "{target}: the later file is still judged: {found:?}"
        );
        let refused = problems.iter().find(|p| p.rule == "refused-statement");
        assert_eq!(refused.map(|p| p.severity), Some(check::Level::Error));
    }
}

/// What the user wrote in `ALGORITHM=` / `LOCK=` is what the server does when it is
/// heavier than its own choice: a verdict must never be lighter than the statement.
#[test]
fn a_written_algorithm_or_lock_makes_the_verdict_heavier_never_lighter() {
    let table = (
        "001_t.sql",
        "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\n",
    );
    for (sql, rule) in [
        (
            "ALTER TABLE t ADD COLUMN c INT, ALGORITHM=COPY;\n",
            "mysql-copy",
        ),
        (
            "ALTER TABLE t ADD COLUMN c INT, ALGORITHM=INPLACE, LOCK=NONE;\n",
            "mysql-online-rebuild",
        ),
        (
            "ALTER TABLE t ADD INDEX i (a), LOCK=EXCLUSIVE;\n",
            "mysql-blocking-lock",
        ),
        (
            "ALTER TABLE t ADD INDEX i (a), ALGORITHM=INPLACE, LOCK=SHARED;\n",
            "mysql-blocking-lock",
        ),
    ] {
        for target in ["mariadb:10.11", "mysql:8.0"] {
            let problems = check(target, &[table, ("002_c.sql", sql)]);
            assert!(
                problems.iter().any(|p| p.rule == rule),
                "{target}: {sql}: {:?}",
                found(&problems)
            );
        }
    }
}

/// An index the history does not know (created outside the folder, renamed earlier) is
/// assumed to be on an existing table: dropping it blocks that table.
#[test]
fn dropping_an_index_the_history_does_not_know_assumes_a_busy_table() {
    let table = (
        "001_t.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, a int);\n",
    );
    for sql in [
        "DROP INDEX some_idx;\n",
        "DROP INDEX IF EXISTS app.some_idx;\n",
    ] {
        let problems = check("postgres:17", &[table, ("002_d.sql", sql)]);
        let drop = problems.iter().find(|p| p.rule == "drop-index-blocks");
        let drop = drop.unwrap_or_else(|| panic!("{sql}: {:?}", found(&problems)));
        assert!(drop.message.contains("not known"), "{}", drop.message);
    }
    let problems = check(
        "postgres:17",
        &[table, ("002_d.sql", "DROP INDEX CONCURRENTLY some_idx;\n")],
    );
    assert!(!problems.iter().any(|p| p.rule == "drop-index-blocks"));
}

/// A file without a lock timeout is told so once, at the first statement that needs one,
/// with how many more there are: not once per statement.
#[test]
fn a_missing_lock_timeout_is_said_once_per_file() {
    for (target, table, alters) in [
        (
            "postgres:17",
            "CREATE TABLE t (id bigint PRIMARY KEY, a int);\n",
            "SELECT 1;\nALTER TABLE t ADD COLUMN b int;\nALTER TABLE t ADD COLUMN c int;\nALTER TABLE t ADD COLUMN d int;\n",
        ),
        (
            "mariadb:10.11",
            "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\n",
            "SELECT 1;\nALTER TABLE t ADD COLUMN b INT;\nALTER TABLE t ADD COLUMN c INT;\nALTER TABLE t ADD COLUMN d INT;\n",
        ),
    ] {
        let problems = check(target, &[("001_t.sql", table), ("002_a.sql", alters), ("003_b.sql", alters)]);
        let said: Vec<_> = problems
            .iter()
            .filter(|p| p.rule == "missing-lock-timeout")
            .collect();
        let places: Vec<_> = said.iter().map(|p| format!("{}:{}", p.file, p.line)).collect();
        assert_eq!(places, ["002_a.sql:2", "003_b.sql:2"], "{target}");
        assert!(said[0].message.contains("2 more"), "{target}: {}", said[0].message);
    }
}

/// Data statements are modelled by the rows they go through: seed rows into a new
/// table need nothing; a DELETE, UPDATE … FROM or INSERT … SELECT on existing data is
/// reported as what it is, never as "unmodeled".
#[test]
fn data_changes_are_judged_by_the_rows_they_touch() {
    let history = "CREATE TABLE t (id bigint PRIMARY KEY, a int);\nCREATE TABLE s (id bigint PRIMARY KEY, a int);\n";
    let seed = "SET lock_timeout = '2s';\nCREATE TABLE roles (id bigint PRIMARY KEY, name text);\nINSERT INTO roles VALUES (1, 'admin'), (2, 'user');\nINSERT INTO roles SELECT 3, 'x';\nINSERT INTO t VALUES (1, 1);\n";
    let problems = check(
        "postgres:17",
        &[("001_t.sql", history), ("002_seed.sql", seed)],
    );
    assert_eq!(found(&problems), Vec::<String>::new());
    for (sql, severity) in [
        ("DELETE FROM t WHERE a > 0;\n", check::Level::Error),
        (
            "UPDATE t SET a = s.a FROM s WHERE s.id = t.id;\n",
            check::Level::Error,
        ),
        (
            "WITH x AS (SELECT id FROM s) DELETE FROM t USING x WHERE x.id = t.id;\n",
            check::Level::Error,
        ),
        (
            "INSERT INTO roles2 SELECT id, a FROM s;\n",
            check::Level::Warning,
        ),
    ] {
        let file = format!(
            "SET lock_timeout = '2s';\nCREATE TABLE roles2 (id bigint PRIMARY KEY, a int);\n{sql}"
        );
        let problems = check(
            "postgres:17",
            &[("001_t.sql", history), ("002_d.sql", &file)],
        );
        let rules: Vec<_> = problems.iter().map(|p| (p.rule, p.severity)).collect();
        assert_eq!(rules, [("large-data-change", severity)], "{sql}");
    }
}

/// What MySQL and MariaDB accept, zerodown reads (or keeps as written with a finding):
/// never a refusal as if it were a syntax error.
#[test]
fn mysql_forms_the_server_accepts_are_not_refused() {
    let table = (
        "001_t.sql",
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(20) BINARY, doc JSON);\n",
    );
    for (target, sql) in [
        ("mysql:8.0", "--\nALTER TABLE t ADD COLUMN a INT;\n"),
        (
            "mysql:8.0",
            "ALTER TABLE t ADD COLUMN b VARCHAR(10) BINARY NOT NULL DEFAULT '';\n",
        ),
        (
            "mysql:8.0",
            "ALTER TABLE t MODIFY name VARCHAR(20) CHARACTER SET latin1 BINARY;\n",
        ),
        (
            "mysql:8.0",
            "CREATE INDEX zips ON t ((CAST(doc->'$.zips' AS UNSIGNED ARRAY)));\n",
        ),
        ("mysql:8.0", "CREATE FULLTEXT INDEX ft ON t (name);\n"),
        ("mariadb:10.11", "CREATE FULLTEXT INDEX ft ON t (name);\n"),
        ("mysql:8.0", "ALTER TABLE t ADD FULLTEXT INDEX ft (name);\n"),
        ("mysql:8.0", "ALTER TABLE t RENAME t2;\n"),
        ("mariadb:10.11", "ALTER TABLE t RENAME AS t2;\n"),
        ("mysql:8.0", "ALTER TABLE t DROP CHECK c1;\n"),
        ("mysql:8.0", "ALTER TABLE t ALTER INDEX ka INVISIBLE;\n"),
        ("mariadb:10.11", "ALTER TABLE t DISABLE KEYS;\n"),
        (
            "mysql:8.0",
            "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END;\nCREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.name = 'x'; END;\n",
        ),
    ] {
        let problems = check(target, &[table, ("002_x.sql", sql)]);
        let refused: Vec<_> = problems
            .iter()
            .filter(|p| p.rule == "refused-statement")
            .map(|p| format!("{}:{} {}", p.file, p.line, p.message))
            .collect();
        assert_eq!(refused, Vec::<String>::new(), "{target}: {sql}");
    }
}

/// FULLTEXT and SPATIAL indexes are built without concurrent writes (refman "Online DDL
/// Operations", index operations: "Permits Concurrent DML: No"): a blocking lock.
#[test]
fn mysql_fulltext_and_spatial_indexes_block_writes() {
    let table = (
        "001_t.sql",
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(20), g POINT NOT NULL SRID 0);\n",
    );
    for sql in [
        "CREATE FULLTEXT INDEX ft ON t (name);\n",
        "ALTER TABLE t ADD FULLTEXT INDEX ft (name);\n",
        "ALTER TABLE t ADD SPATIAL INDEX sp (g);\n",
    ] {
        for target in ["mysql:8.0", "mariadb:10.11"] {
            let problems = check(target, &[table, ("002_x.sql", sql)]);
            assert!(
                problems.iter().any(|p| p.rule == "mysql-blocking-lock"),
                "{target}: {sql}: {:?}",
                found(&problems)
            );
        }
    }
}

/// A table renamed by ALTER TABLE … RENAME is followed under its new name: a later
/// column rename on it is instant, not a copy of an unknown table.
#[test]
fn mysql_table_renames_are_followed() {
    let table = (
        "001_t.sql",
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(20));\n",
    );
    for rename in [
        "ALTER TABLE t RENAME TO t2;\n",
        "ALTER TABLE t RENAME t2;\n",
        "RENAME TABLE t TO t2;\n",
    ] {
        let later = (
            "003_c.sql",
            "ALTER TABLE t2 RENAME COLUMN name TO title, ALGORITHM=INSTANT;\n",
        );
        let problems = check("mysql:8.0", &[table, ("002_r.sql", rename), later]);
        let rules: Vec<_> = found(&problems);
        assert!(
            rules.contains(&"002_r.sql:1 breaking-rename-table".to_owned()),
            "{rename}: {rules:?}"
        );
        assert!(
            !rules.iter().any(|r| r.starts_with("003_c.sql:1 ")
                && !r.ends_with("missing-lock-timeout")
                && !r.ends_with("breaking-rename-column")),
            "{rename}: {rules:?}"
        );
    }
}

/// A table made by CREATE TABLE … AS (or SELECT … INTO) is new in its own file and an
/// existing table of unknown size and columns in the later ones.
#[test]
fn tables_made_from_a_query_are_new_then_existing_and_unknown() {
    let pg = [
        ("001_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY, a int);\n"),
        (
            "002_copy.sql",
            "SET lock_timeout = '2s';\nCREATE TABLE t2 AS SELECT * FROM t;\nALTER TABLE t2 ADD PRIMARY KEY (id);\nSELECT * INTO t3 FROM t;\nCREATE INDEX t3_a ON t3 (a);\n",
        ),
        ("003_later.sql", "SET lock_timeout = '2s';\nALTER TABLE t2 ADD COLUMN y uuid DEFAULT gen_random_uuid();\n"),
    ];
    let pg_found = found(&check("postgres:17", &pg));
    let copy: Vec<_> = pg_found
        .iter()
        .filter(|f| f.starts_with("002_copy.sql:"))
        .collect();
    assert_eq!(
        copy,
        [
            "002_copy.sql:2 large-data-change",
            "002_copy.sql:4 large-data-change"
        ],
        "{pg_found:?}"
    );
    assert!(
        pg_found.contains(&"003_later.sql:2 add-column-volatile-default".to_owned()),
        "{pg_found:?}"
    );
    let my = [
        ("001_t.sql", "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\n"),
        ("002_copy.sql", "CREATE TABLE t2 AS SELECT * FROM t;\nALTER TABLE t2 ADD COLUMN x INT, ALGORITHM=COPY;\n"),
        ("003_later.sql", "SET SESSION lock_wait_timeout = 2;\nALTER TABLE t2 MODIFY a BIGINT;\n"),
    ];
    let my_found = found(&check("mariadb:10.11", &my));
    assert!(
        !my_found.iter().any(|f| f.contains("refused-statement")),
        "{my_found:?}"
    );
    assert!(
        my_found
            .iter()
            .any(|f| f.starts_with("003_later.sql:2 mysql-copy")),
        "{my_found:?}"
    );
}

fn check_in(timezone: Option<&str>, files: &[(&str, &str)]) -> Vec<String> {
    let mut profile: ServerProfile = "postgres:17".parse().expect("target");
    profile.settings.timezone = timezone.map(str::to_owned);
    let sources: Vec<_> = files.iter().map(|(n, t)| classify(n, t)).collect();
    found(&check::check(&sources, &profile, &Levels::new(), &|_| true).problems)
}

/// timestamp -> timestamptz rewrites the table unless the session's TimeZone is UTC:
/// offline and not told, the rewrite is assumed. A USING that is the column itself (or
/// its cast to the new type) is no USING to the server: no rewrite where none would be.
#[test]
fn the_time_zone_is_never_assumed_and_a_plain_using_changes_nothing() {
    let table = (
        "001_t.sql",
        "CREATE TABLE t (id bigint PRIMARY KEY, ts timestamp, v varchar(20), n int);\n",
    );
    let alter = |sql: &str| format!("SET lock_timeout = '2s';\n{sql}\n");
    let rewrites = |tz: Option<&str>, sql: &str| {
        check_in(tz, &[table, ("002_a.sql", &alter(sql))])
            .iter()
            .any(|f| f.ends_with("type-change-rewrite"))
    };
    let to_tz = "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;";
    assert!(
        rewrites(None, to_tz),
        "unknown time zone: assume the rewrite"
    );
    assert!(rewrites(Some("America/New_York"), to_tz));
    assert!(!rewrites(Some("UTC"), to_tz));
    for plain in [
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz USING ts;",
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz USING ts::timestamptz;",
        "ALTER TABLE t ALTER COLUMN v TYPE varchar(40) USING v::varchar(40);",
    ] {
        assert!(!rewrites(Some("UTC"), plain), "{plain}");
    }
    for real in [
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz USING ts AT TIME ZONE 'UTC';",
        "ALTER TABLE t ALTER COLUMN v TYPE varchar(40) USING lower(v);",
        "ALTER TABLE t ALTER COLUMN n TYPE bigint USING n;",
    ] {
        assert!(rewrites(Some("UTC"), real), "{real}");
    }
}

/// MySQL/MariaDB data statements, judged by the rows they touch: INSERT … SELECT locks
/// the rows it reads (refman "Locks Set by Different SQL Statements in InnoDB": shared
/// next-key locks on the source's rows outside READ COMMITTED), a DELETE or multi-table
/// UPDATE the rows it changes; seed rows into a new table need nothing.
#[test]
fn mysql_data_changes_are_judged_by_the_rows_they_touch() {
    let history = (
        "001_t.sql",
        "CREATE TABLE t (id BIGINT PRIMARY KEY, a INT);\nCREATE TABLE s (id BIGINT PRIMARY KEY, a INT);\n",
    );
    let seed = "SET SESSION lock_wait_timeout = 2;\nCREATE TABLE roles (id BIGINT PRIMARY KEY, name VARCHAR(20));\nINSERT INTO roles VALUES (1, 'admin'), (2, 'user');\nINSERT INTO roles (id, name) SELECT 3, 'x';\nINSERT INTO t VALUES (1, 1);\n";
    for target in ["mariadb:10.11", "mysql:8.0"] {
        let problems = check(target, &[history, ("002_seed.sql", seed)]);
        assert_eq!(found(&problems), Vec::<String>::new(), "{target}");
        for (sql, severity) in [
            ("DELETE FROM t WHERE a > 0;\n", check::Level::Error),
            (
                "UPDATE t JOIN s ON s.id = t.id SET t.a = s.a;\n",
                check::Level::Error,
            ),
            (
                "INSERT INTO t (id, a) SELECT id + 1000000, a FROM s;\n",
                check::Level::Error,
            ),
        ] {
            let file = format!("SET SESSION lock_wait_timeout = 2;\n{sql}");
            let problems = check(target, &[history, ("002_d.sql", &file)]);
            let rules: Vec<_> = problems.iter().map(|p| (p.rule, p.severity)).collect();
            assert_eq!(rules, [("large-data-change", severity)], "{target}: {sql}");
        }
    }
}

/// Offline, `--search-path` says where unqualified names live: a table created in schema
/// app by an earlier file is the one a later unqualified ALTER changes (existing, so its
/// rewrite is reported), not an unknown public one.
#[test]
fn the_search_path_finds_tables_created_in_other_schemas() {
    let files = [
        ("001_t.sql", "CREATE TABLE app.events (id bigint PRIMARY KEY, at timestamp);\n"),
        ("002_a.sql", "SET lock_timeout = '2s';\nCREATE TABLE audit (id bigint PRIMARY KEY);\nALTER TABLE events ADD COLUMN token uuid DEFAULT gen_random_uuid();\nALTER TABLE audit ADD COLUMN token uuid DEFAULT gen_random_uuid();\n"),
    ];
    let mut profile: ServerProfile = "postgres:17".parse().expect("target");
    profile.settings.search_path = Some(vec!["app".into(), "public".into()]);
    let sources: Vec<_> = files.iter().map(|(n, t)| classify(n, t)).collect();
    let report = check::check(&sources, &profile, &Levels::new(), &|_| true);
    let said: Vec<String> = report
        .problems
        .iter()
        .filter(|p| p.rule == "add-column-volatile-default")
        .map(|p| format!("{}:{} {}", p.file, p.line, p.message))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("app.events"), "{said:?}");
    assert!(report
        .assumptions
        .iter()
        .any(|a| a == "search_path: app, public (--search-path)"));
}
