//! The DfE Course Directory bulk-upload CSVs (the course file and the venues file English
//! providers already keep for the National Careers Service), read into our records.
//!
//! It exists so a provider who has that spreadsheet publishes it as it is, instead of retyping
//! it into our template. What maps is mapped (names, texts, delivery mode, start dates, venue
//! references, web page, cost, duration); what our search needs and the DfE sheet does not say
//! (categories, level, meeting days and times) comes from a few added columns named like the
//! DfE ones (`CATEGORIES`, `LEVEL`, `DAYS`, `START_TIME`, `END_TIME`); what cannot be listed
//! (work-based delivery, national delivery) is refused at its row and column. Ids are derived
//! from the provider and the sheet's own references, so publishing the same sheet again updates
//! the same records instead of duplicating them. Nothing is published unless every row reads.

use crate::CellError;
use crate::csv_template::parse_time;
use crate::rules_text::parse_pounds;
use crate::sheet::{RowCells, Sheet, cell, yes_no};
use chrono::{NaiveDate, NaiveTime};
use prospectus_model::{
    Accessibility, Address, Category, Course, DeliveryMode, Fees, Level, Run, Start, Uuid, Venue,
    Weekday,
};
use std::collections::HashMap;

/// The course file's columns, as Course Directory names them (any order; `WHERE_NEXT` and
/// `LARS_QAN` are optional there too).
pub const DFE_COURSE_COLUMNS: &[&str] = &[
    "LARS_QAN",
    "WHO_THIS_COURSE_IS_FOR",
    "ENTRY_REQUIREMENTS",
    "WHAT_YOU_WILL_LEARN",
    "HOW_YOU_WILL_LEARN",
    "WHAT_YOU_WILL_NEED_TO_BRING",
    "HOW_YOU_WILL_BE_ASSESSED",
    "WHERE_NEXT",
    "COURSE_NAME",
    "YOUR_REFERENCE",
    "DELIVERY_MODE",
    "START_DATE",
    "FLEXIBLE_START_DATE",
    "VENUE_NAME",
    "YOUR_VENUE_REFERENCE",
    "NATIONAL_DELIVERY",
    "SUB_REGION",
    "COURSE_WEBPAGE",
    "COST",
    "COST_DESCRIPTION",
    "DURATION",
    "DURATION_UNIT",
    "STUDY_MODE",
    "ATTENDANCE_PATTERN",
];

/// Columns Prospectus adds to the course file: what a search by subject, level and "not
/// mornings" needs and the DfE sheet does not carry. `LANGUAGE` (default `en`) and
/// `PLACES_LEFT` are optional.
pub const DFE_ADDED_COLUMNS: &[&str] = &[
    "CATEGORIES",
    "LEVEL",
    "DAYS",
    "START_TIME",
    "END_TIME",
    "LANGUAGE",
    "PLACES_LEFT",
];

/// The venues file's columns (`STEP_FREE`, yes/no, is Prospectus's addition).
pub const DFE_VENUE_COLUMNS: &[&str] = &[
    "YOUR_VENUE_REFERENCE",
    "VENUE_NAME",
    "ADDRESS_LINE_1",
    "ADDRESS_LINE_2",
    "TOWN_OR_CITY",
    "COUNTY",
    "POSTCODE",
    "EMAIL",
    "PHONE",
    "WEBSITE",
    "STEP_FREE",
];

/// Which kind of CSV a file is, told by its header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvKind {
    /// Our own template's course sheet (`docs/csv-template.md`).
    Template,
    /// Our template's providers sheet (`provider_id`, `name`, …, no `course_id`).
    TemplateProviders,
    /// Our template's venues sheet (`venue_id`, …, no `course_id`).
    TemplateVenues,
    /// A Course Directory course file (has `COURSE_NAME`).
    DfeCourses,
    /// A Course Directory venues file (has `YOUR_VENUE_REFERENCE` and `POSTCODE`).
    DfeVenues,
}

