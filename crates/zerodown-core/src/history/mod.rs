//! The history tables of the migration tools teams keep (dbmate, sqlx, golang-migrate,
//! goose, Flyway): which tool a migration belongs to, which of its files the tool has
//! already applied, and the rows zerodown writes so that the tool sees the files it
//! applied as applied, exactly as the tool itself would have written them.
//!
//! Pure: the drivers run the SQL this module writes and hand back the rows.

mod files;
mod sql;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::migrations::{Layout, SourceFile};
use crate::plan::Plan;

pub use files::{flyway_checksum, identify, FileId};

/// A migration tool whose history zerodown reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    Dbmate,
    Sqlx,
    GolangMigrate,
    Goose,
    Flyway,
}

impl Tool {
    pub const ALL: [Tool; 5] = [
        Tool::Dbmate,
        Tool::Sqlx,
        Tool::GolangMigrate,
        Tool::Goose,
        Tool::Flyway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Dbmate => "dbmate",
            Tool::Sqlx => "sqlx",
            Tool::GolangMigrate => "golang-migrate",
            Tool::Goose => "goose",
            Tool::Flyway => "flyway",
        }
    }

    pub fn parse(s: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The table the tool keeps its history in unless configured otherwise.
    pub fn default_table(self) -> &'static str {
        match self {
            Tool::Dbmate | Tool::GolangMigrate => "schema_migrations",
            Tool::Sqlx => "_sqlx_migrations",
            Tool::Goose => "goose_db_version",
            Tool::Flyway => "flyway_schema_history",
        }
    }

    /// Whether a table with these columns is this tool's (dbmate and golang-migrate
    /// share a name; golang-migrate's has `dirty`).
    fn owns(self, columns: &[String]) -> bool {
        let has = |c: &str| columns.iter().any(|x| x == c);
        match self {
            Tool::Dbmate => has("version") && !has("dirty"),
            Tool::GolangMigrate => has("version") && has("dirty"),
            Tool::Sqlx => has("checksum") && has("execution_time"),
            Tool::Goose => has("version_id") && has("is_applied"),
            Tool::Flyway => has("installed_rank") && has("script"),
        }
    }

    /// The tools that read files of this layout.
    fn reading(layout: Layout) -> &'static [Tool] {
        match layout {
            Layout::Dbmate => &[Tool::Dbmate],
            Layout::Goose => &[Tool::Goose],
            Layout::Flyway => &[Tool::Flyway],
            Layout::Sqlx => &[Tool::Sqlx],
            Layout::GolangMigrate => &[Tool::GolangMigrate, Tool::Sqlx],
            Layout::Diesel | Layout::Prisma | Layout::Plain => &[],
        }
    }

    /// The tool's own command that lists what it has not applied.
    pub fn status_command(self) -> &'static str {
        match self {
            Tool::Dbmate => "dbmate status",
            Tool::Sqlx => "sqlx migrate info",
            Tool::GolangMigrate => "migrate version",
            Tool::Goose => "goose status",
            Tool::Flyway => "flyway info",
        }
    }
}

/// What `--history` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Choice {
    /// The tool whose history table is in the database, or whose layout the folder has.
    #[default]
    Auto,
    /// Record nothing and plan every file.
    None,
    /// This tool, in its default table or the one named.
    Tool { tool: Tool, table: Option<String> },
}

/// A parameter of a history statement, always sent as text (or NULL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Text(String),
    Null,
    /// The milliseconds the run has taken so far (Flyway's `execution_time`).
    ElapsedMs,
    /// The same in nanoseconds (sqlx's).
    ElapsedNanos,
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Bound {
    pub fn plain(sql: impl Into<String>) -> Self {
        Bound {
            sql: sql.into(),
            params: Vec::new(),
        }
    }
}

/// A candidate history table found in the database: its name and columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub table: String,
    pub columns: Vec<String>,
}

impl Found {
    /// From a probe row: the name and the comma-separated columns.
    pub fn from_row(row: &[Option<String>]) -> Option<Found> {
        let table = row.first()?.clone()?;
        let columns = row
            .get(1)
            .cloned()
            .flatten()
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect();
        Some(Found { table, columns })
    }
}

