//! Engine, version and the server profile every analysis is run against.
//!
//! The profile is a value passed in (never a global), so one process can plan for
//! PostgreSQL 11 and 18 side by side, and offline planning is the same code as live.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The database engine a plan is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    MySql,
    MariaDb,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Postgres => "postgres",
            Engine::MySql => "mysql",
            Engine::MariaDb => "mariadb",
        })
    }
}

/// A server version: major.minor (PostgreSQL 10+ numbering: 15.4 is major 15, minor 4),
/// and a patch level where the engine numbers in three parts (MySQL 8.0.29, MariaDB
/// 10.11.19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32) -> Self {
        Version {
            major,
            minor,
            patch: 0,
        }
    }

    pub const fn with_patch(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// From MySQL's or MariaDB's `VERSION()` (`8.0.36`, `10.11.19-MariaDB-0+deb12u1`,
    /// `5.5.5-10.11.19-MariaDB` as some proxies report it): the engine and the version.
    pub fn from_mysql_version(text: &str) -> Option<(Engine, Version)> {
        let engine = if text.to_ascii_lowercase().contains("mariadb") {
            Engine::MariaDb
        } else {
            Engine::MySql
        };
        // The 5.5.5- prefix is a compatibility shim for old replication clients.
        let text = text.strip_prefix("5.5.5-").unwrap_or(text);
        let numbers = text
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?;
        let mut parts = numbers.split('.').map(|p| p.parse::<u32>().ok());
        let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next().flatten());
        Some((
            engine,
            Version::with_patch(major, minor, patch.unwrap_or(0)),
        ))
    }

    /// From PostgreSQL's `server_version_num` (e.g. 150004 -> 15.4).
    pub fn from_pg_version_num(num: u32) -> Self {
        Version::new(num / 10000, num % 10000)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Error for a `--target` that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid target {0:?}: expected ENGINE:VERSION such as postgres:15, postgres:16.2, mysql:8.0, mysql:8.0.28 or mariadb:10.11 (PostgreSQL 11 to 18, MySQL 8.0 to 8.4, MariaDB 10.3 to 11.8 are supported)")]
pub struct TargetParseError(pub String);

/// Settings of the server that change what a statement does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Settings {
    /// Session `TimeZone`: timestamp <-> timestamptz is binary-coercible only under UTC.
    /// None offline when not given (`--timezone`): the costly case is assumed.
    pub timezone: Option<String>,
    /// Offline, the schemas unqualified names are looked up in (`--search-path`); None:
    /// `public`. Live, the server resolves names itself.
    pub search_path: Option<Vec<String>>,
}

/// What the planner knows about the server: engine, version and relevant settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerProfile {
    pub engine: Engine,
    pub version: Version,
    pub settings: Settings,
}

impl ServerProfile {
    pub fn postgres(major: u32, minor: u32) -> Self {
        ServerProfile {
            engine: Engine::Postgres,
            version: Version::new(major, minor),
            settings: Settings::default(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.engine == Engine::Postgres
    }
}

impl FromStr for ServerProfile {
    type Err = TargetParseError;

    /// Parses `postgres:15`, `postgresql:16.2`, `pg:11`, `mysql:8.0`, `mysql:8.0.28`,
    /// `mariadb:10.11`, `mariadb:10.3.39`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || TargetParseError(s.to_owned());
        let (engine, version) = s.split_once(':').ok_or_else(err)?;
        let engine = match engine.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" | "pg" => Engine::Postgres,
            "mysql" => Engine::MySql,
            "mariadb" => Engine::MariaDb,
            _ => return Err(err()),
        };
        let parts: Vec<u32> = version
            .split('.')
            .map(|p| p.parse().map_err(|_| err()))
            .collect::<Result<_, _>>()?;
        let version = match (engine, parts.as_slice()) {
            (Engine::Postgres, [major @ 11..=18]) => Version::new(*major, 0),
            (Engine::Postgres, [major @ 11..=18, minor]) => Version::new(*major, *minor),
            (Engine::MySql, [8, minor @ 0..=4]) => {
                Version::with_patch(8, *minor, release_patch(engine, 8, *minor))
            }
            (Engine::MariaDb, [10, minor @ 3..=11] | [11, minor @ 0..=8]) => {
                Version::with_patch(parts[0], *minor, release_patch(engine, parts[0], *minor))
            }
            (Engine::MySql, [8, minor @ 0..=4, patch])
            | (Engine::MariaDb, [10, minor @ 3..=11, patch] | [11, minor @ 0..=8, patch]) => {
                Version::with_patch(parts[0], *minor, *patch)
            }
            _ => return Err(err()),
        };
        Ok(ServerProfile {
            engine,
            version,
            settings: Settings::default(),
        })
    }
}

