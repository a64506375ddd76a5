//! Helpers shared by the live tests: observe what a statement does on the server.

use std::collections::BTreeMap;

use tokio_postgres::Client;
use zerodown_core::lock::LockMode;

/// What the server did, per table of the test schema.
#[derive(Debug, Default)]
pub struct Observed {
    /// Strongest lock taken on each table (tables only, not indexes).
    pub locks: BTreeMap<String, LockMode>,
    pub rewritten: Vec<String>,
    pub scanned: Vec<String>,
    /// Tables given a new file of at most one page where they had more: emptied
    /// (TRUNCATE), neither rewritten nor scanned (nor their indexes).
    pub emptied: Vec<String>,
}

pub async fn setup(c: &Client, s: &str) {
    c.batch_execute(&format!(
        r#"
        SET search_path = "{s}";
        CREATE TABLE r (id int PRIMARY KEY);
        INSERT INTO r SELECT generate_series(1, 2000);
        CREATE TABLE t (id int PRIMARY KEY, a int, b varchar(20), c numeric(10,2), ts timestamp, n text, u int);
        INSERT INTO t SELECT g, g, 'b' || g, g, now(), 'n', g FROM generate_series(1, 2000) g;
        CREATE INDEX t_b_idx ON t (b);
        CREATE INDEX t_ts_idx ON t (ts);
        CREATE INDEX t_c_idx ON t (c);
        ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL);
        ALTER TABLE t ADD CONSTRAINT t_pos CHECK (a > 0) NOT VALID;
        CREATE UNIQUE INDEX t_u_key ON t (u);
        CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
        CREATE TRIGGER t_trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION trg();
        CREATE TABLE p (id int, k int) PARTITION BY RANGE (k);
        CREATE TABLE p1 (id int, k int);
        INSERT INTO p1 SELECT g, 5 FROM generate_series(1, 500) g;
        CREATE TABLE rc (id int PRIMARY KEY, r_id int REFERENCES r (id));
        INSERT INTO rc SELECT g, g FROM generate_series(1, 2000) g;
        CREATE TYPE mood AS ENUM ('ok');
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        CREATE DOMAIN label AS text;
        ANALYZE;
        RESET search_path;
        "#
    ))
    .await
    .expect("setup");
}

/// Relations keyed by OID (a RENAME keeps it): name, relfilenode, seq_scan (tables),
/// size in bytes.
type Snapshot = BTreeMap<u32, (String, u32, Option<i64>, i64)>;

/// One page: what an emptied table or btree index (its metapage) still takes.
const ONE_PAGE: i64 = 8192;

async fn snapshot(c: &Client, s: &str) -> Snapshot {
    let mut out = BTreeMap::new();
    for r in c
        .query(
            "SELECT c.oid, c.relname::text, c.relfilenode, st.seq_scan, pg_relation_size(c.oid)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_stat_xact_user_tables st ON st.relid = c.oid
              WHERE n.nspname = $1 AND c.relkind IN ('r', 'i')",
            &[&s],
        )
        .await
        .expect("snapshot")
    {
        out.insert(r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4)));
    }
    out
}

/// Runs `statements` in one transaction (UTC), observes, then commits or rolls back.
pub async fn observe(c: &Client, s: &str, statements: &[String], commit: bool) -> Observed {
    c.batch_execute("BEGIN; SET LOCAL TimeZone = 'UTC'")
        .await
        .expect("begin");
    let before = snapshot(c, s).await;
    for sql in statements {
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let after = snapshot(c, s).await;
    let mut obs = Observed::default();
    for r in c
        .query(
            "SELECT c.oid, c.relname::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE l.pid = pg_backend_pid() AND n.nspname = $1 AND c.relkind IN ('r', 'p') AND l.granted",
            &[&s],
        )
        .await
        .expect("locks")
    {
        let oid: u32 = r.get(0);
        // Report under the name the table had before the statement.
        let name = before.get(&oid).map(|b| b.0.clone()).unwrap_or_else(|| r.get(1));
        let mode = LockMode::from_pg_locks_name(&r.get::<_, String>(2)).expect("known mode");
        let e = obs.locks.entry(name).or_insert(mode);
        *e = (*e).max(mode);
    }
    for (oid, (name, file, scans, size)) in &before {
        let Some((_, file1, scans1, size1)) = after.get(oid) else {
            continue;
        };
        if file1 != file && *size1 <= ONE_PAGE && size > size1 {
            // Tables only: an emptied table's indexes are emptied with it.
            if scans.is_some() {
                obs.emptied.push(name.clone());
            }
            continue;
        }
        match scans {
            Some(n0) => {
                if file1 != file {
                    obs.rewritten.push(name.clone());
                }
                if scans1.unwrap_or(0) > *n0 {
                    obs.scanned.push(name.clone());
                }
            }
            // An index rebuilt (new relfilenode) means its table was scanned.
            None if file1 != file => obs.scanned.push(format!("index {name}")),
            None => {}
        }
    }
    c.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })
        .await
        .expect("end transaction");
    obs
}
