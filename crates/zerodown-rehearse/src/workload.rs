//! The synthetic application: point reads, updates and inserts by key on the table the
//! migration changes, in a chosen mix. Statements name their columns (never `*`), as an
//! application compiled before the migration does, so added columns do not change them.

use std::str::FromStr;

use zerodown_core::pg::catalog::Table;
use zerodown_core::pg::ir::QualName;
use zerodown_core::pg::synth::insert_one_sql;
use zerodown_core::sql::quote::{ident, qual};
use zerodown_load::Op;

/// Weights of reads, updates and inserts (`read=70,update=25,insert=5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub read: u32,
    pub update: u32,
    pub insert: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            read: 70,
            update: 25,
            insert: 5,
        }
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mix = Mix {
            read: 0,
            update: 0,
            insert: 0,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part}: expected NAME=WEIGHT, e.g. read=70"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("{part}: {weight} is not a whole number"))?;
            match name.trim() {
                "read" => mix.read = weight,
                "update" => mix.update = weight,
                "insert" => mix.insert = weight,
                other => {
                    return Err(format!(
                        "{other}: unknown operation (read, update or insert)"
                    ))
                }
            }
        }
        if mix.read + mix.update + mix.insert == 0 {
            return Err("the mix has no operation with a weight".into());
        }
        Ok(mix)
    }
}

/// The single integer column that addresses a row of `t` (its primary key), if any.
pub fn integer_key(t: &Table) -> Option<&str> {
    let pk = t.indexes.iter().find(|i| i.primary)?;
    let [col] = pk.columns.as_slice() else {
        return None;
    };
    let c = t.columns.iter().find(|c| &c.name == col)?;
    matches!(c.ty.name.as_str(), "int2" | "int4" | "int8").then_some(c.name.as_str())
}

/// The operations of the mix on `t`, whose rows are numbered by its integer key.
pub fn operations(
    t: &Table,
    mix: Mix,
    rows_of: &dyn Fn(&QualName) -> Option<u64>,
) -> Result<Vec<Op>, String> {
    let key = integer_key(t).ok_or_else(|| {
        format!(
            "{} has no single-column integer primary key for the synthetic clients to address rows by",
            t.name
        )
    })?;
    let columns: Vec<String> = t
        .columns
        .iter()
        .filter(|c| !c.generated)
        .map(|c| ident(&c.name))
        .collect();
    // An update writes a column that is not the key (the key itself if there is none).
    let target = t
        .columns
        .iter()
        .find(|c| c.name != key && !c.generated && !c.identity)
        .map_or(key, |c| c.name.as_str());
    let table = qual(&t.name);
    let k = ident(key);
    let mut ops = vec![
        Op {
            name: "read".into(),
            sql: format!("SELECT {} FROM {table} WHERE {k} = $1", columns.join(", ")),
            weight: mix.read,
            fresh_keys: false,
        },
        Op {
            name: "update".into(),
            sql: format!(
                "UPDATE {table} SET {c} = {c} WHERE {k} = $1",
                c = ident(target)
            ),
            weight: mix.update,
            fresh_keys: false,
        },
    ];
    if mix.insert > 0 {
        ops.push(Op {
            name: "insert".into(),
            sql: insert_one_sql(t, rows_of).map_err(|e| e.to_string())?,
            weight: mix.insert,
            fresh_keys: true,
        });
    }
    ops.retain(|o| o.weight > 0);
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_refuses_nonsense() {
        assert_eq!("read=70,update=25,insert=5".parse(), Ok(Mix::default()));
        assert_eq!(
            "read=1".parse(),
            Ok(Mix {
                read: 1,
                update: 0,
                insert: 0
            })
        );
        assert!("read=x"
            .parse::<Mix>()
            .expect_err("refused")
            .contains("whole number"));
        assert!("delete=3"
            .parse::<Mix>()
            .expect_err("refused")
            .contains("unknown"));
        assert!("read=0"
            .parse::<Mix>()
            .expect_err("refused")
            .contains("no operation"));
    }
}
