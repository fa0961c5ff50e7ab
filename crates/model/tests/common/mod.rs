//! Shared fixtures for the model crate's integration tests.
#![allow(dead_code)]

use chrono::{NaiveDate, NaiveTime};
use prospectus_model::{
    Category, Concession, Condition, Course, DeliveryMode, Document, Fees, LearnerProfile, Level,
    Requirement, Run, Start, Uuid, Weekday,
};
use prospectus_model::{Context, Evaluation, RuleSetId, evaluate};

pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

pub fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time")
}

pub fn run(n: u128) -> Run {
    Run {
        id: uuid(0x1000 + n),
        venue_id: uuid(0x2000),
        start: Start::On(date(2025, 9, 15)),
        days: vec![Weekday::Mon, Weekday::Wed],
        start_time: time(10, 0),
        end_time: time(12, 0),
        weeks: Some(10),
        places_left: Some(8),
        waiting_weeks: None,
    }
}

/// A course that passes validation, with no concessions and no eligibility conditions.
pub fn valid_course() -> Course {
    Course {
        id: uuid(1),
        provider_id: uuid(2),
        title: "Functional Skills Maths".into(),
        description: "Everyday maths for work and life.".into(),
        categories: vec![Category::Maths],
        level: Level::L2,
        delivery: DeliveryMode::Classroom,
        mental_health_focus: false,
        support: vec![],
        language: "en".into(),
        runs: vec![run(1)],
        fees: Fees {
            full_fee_pence: 30_000,
            concessions: vec![],
        },
        eligibility: vec![],
        url: Some("https://example.org/maths".into()),
        contact_email: Some("courses@example.org".into()),
        last_verified: date(2025, 6, 1),
        funding_rules: None,
    }
}

/// A course at `level` in `categories` costing `full` with the given concessions.
pub fn course_with(
    level: Level,
    categories: &[Category],
    full: u32,
    concessions: Vec<Concession>,
) -> Course {
    let mut c = valid_course();
    c.level = level;
    c.categories = categories.to_vec();
    c.fees = Fees {
        full_fee_pence: full,
        concessions,
    };
    c
}

pub fn concession(
    name: &str,
    conditions: Vec<Condition>,
    fee: u32,
    docs: Vec<Document>,
) -> Concession {
    Concession {
        name: name.into(),
        template: None,
        conditions,
        fee_pence: fee,
        documents: docs,
    }
}

pub fn req(condition: Condition, documents: Vec<Document>) -> Requirement {
    Requirement {
        condition,
        documents,
    }
}

pub fn nobody() -> LearnerProfile {
    LearnerProfile::default()
}

/// The question asked on 31 August 2025, the GLA 2025-26 reference date, so an `age` given is
/// exactly the age the funding rules ask.
pub fn ctx() -> Context {
    Context {
        today: date(2025, 8, 31),
        default_rules: Some(RuleSetId::Gla2025_26),
    }
}

/// `evaluate` in the fixed context above.
pub fn eval(course: &Course, learner: &LearnerProfile) -> Evaluation {
    evaluate(course, learner, &ctx())
}