/// The tool a migration's files belong to, and where its history is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Chosen {
    pub tool: Tool,
    pub table: String,
    /// The table is there already; otherwise zerodown makes it as the tool would.
    pub exists: bool,
    /// How the tool was chosen, for the report.
    pub why: String,
}

/// The statement that tells which candidate tables exist; None: nothing to look for.
pub fn probe(engine: Engine, choice: &Choice) -> Option<Bound> {
    let tables: Vec<String> = match choice {
        Choice::None => return None,
        Choice::Auto => {
            let mut t: Vec<String> = Tool::ALL
                .iter()
                .map(|t| t.default_table().to_owned())
                .collect();
            t.dedup();
            t
        }
        Choice::Tool { tool, table } => {
            vec![table
                .clone()
                .unwrap_or_else(|| tool.default_table().to_owned())]
        }
    };
    Some(sql::probe(engine, &tables))
}

/// Decides the tool. `found`: the probe's answer (empty offline); `folder`: the
/// migration was given as a folder. Err: the signals disagree, in words that ask for
/// `--history`.
pub fn choose(
    choice: &Choice,
    found: &[Found],
    sources: &[SourceFile],
    folder: bool,
) -> Result<Option<Chosen>, String> {
    let exists = |table: &str| found.iter().any(|f| f.table == table);
    match choice {
        Choice::None => Ok(None),
        Choice::Tool { tool, table } => {
            let table = table
                .clone()
                .unwrap_or_else(|| tool.default_table().to_owned());
            if let Some(f) = found.iter().find(|f| f.table == table) {
                if !tool.owns(&f.columns) {
                    return Err(format!(
                        "table {table} is not {}'s history table (its columns: {}); name the right one with --history-table",
                        tool.name(),
                        f.columns.join(", ")
                    ));
                }
            }
            Ok(Some(Chosen {
                tool: *tool,
                exists: exists(&table),
                table,
                why: "named by --history".to_owned(),
            }))
        }
        Choice::Auto => auto(found, sources, folder),
    }
}

fn auto(found: &[Found], sources: &[SourceFile], folder: bool) -> Result<Option<Chosen>, String> {
    let in_db: Vec<Tool> = Tool::ALL
        .into_iter()
        .filter(|t| {
            found
                .iter()
                .any(|f| f.table == t.default_table() && t.owns(&f.columns))
        })
        .collect();
    // The tools that read every file of the folder (files of no tool's layout count
    // for none: they fail later, named, if a tool is chosen).
    let mut by_layout: Option<Vec<Tool>> = None;
    for s in sources {
        let readers = Tool::reading(s.layout);
        if readers.is_empty() {
            continue;
        }
        by_layout = Some(match by_layout {
            None => readers.to_vec(),
            Some(v) => v.into_iter().filter(|t| readers.contains(t)).collect(),
        });
    }
    let names = |v: &[Tool]| v.iter().map(|t| t.name()).collect::<Vec<_>>().join(" and ");
    let ask = "give --history with the tool that runs these files, or --history none";
    let pick = |tool: Tool, why: String| Chosen {
        tool,
        table: tool.default_table().to_owned(),
        exists: in_db.contains(&tool),
        why,
    };
    if !in_db.is_empty() {
        let fit: Vec<Tool> = match &by_layout {
            Some(layout) if !layout.is_empty() => in_db
                .iter()
                .copied()
                .filter(|t| layout.contains(t))
                .collect(),
            _ => in_db.clone(),
        };
        return match fit.as_slice() {
            [tool] => Ok(Some(pick(
                *tool,
                format!("its table {} is in the database", tool.default_table()),
            ))),
            [] => Err(format!(
                "the database has the history of {} but the files are not written for it; {ask}",
                names(&in_db)
            )),
            many => Err(format!(
                "the database has the history tables of {}; {ask}",
                names(many)
            )),
        };
    }
    if !folder {
        return Ok(None);
    }
    match by_layout.as_deref() {
        None => Ok(None),
        Some([tool]) => Ok(Some(pick(
            *tool,
            "from the folder's file layout".to_owned(),
        ))),
        Some([]) => Err(format!(
            "the folder mixes files written for different migration tools; {ask}"
        )),
        Some(many) => Err(format!(
            "the files could be {}'s and no history table is in the database; {ask}",
            names(many)
        )),
    }
}

