//! The CSV template for providers who keep their offer in a spreadsheet: one row per run, with
//! the course's own columns repeated on each of its rows (see `docs/csv-template.md`).
//!
//! It exists because most community providers will never produce JSON, and a rejected upload is
//! only useful if every problem is pointed at by row and column in the sheet they edit — both
//! the cell-level problems found here and, via [`CsvCourses::locate`], the semantic problems
//! `prospectus_model::validate_record` finds later.

use crate::rules_text::{
    format_concessions, format_eligibility, format_pounds, parse_concessions, parse_eligibility,
    parse_pounds, split_list,
};
use crate::{CellError, FileError};
use chrono::{NaiveDate, NaiveTime, Timelike};
use prospectus_model::{
    Category, Course, DeliveryMode, Fees, Level, Record, RuleSetId, Run, Start, Support, Uuid,
    Weekday, validate_record_at,
};
use std::collections::HashMap;

/// The template's columns, in the order [`write_csv`] writes them. Readers accept any order.
pub const COLUMNS: &[&str] = &[
    "course_id",
    "provider_id",
    "title",
    "description",
    "categories",
    "level",
    "delivery",
    "mental_health_focus",
    "support",
    "language",
    "url",
    "contact_email",
    "last_verified",
    "full_fee",
    "concessions",
    "eligibility",
    "funding_rules",
    "run_id",
    "venue_id",
    "start",
    "days",
    "start_time",
    "end_time",
    "weeks",
    "places_left",
    "waiting_weeks",
];

const COURSE_ID: usize = 0;
const PROVIDER_ID: usize = 1;
const TITLE: usize = 2;
const DESCRIPTION: usize = 3;
const CATEGORIES: usize = 4;
const LEVEL: usize = 5;
const DELIVERY: usize = 6;
const MENTAL_HEALTH: usize = 7;
const SUPPORT: usize = 8;
const LANGUAGE: usize = 9;
const URL: usize = 10;
const CONTACT_EMAIL: usize = 11;
const LAST_VERIFIED: usize = 12;
const FULL_FEE: usize = 13;
const CONCESSIONS: usize = 14;
const ELIGIBILITY: usize = 15;
const FUNDING_RULES: usize = 16;
const RUN_ID: usize = 17;
const VENUE_ID: usize = 18;
const START: usize = 19;
const DAYS: usize = 20;
const START_TIME: usize = 21;
const END_TIME: usize = 22;
const WEEKS: usize = 23;
const PLACES_LEFT: usize = 24;
const WAITING_WEEKS: usize = 25;

/// Columns `course_id` to `funding_rules` describe the course and must agree on all its rows.
const FIRST_RUN_COLUMN: usize = RUN_ID;

/// Columns that must be in the header; the others may be left out (read as empty).
const REQUIRED: &[usize] = &[
    COURSE_ID,
    PROVIDER_ID,
    TITLE,
    DESCRIPTION,
    CATEGORIES,
    LEVEL,
    DELIVERY,
    LANGUAGE,
    LAST_VERIFIED,
    FULL_FEE,
    RUN_ID,
    VENUE_ID,
    START,
    DAYS,
    START_TIME,
    END_TIME,
];

/// Courses read from a CSV file, with the rows they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvCourses {
    /// In order of first appearance in the file.
    pub courses: Vec<Course>,
    /// `rows[i][j]` is the file row (1-based line, header = 1) of run `j` of course `i`;
    /// `rows[i][0]` is also where course `i`'s own columns were read.
    pub rows: Vec<Vec<usize>>,
}

impl CsvCourses {
    /// The row where course `course_index` first appears.
    pub fn first_row(&self, course_index: usize) -> Option<usize> {
        self.rows.get(course_index)?.first().copied()
    }

