//! Reads what the planner needs from the live catalog: version and settings, the
//! tables the migration touches (size, columns, indexes, constraints, triggers,
//! partitions), function volatility, and who holds locks on those tables right now.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;
use zerodown_core::engine::{ServerProfile, Settings, Version};
use zerodown_core::lock::LockMode;
use zerodown_core::pg::catalog::{
    Backend, Catalog, Column, Constraint, ConstraintType, HeldLock, Index, Referrer, Table,
    Volatility,
};
use zerodown_core::pg::ir::{DdlOp, QualName, TypeRef};
use zerodown_core::pg::parse;
use zerodown_core::pg::types::{canonical_type_name, decode_typmod};
use zerodown_core::pipeline::References;

use crate::PgError;

/// The live server profile and catalog.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub profile: ServerProfile,
    pub catalog: Catalog,
    /// The schema of each unqualified name of the migration, along the server's
    /// search_path (names not found: the first schema of the path, where CREATE puts them).
    pub schemas: BTreeMap<String, String>,
}

fn q(what: &'static str) -> impl Fn(tokio_postgres::Error) -> PgError {
    move |source| PgError::Query { what, source }
}

fn split(names: &BTreeSet<QualName>) -> (Vec<String>, Vec<String>) {
    names
        .iter()
        .map(|n| {
            let r = n.resolved();
            (r.schema.unwrap_or_default(), r.name)
        })
        .unzip()
}

/// Resolves unqualified relation names as PostgreSQL does: the first schema of
/// `current_schemas(false)` that has a relation of that name.
async fn resolve_schemas(
    client: &Client,
    refs: &References,
) -> Result<BTreeMap<String, String>, PgError> {
    let path: Vec<String> = client
        .query_one("SELECT current_schemas(false)::text[]", &[])
        .await
        .map_err(q("search_path"))?
        .get(0);
    let bare: Vec<String> = refs
        .tables
        .iter()
        .chain(refs.indexes.iter())
        .filter(|n| n.schema.is_none())
        .map(|n| n.name.clone())
        .collect();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in client
        .query(
            "SELECT c.relname::text, n.nspname::text FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relname = ANY($1) AND n.nspname = ANY($2)",
            &[&bare, &path],
        )
        .await
        .map_err(q("names along the search_path"))?
    {
        found.entry(r.get(0)).or_default().push(r.get(1));
    }
    let first = path.first().cloned().unwrap_or_else(|| "public".to_owned());
    Ok(bare
        .into_iter()
        .map(|name| {
            let schema = found
                .get(&name)
                .and_then(|schemas| path.iter().find(|p| schemas.contains(p)).cloned())
                .unwrap_or_else(|| first.clone());
            (name, schema)
        })
        .collect())
}

/// `name` with its schema filled from the resolution.
fn qualified(name: &QualName, schemas: &BTreeMap<String, String>) -> QualName {
    match (&name.schema, schemas.get(&name.name)) {
        (None, Some(s)) => QualName::new(Some(s), &name.name),
        _ => name.resolved(),
    }
}

