//! Migration files as people write them for Flyway, sqlx, dbmate, golang-migrate, goose,
//! diesel and Prisma: which files count, in what order they run, and whether the tool
//! wraps each file in a transaction (which changes how long every lock in it is held).

use serde::Serialize;

/// The tool whose conventions a file follows, judged from its name and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `V<version>__<desc>.sql`: Flyway runs each file in one transaction on PostgreSQL.
    Flyway,
    /// `<version>_<desc>.sql` / `.up.sql` with sqlx: one transaction unless `-- no-transaction`.
    Sqlx,
    /// `-- migrate:up` sections: one transaction unless `transaction:false`.
    Dbmate,
    /// `<version>_<desc>.up.sql` (golang-migrate): the file is sent as is, no transaction added.
    GolangMigrate,
    /// `-- +goose Up` / `-- +goose Down` sections: one transaction unless the file says
    /// `-- +goose NO TRANSACTION`.
    Goose,
    /// `<version>_<desc>/migration.sql` (Prisma Migrate): sent as is, no transaction added.
    Prisma,
    /// `<version>_<desc>/up.sql` (diesel): one transaction per migration, unless the
    /// folder's `metadata.toml` says `run_in_transaction = false` (read by the caller).
    Diesel,
    /// Any other `.sql` file, run as `psql -f` would: each statement commits on its own.
    Plain,
}

/// One migration file, ready to parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFile {
    /// The name shown in messages (path as given).
    pub name: String,
    /// The SQL to run (for dbmate and goose, the up section with the rest blanked out,
    /// so line numbers stay those of the file).
    pub text: String,
    pub layout: Layout,
    /// Whether the migration tool wraps the whole file in one transaction.
    pub implicit_transaction: bool,
}

/// The files' names as recorded with a migration's state: `a.sql, b.sql`.
pub fn source_names(sources: &[SourceFile]) -> String {
    sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A migration's identity: `<last file stem>-<first 12 hex of the checksum>`, and the
/// SHA-256 of every file's name and SQL, so the same files always map to the same state.
pub fn identity(sources: &[SourceFile]) -> (String, String) {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for s in sources {
        let base = s.name.rsplit('/').next().unwrap_or(&s.name);
        h.update(base.as_bytes());
        h.update([0]);
        h.update(s.text.as_bytes());
        h.update([0]);
    }
    let checksum: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let stem = sources
        .last()
        .map(|s| {
            let base = s.name.rsplit('/').next().unwrap_or(&s.name);
            base.trim_end_matches(".sql")
                .trim_end_matches(".up")
                .to_owned()
        })
        .unwrap_or_else(|| "migration".to_owned());
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (format!("{stem}-{}", &checksum[..12]), checksum)
}

/// Whether a file name is a migration to run (down/undo migrations are not).
pub fn is_up_migration(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    lower.ends_with(".sql")
        && !lower.ends_with(".down.sql")
        && !(lower.starts_with('u')
            && lower[1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()))
}

/// Sort key: Flyway versioned first by version, then plain numeric prefixes, then
/// Flyway repeatables (`R__`, by description), numbers compared as numbers.
pub fn sort_key(file_name: &str) -> (u8, Vec<u64>, String) {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    if let Some(rest) = base.strip_prefix("R__") {
        return (2, Vec::new(), rest.to_owned());
    }
    let stem = base
        .strip_prefix(['V', 'v'])
        .filter(|r| r.contains("__"))
        .unwrap_or(base);
    let version: String = stem
        .split("__")
        .next()
        .unwrap_or("")
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
        .collect();
    let parts: Vec<u64> = version
        .split(['.', '_'])
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    if parts.is_empty() {
        (1, Vec::new(), base.to_owned())
    } else {
        (0, parts, base.to_owned())
    }
}

/// Whether a file name is Flyway's: `V<version>__<desc>.sql` or `R__<desc>.sql`.
pub fn is_flyway_name(base: &str) -> bool {
    let versioned = base.len() > 2
        && base.starts_with(['V', 'v'])
        && base.contains("__")
        && base[1..].starts_with(|c: char| c.is_ascii_digit());
    versioned || base.starts_with("R__")
}

/// Classifies a file and extracts the SQL to run.
pub fn classify(name: &str, text: &str) -> SourceFile {
    let base = name.rsplit('/').next().unwrap_or(name);
    if let Some(up) = dbmate_up(text) {
        let no_txn = up.header.contains("transaction:false");
        return SourceFile {
            name: name.to_owned(),
            text: up.text,
            layout: Layout::Dbmate,
            implicit_transaction: !no_txn,
        };
    }
    if let Some(up) = goose_up(text) {
        return SourceFile {
            name: name.to_owned(),
            text: up.text,
            layout: Layout::Goose,
            implicit_transaction: !up.no_transaction,
        };
    }
    let flyway = is_flyway_name(base);
    let numbered = base.starts_with(|c: char| c.is_ascii_digit());
    let first_line = text.lines().next().unwrap_or("").trim();
    let folder = name.rsplit('/').nth(1).unwrap_or("");
    let in_numbered_folder = folder.starts_with(|c: char| c.is_ascii_digit());
    let diesel = base == "up.sql" && in_numbered_folder;
    let prisma = base == "migration.sql" && in_numbered_folder;
    let (layout, implicit_transaction) = if diesel {
        (Layout::Diesel, true)
    } else if prisma {
        // Prisma Migrate sends the script as it is; a transaction is the file's own.
        (Layout::Prisma, false)
    } else if flyway {
        (Layout::Flyway, true)
    } else if numbered && base.ends_with(".up.sql") && !first_line.starts_with("-- no-transaction")
    {
        // golang-migrate and reversible sqlx share the name; sqlx is the common Rust
        // case, but golang-migrate sends the file as is. Without a marker, assume the
        // file is run as is: locks then last one statement, the safer assumption to plan for.
        (Layout::GolangMigrate, false)
    } else if numbered {
        (Layout::Sqlx, first_line != "-- no-transaction")
    } else {
        (Layout::Plain, false)
    };
    SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
        layout,
        implicit_transaction,
    }
}