/// The statement that reads the tool's rows: version, checksum, success, script, type.
pub fn read_sql(chosen: &Chosen, engine: Engine) -> String {
    sql::read(chosen.tool, engine, &chosen.table)
}

/// One row of the tool's history, as read by `read_sql`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    pub version: Option<String>,
    pub checksum: Option<String>,
    pub success: bool,
    pub script: Option<String>,
    pub kind: Option<String>,
}

impl Row {
    pub fn from_text(row: &[Option<String>]) -> Row {
        let at = |i: usize| row.get(i).cloned().flatten();
        Row {
            version: at(0),
            checksum: at(1),
            success: at(2).as_deref() == Some("true"),
            script: at(3),
            kind: at(4),
        }
    }
}

/// A migration's files split by the tool's history.
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// The files still to run, each with its identity.
    pub pending: Vec<(SourceFile, FileId)>,
    /// The names of the files the tool has applied: left out of the plan.
    pub applied: Vec<String>,
    /// golang-migrate's version before this run (its one row), restored by abort.
    pub version_before: Option<String>,
}

/// Splits the files (each with its path below the migrations folder) into pending and
/// applied by the tool's rows. Err: what the tool itself would refuse (a failed or dirty
/// migration, a file changed after it was applied), one message per problem.
pub fn split(
    chosen: &Chosen,
    files: Vec<(SourceFile, String)>,
    rows: &[Row],
) -> Result<Split, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = Split::default();
    let tool = chosen.tool;
    let t = &chosen.table;
    for r in rows.iter().filter(|r| !r.success) {
        let v = r.version.as_deref().unwrap_or("?");
        errors.push(match tool {
            Tool::GolangMigrate => format!("golang-migrate's {t} says version {v} is dirty (a migration failed midway): fix the schema and run `migrate force`, as golang-migrate asks, before zerodown runs"),
            Tool::Sqlx => format!("sqlx's {t} records version {v} as failed (success = false): fix it and delete that row, as sqlx asks, before zerodown runs"),
            Tool::Flyway => format!("Flyway's {t} records a failed migration (version {v}): run `flyway repair` before zerodown runs"),
            _ => continue,
        });
    }
    if tool == Tool::GolangMigrate {
        out.version_before = rows.first().and_then(|r| r.version.clone());
    }
    for (source, rel) in files {
        let id = match identify(tool, &source, &rel) {
            Ok(id) => id,
            Err(e) => {
                errors.push(format!("{}: {e}", source.name));
                continue;
            }
        };
        match applied(tool, &id, rows) {
            Ok(true) => out.applied.push(source.name.clone()),
            Ok(false) => out.pending.push((source, id)),
            Err(e) => errors.push(format!("{}: {e}", source.name)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Whether the tool counts the file as applied. Err: applied with other content.
fn applied(tool: Tool, id: &FileId, rows: &[Row]) -> Result<bool, String> {
    let same_version = |r: &&Row| r.version.as_deref() == Some(id.version.as_str());
    match tool {
        Tool::Dbmate => Ok(rows.iter().any(|r| same_version(&r))),
        Tool::Sqlx => match rows.iter().find(same_version) {
            None => Ok(false),
            Some(r) if r.checksum == id.checksum => Ok(true),
            Some(_) => Err(format!("sqlx applied version {} with other content (its checksum differs): sqlx refuses to go on until the file is restored", id.version)),
        },
        Tool::GolangMigrate => {
            let current = rows.first().and_then(|r| r.version.as_deref());
            let num = |v: &str| v.parse::<i64>().unwrap_or(i64::MIN);
            Ok(current.is_some_and(|c| num(&id.version) <= num(c)))
        }
        // The latest row of a version says whether it is applied.
        Tool::Goose => Ok(rows.iter().rev().find(same_version).is_some_and(|r| r.success)),
        Tool::Flyway => flyway_applied(id, rows),
    }
}

fn flyway_applied(id: &FileId, rows: &[Row]) -> Result<bool, String> {
    let ok = rows.iter().filter(|r| r.success);
    if id.version.is_empty() {
        // A repeatable migration runs again whenever its checksum changed.
        let last = ok
            .rev()
            .find(|r| r.version.is_none() && r.script.as_deref() == Some(id.script.as_str()));
        return Ok(last.is_some_and(|r| r.checksum == id.checksum));
    }
    let key = files::flyway_version_key(&id.version);
    let baseline = rows.iter().any(|r| {
        r.kind.as_deref() == Some("BASELINE")
            && r.version
                .as_deref()
                .is_some_and(|v| key <= files::flyway_version_key(v))
    });
    if baseline {
        return Ok(true);
    }
    match rows.iter().filter(|r| r.success).find(|r| {
        r.version
            .as_deref()
            .is_some_and(|v| files::flyway_version_key(v) == key)
    }) {
        None => Ok(false),
        Some(r) if r.checksum == id.checksum => Ok(true),
        Some(r) => Err(format!(
            "Flyway applied version {} with checksum {}, the file now has {}: `flyway validate` fails the same way; restore the file or run `flyway repair`",
            id.version,
            r.checksum.as_deref().unwrap_or("none"),
            id.checksum.as_deref().unwrap_or("none")
        )),
    }
}

/// What zerodown writes to the tool's history for one migration, kept with its plan so
/// that a resumed or completed run writes the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPlan {
    pub tool: Tool,
    pub table: String,
    /// Before the first step: the table as the tool makes it, golang-migrate's dirty
    /// mark, and the files with nothing to run.
    pub setup: Vec<Bound>,
    pub records: Vec<FileRecord>,
    /// What abort runs after the files' undo (golang-migrate: the version before).
    pub undo_setup: Vec<Bound>,
}

/// One file's row, written in the transaction that marks step `after_step` done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub file: String,
    pub version: String,
    /// The step whose done mark records the file: the last step of this file and every
    /// file before it, so the tool never sees a file applied before an earlier one.
    /// None: nothing runs before it; written with the setup.
    pub after_step: Option<usize>,
    pub record: Vec<Bound>,
    pub undo: Vec<Bound>,
}

/// The history writes of a planned migration.
pub fn plan_history(chosen: &Chosen, engine: Engine, split: &Split, plan: &Plan) -> HistoryPlan {
    let (tool, table) = (chosen.tool, chosen.table.as_str());
    let mut last_step: std::collections::HashMap<&str, usize> = Default::default();
    for (n, s) in plan.steps().enumerate() {
        last_step.insert(&s.source.file, n);
    }
    let mut setup = sql::create(tool, engine, table);
    let mut undo_setup = Vec::new();
    if tool == Tool::GolangMigrate {
        if let Some((_, first)) = split.pending.first() {
            setup.extend(sql::set_version(engine, table, &first.version, true));
        }
        undo_setup = sql::restore(engine, table, split.version_before.as_deref());
    }
    let mut records = Vec::new();
    let mut upto: Option<usize> = None;
    for (i, (source, id)) in split.pending.iter().enumerate() {
        if let Some(&n) = last_step.get(source.name.as_str()) {
            upto = Some(upto.map_or(n, |u| u.max(n)));
        }
        let record = match (tool, split.pending.get(i + 1)) {
            // golang-migrate shows the next file as under way until it is done.
            (Tool::GolangMigrate, Some((_, next))) => {
                sql::set_version(engine, table, &next.version, true)
            }
            _ => sql::record(tool, engine, table, id),
        };
        let undo = sql::unrecord(tool, engine, table, id);
        if upto.is_none() {
            setup.extend(record.iter().cloned());
        }
        records.push(FileRecord {
            file: source.name.clone(),
            version: id.version.clone(),
            after_step: upto,
            record,
            undo,
        });
    }
    HistoryPlan {
        tool,
        table: table.to_owned(),
        setup,
        records,
        undo_setup,
    }
}

#[cfg(test)]
mod tests;
