use super::*;
use crate::migrations::classify;
use crate::plan::{Phase, PhaseSteps, RetryPolicy, Step, StepKind, StepSource};

fn found(table: &str, cols: &str) -> Found {
    Found::from_row(&[Some(table.to_owned()), Some(cols.to_owned())]).expect("row")
}

fn dbmate_files() -> Vec<SourceFile> {
    vec![
        classify("db/1_a.sql", "-- migrate:up\nselect 1;\n"),
        classify("db/2_b.sql", "-- migrate:up\nselect 2;\n"),
    ]
}

#[test]
fn auto_follows_the_table_in_the_database_then_the_layout() {
    let files = dbmate_files();
    let c = choose(
        &Choice::Auto,
        &[found("schema_migrations", "version")],
        &files,
        true,
    )
    .expect("ok")
    .expect("a tool");
    assert_eq!((c.tool, c.exists), (Tool::Dbmate, true));
    // golang-migrate's table has the same name and a dirty column: not dbmate's.
    let e = choose(
        &Choice::Auto,
        &[found("schema_migrations", "version,dirty")],
        &files,
        true,
    )
    .expect_err("golang-migrate's table, dbmate's files");
    assert!(e.contains("--history"), "{e}");
    // No table: the folder's layout.
    let c = choose(&Choice::Auto, &[], &files, true)
        .expect("ok")
        .expect("tool");
    assert_eq!((c.tool, c.exists), (Tool::Dbmate, false));
    // A lone file with no table belongs to no tool.
    assert_eq!(choose(&Choice::Auto, &[], &files[..1], false), Ok(None));
    // .up.sql files could be sqlx's or golang-migrate's: ask.
    let up = vec![classify("m/1_a.up.sql", "select 1")];
    let e = choose(&Choice::Auto, &[], &up, true).expect_err("ambiguous");
    assert!(e.contains("golang-migrate and sqlx"), "{e}");
    // ...unless the database says which.
    let c = choose(
        &Choice::Auto,
        &[found(
            "_sqlx_migrations",
            "version,description,installed_on,success,checksum,execution_time",
        )],
        &up,
        true,
    )
    .expect("ok")
    .expect("tool");
    assert_eq!(c.tool, Tool::Sqlx);
    // Two tools' tables that both read the files: ask.
    let sqlx_files = vec![classify("m/1_a.sql", "select 1")];
    let e = choose(
        &Choice::Auto,
        &[
            found("_sqlx_migrations", "version,checksum,execution_time"),
            found("schema_migrations", "version"),
        ],
        &sqlx_files,
        true,
    );
    assert_eq!(
        e.map(|c| c.map(|c| c.tool)),
        Ok(Some(Tool::Sqlx)),
        "dbmate cannot read these"
    );
    assert_eq!(
        choose(
            &Choice::None,
            &[found("schema_migrations", "version")],
            &files,
            true
        ),
        Ok(None)
    );
}

#[test]
fn an_explicit_tool_must_own_its_table() {
    let choice = Choice::Tool {
        tool: Tool::Dbmate,
        table: None,
    };
    let e = choose(
        &choice,
        &[found("schema_migrations", "version,dirty")],
        &dbmate_files(),
        true,
    )
    .expect_err("not dbmate's");
    assert!(e.contains("--history-table"), "{e}");
}

fn chosen(tool: Tool) -> Chosen {
    Chosen {
        tool,
        table: tool.default_table().to_owned(),
        exists: true,
        why: String::new(),
    }
}

fn with_rel(files: Vec<SourceFile>) -> Vec<(SourceFile, String)> {
    files
        .into_iter()
        .map(|f| {
            let rel = f.name.rsplit('/').next().unwrap_or(&f.name).to_owned();
            (f, rel)
        })
        .collect()
}

fn row(version: &str, checksum: Option<&str>, success: bool) -> Row {
    Row {
        version: Some(version.to_owned()),
        checksum: checksum.map(str::to_owned),
        success,
        ..Row::default()
    }
}