/// Tells the kind of CSV from its header row.
pub fn csv_kind(text: &str) -> CsvKind {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let header: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(|h| h.trim().to_ascii_uppercase()).collect())
        .unwrap_or_default();
    let has = |c: &str| header.iter().any(|h| h == c);
    if has("COURSE_NAME") {
        CsvKind::DfeCourses
    } else if has("YOUR_VENUE_REFERENCE") && has("POSTCODE") {
        CsvKind::DfeVenues
    } else if has("VENUE_ID") && !has("COURSE_ID") && !has("RUN_ID") {
        CsvKind::TemplateVenues
    } else if has("PROVIDER_ID") && has("NAME") && !has("COURSE_ID") {
        CsvKind::TemplateProviders
    } else {
        CsvKind::Template
    }
}

/// What a DfE course file and venues file hold, as our records, with the rows they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DfeOffer {
    /// The venues file's venues, then one online room per online course.
    pub venues: Vec<Venue>,
    pub courses: Vec<Course>,
    /// Venues-file row of each venue (0 for an online room, made from a course row).
    pub venue_rows: Vec<usize>,
    /// Course-file rows of each course (one per run).
    pub course_rows: Vec<Vec<usize>>,
}

impl DfeOffer {
    /// The records in publishing order: venues, then courses.
    pub fn records(&self) -> Vec<prospectus_model::Record> {
        use prospectus_model::Record;
        let venues = self.venues.iter().cloned().map(Record::Venue);
        venues
            .chain(self.courses.iter().cloned().map(Record::Course))
            .collect()
    }

    /// Where record `op` (of [`DfeOffer::records`]) field `field` (as `validate_record` names
    /// it) was read: "course file row 4, column START_TIME".
    pub fn locate(&self, op: usize, field: &str) -> String {
        let head = field.split(['.', '[']).next().unwrap_or("");
        if op < self.venues.len() {
            let column = match field {
                "name" => "VENUE_NAME",
                f if f.starts_with("address.postcode") => "POSTCODE",
                f if f.starts_with("address.lines") => "ADDRESS_LINE_1",
                f if f.starts_with("address.town") => "TOWN_OR_CITY",
                _ => "YOUR_VENUE_REFERENCE",
            };
            return match self.venue_rows[op] {
                0 => format!("the online room of {}, field {field}", self.venues[op].name),
                row => format!("venues file row {row}, column {column}"),
            };
        }
        let i = op - self.venues.len();
        let Some(rows) = self.course_rows.get(i) else {
            return format!("record {op}, field {field}");
        };
        let (row, rest) = match field.strip_prefix("runs[").and_then(|r| r.split_once(']')) {
            Some((j, rest)) => (
                j.parse::<usize>().ok().and_then(|j| rows.get(j)).copied(),
                rest.trim_start_matches('.'),
            ),
            None => (rows.first().copied(), head),
        };
        let column = match rest.split(['.', '[']).next().unwrap_or("") {
            "title" => "COURSE_NAME",
            "description" => "WHO_THIS_COURSE_IS_FOR",
            "url" => "COURSE_WEBPAGE",
            "fees" => "COST",
            "categories" => "CATEGORIES",
            "level" => "LEVEL",
            "language" => "LANGUAGE",
            "delivery" => "DELIVERY_MODE",
            "start" => "START_DATE",
            "days" => "DAYS",
            "start_time" => "START_TIME",
            "end_time" => "END_TIME",
            "weeks" => "DURATION",
            "places_left" => "PLACES_LEFT",
            "venue_id" => "YOUR_VENUE_REFERENCE",
            _ => "YOUR_REFERENCE",
        };
        format!("course file row {}, column {column}", row.unwrap_or(0))
    }
}

/// Which file a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DfeFile {
    Courses,
    Venues,
}

/// Every problem in the two files, each at its row and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(.0))]
pub struct DfeError(pub Vec<(DfeFile, CellError)>);

