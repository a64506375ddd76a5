//! Schema-qualified names as the SQL wrote them, on either engine.

use serde::Serialize;

/// A possibly schema-qualified name. `schema` is None when the SQL did not say.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct QualName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualName {
    pub fn new(schema: Option<&str>, name: &str) -> Self {
        QualName {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        }
    }

    /// The name with `public` filled in when no schema was given (search_path default).
    pub fn resolved(&self) -> QualName {
        QualName {
            schema: Some(self.schema.clone().unwrap_or_else(|| "public".to_owned())),
            name: self.name.clone(),
        }
    }
}

impl QualName {
    /// The name shown as `schema.name` (see [`QualName::parse_shown`]).
    pub fn parse_shown(shown: &str) -> QualName {
        let (schema, name) = split_shown(shown);
        QualName { schema, name }
    }
}

/// `schema.name`, each part as it is unless it holds a `.` or a `"`: then in double quotes
/// (inner quotes doubled), so that [`split_shown`] gives back the parts. Plans keep
/// table names in this form, and drivers turn them back into SQL.
impl std::fmt::Display for QualName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{}.{}", shown_part(s), shown_part(&self.name)),
            None => f.write_str(&shown_part(&self.name)),
        }
    }
}

/// One part of a shown name: quoted only when it must be.
pub fn shown_part(part: &str) -> std::borrow::Cow<'_, str> {
    if part.contains(['.', '"']) {
        format!("\"{}\"", part.replace('"', "\"\"")).into()
    } else {
        part.into()
    }
}

/// A shown name (`db.t`, `"a.b".c`, `t`) back into its optional qualifier and its name.
/// Text that was not made by [`shown_part`] is split at its first dot, as before.
pub fn split_shown(shown: &str) -> (Option<String>, String) {
    let parts = parts_of(shown);
    match parts.as_slice() {
        [name] => (None, name.clone()),
        [schema, name] => (Some(schema.clone()), name.clone()),
        _ => match shown.split_once('.') {
            Some((s, n)) => (Some(s.to_owned()), n.to_owned()),
            None => (None, shown.to_owned()),
        },
    }
}

/// The dot-separated parts of a shown name, quoted ones unquoted.
fn parts_of(shown: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = shown.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                if let Some(p) = parts.last_mut() {
                    p.push('"');
                }
            }
            ('"', true) => quoted = false,
            ('.', false) => parts.push(String::new()),
            (c, _) => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_names_come_back_as_their_parts() {
        for (schema, name) in [
            (None, "t"),
            (Some("public"), "t"),
            (Some("a.b"), "c"),
            (Some("s"), "we\"ird.T"),
            (Some("é"), "\"x\""),
        ] {
            let q = QualName::new(schema, name);
            let shown = q.to_string();
            assert_eq!(QualName::parse_shown(&shown), q, "{shown}");
        }
        assert_eq!(QualName::new(Some("a.b"), "c").to_string(), "\"a.b\".c");
        assert_eq!(QualName::new(Some("app"), "t").to_string(), "app.t");
    }
}
