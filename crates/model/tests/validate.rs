//! `validate_record`: every violation reported at once, each with the exact path of its field.

mod common;

use common::{concession, req, run, time, uuid, valid_course};
use prospectus_model::{
    Address, Category, Condition, Course, DeliveryMode, Document, FieldViolation, LatLon, Level,
    Provider, Record, RecordKind, Template, Uuid, ValidationErrors, Venue, Weekday,
    is_valid_postcode, validate_record,
};

fn fields(r: Result<(), ValidationErrors>) -> Vec<String> {
    match r {
        Ok(()) => vec![],
        Err(e) => e.0.into_iter().map(|v| v.field).collect(),
    }
}

fn course_fields(c: Course) -> Vec<String> {
    fields(validate_record(&Record::Course(c)))
}

fn venue_fields(v: Venue) -> Vec<String> {
    fields(validate_record(&Record::Venue(v)))
}

fn provider_fields(p: Provider) -> Vec<String> {
    fields(validate_record(&Record::Provider(p)))
}

/// Asserts the course has exactly one violation, at `field`.
fn only(c: Course, field: &str) {
    assert_eq!(course_fields(c), [field]);
}

// ---------------------------------------------------------------- courses

#[test]
fn a_valid_course_passes() {
    assert_eq!(validate_record(&Record::Course(valid_course())), Ok(()));
}

#[test]
fn a_rich_valid_course_passes() {
    let mut c = valid_course();
    c.level = Level::L2;
    c.categories = vec![Category::Maths, Category::Employability];
    c.runs.push(run(2));
    c.runs[1].days = vec![Weekday::Sat];
    c.fees.concessions = vec![
        Template::EnglishMaths19Plus
            .concession(Level::L2, &c.categories, 0)
            .expect("applies"),
        concession(
            "Southwark residents",
            vec![Condition::ResidentInBorough {
                boroughs: vec!["E09000028".into()],
            }],
            10_000,
            vec![Document::ProofOfAddress],
        ),
    ];
    c.eligibility = vec![
        req(
            Condition::Age {
                min: Some(19),
                max: None,
            },
            vec![Document::ProofOfIdentityAndAge],
        ),
        req(Condition::ResidentInLondon, vec![Document::ProofOfAddress]),
    ];
    assert_eq!(validate_record(&Record::Course(c)), Ok(()));
}

#[test]
fn a_course_with_many_problems_reports_all_of_them_with_paths() {
    let mut c = valid_course();
    c.title = String::new();
    c.level = Level::L1;
    c.categories = vec![Category::Maths, Category::Digital, Category::Maths];
    c.runs[0].start_time = time(14, 0);
    c.runs[0].end_time = time(13, 0);
    // Template on the wrong level: first-full is only for level 2 and 3.
    let mut wrong_level = Template::FirstFull19To23
        .concession(Level::L2, &[], 0)
        .expect("applies at L2");
    wrong_level.fee_pence = 0;
    c.fees.full_fee_pence = 20_000;
    c.fees.concessions = vec![
        wrong_level,
        concession("dear", vec![Condition::MeansTestedBenefits], 20_001, vec![]),
    ];
    c.eligibility = vec![
        req(
            Condition::Age {
                min: Some(30),
                max: Some(20),
            },
            vec![],
        ),
        req(
            Condition::ResidentInBorough {
                boroughs: vec!["E09000028".into(), "SE15".into()],
            },
            vec![],
        ),
    ];
    let err = validate_record(&Record::Course(c)).expect_err("invalid");
    let got: Vec<&str> = err.0.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        got,
        [
            "title",
            "categories[2]",
            "runs[0].end_time",
            "fees.concessions[0].template",
            "fees.concessions[1].fee_pence",
            "eligibility[0].condition.min",
            "eligibility[1].condition.boroughs[1]",
        ]
    );
    for v in &err.0 {
        assert!(!v.description.is_empty(), "{}", v.field);
    }
    assert!(err.0[3].description.contains("aeb-19-23-first-full"));
    assert!(err.0[1].description.contains("maths"));
    // Display lists every violation.
    let shown = err.to_string();
    for f in got {
        assert!(shown.contains(f), "{shown}");
    }
}

