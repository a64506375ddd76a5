//! Rehearsals on MySQL/MariaDB: a throwaway MariaDB (or a scratch server), the source's
//! tables as SHOW CREATE TABLE gives them (or given SQL), synthetic rows, a copy for each
//! run, the plan made from the rehearsal database's own catalog, metadata locks watched.

mod setup;
mod target;

use std::collections::{BTreeMap, BTreeSet};

use mysql_async::prelude::Queryable;
use zerodown_core::estimate::CostModel;
use zerodown_core::mysql::parse::MyStatement;
use zerodown_core::mysql::synth::{self, FillTable};
use zerodown_core::pipeline;
use zerodown_core::sql::quote::mysql_ident;
use zerodown_load::Op;

use crate::report::{self, Report};
use crate::runs;
use crate::{Config, Mix, Progress, RehearseError, Schema};
use setup::{connect, db_err, MyHost};

/// Runs the rehearsal on MySQL/MariaDB; the server (or the scratch databases) is removed
/// whatever happens.
pub async fn rehearse(cfg: &Config, progress: &dyn Progress) -> Result<Report, RehearseError> {
    let (statements, diagnostics) = pipeline::parse_mysql_sources(&cfg.sources);
    if !diagnostics.is_empty() {
        return Err(RehearseError::Input(diagnostics));
    }
    let tables = pipeline::mysql_tables(&statements);
    if let Some(q) = tables.iter().find(|t| t.contains('.')) {
        return Err(RehearseError::Usage(format!(
            "{q}: a rehearsal runs the migration in databases of its own; write the table without its database"
        )));
    }
    let mut host = MyHost::open(&cfg.server, progress).await?;
    let result = rehearse_on(&mut host, cfg, &statements, &tables, progress).await;
    progress.stage("cleaning up");
    host.cleanup().await;
    drop(host);
    result
}

async fn rehearse_on(
    host: &mut MyHost,
    cfg: &Config,
    statements: &[MyStatement],
    named: &BTreeSet<String>,
    progress: &dyn Progress,
) -> Result<Report, RehearseError> {
    static REHEARSALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = REHEARSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = format!("zerodown_rehearse_{}_{n}", std::process::id());
    host.create(&base).await?;
    let mut conn = connect(&host.url(&base)).await?;
    let named: Vec<String> = named.iter().cloned().collect();
    let mut estimates = BTreeMap::new();
    match &cfg.schema {
        Schema::From(source) => {
            progress.stage(&format!(
                "copying the tables of {}",
                zerodown_exec::redact(source)
            ));
            let mut src = connect(source).await?;
            let list = setup::with_parents(&mut src, &named).await?;
            setup::copy_schema(&mut src, &mut conn, &list).await?;
            estimates = setup::estimates(&mut src, &list).await?;
            let _ = src.disconnect().await;
        }
        Schema::Sql(sql) => conn
            .query_drop(sql)
            .await
            .map_err(db_err("creating the schema"))?,
    }
    let list = setup::with_parents(&mut conn, &named).await?;
    if list.is_empty() {
        return Err(RehearseError::Usage(
            "the migration changes no existing table: there is nothing to rehearse under traffic"
                .into(),
        ));
    }
    let rows: BTreeMap<String, u64> = list
        .iter()
        .map(|t| {
            let asked = cfg
                .rows
                .iter()
                .find(|(q, _)| q.name.eq_ignore_ascii_case(t))
                .map(|(_, r)| *r);
            let n = asked
                .or_else(|| estimates.get(t).copied())
                .unwrap_or(cfg.default_rows);
            (t.clone(), n)
        })
        .collect();
    let mut fill = Vec::new();
    for t in &list {
        fill.push(setup::fill_table(&mut conn, t, &rows).await?);
    }
    setup::fill(&mut conn, &fill, &rows, progress, &cfg.interrupt).await?;
    let (profile, catalog) =
        zerodown_mysql::catalog::introspect(&mut conn, &list.iter().cloned().collect())
            .await
            .map_err(|e| RehearseError::Database {
                what: "reading the catalog",
                detail: e.to_string(),
            })?;
    let outcome = pipeline::run_mysql(
        statements,
        &catalog,
        &profile,
        &CostModel::default(),
        &cfg.plan,
    )
    .map_err(RehearseError::Input)?;
    // Traffic goes to the first table the migration changes that clients can address.
    let key_of = |t: &FillTable| {
        let pk = catalog.tables.get(&t.name)?.primary_key()?;
        let [k] = pk else { return None };
        t.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(k) && is_integer(&c.data_type))
            .map(|c| c.name.clone())
    };
    let (table, key) = outcome
        .statements
        .iter()
        .flat_map(|s| s.impact.tables.iter())
        .filter_map(|tl| fill.iter().find(|t| t.name == tl.table))
        .chain(fill.iter())
        .find_map(|t| key_of(t).map(|k| (t, k)))
        .ok_or_else(|| RehearseError::Usage("no table the migration changes has a single-column integer primary key for the synthetic clients to address rows by".into()))?;
    let ops = operations(table, &key, cfg.mix)?;

    let mut runs = Vec::new();
    for mode in crate::modes(cfg) {
        let db = crate::run_database(&base, mode);
        progress.stage(&format!("copying the data for the {} run", mode.label()));
        host.create(&db).await?;
        let url = host.url(&db);
        let mut copy = connect(&url).await?;
        setup::copy_schema(&mut conn, &mut copy, &list).await?;
        setup::copy_rows(&mut copy, &base, &list).await?;
        let _ = copy.disconnect().await;
        let input = crate::run_input(
            cfg,
            url,
            mode,
            &outcome,
            &ops,
            rows[&table.name],
            list.clone(),
        );
        let mut target = target::MyTarget::default();
        runs.push(runs::run(input, &mut target, progress).await?);
    }
    let _ = conn.disconnect().await;
    let server = report::ServerInfo {
        engine: if profile.engine == zerodown_core::engine::Engine::MySql {
            "MySQL"
        } else {
            "MariaDB"
        }
        .into(),
        version: host.version().await?,
        kind: host.kind.clone(),
        pg_stat_statements: false,
    };
    let rows = rows.into_iter().collect();
    Ok(crate::finish(
        cfg,
        server,
        table.name.clone(),
        &ops,
        rows,
        runs,
    ))
}

