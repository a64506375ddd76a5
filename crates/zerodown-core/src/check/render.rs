//! The check's output: for people (file:line:column, the statement with a caret under
//! it, the hint), JSON (versioned, docs/check-format.md), SARIF 2.1.0 (code scanning),
//! and GitHub workflow annotations (one line per problem).

use std::fmt::Write;

use serde_json::json;

use super::{rules, Level, Problem};

/// Version of the JSON document; bumped only by incompatible changes.
pub const JSON_VERSION: u32 = 1;

/// Counts of errors and warnings.
pub fn counts(problems: &[Problem]) -> (usize, usize) {
    let errors = problems
        .iter()
        .filter(|p| p.severity == Level::Error)
        .count();
    (errors, problems.len() - errors)
}

pub fn text(problems: &[Problem], files: usize, assumptions: &[String]) -> String {
    let mut out = String::new();
    for p in problems {
        let _ = writeln!(
            out,
            "{}:{}:{}: {}[{}]: {}",
            p.file,
            p.line,
            p.column,
            p.severity.name(),
            p.rule,
            p.message
        );
        if let Some(first) = p.sql.lines().next() {
            let pad = " ".repeat(p.line.to_string().len());
            let _ = writeln!(out, " {pad} |");
            let _ = writeln!(out, " {} | {first}", p.line);
            let width = first.trim_end().chars().count().max(1);
            let _ = writeln!(out, " {pad} | {}", "^".repeat(width));
        }
        if let Some(h) = &p.hint {
            let _ = writeln!(out, "  = hint: {h}");
        }
        let _ = writeln!(out, "  = see {}", rules::page(p.rule));
        out.push('\n');
    }
    if !assumptions.is_empty() {
        let _ = writeln!(out, "Assumed (no database):");
        for a in assumptions {
            let _ = writeln!(out, "  - {a}");
        }
        out.push('\n');
    }
    let (errors, warnings) = counts(problems);
    let _ = writeln!(
        out,
        "{files} file(s) checked: {errors} error(s), {warnings} warning(s)"
    );
    out
}

pub fn json(problems: &[Problem], files: usize, assumptions: &[String]) -> String {
    let (errors, warnings) = counts(problems);
    let doc = json!({
        "version": JSON_VERSION,
        "files_checked": files,
        "errors": errors,
        "warnings": warnings,
        "findings": problems,
        "assumptions": assumptions,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// GitHub Actions workflow commands: `::error file=…,line=…,col=…,title=…::message`.
pub fn github(problems: &[Problem]) -> String {
    // Property values escape % \r \n : , and the message % \r \n.
    let prop = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
            .replace(':', "%3A")
            .replace(',', "%2C")
    };
    let msg = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let mut out = String::new();
    for p in problems {
        let body = match &p.hint {
            Some(h) => format!("{}\n{h}", p.message),
            None => p.message.clone(),
        };
        let _ = writeln!(
            out,
            "::{} file={},line={},col={},title={}::{}",
            p.severity.name(),
            prop(&p.file),
            p.line,
            p.column,
            prop(&format!("zerodown {}", p.rule)),
            msg(&body)
        );
    }
    out
}

/// SARIF 2.1.0: one run, the rules that appear, one result per problem.
pub fn sarif(problems: &[Problem], tool_version: &str) -> String {
    let mut used: Vec<&str> = problems.iter().map(|p| p.rule).collect();
    used.sort_unstable();
    used.dedup();
    let described: Vec<serde_json::Value> = used
        .iter()
        .map(|id| {
            let summary = rules::all().find(|(r, _)| r == id).map_or("", |(_, s)| s);
            json!({
                "id": id,
                "shortDescription": { "text": summary },
                "help": { "text": format!("see {} in the zerodown repository", rules::page(id)) },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| {
            json!({
                "ruleId": p.rule,
                "ruleIndex": used.iter().position(|r| *r == p.rule).unwrap_or(0),
                "level": p.severity.name(),
                "message": { "text": match &p.hint {
                    Some(h) => format!("{} ({h})", p.message),
                    None => p.message.clone(),
                } },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": p.file },
                        "region": { "startLine": p.line, "startColumn": p.column },
                    }
                }],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "zerodown",
                "version": tool_version,
                "rules": described,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
