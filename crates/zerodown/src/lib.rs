//! zerodown as a library: the front door a Rust program (or the `zerodown` command)
//! calls to plan, apply, resume, control, rehearse and check schema changes on
//! PostgreSQL, MySQL and MariaDB.
//!
//! A call goes down the layers once and comes back once: [`plan()`] reads nothing but
//! what it is given, parses and plans with `zerodown-core` (pure), reads the live
//! catalog through the engine's driver when a database URL is given, and returns a
//! [`Planned`] migration; [`apply()`] runs it through `zerodown-exec` with its state in
//! the database; [`resume()`] and the [`control`] functions act on what that state
//! recorded. The engine is chosen once, from the database URL's scheme or the target.
//!
//! ```no_run
//! # async fn example() -> Result<(), zerodown::Error> {
//! let planned = zerodown::plan(zerodown::PlanRequest {
//!     sources: zerodown::input::from_text(
//!         "add_status.sql",
//!         "ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'new';",
//!         zerodown::input::FileTransaction::Auto,
//!     ),
//!     database_url: Some("postgres://app@localhost/app".into()),
//!     ..Default::default()
//! })
//! .await?;
//! print!("{}", planned.text());
//! if planned.outcome.plan.safe {
//!     let mut events = zerodown::exec::events::Collect::default();
//!     let mut quiet = |_: &str| {};
//!     zerodown::apply(&planned, &zerodown::RunOptions::default(), &mut events, &mut quiet)
//!         .await?;
//! }
//! # Ok(())
//! # }
//! ```

pub mod check;
pub mod control;
mod error;
pub mod history;
pub mod input;
mod plan;
pub mod rehearse;
mod route;
mod run;

pub use check::{check, CheckRequest, Checked};
pub use error::{format_diagnostic, Error};
pub use plan::{plan, PlanRequest, Planned, DEFAULT_OFFLINE_TARGET};
pub use rehearse::rehearse;
pub use run::{apply, render_report, resume, RunEnd, RunOptions};
/// The pure planner's types (profiles, plans, findings, reports).
pub use zerodown_core as core;
/// The executor's events and run report.
pub use zerodown_exec as exec;

/// Messages for people along a long call ("applying migration … (3 steps)", "undoing
/// step 2: …"); the CLI prints them on stderr. Any `FnMut(&str)` is one.
pub trait Notify {
    fn notice(&mut self, text: &str);
}

impl<F: FnMut(&str)> Notify for F {
    fn notice(&mut self, text: &str) {
        self(text)
    }
}

/// Binds `$db` to the driver of `$url`'s engine and evaluates `$body` with it (the body
/// is generic code, compiled once per driver).
macro_rules! on_driver {
    ($url:expr, $db:ident => $body:expr) => {
        if zerodown_mysql::is_mysql_url($url) {
            #[allow(unused_mut)]
            let mut $db = zerodown_mysql::MyDriver::new($url)
                .map_err(|e| $crate::Error::Input(e.to_string()))?;
            $body
        } else {
            $crate::route::own_session($url).await?;
            #[allow(unused_mut)]
            let mut $db = zerodown_pg::PgDriver::new($url);
            $body
        }
    };
}
pub(crate) use on_driver;