/// The mix on `t` by its integer `key`: reads name their columns; an update changes a
/// value (MySQL skips a write that changes nothing, and the row binlog with it), in a
/// text column if there is one, else in a number or a time.
fn operations(t: &FillTable, key: &str, mix: Mix) -> Result<Vec<Op>, RehearseError> {
    let table = mysql_ident(&t.name);
    let k = mysql_ident(key);
    let columns: Vec<String> = t.columns.iter().map(|c| mysql_ident(&c.name)).collect();
    let plain =
        |c: &&synth::Column| c.name != key && !c.generated && c.references.is_none() && !c.unique;
    let writable = t.columns.iter().filter(plain);
    let change = writable
        .clone()
        .find(|c| {
            matches!(
                c.data_type.as_str(),
                "varchar" | "char" | "text" | "tinytext"
            )
        })
        .map(|c| format!("{0} = REVERSE({0})", mysql_ident(&c.name)))
        .or_else(|| {
            writable
                .clone()
                .find(|c| is_integer(&c.data_type) && !c.column_type.contains("unsigned"))
                .map(|c| format!("{0} = -{0}", mysql_ident(&c.name)))
        })
        .or_else(|| {
            writable
                .clone()
                .find(|c| matches!(c.data_type.as_str(), "datetime" | "timestamp"))
                .map(|c| format!("{0} = {0} + INTERVAL 1 SECOND", mysql_ident(&c.name)))
        })
        .unwrap_or_else(|| format!("{k} = {k}"));
    let mut ops = vec![
        Op {
            name: "read".into(),
            sql: format!("SELECT {} FROM {table} WHERE {k} = ?", columns.join(", ")),
            weight: mix.read,
            fresh_keys: false,
        },
        Op {
            name: "update".into(),
            sql: format!("UPDATE {table} SET {change} WHERE {k} = ?"),
            weight: mix.update,
            fresh_keys: false,
        },
    ];
    if mix.insert > 0 {
        ops.push(Op {
            name: "insert".into(),
            sql: synth::insert_one_sql(t).map_err(RehearseError::synth)?,
            weight: mix.insert,
            fresh_keys: true,
        });
    }
    ops.retain(|o| o.weight > 0);
    Ok(ops)
}

fn is_integer(data_type: &str) -> bool {
    matches!(
        data_type,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint"
    )
}
