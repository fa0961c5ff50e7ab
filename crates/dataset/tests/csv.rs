//! The CSV template: merging runs into courses, locating every bad cell by row and column, and
//! the documented example file.

use prospectus_dataset::{COLUMNS, CellError, FileError, read_csv, write_csv};
use prospectus_model::{
    Category, Condition, Document, Level, Record, Start, Template, Weekday, validate_record,
};

const HEADER: &str = "course_id,provider_id,title,description,categories,level,delivery,mental_health_focus,support,language,url,contact_email,last_verified,full_fee,concessions,eligibility,funding_rules,run_id,venue_id,start,days,start_time,end_time,weeks,places_left,waiting_weeks";

const C1: &str = "11111111-1111-4111-8111-111111111111";
const C2: &str = "22222222-2222-4222-8222-222222222222";
const P: &str = "33333333-3333-4333-8333-333333333333";
const V: &str = "44444444-4444-4444-8444-444444444444";
const R1: &str = "55555555-5555-4555-8555-555555555551";
const R2: &str = "55555555-5555-4555-8555-555555555552";
const R3: &str = "55555555-5555-4555-8555-555555555553";

/// A valid row; `edit` replaces cells by column name.
fn row(course: &str, run: &str, edit: &[(&str, &str)]) -> String {
    let mut cells: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            match *c {
                "course_id" => course,
                "provider_id" => P,
                "title" => "Functional Skills Maths Level 1",
                "description" => "Everyday maths, with a \"friendly\" tutor, for work and life.",
                "categories" => "maths",
                "level" => "level-1",
                "delivery" => "classroom",
                "mental_health_focus" => "no",
                "support" => "learning-support;creche",
                "language" => "en",
                "url" => "https://example.org/maths",
                "contact_email" => "",
                "last_verified" => "2026-06-01",
                "full_fee" => "250",
                "concessions" => {
                    "aeb-english-maths=0;means-tested-benefits=0;custom:Over 60s|age>=60=125"
                }
                "eligibility" => "age>=19;london-resident",
                "funding_rules" => "",
                "run_id" => run,
                "venue_id" => V,
                "start" => "2026-09-14",
                "days" => "mon;wed",
                "start_time" => "18:00",
                "end_time" => "20:30",
                "weeks" => "30",
                "places_left" => "",
                "waiting_weeks" => "",
                other => panic!("{other}"),
            }
            .to_string()
        })
        .collect();
    for (col, val) in edit {
        let i = COLUMNS.iter().position(|c| c == col).unwrap();
        cells[i] = val.to_string();
    }
    cells
        .iter()
        .map(|c| {
            if c.contains([',', '"']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The day these files are published (checked) on.
fn publish_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 1).expect("date")
}

fn file(rows: &[String]) -> String {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s
}

fn cells(text: &str) -> Vec<CellError> {
    match read_csv(text) {
        Err(FileError::Cells(c)) => c,
        other => panic!("expected cell errors, got {other:?}"),
    }
}

fn has(errs: &[CellError], row: usize, column: &str, needle: &str) {
    assert!(
        errs.iter()
            .any(|e| e.row == row && e.column == column && e.message.contains(needle)),
        "no error at row {row}, column {column} containing {needle:?} in {errs:#?}"
    );
}

#[test]
fn rows_with_the_same_course_id_are_one_course() {
    let text = file(&[
        row(C1, R1, &[]),
        row(
            C2,
            R3,
            &[
                ("title", "Watercolour Painting"),
                ("categories", "arts-crafts; wellbeing"),
                ("level", "non-accredited"),
                ("concessions", "social-prescriber-referral=5.50"),
                ("full_fee", "80.50"),
                ("start", "rolling"),
                ("days", "sat"),
                ("weeks", ""),
                ("mental_health_focus", "YES"),
            ],
        ),
        row(
            C1,
            R2,
            &[
                ("days", "tue;thu"),
                ("start_time", "9:30"),
                ("end_time", "12:00"),
                ("places_left", "0"),
                ("waiting_weeks", "4"),
            ],
        ),
    ]);
    let got = read_csv(&text).unwrap();
    assert_eq!(got.courses.len(), 2);
    assert_eq!(got.rows, vec![vec![2, 4], vec![3]]);
    assert_eq!(got.first_row(1), Some(3));

    let maths = &got.courses[0];
    assert_eq!(maths.id.to_string(), C1);
    assert_eq!(maths.runs.len(), 2);
    assert_eq!(maths.runs[1].days, vec![Weekday::Tue, Weekday::Thu]);
    assert_eq!(maths.runs[1].start_time.to_string(), "09:30:00");
    assert_eq!(maths.runs[1].places_left, Some(0));
    assert_eq!(maths.runs[1].waiting_weeks, Some(4));
    assert_eq!(maths.runs[0].places_left, None);
    assert_eq!(maths.fees.full_fee_pence, 25_000);
    assert_eq!(
        maths.fees.concessions[0],
        Template::EnglishMaths19Plus
            .concession(Level::L1, &[Category::Maths], 0)
            .unwrap()
    );
    assert_eq!(maths.fees.concessions[2].name, "Over 60s");
    assert_eq!(maths.fees.concessions[2].fee_pence, 12_500);
    assert_eq!(
        maths.eligibility[0].documents,
        vec![Document::ProofOfIdentityAndAge]
    );
    assert_eq!(maths.eligibility[1].condition, Condition::ResidentInLondon);
    assert_eq!(
        maths.eligibility[1].documents,
        vec![Document::ProofOfAddress]
    );
    assert_eq!(
        maths.description,
        "Everyday maths, with a \"friendly\" tutor, for work and life."
    );
    assert_eq!(maths.contact_email, None);

    let art = &got.courses[1];
    assert!(art.mental_health_focus);
    assert_eq!(
        art.categories,
        vec![Category::ArtsCrafts, Category::WellbeingMentalHealth]
    );
    assert_eq!(art.runs[0].start, Start::Rolling);
    assert_eq!(art.runs[0].weeks, None);
    assert_eq!(art.fees.full_fee_pence, 8050);
    assert_eq!(art.fees.concessions[0].fee_pence, 550);

    for c in &got.courses {
        validate_record(&Record::Course(c.clone())).unwrap();
    }
    got.validate(publish_day()).unwrap();
    // And back out.
    let again = read_csv(&write_csv(&got.courses).unwrap()).unwrap();
    assert_eq!(again.courses, got.courses);
}

#[test]
fn bad_time_is_reported_at_its_row_and_column() {
    let errs = cells(&file(&[
        row(C1, R1, &[]),
        row(C1, R2, &[("start_time", "25:00")]),
    ]));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].row, 3);
    assert_eq!(errs[0].column, "start_time");
    assert!(errs[0].message.contains("25:00"), "{}", errs[0].message);
}