/// Reads the catalog for what the migration names.
pub async fn introspect(client: &Client, refs: &References) -> Result<Introspection, PgError> {
    let resolved = resolve_schemas(client, refs).await?;
    let tables: BTreeSet<QualName> = refs
        .tables
        .iter()
        .map(|n| qualified(n, &resolved))
        .collect();
    let indexes: BTreeSet<QualName> = refs
        .indexes
        .iter()
        .map(|n| qualified(n, &resolved))
        .collect();
    let (tables, indexes, functions) = (&tables, &indexes, &refs.functions);
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int4, current_setting('TimeZone')",
            &[],
        )
        .await
        .map_err(q("server version"))?;
    let version = Version::from_pg_version_num(row.get::<_, i32>(0).unsigned_abs());
    let profile = ServerProfile {
        engine: zerodown_core::engine::Engine::Postgres,
        version,
        settings: Settings {
            timezone: Some(row.get(1)),
            // Live, the server resolves unqualified names (pipeline::resolve_names).
            search_path: None,
        },
    };

    let mut wanted = tables.clone();
    let (ischemas, inames) = split(indexes);
    for r in client
        .query(
            "SELECT tn.nspname::text, t.relname::text
               FROM pg_catalog.pg_class ic
               JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
               JOIN pg_catalog.pg_index i ON i.indexrelid = ic.oid
               JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
               JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
              WHERE (n.nspname, ic.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&ischemas, &inames],
        )
        .await
        .map_err(q("indexes named by the migration"))?
    {
        wanted.insert(QualName::new(Some(r.get(0)), &r.get::<_, String>(1)));
    }

    let mut by_oid: BTreeMap<u32, Table> = BTreeMap::new();
    let (schemas, names) = split(&wanted);
    for r in client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.reltuples::float8,
                    pg_catalog.pg_relation_size(c.oid), pg_catalog.pg_total_relation_size(c.oid)
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'p')
                AND ((n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
                     OR c.oid IN (SELECT i.inhrelid FROM pg_catalog.pg_inherits i
                                    JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
                                    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
                                   WHERE (pn.nspname, pc.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))))",
            &[&schemas, &names],
        )
        .await
        .map_err(q("tables"))?
    {
        let oid: u32 = r.get(0);
        let name = QualName::new(Some(r.get(1)), &r.get::<_, String>(2));
        let mut t = Table::assumed(name);
        t.assumed = false;
        t.partitioned = r.get::<_, String>(3) == "p";
        let heap: i64 = r.get(5);
        let total: i64 = r.get(6);
        let reltuples: f64 = r.get(4);
        t.heap_bytes = Some(heap.max(0) as u64);
        t.total_bytes = Some(total.max(0) as u64);
        // reltuples is -1 (PG 14+) or 0 before the first VACUUM/ANALYZE: unknown, unless
        // the heap is really empty.
        t.rows = if reltuples > 0.0 {
            Some(reltuples)
        } else if heap == 0 {
            Some(0.0)
        } else {
            None
        };
        by_oid.insert(oid, t);
    }
    let oids: Vec<u32> = by_oid.keys().copied().collect();

    for r in client
        .query(
            "SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(q("partitions"))?
    {
        let (parent, child): (u32, u32) = (r.get(0), r.get(1));
        if let Some(c) = by_oid.get(&child).map(|t| t.name.clone()) {
            if let Some(p) = by_oid.get_mut(&parent) {
                p.partitions.push(c);
            }
            let pname = by_oid.get(&parent).map(|t| t.name.clone());
            if let Some(ct) = by_oid.get_mut(&child) {
                ct.partition_of = pname;
            }
        }
    }

    // pg_attribute.attgenerated came with generated columns.
    let generated = if zerodown_core::capabilities::stored_generated_columns(&profile) {
        "a.attgenerated::text"
    } else {
        "''::text"
    };
    let columns_sql = format!(
        "SELECT a.attrelid, a.attname::text, t.typname::text, a.atttypmod, t.typelem <> 0 AND t.typlen = -1 AND t.typname LIKE '\\_%',
                a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, {generated},
                pg_catalog.format_type(a.atttypid, a.atttypmod), et.typname::text
           FROM pg_catalog.pg_attribute a
           JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_catalog.pg_type et ON et.oid = t.typelem
           LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attrelid, a.attnum"
    );
    for r in client
        .query(&columns_sql, &[&oids])
        .await
        .map_err(q("columns"))?
    {
        let oid: u32 = r.get(0);
        let is_array: bool = r.get(4);
        let typname: String = if is_array {
            r.get::<_, Option<String>>(10).unwrap_or_default()
        } else {
            r.get(2)
        };
        let typmod: i32 = r.get(3);
        let name = canonical_type_name(&typname);
        let ty = TypeRef {
            mods: decode_typmod(&name, typmod),
            name,
            array: is_array,
            sql: r.get(9),
        };
        let col = Column {
            name: r.get(1),
            ty,
            not_null: r.get(5),
            default: r.get(6),
            identity: !r.get::<_, String>(7).is_empty(),
            generated: !r.get::<_, String>(8).is_empty(),
            null_frac: None,
        };
        if let Some(t) = by_oid.get_mut(&oid) {
            t.columns.push(col);
        }
    }

    // NULL fractions from the planner statistics (present after ANALYZE).
    for r in client
        .query(
            "SELECT c.oid, s.attname::text, s.null_frac::float8
               FROM pg_catalog.pg_stats s
               JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
               JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
              WHERE c.oid = ANY($1) AND NOT s.inherited",
            &[&oids],
        )
        .await
        .map_err(q("column statistics"))?
    {
        let oid: u32 = r.get(0);
        let name: String = r.get(1);
        if let Some(col) = by_oid.get_mut(&oid).and_then(|t| t.column_mut(&name)) {
            col.null_frac = Some(r.get(2));
        }
    }

    for r in client
        .query(
            "SELECT i.indrelid, c.relname::text, i.indisunique, i.indisprimary, i.indisvalid,
                    pg_catalog.pg_relation_size(i.indexrelid), pg_catalog.pg_get_indexdef(i.indexrelid),
                    (SELECT con.conname::text FROM pg_catalog.pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p','u','x') LIMIT 1)
               FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(q("indexes"))?
    {
        let oid: u32 = r.get(0);
        let definition: String = r.get(6);
        // Our own parser reads the columns, including those inside expressions.
        let columns = match parse::parse_file("pg_get_indexdef", &definition).0.first().map(|s| &s.op) {
            Some(DdlOp::CreateIndex(ix)) => ix.columns.clone(),
            _ => Vec::new(),
        };
        let size: i64 = r.get(5);
        if let Some(t) = by_oid.get_mut(&oid) {
            t.indexes.push(Index {
                name: r.get(1),
                columns,
                unique: r.get(2),
                primary: r.get(3),
                valid: r.get(4),
                bytes: Some(size.max(0) as u64),
                constraint: r.get(7),
                definition: Some(definition),
            });
        }
    }

    for r in client
        .query(
            "SELECT con.conrelid, con.conname::text, con.contype::text, con.convalidated,
                    pg_catalog.pg_get_constraintdef(con.oid),
                    fn.nspname::text, fc.relname::text,
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) k
                            JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k),
                    con.confrelid, rn.nspname::text, rc.relname::text
               FROM pg_catalog.pg_constraint con
               LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid
               LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace
               JOIN pg_catalog.pg_class rc ON rc.oid = con.conrelid
               JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
              WHERE con.conrelid = ANY($1) OR con.confrelid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(q("constraints"))?
    {
        let conrelid: u32 = r.get(0);
        let confrelid: u32 = r.get(8);
        let kind = match r.get::<_, String>(2).as_str() {
            "c" => ConstraintType::Check,
            "f" => ConstraintType::ForeignKey,
            "u" => ConstraintType::Unique,
            "p" => ConstraintType::PrimaryKey,
            "x" => ConstraintType::Exclude,
            "n" => ConstraintType::NotNull,
            _ => continue, // constraint triggers
        };
        let ref_table = match (r.get::<_, Option<String>>(5), r.get::<_, Option<String>>(6)) {
            (Some(s), Some(n)) => Some(QualName::new(Some(&s), &n)),
            _ => None,
        };
        let def: String = r.get(4);
        let c = Constraint {
            name: r.get(1),
            kind,
            columns: r.get(7),
            validated: r.get(3),
            check_expr: (kind == ConstraintType::Check).then(|| def.clone()),
            definition: Some(def),
            ref_table,
        };
        if let Some(t) = by_oid.get_mut(&conrelid) {
            t.constraints.push(c);
        } else if let Some(t) = by_oid.get_mut(&confrelid) {
            // A foreign key in another table that points here.
            let from = QualName::new(Some(&r.get::<_, String>(9)), &r.get::<_, String>(10));
            t.referenced_by.push(Referrer {
                constraint: c.name,
                table: from,
            });
        }
    }

    for r in client
        .query(
            "SELECT tgrelid, tgname::text FROM pg_catalog.pg_trigger WHERE tgrelid = ANY($1) AND NOT tgisinternal",
            &[&oids],
        )
        .await
        .map_err(q("triggers"))?
    {
        let oid: u32 = r.get(0);
        if let Some(t) = by_oid.get_mut(&oid) {
            t.triggers.push(r.get(1));
        }
    }

    let mut catalog = Catalog::default();
    catalog.live = true;
    let funcs: Vec<String> = functions.iter().cloned().collect();
    for r in client
        .query(
            "SELECT proname::text, max(provolatile::text) FROM pg_catalog.pg_proc WHERE proname = ANY($1) GROUP BY proname",
            &[&funcs],
        )
        .await
        .map_err(q("function volatility"))?
    {
        let v: String = r.get(1);
        catalog.functions.insert(r.get(0), Volatility::from_provolatile(&v));
    }

    let types: Vec<String> = refs.types.iter().cloned().collect();
    for r in client
        .query(
            "SELECT n.nspname::text, t.typname::text FROM pg_catalog.pg_type t
               JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
              WHERE t.typtype = 'd' AND (t.typname = ANY($1) OR n.nspname || '.' || t.typname = ANY($1))
                AND (t.typnotnull OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid))",
            &[&types],
        )
        .await
        .map_err(q("domains"))?
    {
        let (schema, name): (String, String) = (r.get(0), r.get(1));
        catalog.constrained_domains.insert(format!("{schema}.{name}"));
        catalog.constrained_domains.insert(name);
    }

    catalog.activity = activity(client, &oids, &by_oid).await?;
    for (_, t) in by_oid {
        catalog.tables.insert(t.name.clone(), t);
    }
    Ok(Introspection {
        profile,
        catalog,
        schemas: resolved,
    })
}