/// The patch level a target without one stands for. MySQL 8.0's behaviour changed
/// within the series (instant ADD COLUMN at 8.0.12, at any position at 8.0.29), so
/// `mysql:8.0` means a current 8.0 release (8.0.40, October 2024); name the patch
/// (`mysql:8.0.28`) to plan for an older one. MariaDB 10.3's first stable release was
/// 10.3.7 (https://mariadb.com/kb/en/mariadb-1037-release-notes/); other series are
/// taken at .0.
fn release_patch(engine: Engine, major: u32, minor: u32) -> u32 {
    match (engine, major, minor) {
        (Engine::MySql, 8, 0) => 40,
        (Engine::MariaDb, 10, 3) => 7,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let p: ServerProfile = "postgres:15".parse().expect("valid");
        assert_eq!(p.version, Version::new(15, 0));
        let p: ServerProfile = "pg:14.3".parse().expect("valid");
        assert_eq!(p.version, Version::new(14, 3));
        assert!("postgres:10".parse::<ServerProfile>().is_err());
        assert!("postgres:19".parse::<ServerProfile>().is_err());
        assert!("oracle:19".parse::<ServerProfile>().is_err());
        let p: ServerProfile = "mysql:8.0".parse().expect("valid");
        assert_eq!(
            (p.engine, p.version),
            (Engine::MySql, Version::with_patch(8, 0, 40))
        );
        let p: ServerProfile = "mysql:8.0.28".parse().expect("valid");
        assert_eq!(p.version, Version::with_patch(8, 0, 28));
        let p: ServerProfile = "mariadb:10.11".parse().expect("valid");
        assert_eq!(
            (p.engine, p.version),
            (Engine::MariaDb, Version::with_patch(10, 11, 0))
        );
        let p: ServerProfile = "MariaDB:10.3".parse().expect("valid");
        assert_eq!(p.version, Version::with_patch(10, 3, 7));
        for bad in [
            "mysql:5.7",
            "mysql:8",
            "mariadb:10.2",
            "mariadb:12.0",
            "pg:15.1.2",
            "mysql:8.0.x",
        ] {
            assert!(bad.parse::<ServerProfile>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_mysql_and_mariadb_versions() {
        assert_eq!(
            Version::from_mysql_version("10.11.19-MariaDB-0+deb12u1"),
            Some((Engine::MariaDb, Version::with_patch(10, 11, 19)))
        );
        assert_eq!(
            Version::from_mysql_version("5.5.5-10.3.39-MariaDB-log"),
            Some((Engine::MariaDb, Version::with_patch(10, 3, 39)))
        );
        assert_eq!(
            Version::from_mysql_version("8.0.36"),
            Some((Engine::MySql, Version::with_patch(8, 0, 36)))
        );
        assert_eq!(Version::with_patch(8, 0, 29).to_string(), "8.0.29");
        assert!(Version::with_patch(8, 0, 28) < Version::with_patch(8, 0, 29));
        assert_eq!(Version::from_mysql_version("garbage"), None);
        assert!("postgres".parse::<ServerProfile>().is_err());
        assert!("postgres:15.x".parse::<ServerProfile>().is_err());
    }

    #[test]
    fn version_num() {
        assert_eq!(Version::from_pg_version_num(150004), Version::new(15, 4));
        assert_eq!(Version::from_pg_version_num(180000), Version::new(18, 0));
    }
}