    /// Best-effort row and column for a field path of course `course_index`, as reported by
    /// `validate_record` (`runs[1].end_time` → that run's row, `end_time`;
    /// `fees.concessions[0].fee_pence` → the course's first row, `concessions`).
    /// `None` only if there is no such course.
    pub fn locate(&self, course_index: usize, field_path: &str) -> Option<(usize, &'static str)> {
        let rows = self.rows.get(course_index)?;
        let first = *rows.first()?;
        let col = |i: usize| COLUMNS[i];
        if let Some(rest) = field_path.strip_prefix("runs[") {
            let (idx, after) = rest.split_once(']').unwrap_or((rest, ""));
            let row = idx
                .parse::<usize>()
                .ok()
                .and_then(|j| rows.get(j).copied())
                .unwrap_or(first);
            let field = after
                .trim_start_matches('.')
                .split(['.', '['])
                .next()
                .unwrap_or("");
            let c = match field {
                "venue_id" => VENUE_ID,
                "start" => START,
                "days" => DAYS,
                "start_time" => START_TIME,
                "end_time" => END_TIME,
                "weeks" => WEEKS,
                "places_left" => PLACES_LEFT,
                "waiting_weeks" => WAITING_WEEKS,
                _ => RUN_ID,
            };
            return Some((row, col(c)));
        }
        let head = field_path.split(['.', '[']).next().unwrap_or("");
        let c = match head {
            "runs" => RUN_ID,
            "id" => COURSE_ID,
            "fees" if field_path.starts_with("fees.concessions") => CONCESSIONS,
            "fees" => FULL_FEE,
            other => COLUMNS[..FIRST_RUN_COLUMN]
                .iter()
                .position(|c| *c == other)
                .unwrap_or(COURSE_ID),
        };
        Some((first, col(c)))
    }

    /// Runs `validate_record_at` (as of `today`, the publish date) on every course and reports
    /// each violation at its row and column, with the model's field path in the message.
    pub fn validate(&self, today: NaiveDate) -> Result<(), FileError> {
        let mut out = Vec::new();
        for (i, c) in self.courses.iter().enumerate() {
            if let Err(errs) = validate_record_at(&Record::Course(c.clone()), today) {
                for v in errs.0 {
                    let (row, column) = self.locate(i, &v.field).unwrap_or((0, ""));
                    out.push(CellError {
                        row,
                        column: column.to_string(),
                        message: format!("{} ({})", v.description, v.field),
                    });
                }
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            sort_errors(&mut out);
            Err(FileError::Cells(out))
        }
    }
}

fn sort_errors(errs: &mut [CellError]) {
    errs.sort_by_key(|e| {
        (
            e.row,
            COLUMNS
                .iter()
                .position(|c| *c == e.column)
                .unwrap_or(usize::MAX),
        )
    });
}

/// One data row, cells indexed like [`COLUMNS`] ("" for a column the file leaves out).
struct Row {
    line: usize,
    cells: Vec<String>,
}

/// Parses cells of one row, collecting every problem.
struct Cells<'a> {
    row: &'a Row,
    errs: &'a mut Vec<CellError>,
}

impl Cells<'_> {
    fn raw(&self, c: usize) -> &str {
        self.row.cells[c].trim()
    }

    fn fail(&mut self, c: usize, message: String) {
        self.errs.push(CellError {
            row: self.row.line,
            column: COLUMNS[c].to_string(),
            message,
        });
    }

    /// `None` if the cell is empty or bad (and the problem recorded).
    fn required<T>(
        &mut self,
        c: usize,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(c).to_string();
        if raw.is_empty() {
            self.fail(c, "required: this cell must not be empty".into());
            return None;
        }
        match parse(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(c, e);
                None
            }
        }
    }

    /// `Some(None)` for an empty cell, `None` if bad (and the problem recorded).
    fn optional<T>(
        &mut self,
        c: usize,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let raw = self.raw(c).to_string();
        if raw.is_empty() {
            return Some(None);
        }
        match parse(&raw) {
            Ok(v) => Some(Some(v)),
            Err(e) => {
                self.fail(c, e);
                None
            }
        }
    }

    /// A `;`-separated list; every bad item is named in one message.
    fn list<T: std::str::FromStr<Err = String>>(&mut self, c: usize) -> Option<Vec<T>> {
        let raw = self.raw(c).to_string();
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for item in split_list(&raw) {
            match item.parse::<T>() {
                Ok(v) => out.push(v),
                Err(e) => bad.push(e),
            }
        }
        if bad.is_empty() {
            Some(out)
        } else {
            self.fail(c, bad.join("; "));
            None
        }
    }
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s).map_err(|_| {
        format!(
            "{} is not a UUID such as 6f1c2f0e-8a4b-4c1d-9e2f-3a4b5c6d7e8f",
            prospectus_model::shown(s)
        )
    })
}

pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{} is not a date YYYY-MM-DD", prospectus_model::shown(s)))
}

pub(crate) fn parse_time(s: &str) -> Result<NaiveTime, String> {
    let bad = || {
        format!(
            "{} is not a time HH:MM between 00:00 and 23:59",
            prospectus_model::shown(s)
        )
    };
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |x: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 1..=2) || !digits(m, 2..=2) {
        return Err(bad());
    }
    let (h, m) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(format!(
            "{} is not yes, no, true or false",
            prospectus_model::shown(s)
        )),
    }
}

fn parse_number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("{} is not a whole number", prospectus_model::shown(s)))
}

fn parse_text(s: &str) -> Result<String, String> {
    Ok(s.to_string())
}

/// The course's own columns, read from its first row.
struct Head {
    id: Uuid,
    provider_id: Uuid,
    title: String,
    description: String,
    categories: Vec<Category>,
    level: Level,
    delivery: DeliveryMode,
    mental_health_focus: bool,
    support: Vec<Support>,
    language: String,
    url: Option<String>,
    contact_email: Option<String>,
    last_verified: NaiveDate,
    fees: Fees,
    eligibility: Vec<prospectus_model::Requirement>,
    funding_rules: Option<RuleSetId>,
}

/// What a missing categories cell must hold.
pub(crate) fn categories_wanted() -> String {
    let all: Vec<&str> = Category::ALL.iter().map(|x| x.as_str()).collect();
    format!("name at least one of: {}", all.join(", "))
}

fn parse_head(c: &mut Cells) -> Option<Head> {
    let id = c.required(COURSE_ID, parse_uuid);
    let provider_id = c.required(PROVIDER_ID, parse_uuid);
    let title = c.required(TITLE, parse_text);
    let description = c.required(DESCRIPTION, parse_text);
    let categories = if c.raw(CATEGORIES).is_empty() {
        c.fail(CATEGORIES, format!("required: {}", categories_wanted()));
        None
    } else {
        c.list::<Category>(CATEGORIES)
    };
    let level = c.required(LEVEL, |s| s.parse::<Level>());
    let delivery = c.required(DELIVERY, |s| s.parse::<DeliveryMode>());
    let mental_health_focus = c.optional(MENTAL_HEALTH, parse_bool);
    let support = c.list::<Support>(SUPPORT);
    let language = c.required(LANGUAGE, |s| Ok(s.to_ascii_lowercase()));
    let url = c.optional(URL, parse_text);
    let contact_email = c.optional(CONTACT_EMAIL, parse_text);
    let last_verified = c.required(LAST_VERIFIED, parse_date);
    let full_fee = c.required(FULL_FEE, parse_pounds);
    // Templates depend on the level and categories: only judge them once those are known.
    let concessions = match (level, &categories) {
        (Some(level), Some(cats)) => c.optional(CONCESSIONS, |s| parse_concessions(s, level, cats)),
        _ => Some(None),
    };
    let eligibility = c.optional(ELIGIBILITY, parse_eligibility);
    let funding_rules = c.optional(FUNDING_RULES, |s| s.parse::<RuleSetId>());
    Some(Head {
        id: id?,
        provider_id: provider_id?,
        title: title?,
        description: description?,
        categories: categories?,
        level: level?,
        delivery: delivery?,
        mental_health_focus: mental_health_focus?.unwrap_or(false),
        support: support?,
        language: language?,
        url: url?,
        contact_email: contact_email?,
        last_verified: last_verified?,
        fees: Fees {
            full_fee_pence: full_fee?,
            concessions: concessions?.unwrap_or_default(),
        },
        eligibility: eligibility?.unwrap_or_default(),
        funding_rules: funding_rules?,
    })
}