fn display(errs: &[(DfeFile, CellError)]) -> String {
    let n = errs.len();
    let mut s = format!("{n} problem{}", if n == 1 { "" } else { "s" });
    for (f, c) in errs {
        let file = match f {
            DfeFile::Courses => "course file",
            DfeFile::Venues => "venues file",
        };
        s.push_str(&format!("\n  {file} {c}"));
    }
    s
}

/// A stable id for one of `provider`'s records, from the sheet's own reference for it: the
/// same sheet published again names the same records. (Not a secret: a provider's token only
/// writes its own records, whatever ids it picks.)
fn derived_id(provider: Uuid, kind: &str, key: &str) -> Uuid {
    let hash = |basis: u64| {
        provider
            .as_bytes()
            .iter()
            .chain(kind.as_bytes())
            .chain(&[0])
            .chain(key.to_lowercase().as_bytes())
            .fold(basis, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x6c62_272e_07bb_0142));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Course Directory writes costs with up to four decimals ("120.0000").
fn dfe_pounds(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = match t.split_once('.') {
        Some((w, f)) if f.len() > 2 && f[2..].bytes().all(|b| b == b'0') => {
            format!("{w}.{}", &f[..2])
        }
        _ => t.to_string(),
    };
    parse_pounds(&t)
}

fn dfe_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%d/%m/%Y")
        .map_err(|_| format!("{} is not a date DD/MM/YYYY", prospectus_model::shown(s)))
}

fn dfe_delivery(s: &str) -> Result<DeliveryMode, String> {
    match s.to_ascii_lowercase().replace(' ', "").as_str() {
        "classroombased" | "classroom" => Ok(DeliveryMode::Classroom),
        "online" => Ok(DeliveryMode::Online),
        "blended" => Ok(DeliveryMode::Blended),
        "workbased" | "work" => Err(
            "work-based delivery (at an employer's premises) is not listed in Prospectus: leave this row out".into(),
        ),
        _ => Err(format!(
            "{} is not a delivery mode: classroom based, online or blended",
            prospectus_model::shown(s)
        )),
    }
}

/// Weeks for a DURATION in DURATION_UNIT; `None` for units that are not a span of weeks
/// (hours, days of attendance), which go into the description instead.
fn dfe_weeks(n: u32, unit: &str) -> Result<Option<u16>, String> {
    let weeks = match unit.to_ascii_lowercase().as_str() {
        "weeks" | "week" => n,
        "months" | "month" => (n * 52).div_ceil(12),
        "years" | "year" => n * 52,
        "hours" | "hour" | "days" | "day" => return Ok(None),
        _ => {
            return Err(format!(
                "{} is not a duration unit: hours, days, weeks, months or years",
                prospectus_model::shown(unit)
            ));
        }
    };
    u16::try_from(weeks)
        .map(Some)
        .map_err(|_| "duration is too long".to_string())
}

const STUDY_MODES: &[&str] = &["full time", "part time", "flexible"];
const ATTENDANCE: &[&str] = &["daytime", "evening", "weekend", "day/block release"];

/// The course's description: who it is for, then each other text column under its heading.
fn description(c: &RowCells) -> String {
    let mut parts = vec![c.raw("WHO_THIS_COURSE_IS_FOR").to_string()];
    for (column, heading) in [
        ("ENTRY_REQUIREMENTS", "Entry requirements"),
        ("WHAT_YOU_WILL_LEARN", "What you will learn"),
        ("HOW_YOU_WILL_LEARN", "How you will learn"),
        ("WHAT_YOU_WILL_NEED_TO_BRING", "What you will need to bring"),
        ("HOW_YOU_WILL_BE_ASSESSED", "How you will be assessed"),
        ("WHERE_NEXT", "Where next"),
        ("COST_DESCRIPTION", "Cost"),
    ] {
        let v = c.raw(column);
        if !v.is_empty() {
            parts.push(format!("{heading}: {v}"));
        }
    }
    let (duration, unit, mode) = (
        c.raw("DURATION"),
        c.raw("DURATION_UNIT"),
        c.raw("STUDY_MODE"),
    );
    let mut shape = Vec::new();
    if !mode.is_empty() {
        shape.push(mode.to_ascii_lowercase());
    }
    if !duration.is_empty() {
        shape.push(format!("{duration} {}", unit.to_ascii_lowercase()));
    }
    if !shape.is_empty() {
        parts.push(format!("Duration: {}", shape.join(", ")));
    }
    parts.join("\n\n")
}