#[test]
fn no_categories_is_reported() {
    let mut c = valid_course();
    c.categories.clear();
    only(c, "categories");
}

#[test]
fn identity_and_text_fields() {
    let mut c = valid_course();
    c.id = Uuid::nil();
    c.provider_id = Uuid::nil();
    c.title = "   ".into();
    c.description = "line\u{0007}bell".into();
    c.language = "EN".into();
    c.url = Some("ftp://example.org".into());
    c.contact_email = Some("nobody".into());
    assert_eq!(
        course_fields(c),
        [
            "id",
            "provider_id",
            "title",
            "description",
            "language",
            "url",
            "contact_email"
        ]
    );
}

#[test]
fn title_length_counts_characters_not_bytes() {
    let mut c = valid_course();
    c.title = "é".repeat(200);
    assert_eq!(course_fields(c.clone()), Vec::<String>::new());
    c.title.push('é');
    only(c, "title");
}

#[test]
fn newlines_and_tabs_are_allowed_in_text() {
    let mut c = valid_course();
    c.description = "Week 1:\tintro\r\nWeek 2:\tpractice\n".into();
    assert_eq!(course_fields(c), Vec::<String>::new());
}

#[test]
fn language_codes() {
    for ok in ["en", "cy", "ara"] {
        let mut c = valid_course();
        c.language = ok.into();
        assert_eq!(course_fields(c), Vec::<String>::new(), "{ok}");
    }
    for bad in ["", "e", "engl", "En", "e1"] {
        let mut c = valid_course();
        c.language = bad.into();
        only(c, "language");
    }
}

#[test]
fn urls_and_emails() {
    for ok in ["https://example.org", "http://ex.org/a?b=c"] {
        let mut c = valid_course();
        c.url = Some(ok.into());
        assert_eq!(course_fields(c), Vec::<String>::new(), "{ok}");
    }
    for bad in [
        "https://",
        "example.org",
        "https://a b.org",
        "javascript:alert(1)",
    ] {
        let mut c = valid_course();
        c.url = Some(bad.into());
        only(c, "url");
    }
    for bad in [
        "@example.org",
        "a@b",
        "a@.org",
        "a@org.",
        "a b@c.org",
        "plain",
    ] {
        let mut c = valid_course();
        c.contact_email = Some(bad.into());
        only(c, "contact_email");
    }
    let mut c = valid_course();
    c.url = None;
    c.contact_email = None;
    assert_eq!(course_fields(c), Vec::<String>::new());
}

#[test]
fn run_problems() {
    let mut c = valid_course();
    c.runs.clear();
    only(c, "runs");

    let mut c = valid_course();
    let mut r0 = run(1);
    r0.id = Uuid::nil();
    r0.venue_id = Uuid::nil();
    let mut r1 = run(2);
    r1.days = vec![];
    r1.weeks = Some(0);
    let mut r2 = run(2); // same id as r1
    r2.days = vec![Weekday::Tue, Weekday::Thu, Weekday::Tue];
    r2.end_time = r2.start_time;
    r2.weeks = Some(105);
    r2.waiting_weeks = Some(105);
    c.runs = vec![r0, r1, r2];
    assert_eq!(
        course_fields(c),
        [
            "runs[0].id",
            "runs[0].venue_id",
            "runs[1].days",
            "runs[1].weeks",
            "runs[2].id",
            "runs[2].days[2]",
            "runs[2].end_time",
            "runs[2].weeks",
            "runs[2].waiting_weeks",
        ]
    );
}

#[test]
fn run_bounds_are_inclusive() {
    let mut c = valid_course();
    c.runs[0].weeks = Some(1);
    c.runs[0].waiting_weeks = Some(104);
    assert_eq!(course_fields(c.clone()), Vec::<String>::new());
    c.runs[0].weeks = Some(104);
    c.runs[0].waiting_weeks = Some(0);
    assert_eq!(course_fields(c.clone()), Vec::<String>::new());
    c.runs[0].weeks = None;
    c.runs[0].waiting_weeks = None;
    assert_eq!(course_fields(c), Vec::<String>::new());
}

