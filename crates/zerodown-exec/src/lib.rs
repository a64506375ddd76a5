//! zerodown-exec: runs a [`Plan`](zerodown_core::plan::Plan) against a database through
//! the [`Database`] and [`StateStore`] traits. Every DDL gets a short lock timeout and
//! bounded, jittered retries; backfills run in small keyset batches whose checkpoint is
//! committed with the batch; every step is recorded before and after it runs, so a
//! crash at any point resumes safely. Time is tokio's clock (paused in tests).

pub mod admin;
mod backfill;
pub mod backoff;
pub mod driver;
pub mod events;
pub mod executor;
mod redact;
pub mod tls;

pub use admin::{MigrationSummary, StateAdmin};
pub use driver::*;
pub use events::{Event, EventSink, RebuildPhase, RetryReason};
pub use executor::{ExecError, Executor, Options, RunReport, StepReport};
pub use redact::{conninfo_pairs, generate_password, redact, split_query};