/// The venues file: venues by their reference and by name (lower case).
fn read_venues(
    text: &str,
    provider: Uuid,
    errs: &mut Vec<CellError>,
) -> (Vec<Venue>, Vec<usize>, HashMap<String, usize>) {
    let mut venues = Vec::new();
    let mut rows = Vec::new();
    let mut by_key = HashMap::new();
    let required = [
        "YOUR_VENUE_REFERENCE",
        "VENUE_NAME",
        "ADDRESS_LINE_1",
        "TOWN_OR_CITY",
        "POSTCODE",
    ];
    let Some(sheet) = Sheet::read(text, &[DFE_VENUE_COLUMNS], &required, errs) else {
        return (venues, rows, by_key);
    };
    for i in 0..sheet.rows.len() {
        let mut c = sheet.cells(i, errs);
        let reference = c.required("YOUR_VENUE_REFERENCE", |s| Ok(s.to_string()));
        let name = c.required("VENUE_NAME", |s| Ok(s.to_string()));
        let line1 = c.required("ADDRESS_LINE_1", |s| Ok(s.to_string()));
        let town = c.required("TOWN_OR_CITY", |s| Ok(s.to_string()));
        let postcode = c.required("POSTCODE", |s| {
            prospectus_geo::postcode_centroid(s)
                .map(|at| (s.to_ascii_uppercase(), at))
                .map_err(|e| e.to_string())
        });
        let step_free = c.optional("STEP_FREE", yes_no);
        let line2 = c.raw("ADDRESS_LINE_2").to_string();
        let (
            Some(reference),
            Some(name),
            Some(line1),
            Some(town),
            Some((postcode, at)),
            Some(step_free),
        ) = (reference, name, line1, town, postcode, step_free)
        else {
            continue;
        };
        for key in [reference.to_lowercase(), name.to_lowercase()] {
            if let Some(&first) = by_key.get(&key)
                && key == reference.to_lowercase()
            {
                c.fail(
                    "YOUR_VENUE_REFERENCE",
                    format!(
                        "venue reference {} is already used on row {}",
                        prospectus_model::shown(&reference),
                        rows[first]
                    ),
                );
            }
            by_key.entry(key).or_insert(venues.len());
        }
        let mut lines = vec![line1];
        if !line2.is_empty() {
            lines.push(line2);
        }
        venues.push(Venue {
            id: derived_id(provider, "venue", &reference),
            provider_id: provider,
            name,
            address: Some(Address {
                lines,
                town,
                postcode,
            }),
            location: Some(at),
            accessibility: Accessibility {
                step_free: step_free.unwrap_or(false),
                ..Accessibility::default()
            },
            virtual_url: None,
        });
        rows.push(c.row);
    }
    (venues, rows, by_key)
}

/// One course-file row: its course's own cells and its run.
struct DfeRow {
    row: usize,
    key: String,
    course: Course,
    run: Run,
    online_room: Option<Venue>,
}

