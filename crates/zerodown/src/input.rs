//! Reads migrations from a file, a folder (sorted as the migration tools sort), or text.

use std::path::{Path, PathBuf};

use zerodown_core::migrations::{
    classify, is_flyway_name, is_up_migration, sort_key, Layout, SourceFile,
};

use crate::Error;

/// A libpq `key=value` connection string from the `PG*` variables `get` returns, when
/// they name a host or a database.
pub use zerodown_pg::url::from_pg_env;

/// How the per-file transaction of migration tools is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileTransaction {
    /// From the file's layout: Flyway, sqlx, dbmate and diesel wrap each file in a transaction.
    #[default]
    Auto,
    /// Every file runs in one transaction.
    Always,
    /// Statements commit one by one (as psql -f).
    Never,
}

/// The migration in `text`, read as a file named `name` would be.
pub fn from_text(name: &str, text: &str, mode: FileTransaction) -> Vec<SourceFile> {
    with_mode(vec![classify(name, text)], mode)
}

/// A .sql file, or a folder of migrations (Flyway with its subfolders, sqlx, dbmate,
/// golang-migrate, goose, one folder per migration with its up.sql or migration.sql),
/// in the order the tools run them.
pub fn read_sources(input: &Path, mode: FileTransaction) -> Result<Vec<SourceFile>, Error> {
    let sources = if input.is_dir() {
        read_dir(input)?
    } else if input.is_file() {
        vec![read_file(input)?]
    } else {
        return Err(Error::Input(format!(
            "{}: no such file or folder; give a .sql file, a folder of migrations, or - for standard input",
            input.display()
        )));
    };
    Ok(with_mode(sources, mode))
}

fn with_mode(mut sources: Vec<SourceFile>, mode: FileTransaction) -> Vec<SourceFile> {
    for s in &mut sources {
        match mode {
            FileTransaction::Auto => {}
            FileTransaction::Always => s.implicit_transaction = true,
            FileTransaction::Never => s.implicit_transaction = false,
        }
    }
    sources
}

fn read_file(path: &Path) -> Result<SourceFile, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("{}: cannot read: {e}", path.display())))?;
    let mut source = classify(&path.display().to_string(), &text);
    if source.layout == Layout::Diesel {
        source.implicit_transaction = diesel_runs_in_transaction(path)?;
    }
    Ok(source)
}

/// diesel runs a migration in a transaction unless the `metadata.toml` beside its up.sql
/// says `run_in_transaction = false`.
fn diesel_runs_in_transaction(up: &Path) -> Result<bool, Error> {
    let Some(metadata) = up.parent().map(|d| d.join("metadata.toml")) else {
        return Ok(true);
    };
    let Ok(text) = std::fs::read_to_string(&metadata) else {
        return Ok(true);
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{}: {}",
            metadata.display(),
            e.to_string().trim_end()
        ))
    })?;
    match table.get("run_in_transaction") {
        None => Ok(true),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(_) => Err(Error::Input(format!(
            "{}: run_in_transaction must be true or false",
            metadata.display()
        ))),
    }
}

fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, Error> {
    let mut files = Vec::new();
    for (name, path) in entries(dir)? {
        if path.is_file() && is_up_migration(&name) {
            files.push((sort_key(&name), path));
        } else if path.is_dir() {
            // One folder per migration: diesel's up.sql, Prisma's migration.sql.
            // Otherwise a plain subfolder: Flyway reads its locations recursively.
            let one = ["up.sql", "migration.sql"]
                .iter()
                .map(|f| path.join(f))
                .find(|p| p.is_file());
            match one {
                Some(up) => files.push((sort_key(&name), up)),
                None => flyway_nested(&path, &mut files)?,
            }
        }
    }
    if files.is_empty() {
        return Err(Error::Input(format!(
            "{}: no migration files (*.sql) in this folder",
            dir.display()
        )));
    }
    files.sort();
    files.into_iter().map(|(_, p)| read_file(&p)).collect()
}

/// The Flyway-named files (`V<version>__<desc>.sql`, `R__<desc>.sql`) of a subfolder and
/// its own subfolders; other tools read one folder only, so nothing else is taken.
fn flyway_nested(dir: &Path, files: &mut Vec<(SortKey, PathBuf)>) -> Result<(), Error> {
    for (name, path) in entries(dir)? {
        if path.is_dir() {
            flyway_nested(&path, files)?;
        } else if is_flyway_name(&name) && is_up_migration(&name) {
            files.push((sort_key(&name), path));
        }
    }
    Ok(())
}

type SortKey = (u8, Vec<u64>, String);

fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| Error::Input(format!("{}: cannot read folder: {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            entry.path(),
        ));
    }
    Ok(out)
}
