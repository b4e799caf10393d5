//! JSON that someone else wrote — a cloud API's answer, the `aliyun` CLI's credentials file —
//! read into typed values with errors that say *where* (the field's path, and the line and
//! column of a file) and *what was expected*, but never quote the value. serde's own messages
//! do quote it (`invalid type: string "LTAI…", expected a sequence`): in a credentials file
//! that value may be a secret in the wrong place, in an answer it may be megabytes of hostile
//! text.

use serde::de::DeserializeOwned;

/// Why a JSON document did not fit the type it was read into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The field, as `profiles[1].access_key_secret`; empty for the document itself.
    pub path: String,
    /// 1-based position in the text; 0 when read from an already parsed value.
    pub line: usize,
    pub column: usize,
    /// What was wrong, in words that quote nothing from the input.
    pub what: String,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {} column {}: ", self.line, self.column)?;
        }
        match self.path.as_str() {
            "" | "." => write!(f, "{}", self.what),
            path => write!(f, "{path}: {}", self.what),
        }
    }
}

/// What went wrong, without the input's own text. Syntax messages are fixed words of
/// serde_json's; a data error keeps only the expectation, which comes from our types.
fn what(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            let message = error.to_string();
            let words = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(words, _)| words);
            format!("invalid JSON ({words})")
        }
        serde_json::error::Category::Io => "could not be read".to_string(),
        serde_json::error::Category::Data => {
            let message = error.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(words, _)| words);
            // `invalid type: <the value>, expected <ours>`: the last ", expected" is serde's
            // own, whatever the value held.
            if let Some((_, expected)) = message.rsplit_once(", expected ") {
                format!("expected {expected}")
            } else if message.starts_with("missing field") || message.starts_with("duplicate field")
            {
                message.to_string()
            } else {
                "a value of the wrong kind".to_string()
            }
        }
    }
}

fn misfit(error: serde_path_to_error::Error<serde_json::Error>) -> Misfit {
    let path = error.path().to_string();
    let inner = error.into_inner();
    Misfit {
        path,
        line: inner.line(),
        column: inner.column(),
        what: what(&inner),
    }
}

/// `text` as a `T`, or where and why not.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Misfit> {
    let mut reader = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(misfit)?;
    reader.end().map_err(|e| Misfit {
        path: String::new(),
        line: e.line(),
        column: e.column(),
        what: what(&e),
    })?;
    Ok(value)
}

/// An already parsed value (one job of a page) as a `T`, or which field did not fit.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Misfit> {
    serde_path_to_error::deserialize(value).map_err(misfit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Profile {
        name: String,
        secret: String,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct File {
        profiles: Vec<Profile>,
    }

    #[test]
    fn a_value_of_the_wrong_type_is_placed_but_never_quoted() {
        let text = "{\"profiles\": [\n  {\"name\": \"a\", \"secret\": \"s\"},\n  {\"name\": \"b\", \"secret\": [\"TOP-SECRET, expected x\"]}\n]}";
        let e = from_str::<File>(text).unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("TOP-SECRET"), "{shown}");
        assert_eq!(e.path, "profiles[1].secret");
        assert_eq!(e.line, 3);
        assert!(shown.contains("expected a string"), "{shown}");

        let e = from_str::<File>("{\"profiles\": \"LTAI-secret-in-the-wrong-place\"}").unwrap_err();
        assert!(!e.to_string().contains("LTAI"), "{e}");
        assert_eq!(e.path, "profiles");

        let e = from_str::<File>("{\"profiles\": [{\"name\": \"x\"}]}").unwrap_err();
        assert!(e.what.contains("missing field `secret`"), "{e}");
    }

    #[test]
    fn broken_json_says_where_without_the_text() {
        let e = from_str::<File>("{\"profiles\": [\n{\"name\": \"hunter2\" hunter3").unwrap_err();
        assert!(e.what.starts_with("invalid JSON"), "{e}");
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("hunter"), "{e}");
        let e = from_str::<File>("{\"profiles\": []} trailing").unwrap_err();
        assert!(e.what.starts_with("invalid JSON"), "{e}");
    }

    #[test]
    fn a_job_field_is_named_by_its_path() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "PascalCase")]
        #[allow(dead_code)]
        struct Job {
            status: Option<String>,
        }
        let e = from_value::<Job>(serde_json::json!({"Status": 42})).unwrap_err();
        assert_eq!((e.path.as_str(), e.line), ("Status", 0));
        assert_eq!(e.to_string(), "Status: expected a string");
    }
}
