//! Reading a CSV sheet by column name, every problem located by row and column: the part the
//! DfE Course Directory files and our providers/venues templates share (our course template
//! has its own reader, which also checks that a course's rows agree).

use crate::CellError;
use crate::csv_template::csv_error;
use crate::rules_text::split_list;

/// A sheet read by column name: each data row with its file row number.
pub(crate) struct Sheet {
    header: Vec<String>,
    pub(crate) rows: Vec<(usize, csv::StringRecord)>,
}

impl Sheet {
    /// Reads the header (matched without regard to case; unknown or repeated columns and
    /// missing `required` ones are reported) and the non-blank rows.
    pub(crate) fn read(
        text: &str,
        known: &[&[&str]],
        required: &[&str],
        errs: &mut Vec<CellError>,
    ) -> Option<Sheet> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut records = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes())
            .into_records();
        let header: Vec<String> = match records.next() {
            Some(Ok(h)) => h.iter().map(|c| c.trim().to_string()).collect(),
            Some(Err(e)) => {
                errs.push(csv_error(&e, 1));
                return None;
            }
            None => {
                errs.push(cell(
                    1,
                    "",
                    "the file is empty; the first row must name the columns",
                ));
                return None;
            }
        };
        let mut ok = true;
        for (i, h) in header.iter().enumerate() {
            if h.is_empty() {
                continue;
            }
            if !known
                .iter()
                .flat_map(|k| k.iter())
                .any(|k| k.eq_ignore_ascii_case(h))
            {
                errs.push(cell(
                    1,
                    h,
                    &format!("unknown column {}", prospectus_model::shown(h)),
                ));
                ok = false;
            } else if header[..i].iter().any(|x| x.eq_ignore_ascii_case(h)) {
                errs.push(cell(1, h, "this column appears twice in the header"));
                ok = false;
            }
        }
        for r in required {
            if !header.iter().any(|h| h.eq_ignore_ascii_case(r)) {
                errs.push(cell(1, r, "required column is missing from the header"));
                ok = false;
            }
        }
        let mut rows = Vec::new();
        for rec in records {
            match rec {
                Ok(r) if r.iter().all(|f| f.trim().is_empty()) => {}
                Ok(r) => rows.push((r.position().map_or(0, |p| p.line() as usize), r)),
                Err(e) => {
                    errs.push(csv_error(&e, 0));
                    ok = false;
                }
            }
        }
        ok.then_some(Sheet { header, rows })
    }

    /// Row `i`'s cells, reporting problems into `errs`.
    pub(crate) fn cells<'a>(&'a self, i: usize, errs: &'a mut Vec<CellError>) -> RowCells<'a> {
        let (row, rec) = &self.rows[i];
        RowCells {
            sheet: self,
            rec,
            row: *row,
            errs,
        }
    }

    fn get<'r>(&self, rec: &'r csv::StringRecord, column: &str) -> &'r str {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(column))
            .and_then(|i| rec.get(i))
            .map_or("", str::trim)
    }
}

pub(crate) fn cell(row: usize, column: &str, message: &str) -> CellError {
    CellError {
        row,
        column: column.to_string(),
        message: message.to_string(),
    }
}

/// One row's cells, collecting every problem found in them.
pub(crate) struct RowCells<'a> {
    pub(crate) sheet: &'a Sheet,
    pub(crate) rec: &'a csv::StringRecord,
    pub(crate) row: usize,
    pub(crate) errs: &'a mut Vec<CellError>,
}

impl RowCells<'_> {
    pub(crate) fn raw(&self, column: &str) -> &str {
        self.sheet.get(self.rec, column)
    }

    pub(crate) fn fail(&mut self, column: &str, message: impl AsRef<str>) {
        self.errs.push(cell(self.row, column, message.as_ref()));
    }

    /// The cell parsed; `None` (and one problem) if empty or bad.
    pub(crate) fn required<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(column).to_string();
        if raw.is_empty() {
            self.fail(column, "required: this cell must not be empty");
            return None;
        }
        parse(&raw).map_err(|e| self.fail(column, e)).ok()
    }

    /// `Some(None)` for an empty cell; `None` (and one problem) if bad.
    pub(crate) fn optional<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let raw = self.raw(column).to_string();
        if raw.is_empty() {
            return Some(None);
        }
        parse(&raw).map(Some).map_err(|e| self.fail(column, e)).ok()
    }

    pub(crate) fn list<T: std::str::FromStr<Err = String>>(
        &mut self,
        column: &str,
    ) -> Option<Vec<T>> {
        let raw = self.raw(column).to_string();
        let (ok, bad): (Vec<_>, Vec<_>) = split_list(&raw)
            .map(str::parse::<T>)
            .partition(Result::is_ok);
        if bad.is_empty() {
            Some(ok.into_iter().filter_map(Result::ok).collect())
        } else {
            let msg: Vec<String> = bad.into_iter().filter_map(Result::err).collect();
            self.fail(column, msg.join("; "));
            None
        }
    }
}

pub(crate) fn yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!("{} is not yes or no", prospectus_model::shown(s))),
    }
}
