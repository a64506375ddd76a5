//! What this role may do, checked before the first step of a run (`preflight`): own the
//! tables the steps alter (ALTER TABLE, CREATE INDEX and VALIDATE need the owner or a
//! member of its role), UPDATE the tables a backfill writes, see other roles' sessions
//! for `--max-threads-running` and the standbys' figures for the lag throttle
//! (`pg_read_all_stats`), and end other roles' sessions for `--kill-blockers`
//! (`pg_signal_backend`). Each missing one is named with the GRANT that gives it.
//! A superuser is never needed.

use zerodown_core::plan::{Step, StepKind};
use zerodown_exec::{DriverError, Options};

use crate::driver::table_sql;
use crate::errors::classify;
use crate::PgDriver;

impl PgDriver {
    pub(crate) async fn check_privileges(
        &mut self,
        steps: &[&Step],
        opts: &Options,
    ) -> Result<(), DriverError> {
        let c = self.client().await?;
        let q = |e: tokio_postgres::Error| classify(&e);
        let role = c
            .query_one(
                "SELECT current_user::text, rolsuper,
                        pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'),
                        pg_has_role(current_user, 'pg_signal_backend', 'USAGE')
                   FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(q)?;
        let (name, superuser): (String, bool) = (role.get(0), role.get(1));
        let (read_stats, signal) = (
            superuser || role.get::<_, bool>(2),
            superuser || role.get::<_, bool>(3),
        );
        let mut missing = Vec::new();
        if opts.max_busy_sessions.is_some() && !read_stats {
            missing.push(format!(
                "--max-threads-running counts every role's active sessions, which pg_stat_activity shows only to pg_read_all_stats: GRANT pg_read_all_stats TO {name}"
            ));
        }
        if opts.kill_idle_blockers && !signal {
            missing.push(format!(
                "--kill-blockers ends other roles' sessions, which needs pg_signal_backend: GRANT pg_signal_backend TO {name}"
            ));
        }
        let backfills = steps.iter().any(|s| s.kind == StepKind::Backfill);
        if backfills && !read_stats {
            let hidden: i64 = c
                .query_one(
                    "SELECT count(*) FILTER (WHERE state IS NULL) FROM pg_catalog.pg_stat_replication",
                    &[],
                )
                .await
                .map_err(q)?
                .get(0);
            if hidden > 0 {
                missing.push(format!(
                    "backfills wait while a standby lags, and pg_stat_replication shows the lag only to pg_read_all_stats: GRANT pg_read_all_stats TO {name}"
                ));
            }
        }
        // What each existing table needs: its owner's rights, or UPDATE for a backfill.
        let mut tables: Vec<(String, bool)> = Vec::new();
        for s in steps.iter().filter(|s| !s.table_is_new) {
            let Some(table) = &s.table else { continue };
            let needs_owner = !matches!(
                s.kind,
                StepKind::Backfill | StepKind::AsWritten | StepKind::Analyze
            );
            if !matches!(s.kind, StepKind::AsWritten | StepKind::Analyze) {
                match tables.iter_mut().find(|(t, _)| t == table) {
                    Some(entry) => entry.1 |= needs_owner,
                    None => tables.push((table.clone(), needs_owner)),
                }
            }
        }
        for (table, needs_owner) in tables {
            let row = c
                .query_opt(
                    "SELECT pg_has_role(current_user, c.relowner, 'USAGE'), pg_get_userbyid(c.relowner)::text,
                            has_table_privilege(c.oid, 'SELECT, UPDATE')
                       FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
                    &[&table_sql(&table)],
                )
                .await
                .map_err(q)?;
            // A table made by an earlier step of this run is not there yet.
            let Some(row) = row else { continue };
            let (owner_rights, owner, update): (bool, String, bool) =
                (row.get(0), row.get(1), row.get(2));
            if needs_owner && !owner_rights {
                missing.push(format!(
                    "altering {table} needs its owner's rights (ALTER TABLE, CREATE INDEX and VALIDATE are the owner's): run as {owner}, or GRANT {owner} TO {name}"
                ));
            } else if !needs_owner && !update {
                missing.push(format!(
                    "the backfill of {table} reads and updates it: GRANT SELECT, UPDATE ON {table} TO {name}"
                ));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(DriverError::permanent(format!(
            "role {name} lacks what this plan needs:\n  - {}",
            missing.join("\n  - ")
        )))
    }
}
