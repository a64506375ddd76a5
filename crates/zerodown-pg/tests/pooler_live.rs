//! The route to the server is found out, never assumed: direct to the test PostgreSQL,
//! through a real PgBouncer in session mode (relayed, one server session per client),
//! and in transaction mode (pooled), whatever the URL says.

use zerodown_pg::pooler::{route, Route};
use zerodown_testkit::pgbouncer::{Pgbouncer, PoolMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_relayed_and_pooled_are_told_apart() {
    assert_eq!(
        route("host=127.0.0.1 port=5432 user=postgres dbname=test")
            .await
            .expect("probe"),
        Route::Direct
    );
    let session = Pgbouncer::start("127.0.0.1", 5432, "postgres", PoolMode::Session, 5);
    let found = route(&session.conn("postgres", "test"))
        .await
        .expect("probe");
    assert!(matches!(found, Route::Relayed { .. }), "{found:?}");
    let transaction = Pgbouncer::start("127.0.0.1", 5432, "postgres", PoolMode::Transaction, 5);
    let found = route(&transaction.conn("postgres", "test"))
        .await
        .expect("probe");
    assert!(matches!(found, Route::Pooled { .. }), "{found:?}");
}
