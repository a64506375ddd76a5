//! How fast a server scans, rewrites, builds indexes and updates rows: the figures
//! both engines' estimates of a statement's duration are made from.
//!
//! Rates are round and err on the long side: under-estimating a lock's duration is the
//! dangerous mistake. They were calibrated against PostgreSQL 15 on a 2-core machine
//! (BENCHMARKS.md, `bench/pg_cost_model.sh`); the point is the order of magnitude a
//! person needs to decide, not a promise.

/// Throughput figures used for estimates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Sequential scan (validation of CHECK / NOT NULL), bytes of heap per second.
    pub scan_bytes_per_sec: f64,
    /// Table rewrite (heap copy + all indexes rebuilt), bytes of table+indexes per second.
    pub rewrite_bytes_per_sec: f64,
    /// B-tree index build, bytes of heap per second.
    pub index_build_bytes_per_sec: f64,
    /// Foreign key validation: referencing rows checked per second.
    pub fk_rows_per_sec: f64,
    /// Row updates per second in one statement (UPDATE backfills).
    pub update_rows_per_sec: f64,
    /// A catalog-only change once the lock is granted.
    pub catalog_seconds: f64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            scan_bytes_per_sec: 500e6,
            rewrite_bytes_per_sec: 40e6,
            index_build_bytes_per_sec: 80e6,
            fk_rows_per_sec: 1.5e6,
            update_rows_per_sec: 150e3,
            catalog_seconds: 0.001,
        }
    }
}
