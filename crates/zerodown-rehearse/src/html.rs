//! The rehearsal report as one self-contained HTML page: no script, no network; each run
//! is an inline SVG timeline (operations per second as bars, p99 and worst latency per
//! second as lines on a log scale) with the migration's steps marked, then the tables.

use std::fmt::Write;

use crate::report::{Report, Run};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 40.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let title = format!("zerodown rehearsal: {}", r.migration.join(", "));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        STYLE,
        esc(&title)
    );
    let rows: Vec<String> = r
        .rows
        .iter()
        .map(|(t, n)| format!("{t}: {n} rows"))
        .collect();
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} {} ({}) &middot; {} &middot; {} clients on {}: {}</p>",
        esc(&r.server.engine),
        esc(&r.server.version),
        esc(&r.server.kind),
        esc(&rows.join(", ")),
        r.workload.clients,
        esc(&r.workload.table),
        esc(&r
            .workload
            .operations
            .iter()
            .map(|o| format!("{} {}", o.name, o.weight))
            .collect::<Vec<_>>()
            .join(", "))
    );
    out.push_str(&summary_table(r));
    for run in &r.runs {
        let _ = write!(
            out,
            "<section class=\"run\" id=\"run-{mode}\"><h2>{label} <span class=\"{cls}\">{verdict}</span></h2>\n<p>{summary}</p>\n",
            mode = esc(&format!("{:?}", run.mode).to_lowercase()),
            label = esc(run.mode.label()),
            cls = if run.verdict.ok { "ok" } else { "fail" },
            verdict = if run.verdict.ok { "ok" } else { "FAIL" },
            summary = esc(&run.verdict.summary),
        );
        out.push_str(&timeline(run));
        out.push_str(&steps_table(run));
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px}h2{font-size:17px;margin-top:32px}.meta{color:#555}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.ok{color:#187a2f}.fail{color:#b3261e}
svg{background:#fff;border:1px solid #ddd}svg text{font:11px system-ui,sans-serif}";

fn summary_table(r: &Report) -> String {
    let mut out = String::from("<table class=\"summary\"><tr><th class=\"l\"></th>");
    for run in &r.runs {
        let _ = write!(out, "<th>{}</th>", esc(run.mode.label()));
    }
    out.push_str("</tr>\n");
    let mut row = |label: &str, cell: &dyn Fn(&Run) -> String| {
        let _ = write!(out, "<tr><td class=\"l\">{}</td>", esc(label));
        for run in &r.runs {
            let _ = write!(out, "<td>{}</td>", esc(&cell(run)));
        }
        out.push_str("</tr>\n");
    };
    row("migration took", &|run| {
        format!("{:.1} s", run.migration_ms() as f64 / 1000.0)
    });
    row("worst client wait", &|run| {
        run.worst_stall.as_ref().map_or("-".into(), |s| {
            format!(
                "{:.1} ms at {:.1} s ({}, {})",
                s.ms,
                s.began_ms as f64 / 1000.0,
                s.operation,
                s.phase
            )
        })
    });
    for phase in ["before", "during", "after"] {
        row(&format!("{phase}: ops/s"), &|run| {
            run.phase(phase)
                .map_or("-".into(), |p| format!("{:.0}", p.ops_per_sec))
        });
        row(&format!("{phase}: p50 / p99 / p99.9 / max ms"), &|run| {
            run.phase(phase).map_or("-".into(), |p| {
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1}",
                    p.p50_ms, p.p99_ms, p.p999_ms, p.max_ms
                )
            })
        });
        row(&format!("{phase}: errors"), &|run| {
            run.phase(phase)
                .map_or("-".into(), |p| p.errors.to_string())
        });
    }
    row("verdict", &|run| {
        if run.verdict.ok { "ok" } else { "FAIL" }.to_owned()
    });
    out.push_str("</table>\n");
    out
}

/// Log scale from 0.1 ms to the largest latency (at least 100 ms).
fn y_of(ms: f64, top_ms: f64) -> f64 {
    let lo = 0.1f64.log10();
    let hi = top_ms.max(100.0).log10();
    let v = ms.max(0.1).log10().min(hi);
    TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - (v - lo) / (hi - lo))
}