struct DbmateUp {
    header: String,
    text: String,
}

/// The `-- migrate:up` section with everything else blanked (newlines kept).
fn dbmate_up(text: &str) -> Option<DbmateUp> {
    let mut out = String::with_capacity(text.len());
    let mut header = None;
    let mut in_up = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with("-- migrate:up") {
            header = Some(t.to_owned());
            in_up = true;
            out.push_str(&blank(line));
        } else if t.starts_with("-- migrate:down") {
            in_up = false;
            out.push_str(&blank(line));
        } else if in_up {
            out.push_str(line);
        } else {
            out.push_str(&blank(line));
        }
    }
    header.map(|header| DbmateUp { header, text: out })
}

struct GooseUp {
    no_transaction: bool,
    text: String,
}

/// A goose annotation line, lowercased: `-- +goose <what>` at the very start of the line
/// (goose reads annotations case-insensitively and only without leading whitespace).
fn goose_annotation(line: &str) -> Option<String> {
    let rest = line.strip_prefix("--")?;
    let rest = rest.strip_prefix(|c: char| c == ' ' || c == '\t')?;
    let what = rest
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("+goose"))
        .map(|_| &rest[6..])?;
    if !what.is_empty() && !what.starts_with(char::is_whitespace) {
        return None;
    }
    Some(what.trim().to_ascii_lowercase())
}

/// The `-- +goose Up` section with the rest blanked (newlines kept), and whether the file
/// asks for `NO TRANSACTION`. None when the file has no up annotation.
fn goose_up(text: &str) -> Option<GooseUp> {
    let mut out = String::with_capacity(text.len());
    let mut seen_up = false;
    let mut in_up = false;
    let mut no_transaction = false;
    for line in text.split_inclusive('\n') {
        match goose_annotation(line.trim_end_matches(['\n', '\r'])).as_deref() {
            Some("up") => {
                seen_up = true;
                in_up = true;
                out.push_str(&blank(line));
            }
            Some("down") => {
                in_up = false;
                out.push_str(&blank(line));
            }
            Some(other) => {
                no_transaction |= other == "no transaction";
                out.push_str(&blank(line));
            }
            None if in_up => out.push_str(line),
            None => out.push_str(&blank(line)),
        }
    }
    seen_up.then_some(GooseUp {
        no_transaction,
        text: out,
    })
}

