//! What this user may do, checked before the first step of a run: an online rebuild
//! reads the binary log (its position, then a dump as a replica), which needs
//! privileges an application user seldom has. Probed by doing it, not by reading
//! grants (roles and wildcards make those hard to read right); each missing privilege
//! is named with its GRANT.

use zerodown_core::plan::{Step, StepKind};
use zerodown_exec::DriverError;

use crate::MyDriver;

impl MyDriver {
    pub(crate) async fn check_privileges(&mut self, steps: &[&Step]) -> Result<(), DriverError> {
        if !steps.iter().any(|s| s.kind == StepKind::OnlineRebuild) {
            return Ok(());
        }
        let opts = self.opts.clone();
        let c = self.conn().await?;
        let missing = crate::rebuild::may_read(&opts, c).await;
        if missing.is_empty() {
            return Ok(());
        }
        let user: Option<String> =
            mysql_async::prelude::Queryable::query_first(c, "SELECT CURRENT_USER()")
                .await
                .ok()
                .flatten();
        Err(DriverError::permanent(format!(
            "user {} lacks what this plan needs:\n  - {}",
            user.unwrap_or_default(),
            missing.join("\n  - ")
        )))
    }
}
