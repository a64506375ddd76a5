//! What each migration tool reads from a file's name and text: the version it records,
//! its description and checksum, as the tool itself computes them.

use super::Tool;
use crate::migrations::{Layout, SourceFile};

/// One file as its tool identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId {
    /// The version the tool records (`20240101120000`, Flyway's `1.2`); empty for a
    /// Flyway repeatable migration, which has none.
    pub version: String,
    /// sqlx's and Flyway's description: the name after the version, `_` read as a space.
    pub description: String,
    /// Flyway's `script`: the path below the migrations folder.
    pub script: String,
    /// sqlx: SHA-384 of the file, hex; Flyway: CRC-32 of its lines, a signed integer.
    pub checksum: Option<String>,
}

/// The file's identity for `tool`; `rel` is its path below the migrations folder.
/// Err: a name the tool would not read as a migration, in words.
pub fn identify(tool: Tool, source: &SourceFile, rel: &str) -> Result<FileId, String> {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    // Prisma's and diesel's folder per migration: the folder names it (the file's own
    // path has it even when `rel` is a bare name).
    let stem_source = match source.layout {
        Layout::Diesel | Layout::Prisma => source.name.rsplit('/').nth(1).unwrap_or(base),
        _ => base,
    };
    let blanked = matches!(source.layout, Layout::Dbmate | Layout::Goose);
    match tool {
        Tool::Dbmate => {
            // dbmate: the leading digits are the version (`^(\d+).*\.sql$`).
            let digits: String = base.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return Err(format!("dbmate reads only files whose name starts with digits (20240101120000_name.sql); {base} is not one"));
            }
            Ok(FileId {
                version: digits,
                description: String::new(),
                script: base.to_owned(),
                checksum: None,
            })
        }
        Tool::Sqlx => {
            let (version, rest) = numbered(stem_source, "sqlx", "<VERSION>_<DESCRIPTION>.sql")?;
            if blanked {
                return Err(format!("{base} is written for {} (its sections): sqlx would run the whole file, and record a checksum of it; give the --history of the tool that reads it", layout_tool(source.layout)));
            }
            let description = rest
                .trim_end_matches(".sql")
                .trim_end_matches(".up")
                .replace('_', " ");
            Ok(FileId {
                version,
                description,
                script: base.to_owned(),
                checksum: Some(hex(&sha384(&source.text))),
            })
        }
        Tool::GolangMigrate | Tool::Goose => {
            let shape = if tool == Tool::Goose {
                "<version>_<name>.sql"
            } else {
                "<version>_<title>.up.sql"
            };
            let (version, _) = numbered(stem_source, tool.name(), shape)?;
            Ok(FileId {
                version,
                description: String::new(),
                script: base.to_owned(),
                checksum: None,
            })
        }
        Tool::Flyway => flyway(source, rel, base, blanked),
    }
}

fn layout_tool(layout: Layout) -> &'static str {
    match layout {
        Layout::Goose => "goose",
        _ => "dbmate",
    }
}

/// `<digits>_<rest>`, the digits read as a number the way the Go and Rust tools do.
fn numbered(stem: &str, tool: &str, shape: &str) -> Result<(String, String), String> {
    let (digits, rest) = stem.split_once('_').unwrap_or((stem, ""));
    match digits.parse::<i64>() {
        Ok(v) if v >= 0 && !rest.is_empty() => Ok((v.to_string(), rest.to_owned())),
        _ => Err(format!(
            "{tool} reads only files named {shape}; {stem} is not one"
        )),
    }
}

fn flyway(source: &SourceFile, rel: &str, base: &str, blanked: bool) -> Result<FileId, String> {
    if blanked {
        return Err(format!(
            "{base} is written for {}: Flyway would run the whole file",
            layout_tool(source.layout)
        ));
    }
    let stem = base
        .strip_suffix(".sql")
        .ok_or_else(|| format!("Flyway reads .sql files; {base} is not one"))?;
    let (version, description) = if let Some(desc) = stem.strip_prefix("R__") {
        (String::new(), desc)
    } else {
        let rest = stem
            .strip_prefix(['V', 'v'])
            .and_then(|r| r.split_once("__"))
            .filter(|(v, _)| !v.is_empty());
        let Some((v, desc)) = rest else {
            return Err(format!(
                "Flyway reads files named V<version>__<description>.sql or R__<description>.sql; {base} is not one"
            ));
        };
        let version = flyway_version(v).ok_or_else(|| {
            format!("{base}: Flyway versions are numbers separated by . or _ (V1_2__x.sql); {v} is not one")
        })?;
        (version, desc)
    };
    Ok(FileId {
        version,
        description: description.replace('_', " "),
        script: rel.to_owned(),
        checksum: Some(flyway_checksum(&source.text).to_string()),
    })
}

/// Flyway's version as it records it: `1_2` becomes `1.2`.
fn flyway_version(v: &str) -> Option<String> {
    let parts: Vec<&str> = v.split(['.', '_']).collect();
    parts
        .iter()
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        .then(|| parts.join("."))
}

