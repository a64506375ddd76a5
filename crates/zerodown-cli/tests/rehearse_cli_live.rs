//! `zerodown demo` and `zerodown rehearse` as a user runs them: the JSON report, the HTML
//! report rendered by a real headless Chromium, Ctrl-C removing the throwaway cluster, and
//! bad input refused before anything starts.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{exit_by, migration, zerodown};

#[test]
fn demo_reports_json_and_an_html_page_chromium_renders_with_its_chart() {
    let dir = tempfile::tempdir().expect("tmp");
    let html = dir.path().join("report.html");
    let out = zerodown()
        .args([
            "demo",
            "--rows",
            "30000",
            "--settle-secs",
            "2",
            "--format",
            "json",
        ])
        // Other tests share the 2 cores: the budget here is generous; the rehearsal's own
        // tests hold the default one.
        .args(["--max-stall-ms", "1000"])
        .arg("--report")
        .arg(&html)
        .output()
        .expect("demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["mode"], "as_written");
    assert_eq!(runs[1]["mode"], "zerodown");
    assert_eq!(runs[1]["verdict"]["ok"], true, "{:#}", runs[1]["verdict"]);
    assert_eq!(report["rows"][0][1], 30000);

    // Chromium parses the page, draws the chart, and a screenshot shows its lines.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rehearse-report.png");
    let _ = std::fs::remove_file(&shot);
    let dom = chromium(&html, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches("<svg class=\"timeline\"").count(),
        2,
        "a chart per run"
    );
    assert!(dom.matches("class=\"step\"").count() >= 2, "steps marked");
    assert_eq!(dom.matches("<polyline").count(), 4, "p99 and worst per run");
    let shot_arg = format!("--screenshot={}", shot.display());
    chromium(&html, &[&shot_arg, "--window-size=1000,1400"]);
    let pixels = coloured_pixels(&shot);
    assert!(pixels.p99 > 50, "blue p99 line drawn: {pixels:?}");
    assert!(pixels.worst > 50, "red worst line drawn: {pixels:?}");
    assert!(pixels.migration > 500, "migration band drawn: {pixels:?}");
}

fn chromium(page: &Path, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[derive(Debug)]
struct Pixels {
    p99: usize,
    worst: usize,
    migration: usize,
}

/// Counts pixels near the chart's colours (lines are anti-aliased).
fn coloured_pixels(png_path: &Path) -> Pixels {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("screenshot"),
    ));
    let mut reader = decoder.read_info().expect("png");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("frame");
    let channels = info.color_type.samples();
    let near = |px: &[u8], c: [u8; 3]| px.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 24);
    let mut p = Pixels {
        p99: 0,
        worst: 0,
        migration: 0,
    };
    for px in buf[..info.buffer_size()].chunks(channels) {
        p.p99 += usize::from(near(px, [0x1f, 0x5f, 0xbf]));
        p.worst += usize::from(near(px, [0xb3, 0x26, 0x1e]));
        p.migration += usize::from(near(px, [0xff, 0xf4, 0xd6]));
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_the_demo_removes_its_cluster() {
    let mut child = zerodown()
        .args(["demo", "--rows", "20000", "--settle-secs", "60"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("demo");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut folder = None;
    let mut seen = Vec::new();
    // Once the traffic runs, the cluster is up and busy.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        if let Some((_, dir)) = line.split_once("throwaway cluster on port ") {
            folder = dir.rsplit(" in ").next().map(PathBuf::from);
        }
        let busy = line.contains("traffic for");
        seen.push(line);
        if busy {
            break;
        }
    }
    let folder = folder.unwrap_or_else(|| panic!("cluster announced: {seen:?}"));
    assert!(folder.exists());
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    let status = exit_by(&mut child, Instant::now() + Duration::from_secs(60)).await;
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(status.and_then(|s| s.code()), Some(5), "{rest:?}");
    assert!(!folder.exists(), "{} removed; {rest:?}", folder.display());
}

#[test]
fn rehearse_refuses_bad_input_before_starting_anything() {
    let m = migration("ALTER TABLE t ADD COLUMN c int;");
    let path = m.path().to_str().expect("utf8");
    let no_schema = zerodown()
        .args(["rehearse", path])
        .output()
        .expect("rehearse");
    assert_eq!(no_schema.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_schema.stderr).contains("--from URL"));
    let bad_mix = zerodown()
        .args([
            "rehearse",
            path,
            "--schema",
            path,
            "--mix",
            "read=1,delete=2",
        ])
        .output()
        .expect("rehearse");
    assert_eq!(bad_mix.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_mix.stderr).contains("delete: unknown operation"));
    let bad_sql = migration("ALTER TABLE t ADD COLUMN;");
    let out = zerodown()
        .args([
            "rehearse",
            bad_sql.path().to_str().expect("utf8"),
            "--schema",
            path,
        ])
        .output()
        .expect("rehearse");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":1:") && !err.contains("throwaway"), "{err}");
}

#[test]
fn demo_on_mariadb_widens_a_key_online_and_rehearse_refuses_mixed_engines() {
    let out = zerodown()
        .args(["demo", "--engine", "mariadb", "--rows", "30000"])
        .args([
            "--settle-secs",
            "2",
            "--format",
            "json",
            "--max-stall-ms",
            "1000",
        ])
        .args(["--report", "/dev/null"])
        .output()
        .expect("demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["server"]["engine"], "MariaDB");
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(
        runs[0]["steps"][0]["declared_lock"],
        "ALGORITHM=COPY, LOCK=SHARED"
    );
    assert_eq!(runs[1]["verdict"]["ok"], true, "{:#}", runs[1]["verdict"]);
    assert!(
        runs[1]["steps"][0]["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("online rebuild")),
        "{:#}",
        runs[1]["steps"]
    );

    let m = migration("ALTER TABLE t ADD COLUMN c int;");
    let path = m.path().to_str().expect("utf8");
    let mixed = zerodown()
        .args(["rehearse", path, "--engine", "postgres"])
        .args(["--from", "mysql://root@127.0.0.1:3306/test"])
        .output()
        .expect("rehearse");
    assert_eq!(mixed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("different engines"));
    let qualified = migration("ALTER TABLE shop.t ADD COLUMN c int;");
    let out = zerodown()
        .args(["rehearse", qualified.path().to_str().expect("utf8")])
        .args(["--engine", "mariadb", "--schema", path])
        .output()
        .expect("rehearse");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shop.t") && !err.contains("throwaway"),
        "{err}"
    );
}