fn parse_run(c: &mut Cells) -> Option<Run> {
    let id = c.required(RUN_ID, parse_uuid);
    let venue_id = c.required(VENUE_ID, parse_uuid);
    let start = c.required(START, |s| s.parse::<Start>());
    let days = c.list::<Weekday>(DAYS);
    let start_time = c.required(START_TIME, parse_time);
    let end_time = c.required(END_TIME, parse_time);
    let weeks = c.optional(WEEKS, parse_number::<u16>);
    let places_left = c.optional(PLACES_LEFT, parse_number::<u32>);
    let waiting_weeks = c.optional(WAITING_WEEKS, parse_number::<u16>);
    Some(Run {
        id: id?,
        venue_id: venue_id?,
        start: start?,
        days: days?,
        start_time: start_time?,
        end_time: end_time?,
        weeks: weeks?,
        places_left: places_left?,
        waiting_weeks: waiting_weeks?,
    })
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        format!("{:?}…", s.chars().take(MAX).collect::<String>())
    }
}

/// Reads the header row: maps each file column to its template column.
fn read_header(
    header: &csv::StringRecord,
    errs: &mut Vec<CellError>,
) -> Option<Vec<Option<usize>>> {
    let mut map = Vec::with_capacity(header.len());
    let mut seen = vec![false; COLUMNS.len()];
    let mut fatal = false;
    for name in header.iter() {
        let norm = name.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        match COLUMNS.iter().position(|c| *c == norm) {
            Some(i) if seen[i] => {
                fatal = true;
                errs.push(CellError {
                    row: 1,
                    column: COLUMNS[i].to_string(),
                    message: "this column appears twice in the header".into(),
                });
                map.push(None);
            }
            Some(i) => {
                seen[i] = true;
                map.push(Some(i));
            }
            None if norm.is_empty() => map.push(None), // blank trailing header cell
            None => {
                errs.push(CellError {
                    row: 1,
                    column: name.trim().to_string(),
                    message: format!(
                        "unknown column {:?}; the template's columns are: {}",
                        name.trim(),
                        COLUMNS.join(", ")
                    ),
                });
                map.push(None);
            }
        }
    }
    for &r in REQUIRED {
        if !seen[r] {
            fatal = true;
            errs.push(CellError {
                row: 1,
                column: COLUMNS[r].to_string(),
                message: "required column is missing from the header".into(),
            });
        }
    }
    (!fatal).then_some(map)
}