/// Sessions holding or waiting for locks on the tables, and long transactions.
async fn activity(
    client: &Client,
    oids: &[u32],
    by_oid: &BTreeMap<u32, Table>,
) -> Result<Vec<Backend>, PgError> {
    let rows = client
        .query(
            "SELECT a.pid, COALESCE(a.state, ''), EXTRACT(EPOCH FROM now() - a.xact_start)::float8,
                    COALESCE(a.query, ''), pg_catalog.pg_blocking_pids(a.pid), l.relation, l.mode, l.granted
               FROM pg_catalog.pg_stat_activity a
               LEFT JOIN pg_catalog.pg_locks l
                      ON l.pid = a.pid AND l.locktype = 'relation' AND l.relation = ANY($1)
              WHERE a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend'
                AND (l.relation IS NOT NULL OR now() - a.xact_start > interval '1 minute')
              ORDER BY a.pid",
            &[&oids],
        )
        .await
        .map_err(q("current activity"))?;
    let mut out: Vec<Backend> = Vec::new();
    for r in rows {
        let pid: i32 = r.get(0);
        if out.last().is_none_or(|b| b.pid != pid) {
            out.push(Backend {
                pid,
                state: r.get(1),
                transaction_seconds: r.get(2),
                query: r.get(3),
                locks: Vec::new(),
                blocked_by: r.get(4),
            });
        }
        let rel: Option<u32> = r.get(5);
        let mode: Option<String> = r.get(6);
        if let (Some(rel), Some(mode), Some(b)) = (rel, mode, out.last_mut()) {
            if let (Some(t), Some(mode)) = (by_oid.get(&rel), LockMode::from_pg_locks_name(&mode)) {
                b.locks.push(HeldLock {
                    table: t.name.clone(),
                    mode,
                    granted: r.get(7),
                });
            }
        }
    }
    Ok(out)
}