fn blank(line: &str) -> String {
    line.chars()
        .map(|c| if c == '\n' { '\n' } else { ' ' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_the_tools() {
        let mut names = vec![
            "V10__c.sql",
            "V2__b.sql",
            "V1.1__a2.sql",
            "V1__a.sql",
            "R__views.sql",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            vec![
                "V1__a.sql",
                "V1.1__a2.sql",
                "V2__b.sql",
                "V10__c.sql",
                "R__views.sql"
            ]
        );
        let mut names = vec![
            "20240101120000_b.sql",
            "0002_x.sql",
            "10_y.sql",
            "0001_a.sql",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            vec![
                "0001_a.sql",
                "0002_x.sql",
                "10_y.sql",
                "20240101120000_b.sql"
            ]
        );
        assert!(!is_up_migration("0001_a.down.sql"));
        assert!(!is_up_migration("U2__undo.sql"));
        assert!(is_up_migration("update_users.sql"));
    }

    #[test]
    fn identity_is_stable_and_content_addressed() {
        let a = [classify(
            "db/V3__add token.sql",
            "ALTER TABLE t ADD COLUMN x int;",
        )];
        let (id, sum) = identity(&a);
        assert!(id.starts_with("V3__add_token-"), "{id}");
        assert_eq!(sum.len(), 64);
        assert_eq!(identity(&a), (id.clone(), sum));
        let b = [classify(
            "db/V3__add token.sql",
            "ALTER TABLE t ADD COLUMN y int;",
        )];
        assert_ne!(identity(&b).0, id);
    }

    #[test]
    fn classifies_files() {
        assert!(classify("V1__a.sql", "select 1").implicit_transaction);
        assert!(classify("0001_a.sql", "select 1").implicit_transaction);
        assert!(!classify("0001_a.sql", "-- no-transaction\nselect 1").implicit_transaction);
        assert!(!classify("change.sql", "select 1").implicit_transaction);
        let d = classify(
            "2024_x.sql",
            "-- migrate:up transaction:false\nCREATE INDEX;\n-- migrate:down\nDROP INDEX x;\n",
        );
        assert_eq!(d.layout, Layout::Dbmate);
        assert!(!d.implicit_transaction);
        assert!(d.text.contains("CREATE INDEX"));
        assert!(!d.text.contains("DROP"));
        assert_eq!(d.text.lines().count(), 4);
        // diesel: a folder per migration, each up.sql run in a transaction.
        let diesel = classify("migrations/2024-01-01-000000_add_a/up.sql", "select 1");
        assert_eq!(diesel.layout, Layout::Diesel);
        assert!(diesel.implicit_transaction);
        assert_eq!(classify("up.sql", "select 1").layout, Layout::Plain);
        let prisma = classify(
            "prisma/migrations/20240101000000_init/migration.sql",
            "select 1",
        );
        assert_eq!(prisma.layout, Layout::Prisma);
        assert!(!prisma.implicit_transaction);
    }

    #[test]
    fn reads_goose_sections() {
        let text = "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION f();\n";
        let g = classify("00002_f.sql", text);
        assert_eq!(g.layout, Layout::Goose);
        assert!(g.implicit_transaction);
        assert!(g.text.contains("CREATE FUNCTION"));
        assert!(
            !g.text.contains("DROP FUNCTION"),
            "the down section is never planned"
        );
        assert!(!g.text.contains("+goose"));
        assert_eq!(g.text.lines().count(), text.lines().count());
        let g = classify(
            "00003_ix.sql",
            "-- +goose NO TRANSACTION\n-- +GOOSE UP\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
        );
        assert_eq!(g.layout, Layout::Goose);
        assert!(!g.implicit_transaction);
        // Leading whitespace makes it a comment goose ignores.
        assert_eq!(
            classify("00004_x.sql", "  -- +goose Up\nselect 1;\n").layout,
            Layout::Sqlx
        );
        assert!(goose_annotation("-- +gooseUp").is_none());
    }
}