/// Reads a CSV offer file (one row per run) into courses. Rows with the same `course_id` are
/// one course; its course columns must agree on every row. Every bad cell is reported.
pub fn read_csv(text: &str) -> Result<CsvCourses, FileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut errs = Vec::new();
    let mut records = reader.records();

    let header = match records.next() {
        None => {
            return Err(FileError::Cells(vec![CellError {
                row: 1,
                column: String::new(),
                message: format!(
                    "the file is empty; the first row must name the columns: {}",
                    COLUMNS.join(", ")
                ),
            }]));
        }
        Some(Err(e)) => return Err(FileError::Cells(vec![csv_error(&e, 1)])),
        Some(Ok(h)) => h,
    };
    let Some(map) = read_header(&header, &mut errs) else {
        return Err(FileError::Cells(errs));
    };

    let mut rows = Vec::new();
    for rec in records {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errs.push(csv_error(&e, 0));
                continue;
            }
        };
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue; // spreadsheets export blank rows
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let mut cells = vec![String::new(); COLUMNS.len()];
        for (j, f) in rec.iter().enumerate() {
            match map.get(j) {
                Some(Some(c)) => cells[*c] = f.to_string(),
                // Unknown columns are reported once, at the header.
                Some(None) if !header.get(j).is_some_and(|h| h.trim().is_empty()) => {}
                Some(None) | None if f.trim().is_empty() => {}
                Some(None) => errs.push(CellError {
                    row: line,
                    column: String::new(),
                    message: format!(
                        "cell {} has a value but its column has no name in the header row",
                        j + 1
                    ),
                }),
                None => errs.push(CellError {
                    row: line,
                    column: String::new(),
                    message: format!(
                        "the row has a value in cell {} but the header names only {} columns",
                        j + 1,
                        map.len()
                    ),
                }),
            }
        }
        rows.push(Row { line, cells });
    }

    // Group rows by course, in order of first appearance.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let key = row.cells[COURSE_ID].trim().to_ascii_lowercase();
        match index.get(&key) {
            Some(&g) => groups[g].push(r),
            None => {
                index.insert(key, groups.len());
                groups.push(vec![r]);
            }
        }
    }

    let mut courses = Vec::with_capacity(groups.len());
    let mut course_rows = Vec::with_capacity(groups.len());
    for group in &groups {
        let first = &rows[group[0]];
        let head = parse_head(&mut Cells {
            row: first,
            errs: &mut errs,
        });
        let mut runs = Vec::with_capacity(group.len());
        for &r in group {
            let row = &rows[r];
            if r != group[0] {
                for (col, (a, b)) in first.cells[..FIRST_RUN_COLUMN]
                    .iter()
                    .zip(&row.cells)
                    .enumerate()
                {
                    let (a, b) = (a.trim(), b.trim());
                    if a != b {
                        errs.push(CellError {
                            row: row.line,
                            column: COLUMNS[col].to_string(),
                            message: format!(
                                "course {} is described differently here than on row {}: {} here, {} there; \
                                 course columns must be the same on every row of a course",
                                first.cells[COURSE_ID].trim(),
                                first.line,
                                shorten(b),
                                shorten(a)
                            ),
                        });
                    }
                }
            }
            if let Some(run) = parse_run(&mut Cells {
                row,
                errs: &mut errs,
            }) {
                runs.push(run);
            }
        }
        if let Some(h) = head
            && runs.len() == group.len()
        {
            courses.push(Course {
                id: h.id,
                provider_id: h.provider_id,
                title: h.title,
                description: h.description,
                categories: h.categories,
                level: h.level,
                delivery: h.delivery,
                mental_health_focus: h.mental_health_focus,
                support: h.support,
                language: h.language,
                runs,
                fees: h.fees,
                eligibility: h.eligibility,
                url: h.url,
                contact_email: h.contact_email,
                last_verified: h.last_verified,
                funding_rules: h.funding_rules,
            });
            course_rows.push(group.iter().map(|&r| rows[r].line).collect());
        }
    }

    if errs.is_empty() {
        Ok(CsvCourses {
            courses,
            rows: course_rows,
        })
    } else {
        sort_errors(&mut errs);
        Err(FileError::Cells(errs))
    }
}

pub(crate) fn csv_error(e: &csv::Error, fallback_row: usize) -> CellError {
    let row = e.position().map_or(fallback_row, |p| p.line() as usize);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "the file is not UTF-8 text; save it as \"CSV UTF-8\"".into()
        }
        _ => format!("unreadable CSV: {e}"),
    };
    CellError {
        row,
        column: String::new(),
        message,
    }
}