#[test]
fn only_online_courses_may_be_self_paced() {
    let mut c = valid_course();
    c.runs[0].days.clear();
    for (mode, ok) in [
        (DeliveryMode::Online, true),
        (DeliveryMode::Classroom, false),
        (DeliveryMode::Blended, false),
    ] {
        c.delivery = mode;
        let f = course_fields(c.clone());
        if ok {
            assert!(f.is_empty(), "{mode}: {f:?}");
        } else {
            assert_eq!(f, ["runs[0].days"], "{mode}");
        }
    }
}

#[test]
fn fee_problems() {
    let mut c = valid_course();
    c.fees.full_fee_pence = 10_000_000;
    assert_eq!(course_fields(c.clone()), Vec::<String>::new());
    c.fees.full_fee_pence = 10_000_001;
    only(c, "fees.full_fee_pence");

    // Concession fee equal to the full fee is allowed; above is not.
    let mut c = valid_course();
    c.fees.full_fee_pence = 5_000;
    c.fees.concessions = vec![concession(
        "same",
        vec![Condition::Unemployed],
        5_000,
        vec![],
    )];
    assert_eq!(course_fields(c.clone()), Vec::<String>::new());
    c.fees.concessions[0].fee_pence = 5_001;
    only(c, "fees.concessions[0].fee_pence");

    let mut c = valid_course();
    c.fees.concessions = vec![
        concession("fine", vec![Condition::Unemployed], 0, vec![]),
        concession("", vec![], 0, vec![]),
    ];
    assert_eq!(
        course_fields(c),
        ["fees.concessions[1].name", "fees.concessions[1].conditions"]
    );
}

#[test]
fn template_problems() {
    // Template on a course it does not apply to (wrong category).
    let mut c = valid_course();
    c.categories = vec![Category::Digital];
    c.level = Level::Entry;
    let mut t = Template::LowWageEsolUpToLevel2
        .concession(Level::Entry, &[Category::Esol], 0)
        .expect("applies to ESOL");
    c.fees.concessions = vec![t.clone()];
    only(c.clone(), "fees.concessions[0].template");

    // Right course, but the conditions were edited.
    c.categories = vec![Category::Esol];
    assert_eq!(course_fields(c.clone()), Vec::<String>::new());
    t.conditions = vec![Condition::LowWage {
        max_annual_gross_pence: 3_000_000,
    }];
    c.fees.concessions = vec![t];
    only(c.clone(), "fees.concessions[0].conditions");

    // Conditions of the template for another level.
    let mut c = valid_course();
    c.level = Level::L3;
    c.fees.concessions = vec![
        Template::FirstFull19To23
            .concession(Level::L2, &[], 0)
            .expect("applies"),
    ];
    only(c, "fees.concessions[0].conditions");
}

#[test]
fn condition_problems_in_concessions_and_eligibility() {
    let mut c = valid_course();
    c.fees.concessions = vec![concession(
        "odd",
        vec![
            Condition::Age {
                min: None,
                max: None,
            },
            Condition::Age {
                min: Some(121),
                max: None,
            },
            Condition::ResidentInBorough { boroughs: vec![] },
            Condition::ResidencyStatus { any_of: vec![] },
            Condition::LowWage {
                max_annual_gross_pence: 0,
            },
            Condition::ResidentInBorough {
                boroughs: vec![
                    "E09000001".into(),
                    "e09000001".into(),
                    "E0900001".into(),
                    "E08000001".into(),
                    "E09ABCDEF".into(),
                ],
            },
        ],
        0,
        vec![],
    )];
    c.eligibility = vec![
        req(
            Condition::Age {
                min: Some(18),
                max: Some(18),
            },
            vec![],
        ),
        req(
            Condition::Age {
                min: Some(200),
                max: Some(150),
            },
            vec![],
        ),
        req(Condition::ResidentInLondon, vec![]),
        req(
            Condition::NoQualificationAtOrAbove { level: Level::L2 },
            vec![],
        ),
    ];
    let p = "fees.concessions[0].conditions";
    assert_eq!(
        course_fields(c),
        [
            format!("{p}[0]"),
            format!("{p}[1]"),
            format!("{p}[2].boroughs"),
            format!("{p}[3].any_of"),
            format!("{p}[4].max_annual_gross_pence"),
            format!("{p}[5].boroughs[1]"),
            format!("{p}[5].boroughs[2]"),
            format!("{p}[5].boroughs[3]"),
            format!("{p}[5].boroughs[4]"),
            "eligibility[1].condition.min".to_string(),
            "eligibility[1].condition".to_string(),
        ]
    );
}