#[test]
fn unknown_column_is_named() {
    let text = format!("{HEADER},Notes\n{},see me\n", row(C1, R1, &[]));
    let errs = cells(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    has(&errs, 1, "Notes", "unknown column \"Notes\"");
    assert!(
        errs[0].message.contains("course_id"),
        "lists the valid columns"
    );
}

#[test]
fn missing_required_column_is_named() {
    let header = HEADER.replace(",start_time", "");
    let errs = cells(&format!("{header}\n"));
    has(&errs, 1, "start_time", "required column is missing");
}

#[test]
fn unknown_category_names_the_valid_ones() {
    let errs = cells(&file(&[row(
        C1,
        R1,
        &[("categories", "maths;basket-weaving")],
    )]));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    has(&errs, 2, "categories", "basket-weaving");
    for c in Category::ALL {
        assert!(errs[0].message.contains(c.as_str()), "{}", errs[0].message);
    }
}

#[test]
fn course_columns_must_agree_across_rows() {
    let errs = cells(&file(&[
        row(C1, R1, &[]),
        row(C2, R3, &[]),
        row(
            C1,
            R2,
            &[
                ("title", "Functional Skills Maths Level 2"),
                ("full_fee", "300"),
            ],
        ),
    ]));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    has(&errs, 4, "title", "row 2");
    has(&errs, 4, "title", "Level 2");
    has(&errs, 4, "full_fee", "\"300\"");
}

#[test]
fn every_bad_cell_is_reported() {
    let errs = cells(&file(&[
        row(
            C1,
            R1,
            &[
                ("level", "level-9"),
                ("last_verified", "01/06/2026"),
                ("days", "mon;funday"),
            ],
        ),
        row(
            C2,
            R2,
            &[
                ("provider_id", "not-a-uuid"),
                ("full_fee", "£12.345"),
                ("weeks", "ten"),
                ("eligibility", "age>=19;over-60s"),
                ("mental_health_focus", "maybe"),
            ],
        ),
        row(
            C2,
            R3,
            &[
                ("provider_id", "not-a-uuid"),
                ("full_fee", "£12.345"),
                ("weeks", "ten"),
                ("eligibility", "age>=19;over-60s"),
                ("mental_health_focus", "maybe"),
                ("end_time", "noon"),
                ("start", "next week"),
            ],
        ),
    ]));
    let at: Vec<_> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(
        at,
        vec![
            (2, "level"),
            (2, "last_verified"),
            (2, "days"),
            (3, "provider_id"),
            (3, "mental_health_focus"),
            (3, "full_fee"),
            (3, "eligibility"),
            (3, "weeks"),
            (4, "start"),
            (4, "end_time"),
            (4, "weeks"),
        ],
        "{errs:#?}"
    );
    has(&errs, 2, "level", "level-9");
    has(&errs, 2, "days", "funday");
    has(&errs, 3, "eligibility", "over-60s");
    // The message lists them all.
    let shown = FileError::Cells(errs).to_string();
    assert!(shown.starts_with("11 problems"), "{shown}");
    assert!(shown.contains("row 4, column end_time"), "{shown}");
}

#[test]
fn concession_that_does_not_apply_is_reported() {
    let errs = cells(&file(&[row(
        C1,
        R1,
        &[("concessions", "aeb-low-wage-esol=0;free-for-all=0")],
    )]));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    has(&errs, 2, "concessions", "only for ESOL");
    has(&errs, 2, "concessions", "unknown template \"free-for-all\"");
}

#[test]
fn empty_required_cells_are_reported() {
    let errs = cells(&file(&[row(
        C1,
        R1,
        &[("title", ""), ("venue_id", ""), ("categories", " ")],
    )]));
    has(&errs, 2, "title", "required");
    has(&errs, 2, "venue_id", "required");
    has(&errs, 2, "categories", "wellbeing");
}

#[test]
fn column_order_is_free_and_optional_columns_may_be_left_out() {
    let text = "\u{feff}Run_ID,course_id,provider_id,title,description,categories,level,delivery,language,last_verified,full_fee,venue_id,start,days,start_time,end_time\n\
        55555555-5555-4555-8555-555555555551,11111111-1111-4111-8111-111111111111,33333333-3333-4333-8333-333333333333,Chair Yoga,Gentle seated yoga.,exercise,non-accredited,classroom,en,2026-05-01,0,44444444-4444-4444-8444-444444444444,2026-09-07,mon,10:00,11:00\n\
        ,,,,,,,,,,,,,,,\n";
    let got = read_csv(text).unwrap();
    assert_eq!(got.courses.len(), 1);
    let c = &got.courses[0];
    assert_eq!(c.title, "Chair Yoga");
    assert!(!c.mental_health_focus);
    assert!(c.support.is_empty() && c.eligibility.is_empty() && c.fees.concessions.is_empty());
    assert_eq!(c.runs[0].weeks, None);
}

#[test]
fn empty_file_and_ragged_rows() {
    let errs = cells("");
    assert_eq!(errs[0].row, 1);
    let errs = cells(&format!("{HEADER}\n{},extra\n", row(C1, R1, &[])));
    has(&errs, 2, "", "header names only 26 columns");
    // Trailing empty cells, as spreadsheets export them, are fine.
    read_csv(&format!("{HEADER}\n{},,\n", row(C1, R1, &[]))).unwrap();
}

#[test]
fn semantic_errors_are_located_by_row_and_column() {
    let text = file(&[
        row(C1, R1, &[]),
        row(C1, R2, &[("start_time", "20:00"), ("end_time", "19:00")]),
        row(
            C2,
            R3,
            &[
                ("full_fee", "10"),
                ("concessions", "means-tested-benefits=20"),
                ("language", "english"),
                ("url", "www.example.org"),
            ],
        ),
    ]);
    let got = read_csv(&text).unwrap();
    assert_eq!(got.locate(0, "runs[1].end_time"), Some((3, "end_time")));
    assert_eq!(got.locate(0, "runs[0].id"), Some((2, "run_id")));
    assert_eq!(got.locate(0, "runs[0].days[1]"), Some((2, "days")));
    assert_eq!(got.locate(0, "fees.full_fee_pence"), Some((2, "full_fee")));
    assert_eq!(
        got.locate(1, "fees.concessions[0].fee_pence"),
        Some((4, "concessions"))
    );
    assert_eq!(
        got.locate(1, "eligibility[0].condition.boroughs[0]"),
        Some((4, "eligibility"))
    );
    assert_eq!(got.locate(1, "categories[1]"), Some((4, "categories")));
    assert_eq!(got.locate(1, "id"), Some((4, "course_id")));
    assert_eq!(got.locate(1, "runs"), Some((4, "run_id")));
    assert_eq!(got.locate(2, "title"), None);

    let errs = match got.validate(publish_day()) {
        Err(FileError::Cells(c)) => c,
        other => panic!("{other:?}"),
    };
    let at: Vec<_> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(
        at,
        vec![
            (3, "end_time"),
            (4, "language"),
            (4, "url"),
            (4, "concessions")
        ],
        "{errs:#?}"
    );
    has(&errs, 3, "end_time", "runs[1].end_time");
}

#[test]
fn write_csv_refuses_what_it_cannot_state() {
    let got = read_csv(&file(&[row(C1, R1, &[])])).unwrap();
    let mut c = got.courses[0].clone();
    c.eligibility[0].documents.push(Document::Payslips);
    let e = write_csv(std::slice::from_ref(&c)).unwrap_err();
    assert_eq!(e.index, 0);
    assert!(e.reason.contains("eligibility[0]"), "{e}");

    let mut c = got.courses[0].clone();
    c.fees.concessions[0].name = "Renamed".into();
    assert!(
        write_csv(&[c])
            .unwrap_err()
            .reason
            .contains("fees.concessions[0]")
    );

    let mut c = got.courses[0].clone();
    c.runs.clear();
    assert!(write_csv(&[c]).is_err());
}

#[test]
fn the_documented_example_file_is_valid() {
    let text = include_str!("../../../docs/example-offer.csv");
    let got = read_csv(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.courses.len(), 3);
    assert_eq!(
        got.courses.iter().map(|c| c.runs.len()).collect::<Vec<_>>(),
        vec![2, 1, 1]
    );
    got.validate(publish_day())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn values_under_a_blank_header_are_reported() {
    let text = format!("{HEADER},\n{},a note\n", row(C1, R1, &[]));
    let errs = cells(&text);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    has(&errs, 2, "", "no name in the header row");
    read_csv(&format!("{HEADER},\n{},\n", row(C1, R1, &[]))).unwrap();
}

#[test]
fn a_file_that_lies_about_dates_is_refused_at_its_cells() {
    let text = file(&[
        row(C1, R1, &[("last_verified", "9999-12-31")]),
        row(C2, R2, &[("start", "9999-01-01")]),
        row(C2, R3, &[("start", "0001-01-01")]),
    ]);
    let got = read_csv(&text).expect("well-formed");
    let errs = match got.validate(publish_day()) {
        Err(FileError::Cells(c)) => c,
        other => panic!("{other:?}"),
    };
    let at: Vec<(usize, &str)> = errs.iter().map(|e| (e.row, e.column.as_str())).collect();
    assert_eq!(at, [(2, "last_verified"), (3, "start"), (4, "start")]);
    assert!(
        errs[0].message.contains("in the future"),
        "{}",
        errs[0].message
    );
    assert!(
        errs[1].message.contains("runs[0].start"),
        "{}",
        errs[1].message
    );
    // The same file is fine on its own terms without a clock, which is why the date is passed.
    for c in &got.courses {
        validate_record(&Record::Course(c.clone())).expect("undated check passes");
    }
}

#[test]
fn one_course_id_described_two_ways_is_refused() {
    let text = file(&[
        row(C1, R1, &[]),
        row(C1, R2, &[("title", "Functional Skills Maths Level 2")]),
    ]);
    let errs = match read_csv(&text) {
        Err(FileError::Cells(c)) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].row, errs[0].column.as_str()), (3, "title"));
}

#[test]
fn a_course_names_its_funding_rules_in_a_column() {
    let text = file(&[row(C1, R1, &[("funding_rules", "gla-2026-27")])]);
    let got = read_csv(&text).expect("read");
    assert_eq!(
        got.courses[0].funding_rules,
        Some(prospectus_model::RuleSetId::Gla2026_27)
    );
    let again = read_csv(&write_csv(&got.courses).expect("write")).expect("read back");
    assert_eq!(again.courses, got.courses);
    let bad = file(&[row(C1, R1, &[("funding_rules", "gla-1999-00")])]);
    match read_csv(&bad) {
        Err(FileError::Cells(c)) => assert_eq!(c[0].column, "funding_rules"),
        other => panic!("{other:?}"),
    }
}