/// Why a course cannot be written in the CSV template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("course {index} ({id}) cannot be written to the CSV template: {reason}")]
pub struct CsvWriteError {
    /// Position of the course in the slice given to [`write_csv`].
    pub index: usize,
    pub id: Uuid,
    pub reason: String,
}

/// Quotes a cell when CSV needs it (RFC 4180).
pub(crate) fn push_cell(out: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) || cell.trim() != cell {
        out.push('"');
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

fn format_time(t: NaiveTime) -> Option<String> {
    (t.second() == 0 && t.nanosecond() == 0).then(|| t.format("%H:%M").to_string())
}

fn course_cells(c: &Course) -> Result<Vec<String>, String> {
    for (field, v) in [
        ("title", &c.title),
        ("description", &c.description),
        ("language", &c.language),
    ]
    .into_iter()
    .chain(c.url.iter().map(|u| ("url", u)))
    .chain(c.contact_email.iter().map(|e| ("contact_email", e)))
    {
        if v.trim() != v || v.is_empty() {
            return Err(format!(
                "{field} is empty or has surrounding spaces, which a CSV reader trims"
            ));
        }
    }
    if c.language != c.language.to_ascii_lowercase() {
        return Err("language is not lower case".into());
    }
    Ok(vec![
        c.id.to_string(),
        c.provider_id.to_string(),
        c.title.clone(),
        c.description.clone(),
        join(&c.categories),
        c.level.to_string(),
        c.delivery.to_string(),
        if c.mental_health_focus { "yes" } else { "no" }.into(),
        join(&c.support),
        c.language.clone(),
        c.url.clone().unwrap_or_default(),
        c.contact_email.clone().unwrap_or_default(),
        c.last_verified.format("%Y-%m-%d").to_string(),
        format_pounds(c.fees.full_fee_pence),
        format_concessions(&c.fees.concessions, c.level, &c.categories)?,
        format_eligibility(&c.eligibility)?,
        c.funding_rules.map(|r| r.to_string()).unwrap_or_default(),
    ])
}

fn run_cells(i: usize, r: &Run) -> Result<Vec<String>, String> {
    let time = |t: NaiveTime, f: &str| {
        format_time(t).ok_or_else(|| format!("runs[{i}].{f} has seconds; the template has HH:MM"))
    };
    let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    Ok(vec![
        r.id.to_string(),
        r.venue_id.to_string(),
        match r.start {
            Start::On(d) => d.format("%Y-%m-%d").to_string(),
            Start::Rolling => "rolling".into(),
        },
        join(&r.days),
        time(r.start_time, "start_time")?,
        time(r.end_time, "end_time")?,
        opt(r.weeks.map(u32::from)),
        opt(r.places_left),
        opt(r.waiting_weeks.map(u32::from)),
    ])
}

/// Writes courses in the CSV template, one row per run, header first. Fails, naming the course
/// and field, if a course uses something the template cannot state (a rule with no text form,
/// a template concession whose conditions were edited, a course without runs, …), so that
/// reading the output back always gives the same courses.
pub fn write_csv(courses: &[Course]) -> Result<String, CsvWriteError> {
    let mut out = String::new();
    for (j, h) in COLUMNS.iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        out.push_str(h);
    }
    out.push('\n');
    for (index, c) in courses.iter().enumerate() {
        let fail = |reason: String| CsvWriteError {
            index,
            id: c.id,
            reason,
        };
        if c.runs.is_empty() {
            return Err(fail(
                "it has no runs, and the template has one row per run".into(),
            ));
        }
        let head = course_cells(c).map_err(fail)?;
        for (i, r) in c.runs.iter().enumerate() {
            let run = run_cells(i, r).map_err(fail)?;
            for (j, cell) in head.iter().chain(run.iter()).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_cell(&mut out, cell);
            }
            out.push('\n');
        }
    }
    Ok(out)
}