#[test]
fn lists_beyond_their_caps_are_one_violation_each_and_not_walked() {
    use prospectus_model::{MAX_CONCESSIONS, MAX_CONDITIONS, MAX_LIST, MAX_RUNS};
    let mut c = valid_course();
    c.runs = (0..=MAX_RUNS as u128).map(run).collect();
    // Every run is also broken: none of that is reported once the list is over its cap.
    for r in &mut c.runs {
        r.end_time = r.start_time;
    }
    c.fees.concessions =
        vec![concession("Any", vec![Condition::Unemployed], 0, vec![]); MAX_CONCESSIONS + 1];
    c.eligibility = vec![req(Condition::Unemployed, vec![]); MAX_CONDITIONS + 1];
    c.support = vec![prospectus_model::Support::ALL[0]; MAX_LIST + 1];
    let err = validate_record(&Record::Course(c)).expect_err("over the caps");
    let got: Vec<&str> = err.0.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(got, ["support", "runs", "fees.concessions", "eligibility"]);
    assert!(err.0[1].description.contains("at most 500"), "{err}");
}

#[test]
fn at_most_fifty_violations_are_reported_then_a_count() {
    use prospectus_model::MAX_VIOLATIONS;
    let mut c = valid_course();
    c.runs = (0..200).map(run).collect();
    for r in &mut c.runs {
        r.end_time = r.start_time;
    }
    let err = validate_record(&Record::Course(c)).expect_err("invalid");
    assert_eq!(err.0.len(), MAX_VIOLATIONS + 1);
    let last = err.0.last().expect("summary");
    assert_eq!(last.field, format!("runs[{MAX_VIOLATIONS}].end_time"));
    assert_eq!(
        last.description,
        format!("… and {} more problems not listed", 200 - MAX_VIOLATIONS)
    );
    // Capping again (as the gRPC boundary does) changes nothing.
    assert_eq!(err.clone().capped(), err);
}

#[test]
fn prefixed_errors_nest_paths() {
    let mut c = valid_course();
    c.title.clear();
    let err = validate_record(&Record::Course(c))
        .expect_err("invalid")
        .prefixed("ops[3].course");
    assert_eq!(
        err.0,
        vec![FieldViolation {
            field: "ops[3].course.title".into(),
            description: "must not be empty".into(),
        }]
    );
    assert_eq!(err.to_string(), "ops[3].course.title: must not be empty");
}

// ---------------------------------------------------------------- postcodes

#[test]
fn postcode_accepts_full_and_outward_codes_in_any_case_and_spacing() {
    for ok in [
        "SE15 4QF",
        "se154qf",
        "EC1A 1BB",
        "W1A 0AX",
        "SE15",
        "M1 1AE",
        "B33 8TH",
        "CR2 6XH",
        "DN55 1PT",
        " sw1a  2aa ",
        "E1",
        "N1C",
        "SW1A",
        "E1W 1AA",
    ] {
        assert!(is_valid_postcode(ok), "{ok:?} should be valid");
    }
}

#[test]
fn postcode_rejects_malformed_input() {
    for bad in [
        "",
        "   ",
        "12345",
        "SE15 4Q",
        "QQQ QQQ",
        "S",
        "SE",
        "1SE 4QF",
        "SE15 QQF",
        "SE15 44F",
        "SE15 4QFF",
        "SE154QFX",
        "ABC1 2DE",
        "A1B2 3CD",
        "SE1-4QF",
        "SE15 4Q!",
    ] {
        assert!(!is_valid_postcode(bad), "{bad:?} should be invalid");
    }
}

