//! The JSON contract: every field a report holds is documented in docs/rehearse-report.md,
//! and the fields documented there are the ones a report holds.

use std::collections::BTreeSet;

use zerodown_rehearse::report::*;

fn sample() -> Report {
    Report {
        report_version: REPORT_VERSION,
        migration: vec!["m.sql".into()],
        server: ServerInfo {
            engine: "PostgreSQL".into(),
            version: "15".into(),
            kind: "throwaway cluster, port 1".into(),
            pg_stat_statements: true,
        },
        workload: WorkloadInfo {
            table: "public.t".into(),
            clients: 4,
            operations: vec![Operation {
                name: "read".into(),
                weight: 70,
                sql: "SELECT 1".into(),
            }],
            before_ms: 5000,
            after_ms: 5000,
        },
        rows: vec![("public.t".into(), 10)],
        runs: vec![Run {
            mode: Mode::Zerodown,
            verdict: Verdict {
                ok: true,
                summary: String::new(),
            },
            migration_started_ms: 1,
            migration_ended_ms: 2,
            migration_error: Some("e".into()),
            worst_stall: Some(Stall {
                ms: 1.0,
                began_ms: 1,
                operation: "read".into(),
                phase: "during".into(),
            }),
            phases: vec![PhaseSummary {
                name: "before".into(),
                duration_ms: 1,
                ops: 1,
                errors: 0,
                ops_per_sec: 1.0,
                p50_ms: 1.0,
                p99_ms: 1.0,
                p999_ms: 1.0,
                max_ms: 1.0,
            }],
            timeline: vec![Second {
                t_ms: 0,
                ops: 1,
                errors: 0,
                p50_ms: 1.0,
                p99_ms: 1.0,
                max_ms: 1.0,
            }],
            steps: vec![StepObserved {
                n: 1,
                description: String::new(),
                started_ms: 1,
                ended_ms: 2,
                declared_lock: None,
                observed_lock: None,
                observed_wait: None,
                clients_waiting_max: 0,
                samples: 0,
            }],
            error_samples: vec![],
            statements: vec![StatementStats {
                phase: "before".into(),
                query: String::new(),
                calls: 1,
                mean_ms: 1.0,
                max_ms: 1.0,
                total_ms: 1.0,
            }],
        }],
    }
}

fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn every_field_is_documented_and_every_documented_field_exists() {
    let doc = include_str!("../../../docs/rehearse-report.md");
    let mut fields = BTreeSet::new();
    keys(&serde_json::to_value(sample()).expect("json"), &mut fields);
    for f in &fields {
        assert!(
            doc.contains(&format!("`{f}`"))
                || doc.contains(&format!("{{{f},"))
                || doc.contains(&format!(", {f}")),
            "field {f} is not in docs/rehearse-report.md"
        );
    }
    // Field names in the tables' first column are real fields.
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap_or_default();
        for name in cell.split('`').skip(1).step_by(2) {
            assert!(
                fields.contains(name),
                "{name} is documented but no report holds it"
            );
        }
    }
    let mode = serde_json::to_value(Mode::AsWritten).expect("mode");
    assert_eq!(mode, "as_written");
    assert!(doc.contains("`as_written` or `zerodown`"));
}