fn read_course_row(
    c: &mut RowCells,
    provider: Uuid,
    last_verified: NaiveDate,
    venues: &[Venue],
    by_key: &HashMap<String, usize>,
) -> Option<DfeRow> {
    let title = c.required("COURSE_NAME", |s| Ok(s.to_string()));
    let _who = c.required("WHO_THIS_COURSE_IS_FOR", |s| Ok(s.to_string()));
    let reference = c.raw("YOUR_REFERENCE").to_string();
    let delivery = c.required("DELIVERY_MODE", dfe_delivery);
    let flexible = c
        .optional("FLEXIBLE_START_DATE", yes_no)
        .map(|f| f.unwrap_or(false));
    let date = c.optional("START_DATE", dfe_date);
    let start = match (flexible, date) {
        (Some(true), Some(_)) => Some(Start::Rolling),
        (Some(false), Some(Some(d))) => Some(Start::On(d)),
        (Some(false), Some(None)) => {
            c.fail(
                "START_DATE",
                "required unless FLEXIBLE_START_DATE is yes (DD/MM/YYYY)",
            );
            None
        }
        _ => None,
    };
    if c.optional("NATIONAL_DELIVERY", yes_no) == Some(Some(true)) {
        c.fail(
            "NATIONAL_DELIVERY",
            "national delivery is for work-based courses, which Prospectus does not list",
        );
    }
    if !c.raw("SUB_REGION").is_empty() {
        c.fail("SUB_REGION", "sub-regions are for work-based courses, which Prospectus does not list; leave it empty");
    }
    let url = c.optional("COURSE_WEBPAGE", |s| Ok(s.to_string()));
    let fee = c.required("COST", |s| {
        dfe_pounds(s).map_err(|e| format!("{e}; Prospectus needs the full fee (0 for free), with any detail in COST_DESCRIPTION"))
    });
    let duration = c.optional("DURATION", |s| {
        s.parse::<u32>()
            .map_err(|_| format!("{} is not a whole number", prospectus_model::shown(s)))
    });
    let weeks = match duration {
        Some(Some(n)) => {
            let unit = c.raw("DURATION_UNIT").to_string();
            if unit.is_empty() {
                c.fail(
                    "DURATION_UNIT",
                    "required with DURATION: hours, days, weeks, months or years",
                );
                None
            } else {
                dfe_weeks(n, &unit)
                    .map_err(|e| c.fail("DURATION_UNIT", e))
                    .ok()
            }
        }
        Some(None) => Some(None),
        None => None,
    };
    let mode = c.raw("STUDY_MODE").to_ascii_lowercase();
    if !mode.is_empty() && !STUDY_MODES.contains(&mode.as_str()) {
        c.fail(
            "STUDY_MODE",
            format!(
                "{} is not one of: {}",
                prospectus_model::shown(&mode),
                STUDY_MODES.join(", ")
            ),
        );
    }
    let pattern = c.raw("ATTENDANCE_PATTERN").to_ascii_lowercase();
    if !pattern.is_empty() && !ATTENDANCE.contains(&pattern.as_str()) {
        c.fail(
            "ATTENDANCE_PATTERN",
            format!(
                "{} is not one of: {}",
                prospectus_model::shown(&pattern),
                ATTENDANCE.join(", ")
            ),
        );
    }
    // Prospectus's added columns.
    let categories = if c.raw("CATEGORIES").is_empty() {
        c.fail(
            "CATEGORIES",
            format!(
                "required (a column Prospectus adds to the DfE sheet): {}",
                crate::csv_template::categories_wanted()
            ),
        );
        None
    } else {
        c.list::<Category>("CATEGORIES")
    };
    let level = c.required("LEVEL", |s| s.parse::<Level>());
    let days = c.list::<Weekday>("DAYS");
    let start_time = c.required("START_TIME", parse_time);
    let end_time = c.required("END_TIME", parse_time);
    let language = c.optional("LANGUAGE", |s| Ok(s.to_ascii_lowercase()));
    let places_left = c.optional("PLACES_LEFT", |s| {
        s.parse::<u32>()
            .map_err(|_| format!("{} is not a whole number", prospectus_model::shown(s)))
    });
    // The sheet's own attendance pattern must agree with the days and times given.
    if let (Some(days), Some(t)) = (&days, start_time) {
        let evening = NaiveTime::from_hms_opt(17, 0, 0).is_some_and(|e| t >= e);
        let weekend = days.iter().any(|d| d.is_weekend());
        let clash = match pattern.as_str() {
            "evening" => !evening,
            "daytime" => evening,
            "weekend" => !weekend,
            _ => false,
        };
        if clash {
            c.fail(
                "ATTENDANCE_PATTERN",
                format!("{pattern} does not match DAYS and START_TIME (evening is from 17:00; weekend is Saturday or Sunday)"),
            );
        }
    }
    let key = if reference.is_empty() {
        title.clone().unwrap_or_default()
    } else {
        reference.clone()
    };
    let delivery = delivery?;
    let (venue_id, online_room) = if delivery == DeliveryMode::Online {
        let Some(Some(webpage)) = url.clone() else {
            c.fail(
                "COURSE_WEBPAGE",
                "required for an online course: where learners join it",
            );
            return None;
        };
        let room = Venue {
            id: derived_id(provider, "online", &key),
            provider_id: provider,
            name: format!("{} (online)", title.clone().unwrap_or_default()),
            address: None,
            location: None,
            accessibility: Accessibility::default(),
            virtual_url: Some(webpage),
        };
        (room.id, Some(room))
    } else {
        let by_ref = c.raw("YOUR_VENUE_REFERENCE").to_lowercase();
        let by_name = c.raw("VENUE_NAME").to_lowercase();
        let (column, wanted) = if by_ref.is_empty() {
            ("VENUE_NAME", by_name)
        } else {
            ("YOUR_VENUE_REFERENCE", by_ref)
        };
        match by_key.get(&wanted) {
            _ if wanted.is_empty() => {
                c.fail("YOUR_VENUE_REFERENCE", "a classroom or blended course needs YOUR_VENUE_REFERENCE or VENUE_NAME from the venues file");
                return None;
            }
            Some(&i) => (venues[i].id, None),
            None => {
                c.fail(
                    column,
                    format!(
                        "{} is not in the venues file",
                        prospectus_model::shown(&wanted)
                    ),
                );
                return None;
            }
        }
    };
    let start = start?;
    let run_key = format!("{key}|{start:?}|{venue_id}|{days:?}|{start_time:?}");
    Some(DfeRow {
        row: c.row,
        key: key.clone(),
        course: Course {
            id: derived_id(provider, "course", &key),
            provider_id: provider,
            title: title?,
            description: description(c),
            categories: categories?,
            level: level?,
            delivery,
            mental_health_focus: false,
            support: Vec::new(),
            language: language?.unwrap_or_else(|| "en".into()),
            runs: Vec::new(),
            fees: Fees {
                full_fee_pence: fee?,
                concessions: Vec::new(),
            },
            eligibility: Vec::new(),
            url: url?,
            contact_email: None,
            last_verified,
            funding_rules: None,
        },
        run: Run {
            id: derived_id(provider, "run", &run_key),
            venue_id,
            start,
            days: days?,
            start_time: start_time?,
            end_time: end_time?,
            weeks: weeks?,
            places_left: places_left?,
            waiting_weeks: None,
        },
        online_room,
    })
}