#[test]
fn postcode_with_non_ascii_characters_is_rejected_not_a_panic() {
    for bad in [
        "AéQF",
        "A€QQ",
        "ÉÉÉ",
        "SE15 4QÉ",
        "ＳＥ15",
        "SE1\u{00A0}4QF\u{0301}",
    ] {
        assert!(!is_valid_postcode(bad), "{bad:?}");
    }
    // Non-ASCII whitespace is still whitespace.
    assert!(is_valid_postcode("SE15\u{00A0}4QF"));
}

// ---------------------------------------------------------------- venues

fn physical() -> Venue {
    Venue {
        id: uuid(10),
        provider_id: uuid(2),
        name: "Peckham Library".into(),
        address: Some(Address {
            lines: vec!["122 Peckham Hill Street".into()],
            town: "London".into(),
            postcode: "SE15 5JR".into(),
        }),
        location: Some(LatLon {
            lat: 51.4740,
            lon: -0.0690,
        }),
        accessibility: Default::default(),
        virtual_url: None,
    }
}

fn online() -> Venue {
    Venue {
        id: uuid(11),
        provider_id: uuid(2),
        name: "Online classroom".into(),
        address: None,
        location: None,
        accessibility: Default::default(),
        virtual_url: Some("https://meet.example.org/room".into()),
    }
}

#[test]
fn venue_needs_address_xor_virtual_url() {
    assert_eq!(venue_fields(physical()), Vec::<String>::new());
    assert_eq!(venue_fields(online()), Vec::<String>::new());
    assert!(online().is_virtual());
    assert!(!physical().is_virtual());

    let both = Venue {
        virtual_url: Some("https://meet.example.org/room".into()),
        ..physical()
    };
    assert_eq!(venue_fields(both), ["virtual_url"]);

    let neither = Venue {
        address: None,
        ..physical()
    };
    assert_eq!(venue_fields(neither), ["address"]);
}

#[test]
fn venue_address_and_location_problems() {
    let v = Venue {
        id: Uuid::nil(),
        provider_id: Uuid::nil(),
        name: String::new(),
        address: Some(Address {
            lines: vec![],
            town: " ".into(),
            postcode: "SE15".into(),
        }),
        location: Some(LatLon {
            lat: -0.069,
            lon: 51.474,
        }),
        ..physical()
    };
    assert_eq!(
        venue_fields(v),
        [
            "id",
            "provider_id",
            "name",
            "address.lines",
            "address.town",
            "address.postcode",
            "location.lat",
            "location.lon",
        ]
    );

    let mut v = physical();
    if let Some(a) = v.address.as_mut() {
        a.lines = vec!["ok".into(), String::new()];
    }
    assert_eq!(venue_fields(v), ["address.lines[1]"]);

    let v = Venue {
        virtual_url: Some("meet.example.org".into()),
        ..online()
    };
    assert_eq!(venue_fields(v), ["virtual_url"]);
}

#[test]
fn venue_postcode_must_be_full() {
    for (pc, ok) in [
        ("SE15 5JR", true),
        ("se155jr", true),
        ("W1A 0AX", true),
        ("SE15", false),
        ("SE1 4", false),
        ("S E 1 5", false),
        ("E1   ", false),
        ("", false),
        ("SE15 5J", false),
        ("AéQF", false),
    ] {
        let mut v = physical();
        if let Some(a) = v.address.as_mut() {
            a.postcode = pc.into();
        }
        let f = venue_fields(v);
        if ok {
            assert!(f.is_empty(), "{pc:?}: {f:?}");
        } else {
            assert_eq!(f, ["address.postcode"], "{pc:?}");
        }
    }
}

// ---------------------------------------------------------------- providers