fn timeline(run: &Run) -> String {
    let seconds = run.timeline.len().max(1) as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |ms: u64| LEFT + plot_w * (ms as f64 / 1000.0) / seconds;
    let top_ms = run.timeline.iter().map(|s| s.max_ms).fold(0.0, f64::max);
    let top_ops = run.timeline.iter().map(|s| s.ops).max().unwrap_or(1).max(1) as f64;
    let mut svg = format!(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"latency and throughput per second\">\n"
    );
    // The migration, then each step.
    let _ = writeln!(
        svg,
        "<rect class=\"migration\" x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"#fff4d6\"><title>migration</title></rect>",
        x_of(run.migration_started_ms),
        (x_of(run.migration_ended_ms) - x_of(run.migration_started_ms)).max(1.0)
    );
    for s in &run.steps {
        let x = x_of(s.started_ms);
        let _ = writeln!(
            svg,
            "<line class=\"step\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{:.1}\" stroke=\"#c98a00\" stroke-dasharray=\"3,3\"><title>step {}: {} ({} ms)</title></line>\n<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#8a5d00\">{}</text>",
            TOP + plot_h,
            s.n,
            esc(&s.description),
            s.ended_ms.saturating_sub(s.started_ms),
            x + 2.0,
            TOP + 10.0,
            s.n
        );
    }
    // Operations per second: bars on the right axis.
    let bar_w = (plot_w / seconds - 1.0).max(1.0);
    for s in &run.timeline {
        let h = plot_h * s.ops as f64 / top_ops;
        let _ = writeln!(
            svg,
            "<rect class=\"ops\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\" fill=\"#dbe7f5\"><title>{} s: {} ops, {} errors</title></rect>",
            x_of(s.t_ms),
            TOP + plot_h - h,
            s.t_ms / 1000,
            s.ops,
            s.errors
        );
    }
    // Latency lines (middle of each second).
    for (class, colour, pick) in [
        (
            "p99",
            "#1f5fbf",
            (|s: &crate::report::Second| s.p99_ms) as fn(&crate::report::Second) -> f64,
        ),
        ("max", "#b3261e", |s| s.max_ms),
    ] {
        let points: Vec<String> = run
            .timeline
            .iter()
            // A second in which no operation began has no latency (a stall spans it).
            .filter(|s| s.ops > 0)
            .map(|s| format!("{:.1},{:.1}", x_of(s.t_ms + 500), y_of(pick(s), top_ms)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline class=\"{class}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    // Axes: latency ticks on the left, seconds below, ops on the right.
    for tick in [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0] {
        if tick > top_ms.max(100.0) * 1.01 {
            break;
        }
        let y = y_of(tick, top_ms);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick} ms</text>",
            LEFT + plot_w,
            LEFT - 4.0,
            y + 4.0
        );
    }
    let step = ((seconds / 10.0).ceil() as u64).max(1);
    for sec in (0..seconds as u64 + 1).step_by(step as usize) {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{sec} s</text>",
            x_of(sec * 1000),
            HEIGHT - BOTTOM + 16.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#5b7fa8\">bars: operations per second (tallest {top_ops:.0})</text>\n<text x=\"{LEFT}\" y=\"{:.1}\" fill=\"#1f5fbf\">p99 per second</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b3261e\">worst per second</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#8a5d00\">migration and its steps</text>\n</svg>",
        LEFT + plot_w,
        HEIGHT - 6.0,
        HEIGHT - 6.0,
        LEFT + 130.0,
        HEIGHT - 6.0,
        LEFT + 270.0,
        HEIGHT - 6.0
    );
    svg
}

fn steps_table(run: &Run) -> String {
    let mut out = String::from(
        "<table class=\"steps\"><tr><th>step</th><th class=\"l\">what</th><th>ms</th><th class=\"l\">declared lock</th><th class=\"l\">seen holding</th><th class=\"l\">seen waiting for</th><th>clients waiting</th></tr>\n",
    );
    for s in &run.steps {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            s.n,
            esc(&s.description),
            s.ended_ms.saturating_sub(s.started_ms),
            esc(s.declared_lock.as_deref().unwrap_or("-")),
            esc(s.observed_lock.as_deref().unwrap_or("-")),
            esc(s.observed_wait.as_deref().unwrap_or("-")),
            s.clients_waiting_max
        );
    }
    out.push_str("</table>\n");
    if !run.error_samples.is_empty() {
        out.push_str("<p class=\"fail\">client errors:</p><ul>");
        for e in &run.error_samples {
            let _ = write!(out, "<li>{}</li>", esc(e));
        }
        out.push_str("</ul>\n");
    }
    if !run.statements.is_empty() {
        out.push_str("<table class=\"statements\"><tr><th class=\"l\">phase</th><th class=\"l\">statement (pg_stat_statements)</th><th>calls</th><th>mean ms</th><th>max ms</th></tr>\n");
        for s in &run.statements {
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td><td>{}</td><td>{:.2}</td><td>{:.1}</td></tr>",
                esc(&s.phase),
                esc(&s.query),
                s.calls,
                s.mean_ms,
                s.max_ms
            );
        }
        out.push_str("</table>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::*;

    #[test]
    fn text_from_the_migration_and_the_server_is_escaped() {
        let hostile = "x'); <script>alert(1)</script> & \"q\"";
        let report = Report {
            report_version: REPORT_VERSION,
            migration: vec![hostile.into()],
            server: ServerInfo {
                engine: "PostgreSQL".into(),
                version: "15".into(),
                kind: "k".into(),
                pg_stat_statements: false,
            },
            workload: WorkloadInfo {
                table: hostile.into(),
                clients: 1,
                operations: vec![],
                before_ms: 0,
                after_ms: 0,
            },
            rows: vec![],
            runs: vec![Run {
                mode: Mode::AsWritten,
                verdict: Verdict {
                    ok: false,
                    summary: hostile.into(),
                },
                migration_started_ms: 0,
                migration_ended_ms: 10,
                migration_error: None,
                worst_stall: None,
                phases: vec![],
                timeline: vec![],
                steps: vec![StepObserved {
                    n: 1,
                    description: hostile.into(),
                    started_ms: 0,
                    ended_ms: 10,
                    declared_lock: None,
                    observed_lock: None,
                    observed_wait: None,
                    clients_waiting_max: 0,
                    samples: 0,
                }],
                error_samples: vec![hostile.into()],
                statements: vec![],
            }],
        };
        let page = render(&report);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;"));
    }
}
