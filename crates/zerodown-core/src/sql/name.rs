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

impl std::fmt::Display for QualName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}