fn provider() -> Provider {
    Provider {
        id: uuid(2),
        name: "Southwark Adult Learning".into(),
        ukprn: Some("10001234".into()),
        charity_number: None,
        description: Some("Council adult-learning service.".into()),
        email: Some("learning@example.org".into()),
        phone: Some("020 7525 0000".into()),
        website: Some("https://example.org".into()),
        last_verified: common::date(2025, 5, 1),
    }
}

#[test]
fn a_valid_provider_passes() {
    assert_eq!(provider_fields(provider()), Vec::<String>::new());
    let minimal = Provider {
        ukprn: None,
        description: None,
        email: None,
        phone: None,
        website: None,
        ..provider()
    };
    assert_eq!(provider_fields(minimal), Vec::<String>::new());
}

#[test]
fn ukprn_is_eight_digits_starting_with_1() {
    for ok in ["10000000", "19999999", "10012345"] {
        let p = Provider {
            ukprn: Some(ok.into()),
            ..provider()
        };
        assert_eq!(provider_fields(p), Vec::<String>::new(), "{ok}");
    }
    for bad in [
        "",
        "1000123",
        "100012345",
        "20001234",
        "00001234",
        "1000123X",
        " 10001234",
        "1000 234",
        "１0001234",
    ] {
        let p = Provider {
            ukprn: Some(bad.into()),
            ..provider()
        };
        assert_eq!(provider_fields(p), ["ukprn"], "{bad:?}");
    }
}

#[test]
fn provider_problems() {
    let p = Provider {
        id: Uuid::nil(),
        name: "".into(),
        ukprn: Some("x".into()),
        charity_number: Some("1".repeat(21)),
        description: Some("\u{0000}".into()),
        email: Some("no".into()),
        phone: Some("".into()),
        website: Some("example.org".into()),
        ..provider()
    };
    assert_eq!(
        provider_fields(p),
        [
            "id",
            "name",
            "ukprn",
            "charity_number",
            "description",
            "email",
            "phone",
            "website"
        ]
    );
}

// ---------------------------------------------------------------- records

#[test]
fn record_kind_id_and_owner() {
    let c = valid_course();
    let v = physical();
    let p = provider();
    let records = [
        (
            Record::Provider(p.clone()),
            RecordKind::Provider,
            p.id,
            p.id,
        ),
        (
            Record::Venue(v.clone()),
            RecordKind::Venue,
            v.id,
            v.provider_id,
        ),
        (
            Record::Course(c.clone()),
            RecordKind::Course,
            c.id,
            c.provider_id,
        ),
    ];
    for (r, kind, id, owner) in records {
        assert_eq!(r.kind(), kind);
        assert_eq!(r.id(), id);
        assert_eq!(r.provider_id(), owner);
        assert_eq!(RecordKind::from_u8(kind as u8), Some(kind));
        assert_eq!(kind.to_string(), kind.as_str());
    }
    assert_eq!(RecordKind::from_u8(0), None);
    assert_eq!(RecordKind::from_u8(4), None);
    assert_eq!(
        RecordKind::ALL.map(|k| k as u8),
        [1, 2, 3],
        "numeric values are part of the wire format"
    );
}

// ---------------------------------------------------------------- records that cannot lie

mod dated {
    use super::*;
    use common::date;
    use prospectus_model::{RuleSetId, Start, validate_record_at};

    const TODAY: (i32, u32, u32) = (2026, 12, 1);

    fn today() -> chrono::NaiveDate {
        date(TODAY.0, TODAY.1, TODAY.2)
    }

    fn dated_fields(r: Record) -> Vec<String> {
        fields(validate_record_at(&r, today()))
    }

    #[test]
    fn last_verified_in_the_future_is_refused_today_is_fine() {
        let mut c = valid_course();
        c.last_verified = today();
        assert_eq!(
            dated_fields(Record::Course(c.clone())),
            Vec::<String>::new()
        );
        c.last_verified = date(9999, 12, 31);
        assert_eq!(dated_fields(Record::Course(c.clone())), ["last_verified"]);
        c.last_verified = today().succ_opt().expect("date");
        assert_eq!(dated_fields(Record::Course(c.clone())), ["last_verified"]);
        // The undated check does not know what today is.
        assert_eq!(course_fields(c), Vec::<String>::new());
    }

