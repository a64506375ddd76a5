//! How long a scan, rewrite or index build of a PostgreSQL table takes, from the
//! table's real size and the shared rates of [`CostModel`].

use crate::estimate::CostModel;
use crate::pg::catalog::Table;

impl CostModel {
    pub fn scan(&self, t: &Table) -> Option<f64> {
        if t.is_empty() {
            return Some(0.0);
        }
        t.heap_bytes.map(|b| b as f64 / self.scan_bytes_per_sec)
    }

    pub fn rewrite(&self, t: &Table) -> Option<f64> {
        if t.is_empty() {
            return Some(0.0);
        }
        t.total_bytes
            .or(t.heap_bytes)
            .map(|b| b as f64 / self.rewrite_bytes_per_sec)
    }

    pub fn index_build(&self, t: &Table) -> Option<f64> {
        if t.is_empty() {
            return Some(0.0);
        }
        t.heap_bytes
            .map(|b| b as f64 / self.index_build_bytes_per_sec)
    }

    pub fn fk_validation(&self, t: &Table) -> Option<f64> {
        if t.is_empty() {
            return Some(0.0);
        }
        match (self.scan(t), t.rows) {
            (Some(s), Some(r)) => Some(s + r / self.fk_rows_per_sec),
            _ => None,
        }
    }

    pub fn update(&self, t: &Table) -> Option<f64> {
        if t.is_empty() {
            return Some(0.0);
        }
        t.rows.map(|r| r / self.update_rows_per_sec)
    }
}
