//! Inline suppressions: `-- zerodown:ignore <rule-id> <reason>` silences that rule for
//! the statement the comment is in, or for the statement that follows it (with only
//! blank lines and comments between). The reason is required, and the rule must exist: a
//! suppression without either is itself a problem (`invalid-suppression`, an error), so
//! a typo cannot silence a check by accident.

use std::collections::BTreeMap;

use super::{rules, Level, Problem};
use crate::migrations::SourceFile;

const MARKER: &str = "zerodown:ignore";

/// One valid suppression.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ignore {
    line: u32,
    rule: String,
}

/// The suppressions of every file, and the invalid ones as problems.
#[derive(Debug, Default)]
pub struct Ignores {
    /// Per file: its suppressions and its lines (to see what lies between a comment and
    /// the statement after it).
    files: BTreeMap<String, (Vec<Ignore>, Vec<String>)>,
    invalid: Vec<Problem>,
}

/// Reads the suppressions of `sources`.
pub fn read(sources: &[SourceFile]) -> Ignores {
    let mut out = Ignores::default();
    for s in sources {
        let mut ignores = Vec::new();
        for (i, text) in s.text.lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let Some(comment) = text.find("--").map(|at| &text[at + 2..]) else {
                continue;
            };
            let Some(at) = comment.find(MARKER) else {
                continue;
            };
            let column = u32::try_from(text.len() - comment.len() + at - 1).unwrap_or(0);
            let mut words = comment[at + MARKER.len()..].split_whitespace();
            let bad = |message: String| {
                Problem {
                file: s.name.clone(),
                line,
                column,
                rule: "invalid-suppression",
                severity: Level::Error,
                message,
                hint: Some(format!(
                    "write `-- {MARKER} <rule-id> <why it is safe here>`; the rule ids are in docs/rules/"
                )),
                sql: text.to_owned(),
            }
            };
            match (words.next(), words.next()) {
                (None, _) => out
                    .invalid
                    .push(bad("a suppression names no rule and gives no reason".into())),
                (Some(rule), _) if !rules::is_known(rule) => out
                    .invalid
                    .push(bad(format!("`{rule}` is not a zerodown rule"))),
                (Some(rule), None) => out.invalid.push(bad(format!(
                    "the suppression of `{rule}` gives no reason: say why the statement is safe"
                ))),
                (Some(rule), Some(_)) => ignores.push(Ignore {
                    line,
                    rule: rule.to_owned(),
                }),
            }
        }
        if !ignores.is_empty() {
            let lines = s.text.lines().map(str::to_owned).collect();
            out.files.insert(s.name.clone(), (ignores, lines));
        }
    }
    out
}

impl Ignores {
    /// Whether a suppression of `p`'s rule is in its statement or just before it.
    pub fn covers(&self, p: &Problem) -> bool {
        let Some((ignores, lines)) = self.files.get(&p.file) else {
            return false;
        };
        let start = p.line;
        let end = start + u32::try_from(p.sql.lines().count().max(1) - 1).unwrap_or(0);
        ignores.iter().filter(|i| i.rule == p.rule).any(|i| {
            (start..=end).contains(&i.line)
                || (i.line < start
                    && (i.line + 1..start).all(|l| {
                        let text = lines.get(l as usize - 1).map_or("", |t| t.trim());
                        text.is_empty() || text.starts_with("--")
                    }))
        })
    }

    /// Suppressions that name no rule, an unknown one, or give no reason.
    pub fn invalid(&self) -> Vec<Problem> {
        self.invalid.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(line: u32, rule: &'static str, sql: &str) -> Problem {
        Problem {
            file: "m.sql".into(),
            line,
            column: 1,
            rule,
            severity: Level::Error,
            message: String::new(),
            hint: None,
            sql: sql.into(),
        }
    }

    #[test]
    fn a_reasoned_suppression_covers_its_statement_or_the_next_one_only() {
        let text = "-- zerodown:ignore create-index-blocks-writes table has 10 rows\n\
                    \n\
                    CREATE INDEX a ON t (a);\n\
                    CREATE INDEX b ON t (b);\n\
                    CREATE INDEX c ON t (c); -- zerodown:ignore create-index-blocks-writes lookup table\n";
        let src = crate::migrations::classify("m.sql", text);
        let ig = read(&[src]);
        assert!(ig.invalid().is_empty());
        let rule = "create-index-blocks-writes";
        assert!(ig.covers(&problem(3, rule, "CREATE INDEX a ON t (a)")));
        assert!(!ig.covers(&problem(4, rule, "CREATE INDEX b ON t (b)")));
        assert!(ig.covers(&problem(5, rule, "CREATE INDEX c ON t (c)")));
        assert!(!ig.covers(&problem(3, "table-rewrite", "CREATE INDEX a ON t (a)")));
    }

    #[test]
    fn no_reason_or_an_unknown_rule_is_an_error_at_the_comment() {
        let text = "-- zerodown:ignore create-index-blocks-writes\n\
                    -- zerodown:ignore no-such-rule because\n\
                    SELECT 1; -- zerodown:ignore\n";
        let ig = read(&[crate::migrations::classify("m.sql", text)]);
        let bad = ig.invalid();
        let lines: Vec<u32> = bad.iter().map(|p| p.line).collect();
        assert_eq!(lines, [1, 2, 3]);
        assert!(bad
            .iter()
            .all(|p| p.rule == "invalid-suppression" && p.severity == Level::Error));
        assert!(
            bad[0].message.contains("gives no reason"),
            "{}",
            bad[0].message
        );
        assert!(bad[1]
            .message
            .contains("`no-such-rule` is not a zerodown rule"));
        assert!(bad[2].column > 1, "the column of the comment");
    }
}
