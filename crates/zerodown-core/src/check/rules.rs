//! The rule ids of `zerodown check`: every finding code of the analysis
//! ([`crate::findings::Code`]) and the rules only the check has. Ids are stable: never
//! renamed, only added. Each has a page, `docs/rules/<id>.md`.

use crate::findings::Code;

/// Rules the check adds to the analysis' findings, with a one-line description.
pub const CHECK_ONLY: &[(&str, &str)] = &[
    (
        "refused-statement",
        "a statement zerodown cannot read (a syntax error) or will not model (docs/refusals.md): nothing of it is judged",
    ),
    (
        "invalid-suppression",
        "a zerodown:ignore comment names no rule, an unknown rule, or gives no reason",
    ),
    (
        "missing-lock-timeout",
        "a statement that takes a blocking lock on an existing table runs without a lock_timeout set before it in the file",
    ),
    (
        "prefer-jsonb",
        "a json column: jsonb is indexable, compares by value and is what json operators expect",
    ),
    (
        "prefer-bigint-key",
        "a 32-bit integer key runs out at 2,147,483,647 rows, and widening it later rewrites the table",
    ),
];

/// Every rule: id and one-line description.
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    Code::ALL
        .iter()
        .map(|c| (c.as_str(), c.description()))
        .chain(CHECK_ONLY.iter().copied())
}

pub fn is_known(id: &str) -> bool {
    all().any(|(r, _)| r == id)
}

/// The rule's documentation page, relative to the repository.
pub fn page(id: &str) -> String {
    format!("docs/rules/{id}.md")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut ids: Vec<&str> = super::all().map(|(id, _)| id).collect();
        assert!(ids.iter().all(|id| id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')));
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule ids");
    }
}