#[test]
fn applied_files_are_left_out_as_each_tool_counts_them() {
    let s = split(
        &chosen(Tool::Dbmate),
        with_rel(dbmate_files()),
        &[row("1", None, true)],
    )
    .expect("split");
    assert_eq!(s.applied, vec!["db/1_a.sql"]);
    assert_eq!(s.pending.len(), 1);

    let sqlx = vec![
        classify("m/1_a.sql", "select 1;"),
        classify("m/2_b.sql", "select 2;"),
    ];
    let sum = identify(Tool::Sqlx, &sqlx[0], "1_a.sql")
        .expect("id")
        .checksum;
    let s = split(
        &chosen(Tool::Sqlx),
        with_rel(sqlx.clone()),
        &[row("1", sum.as_deref(), true)],
    )
    .expect("split");
    assert_eq!(s.applied.len(), 1);
    let e = split(
        &chosen(Tool::Sqlx),
        with_rel(sqlx.clone()),
        &[row("1", Some("00"), true)],
    )
    .expect_err("changed");
    assert!(e[0].contains("checksum differs"), "{e:?}");
    let e = split(
        &chosen(Tool::Sqlx),
        with_rel(sqlx),
        &[row("1", sum.as_deref(), false)],
    )
    .expect_err("failed");
    assert!(e[0].contains("success = false"), "{e:?}");

    let gm = vec![
        classify("m/1_a.up.sql", "select 1"),
        classify("m/3_c.up.sql", "select 3"),
    ];
    let s = split(
        &chosen(Tool::GolangMigrate),
        with_rel(gm.clone()),
        &[row("2", None, true)],
    )
    .expect("split");
    assert_eq!(
        (s.applied.len(), s.version_before.as_deref()),
        (1, Some("2"))
    );
    let e = split(
        &chosen(Tool::GolangMigrate),
        with_rel(gm),
        &[row("2", None, false)],
    )
    .expect_err("dirty");
    assert!(e[0].contains("dirty"), "{e:?}");

    let goose = vec![
        classify("m/1_a.sql", "-- +goose Up\nselect 1;\n"),
        classify("m/2_b.sql", "-- +goose Up\nselect 2;\n"),
    ];
    let rows = [
        row("0", None, true),
        row("1", None, true),
        row("2", None, true),
        row("2", None, false),
    ];
    let s = split(&chosen(Tool::Goose), with_rel(goose), &rows).expect("split");
    assert_eq!(
        s.applied,
        vec!["m/1_a.sql"],
        "version 2's latest row says not applied"
    );

    let fw = vec![
        classify("m/V1__a.sql", "select 1;"),
        classify("m/V2__b.sql", "select 2;"),
        classify("m/R__v.sql", "select 3;"),
    ];
    let base = Row {
        kind: Some("BASELINE".into()),
        ..row("1", None, true)
    };
    let s = split(&chosen(Tool::Flyway), with_rel(fw.clone()), &[base]).expect("split");
    assert_eq!(s.applied, vec!["m/V1__a.sql"]);
    let repeat = Row {
        version: None,
        script: Some("R__v.sql".into()),
        checksum: Some(flyway_checksum("select 3;").to_string()),
        success: true,
        kind: Some("SQL".into()),
    };
    let s = split(&chosen(Tool::Flyway), with_rel(fw.clone()), &[repeat]).expect("split");
    assert_eq!(s.applied, vec!["m/R__v.sql"]);
    let e = split(
        &chosen(Tool::Flyway),
        with_rel(fw),
        &[row("2", Some("5"), true)],
    )
    .expect_err("changed");
    assert!(e[0].contains("flyway repair"), "{e:?}");
}

fn step(file: &str) -> Step {
    let retry = RetryPolicy {
        max_attempts: 1,
        initial_backoff_ms: 1,
        max_backoff_ms: 1,
        budget_ms: 1,
        jitter: false,
    };
    Step::new(
        Phase::Expand,
        StepKind::Ddl,
        "s",
        1,
        &retry,
        &StepSource {
            file: file.into(),
            line: 1,
        },
    )
}

#[test]
fn each_file_is_recorded_when_it_and_every_file_before_it_are_done() {
    let files = vec![
        classify("m/1_a.sql", "-- migrate:up\n-- nothing\n"),
        classify("m/2_b.sql", "-- migrate:up\nselect 2;\n"),
        classify("m/3_c.sql", "-- migrate:up\nselect 3;\n"),
    ];
    let s = split(&chosen(Tool::Dbmate), with_rel(files), &[]).expect("split");
    // File 3's expand step comes before file 2's contract step.
    let plan = Plan {
        phases: vec![
            PhaseSteps {
                name: Phase::Expand,
                steps: vec![step("m/3_c.sql")],
            },
            PhaseSteps {
                name: Phase::Contract,
                steps: vec![step("m/2_b.sql")],
            },
        ],
        safe: true,
        notes: Vec::new(),
        history: None,
    };
    let h = plan_history(&chosen(Tool::Dbmate), Engine::Postgres, &s, &plan);
    let at: Vec<Option<usize>> = h.records.iter().map(|r| r.after_step).collect();
    assert_eq!(at, vec![None, Some(1), Some(1)]);
    // The file with nothing to run is written with the setup.
    assert!(h
        .setup
        .iter()
        .any(|b| b.params.contains(&Value::Text("1".into()))));

    let gm = vec![
        classify("m/1_a.up.sql", "select 1"),
        classify("m/2_b.up.sql", "select 2"),
    ];
    let s = split(&chosen(Tool::GolangMigrate), with_rel(gm), &[]).expect("split");
    let plan = Plan {
        phases: vec![PhaseSteps {
            name: Phase::Expand,
            steps: vec![step("m/1_a.up.sql"), step("m/2_b.up.sql")],
        }],
        safe: true,
        notes: Vec::new(),
        history: None,
    };
    let h = plan_history(&chosen(Tool::GolangMigrate), Engine::MariaDb, &s, &plan);
    // Dirty at version 1 before anything runs; 2 dirty after file 1; 2 clean at the end.
    let last = |b: &[Bound]| b.last().map(|b| b.params.clone()).unwrap_or_default();
    let t = |s: &str| Value::Text(s.into());
    assert_eq!(last(&h.setup), vec![t("1"), t("true")]);
    assert_eq!(last(&h.records[0].record), vec![t("2"), t("true")]);
    assert_eq!(last(&h.records[1].record), vec![t("2"), t("false")]);
    assert_eq!(
        h.undo_setup,
        vec![Bound::plain("DELETE FROM `schema_migrations`")]
    );
}