/// Flyway versions compared as it compares them: numbers part by part, trailing zero
/// parts ignored (`1.0` is `1`).
pub fn flyway_version_key(v: &str) -> Vec<u128> {
    let mut parts: Vec<u128> = v
        .split(['.', '_'])
        .map(|p| p.parse().unwrap_or(u128::MAX))
        .collect();
    while parts.len() > 1 && parts.last() == Some(&0) {
        parts.pop();
    }
    parts
}

/// Flyway's checksum: CRC-32 over the UTF-8 bytes of each line without its line ending
/// (as Java's `BufferedReader.readLine` splits at `\n`, `\r` or `\r\n`), a byte order mark
/// dropped, the result read as a signed 32-bit integer.
pub fn flyway_checksum(text: &str) -> i32 {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut crc = crc32fast::Hasher::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
        crc.update(&rest.as_bytes()[..end]);
        rest = &rest[end..];
        if rest.starts_with("\r\n") {
            rest = &rest[2..];
        } else if !rest.is_empty() {
            rest = &rest[1..];
        }
    }
    crc.finalize() as i32
}

fn sha384(text: &str) -> Vec<u8> {
    use sha2::{Digest, Sha384};
    Sha384::digest(text.as_bytes()).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::classify;

    fn id(tool: Tool, name: &str, text: &str) -> Result<FileId, String> {
        identify(tool, &classify(name, text), name)
    }

    #[test]
    fn names_as_each_tool_reads_them() {
        let f = id(Tool::Sqlx, "0002_add_users_email.sql", "select 1;\n").expect("sqlx");
        assert_eq!(
            (f.version.as_str(), f.description.as_str()),
            ("2", "add users email")
        );
        let f = id(Tool::Sqlx, "20240101_x.up.sql", "select 1;").expect("reversible");
        assert_eq!(f.description, "x");
        assert!(id(Tool::Sqlx, "add.sql", "select 1").is_err());
        let f = id(
            Tool::Dbmate,
            "20240101120000_a.sql",
            "-- migrate:up\nselect 1;\n",
        )
        .expect("dbmate");
        assert_eq!(f.version, "20240101120000");
        let f = id(Tool::GolangMigrate, "000003_t.up.sql", "select 1").expect("migrate");
        assert_eq!(f.version, "3");
        let f = id(Tool::Goose, "00004_t.sql", "-- +goose Up\nselect 1;\n").expect("goose");
        assert_eq!(f.version, "4");
        let f = id(Tool::Flyway, "V1_2__Add_users.sql", "select 1;").expect("flyway");
        assert_eq!(
            (f.version.as_str(), f.description.as_str()),
            ("1.2", "Add users")
        );
        let f = id(Tool::Flyway, "R__views.sql", "select 1;").expect("repeatable");
        assert_eq!(f.version, "");
        assert!(id(Tool::Flyway, "V__x.sql", "select 1").is_err());
        assert!(id(Tool::Flyway, "Vx__y.sql", "select 1").is_err());
        // A file written for another tool's sections is not recorded as a whole file.
        assert!(id(Tool::Sqlx, "20240101_a.sql", "-- migrate:up\nselect 1;\n").is_err());
        let nested = identify(
            Tool::Flyway,
            &classify("db/sub/V3__c.sql", "select 1"),
            "sub/V3__c.sql",
        )
        .expect("nested");
        assert_eq!(nested.script, "sub/V3__c.sql");
        // A folder per migration names it, even given as a bare file name.
        let prisma = classify("db/20240105_add/migration.sql", "select 1");
        let f = identify(Tool::Sqlx, &prisma, "migration.sql").expect("named by its folder");
        assert_eq!(
            (f.version.as_str(), f.description.as_str()),
            ("20240105", "add")
        );
    }

    #[test]
    fn flyway_versions_compare_as_numbers() {
        assert_eq!(flyway_version_key("1.0"), flyway_version_key("1"));
        assert!(flyway_version_key("1.10") > flyway_version_key("1.9"));
    }

    /// Expected values printed by Java's own `BufferedReader.readLine` and
    /// `java.util.zip.CRC32` (OpenJDK 17) over the same text, as Flyway's
    /// `LoadableResource.calculateChecksum` does.
    #[test]
    fn flyway_checksum_matches_java() {
        for (text, java) in FLYWAY_JAVA {
            assert_eq!(flyway_checksum(text), *java, "{text:?}");
        }
        // Line endings do not count.
        assert_eq!(flyway_checksum("a\r\nb\n"), flyway_checksum("a\nb"));
        assert_eq!(flyway_checksum("a\rb"), flyway_checksum("a\nb"));
    }

    const FLYWAY_JAVA: &[(&str, i32)] = &[
        ("SELECT 1;", 78787420),
        (
            "CREATE TABLE users (id bigint PRIMARY KEY);\nALTER TABLE users ADD COLUMN email text;\n",
            1207417942,
        ),
        ("\u{feff}CREATE INDEX CONCURRENTLY i ON t (a);\r\n", -1595568231),
        ("line one\rline two\r\n\r\nlast", 839268877),
        ("", 0),
        ("-- é ü 日本\nselect 'x';\n", -1400528733),
    ];

    #[test]
    fn sqlx_checksum_is_sha384_of_the_file() {
        let f = id(Tool::Sqlx, "1_a.sql", "").expect("sqlx");
        // SHA-384 of the empty string.
        assert_eq!(
            f.checksum.as_deref(),
            Some("38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b")
        );
    }
}