    #[test]
    fn a_provider_cannot_be_verified_in_the_future_either() {
        let p = Provider {
            id: uuid(2),
            name: "Southwark Adult Learning".into(),
            ukprn: None,
            charity_number: None,
            description: None,
            email: None,
            phone: None,
            website: None,
            last_verified: date(2030, 1, 1),
        };
        assert_eq!(dated_fields(Record::Provider(p)), ["last_verified"]);
    }

    #[test]
    fn run_starts_must_be_within_five_years_of_today() {
        let with_start = |s: Start| {
            let mut c = valid_course();
            c.runs = vec![run(1), run(2)];
            c.runs[1].start = s;
            c
        };
        for ok in [
            Start::Rolling,
            Start::On(date(2021, 12, 1)),
            Start::On(date(2031, 12, 1)),
        ] {
            assert_eq!(
                dated_fields(Record::Course(with_start(ok))),
                Vec::<String>::new(),
                "{ok:?}"
            );
        }
        for bad in [
            date(9999, 1, 1),
            date(1, 1, 1),
            date(2021, 11, 30),
            date(2031, 12, 2),
        ] {
            assert_eq!(
                dated_fields(Record::Course(with_start(Start::On(bad)))),
                ["runs[1].start"],
                "{bad}"
            );
        }
    }

    #[test]
    fn a_stated_gla_threshold_on_a_low_wage_template_is_accepted_when_the_set_is_named() {
        // The issue: a provider stating London's threshold on aeb-low-wage-esol was refused.
        let mut c = valid_course();
        c.level = Level::Entry;
        c.categories = vec![Category::Esol];
        let mut con = Template::LowWageEsolUpToLevel2
            .concession(c.level, &c.categories, 0)
            .expect("applies");
        con.conditions[1] = Condition::LowWage {
            max_annual_gross_pence: 2_886_000,
        };
        c.fees.concessions = vec![con.clone()];
        // Without a named rule set, the amount cannot be checked against anything.
        assert_eq!(course_fields(c.clone()), ["fees.concessions[0].conditions"]);
        c.funding_rules = Some(RuleSetId::Gla2026_27);
        assert_eq!(course_fields(c.clone()), Vec::<String>::new());
        // A different amount is not the template.
        c.funding_rules = Some(RuleSetId::Gla2025_26);
        assert_eq!(course_fields(c.clone()), ["fees.concessions[0].conditions"]);
        // As written by the template (threshold from the rule set) it is valid either way.
        c.fees.concessions = vec![
            Template::LowWageEsolUpToLevel2
                .concession(c.level, &c.categories, 0)
                .expect("applies"),
        ];
        assert_eq!(course_fields(c.clone()), Vec::<String>::new());
        c.funding_rules = None;
        assert_eq!(course_fields(c), Vec::<String>::new());
    }

    #[test]
    fn a_rule_set_without_a_published_threshold_makes_it_a_required_parameter() {
        let mut c = valid_course();
        c.level = Level::L1;
        c.categories = vec![Category::Digital];
        c.funding_rules = Some(RuleSetId::Esfa2026_27);
        let con = Template::LowWageUpToLevel2
            .concession(c.level, &c.categories, 0)
            .expect("applies");
        c.fees.concessions = vec![con.clone()];
        assert_eq!(
            course_fields(c.clone()),
            ["fees.concessions[0].conditions[1].max_annual_gross_pence"]
        );
        let mut stated = con;
        stated.conditions[1] = Condition::FundingLowWage {
            max_annual_gross_pence: Some(2_600_000),
        };
        c.fees.concessions = vec![stated];
        assert_eq!(course_fields(c), Vec::<String>::new());
    }

    #[test]
    fn a_gcse_condition_names_a_subject() {
        let mut c = valid_course();
        c.eligibility = vec![req(
            Condition::NoGcseGrade4 {
                english: false,
                maths: false,
            },
            vec![],
        )];
        assert_eq!(course_fields(c), ["eligibility[0].condition"]);
    }
}
