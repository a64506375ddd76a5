//! The team's migration tool: which of its files are still to run, read from its history
//! table before planning, and the rows the plan writes there as each file completes.

use zerodown_core::engine::Engine;
use zerodown_core::history::{self, Choice, Chosen, Found, Row, Split};
use zerodown_core::migrations::SourceFile;
use zerodown_core::plan::Plan;
use zerodown_core::report::HistoryMeta;
use zerodown_exec::StateAdmin;

use crate::{on_driver, Error};

/// What `--history` asks for, and where the migrations folder is (file paths below it
/// are what Flyway records).
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    pub choice: Choice,
    /// The folder the migration was read from; None: a single file or text.
    pub folder: Option<String>,
}

/// The tool's view of a migration: the files to plan, and what to say and write.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub chosen: Chosen,
    pub split: Split,
}

impl Resolved {
    pub fn meta(&self) -> HistoryMeta {
        HistoryMeta {
            chosen: self.chosen.clone(),
            applied: self.split.applied.clone(),
            pending: self.split.pending.len(),
        }
    }

    /// The history writes of `plan` (made of the pending files).
    pub fn plan(&self, engine: Engine, plan: &Plan) -> history::HistoryPlan {
        history::plan_history(&self.chosen, engine, &self.split, plan)
    }

    pub fn pending_sources(&self) -> Vec<SourceFile> {
        self.split.pending.iter().map(|(s, _)| s.clone()).collect()
    }
}

/// A file's path below the migrations folder (Flyway's `script`); its bare name when it
/// was not read from a folder.
pub(crate) fn relative(name: &str, folder: Option<&str>) -> String {
    let rel = folder
        .and_then(|f| name.strip_prefix(f.trim_end_matches('/')))
        .map(|r| r.trim_start_matches('/'));
    match rel {
        Some(r) if !r.is_empty() => r.to_owned(),
        _ => name.rsplit('/').next().unwrap_or(name).to_owned(),
    }
}

/// Chooses the tool and splits the files by its history. Live (`url`), the tool's table
/// is read; a migration zerodown recorded and has not finished keeps its own files, so
/// that a resumed run plans (and finds) the same migration even after some of its files
/// were recorded. Offline, every file is pending.
pub(crate) async fn resolve(
    req: &HistoryRequest,
    url: Option<&str>,
    sources: &[SourceFile],
) -> Result<Option<Resolved>, Error> {
    let engine_of = |url: &str| {
        if zerodown_mysql::is_mysql_url(url) {
            Engine::MySql
        } else {
            Engine::Postgres
        }
    };
    let folder = req.folder.as_deref();
    let (chosen, rows, unfinished) = match url {
        None => (
            history::choose(&req.choice, &[], sources, folder.is_some()).map_err(Error::Input)?,
            Vec::new(),
            None,
        ),
        Some(url) => {
            let engine = engine_of(url);
            on_driver!(url, db => {
                let found: Vec<Found> = match history::probe(engine, &req.choice) {
                    Some(q) => db
                        .history_rows(&q)
                        .await
                        .map_err(Error::database)?
                        .iter()
                        .filter_map(|r| Found::from_row(r))
                        .collect(),
                    None => Vec::new(),
                };
                let chosen = history::choose(&req.choice, &found, sources, folder.is_some())
                    .map_err(Error::Input)?;
                let rows: Vec<Row> = match &chosen {
                    Some(c) if c.exists => db
                        .history_rows(&zerodown_exec::Bound::plain(history::read_sql(c, engine)))
                        .await
                        .map_err(Error::database)?
                        .iter()
                        .map(|r| Row::from_text(r))
                        .collect(),
                    _ => Vec::new(),
                };
                let unfinished = db
                    .stored_plan(None, true)
                    .await
                    .map_err(Error::database)?
                    .and_then(|(_, plan)| serde_json::from_value::<Plan>(plan).ok())
                    .and_then(|p| p.history);
                (chosen, rows, unfinished)
            })
        }
    };
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    let with_rel = |s: &SourceFile| (s.clone(), relative(&s.name, folder));
    // An unfinished migration of these files keeps its own files, recorded or not (and
    // golang-migrate's dirty mark is its own): the same migration is found and resumed.
    let theirs: Vec<String> = unfinished
        .filter(|h| h.tool == chosen.tool)
        .map(|h| h.records.into_iter().map(|r| r.file).collect())
        .unwrap_or_default();
    if sources.iter().any(|s| theirs.contains(&s.name)) {
        let files = theirs
            .iter()
            .filter_map(|f| sources.iter().find(|s| &s.name == f))
            .map(with_rel)
            .collect();
        let mut split =
            history::split(&chosen, files, &[]).map_err(|e| Error::Input(e.join("\n")))?;
        split.applied = sources
            .iter()
            .filter(|s| !theirs.contains(&s.name))
            .map(|s| s.name.clone())
            .collect();
        return Ok(Some(Resolved { chosen, split }));
    }
    let files = sources.iter().map(with_rel).collect();
    let split = history::split(&chosen, files, &rows).map_err(|e| Error::Input(e.join("\n")))?;
    Ok(Some(Resolved { chosen, split }))
}
