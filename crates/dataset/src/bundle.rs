//! The JSON offer file: a provider's (or a whole borough's) providers, venues and courses in one
//! document, in exactly the model's serde form, so an export from another system needs no
//! translation layer and a parse error can point at a line and column.

use crate::FileError;
use prospectus_model::{Course, Provider, Record, ValidationErrors, Venue, validate_record};
use serde::{Deserialize, Serialize};

/// The JSON file format: `{"providers": [...], "venues": [...], "courses": [...]}`. Every list
/// may be omitted; unknown top-level fields are an error so a misspelt key is not ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    #[serde(default)]
    pub providers: Vec<Provider>,
    #[serde(default)]
    pub venues: Vec<Venue>,
    #[serde(default)]
    pub courses: Vec<Course>,
}

impl Bundle {
    /// Number of records of all kinds.
    pub fn len(&self) -> usize {
        self.providers.len() + self.venues.len() + self.courses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records in publishing order: providers, then venues, then courses, so a receiver
    /// sees a record's owner and venues before the record itself.
    pub fn into_records(self) -> Vec<Record> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.providers.into_iter().map(Record::Provider));
        out.extend(self.venues.into_iter().map(Record::Venue));
        out.extend(self.courses.into_iter().map(Record::Course));
        out
    }

    /// Validates every record with [`validate_record`], reporting all problems with paths
    /// within the bundle (`courses[3].runs[1].end_time`).
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut all = Vec::new();
        let mut check = |prefix: String, r: Record| {
            if let Err(e) = validate_record(&r) {
                all.extend(e.prefixed(&prefix).0);
            }
        };
        for (i, p) in self.providers.iter().enumerate() {
            check(format!("providers[{i}]"), Record::Provider(p.clone()));
        }
        for (i, v) in self.venues.iter().enumerate() {
            check(format!("venues[{i}]"), Record::Venue(v.clone()));
        }
        for (i, c) in self.courses.iter().enumerate() {
            check(format!("courses[{i}]"), Record::Course(c.clone()));
        }
        if all.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(all))
        }
    }
}

/// Parses a JSON bundle. Errors carry the 1-based line and column serde_json reports.
pub fn read_json(text: &str) -> Result<Bundle, FileError> {
    // Editors on Windows like to start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| FileError::Json {
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })
}

/// serde_json appends " at line L column C" to its messages; the error has those as fields.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Writes a bundle as pretty-printed JSON with a trailing newline. Deterministic: the same
/// bundle always gives the same bytes.
pub fn write_json(bundle: &Bundle) -> String {
    // Serialising the model cannot fail: it has no maps with non-string keys and serde_json
    // writes non-finite floats as null rather than failing.
    let mut s = serde_json::to_string_pretty(bundle)
        .unwrap_or_else(|e| unreachable!("bundle serialisation is infallible: {e}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_is_an_empty_bundle() {
        assert_eq!(read_json("{}").unwrap(), Bundle::default());
        assert_eq!(
            read_json("\u{feff}{\"courses\": []}").unwrap(),
            Bundle::default()
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let text = "{\n  \"providers\": [],\n  \"venue\": []\n}";
        match read_json(text) {
            Err(FileError::Json {
                line,
                column,
                message,
            }) => {
                assert_eq!(line, 3);
                assert!(column > 1);
                assert!(message.contains("unknown field `venue`"), "{message}");
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match read_json("{\n\"courses\": [\n  {\"id\": 3}\n]}") {
            Err(FileError::Json { line, .. }) => assert_eq!(line, 3),
            other => panic!("{other:?}"),
        }
    }
}