/// Reads a Course Directory course file (and its venues file, if its courses meet anywhere)
/// as `provider`'s records, verified as of `last_verified` (the day of the upload). Rows with
/// the same `YOUR_REFERENCE` (or, without one, the same `COURSE_NAME`) are one course with
/// several runs, and must describe it alike. Every problem is reported, by file, row and column.
pub fn read_dfe(
    courses: &str,
    venues: Option<&str>,
    provider: Uuid,
    last_verified: NaiveDate,
) -> Result<DfeOffer, DfeError> {
    let mut venue_errs = Vec::new();
    let (mut venue_list, mut venue_rows, by_key) = match venues {
        Some(text) => read_venues(text, provider, &mut venue_errs),
        None => Default::default(),
    };
    let mut errs = Vec::new();
    let required = [
        "COURSE_NAME",
        "WHO_THIS_COURSE_IS_FOR",
        "DELIVERY_MODE",
        "START_DATE",
        "FLEXIBLE_START_DATE",
        "COST",
        "CATEGORIES",
        "LEVEL",
        "DAYS",
        "START_TIME",
        "END_TIME",
    ];
    let mut out: Vec<Course> = Vec::new();
    let mut course_rows: Vec<Vec<usize>> = Vec::new();
    if let Some(sheet) = Sheet::read(
        courses,
        &[DFE_COURSE_COLUMNS, DFE_ADDED_COLUMNS],
        &required,
        &mut errs,
    ) {
        let mut index: HashMap<String, usize> = HashMap::new();
        for i in 0..sheet.rows.len() {
            let mut c = sheet.cells(i, &mut errs);
            let Some(r) = read_course_row(&mut c, provider, last_verified, &venue_list, &by_key)
            else {
                continue;
            };
            match index.get(&r.key.to_lowercase()) {
                Some(&i) => {
                    let first = &out[i];
                    let mut same = r.course.clone();
                    same.runs = first.runs.clone();
                    if same != *first {
                        errs.push(cell(
                            r.row,
                            "YOUR_REFERENCE",
                            &format!(
                                "course {} is described differently here than on row {}; rows of one course must agree on everything but the run",
                                prospectus_model::shown(&r.key),
                                course_rows[i][0]
                            ),
                        ));
                        continue;
                    }
                    if out[i].runs.iter().any(|x| x.id == r.run.id) {
                        errs.push(cell(
                            r.row,
                            "START_DATE",
                            &format!("repeats a run of row {}", course_rows[i][0]),
                        ));
                        continue;
                    }
                    out[i].runs.push(r.run);
                    course_rows[i].push(r.row);
                }
                None => {
                    index.insert(r.key.to_lowercase(), out.len());
                    let mut course = r.course;
                    course.runs.push(r.run);
                    out.push(course);
                    course_rows.push(vec![r.row]);
                }
            }
            if let Some(room) = r.online_room
                && !venue_list.iter().any(|v| v.id == room.id)
            {
                venue_list.push(room);
                venue_rows.push(0);
            }
        }
    }
    let all: Vec<(DfeFile, CellError)> = venue_errs
        .into_iter()
        .map(|e| (DfeFile::Venues, e))
        .chain(errs.into_iter().map(|e| (DfeFile::Courses, e)))
        .collect();
    if !all.is_empty() {
        return Err(DfeError(all));
    }
    Ok(DfeOffer {
        venues: venue_list,
        courses: out,
        venue_rows,
        course_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_differ_by_provider_kind_and_key() {
        let p = Uuid::from_u128(1);
        let q = Uuid::from_u128(2);
        assert_eq!(
            derived_id(p, "course", "ESOL1"),
            derived_id(p, "course", "esol1")
        );
        assert_ne!(
            derived_id(p, "course", "ESOL1"),
            derived_id(q, "course", "ESOL1")
        );
        assert_ne!(
            derived_id(p, "course", "ESOL1"),
            derived_id(p, "venue", "ESOL1")
        );
        assert_ne!(
            derived_id(p, "course", "ESOL1"),
            derived_id(p, "course", "ESOL2")
        );
    }

    #[test]
    fn costs_durations_and_delivery_modes_map() {
        assert_eq!(dfe_pounds("120.0000"), Ok(12000));
        assert_eq!(dfe_pounds("0"), Ok(0));
        assert!(dfe_pounds("12.345").is_err());
        assert_eq!(dfe_weeks(3, "Months"), Ok(Some(13)));
        assert_eq!(dfe_weeks(10, "weeks"), Ok(Some(10)));
        assert_eq!(dfe_weeks(12, "hours"), Ok(None));
        assert_eq!(dfe_delivery("Classroom based"), Ok(DeliveryMode::Classroom));
        assert!(dfe_delivery("work based").is_err());
    }
}
