//! The offer files a provider publishes, and the synthetic London data set used to test and
//! demonstrate a borough node.
//!
//! This crate exists so that getting courses *into* Prospectus is one well-defined step with
//! error messages a provider can act on: a JSON [`Bundle`] for systems that export data, a
//! one-row-per-run CSV template ([`read_csv`]) for the many providers who keep their offer in a
//! spreadsheet, and a deterministic generator ([`generate`]) that produces realistic pan-London
//! data at any scale for tests, demos and benchmarks. It does no file or network I/O itself:
//! callers pass text in and get text out.

mod bundle;
mod csv_places;
mod csv_template;
mod dfe;
mod generate;
mod rules_text;
mod sheet;

pub use bundle::{Bundle, read_json, write_json};
pub use csv_places::{
    CsvRows, PROVIDER_COLUMNS, VENUE_COLUMNS, provider_column, read_providers_csv, read_venues_csv,
    venue_column, write_providers_csv, write_venues_csv,
};
pub use csv_template::{COLUMNS, CsvCourses, CsvWriteError, read_csv, write_csv};
pub use dfe::{
    CsvKind, DFE_ADDED_COLUMNS, DFE_COURSE_COLUMNS, DFE_VENUE_COLUMNS, DfeError, DfeFile, DfeOffer,
    csv_kind, read_dfe,
};
pub use generate::{BASE_DATE, GenerateError, generate};

/// One problem in an offer file, located as a spreadsheet user would look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    /// 1-based line number in the file; the header is row 1. 0 when no row applies.
    pub row: usize,
    /// The column's header name; empty when the problem is with the whole row or file.
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for CellError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.row, self.column.is_empty()) {
            (0, true) => f.write_str(&self.message),
            (0, false) => write!(f, "column {}: {}", self.column, self.message),
            (r, true) => write!(f, "row {r}: {}", self.message),
            (r, false) => write!(f, "row {r}, column {}: {}", self.column, self.message),
        }
    }
}

/// Why an offer file was rejected. Every problem found is reported, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The JSON is malformed or does not match the bundle format (unknown field, bad value…).
    #[error("line {line}, column {column}: {message}")]
    Json {
        /// 1-based line of the offending character.
        line: usize,
        /// 1-based column (character position in the line).
        column: usize,
        message: String,
    },
    /// One or more cells of a CSV file are wrong; each is located by row and column.
    #[error("{}", display_cells(.0))]
    Cells(Vec<CellError>),
}

impl FileError {
    /// The located problems of a CSV file (empty for a JSON error).
    pub fn cells(&self) -> &[CellError] {
        match self {
            FileError::Cells(c) => c,
            FileError::Json { .. } => &[],
        }
    }
}

fn display_cells(cells: &[CellError]) -> String {
    let n = cells.len();
    let mut s = format!("{n} problem{}", if n == 1 { "" } else { "s" });
    for c in cells {
        s.push_str("\n  ");
        s.push_str(&c.to_string());
    }
    s
}
