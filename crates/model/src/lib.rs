//! The Prospectus data model: what a borough publishes about its adult-education offer, and the
//! rules that decide who may join a course and what they pay.
//!
//! This crate exists so that every other crate agrees on one meaning of a course. It is pure: no
//! I/O, no clocks (callers pass `today`), no wire formats. Serde derives are here only so offer
//! files and tests can write records as JSON; the replicated wire form lives in `prospectus-proto`.

mod course;
mod evaluate;
mod funding;
mod learner;
mod provider;
mod record;
mod rules;
mod validate;
mod venue;

pub use course::{
    Attendance, Category, Course, DeliveryMode, Level, Run, Start, Support, Weekday, parse_date,
    parse_time,
};
pub use evaluate::{
    Answer, AppliedConcession, Evaluation, PossibleConcession, Unmet, UnmetReason, evaluate,
};
pub use funding::{
    Cited, Context, Funder, GLA_LOW_WAGE_SINCE_2019_SOURCE, LLW_ANNUALISATION_SOURCE, RULE_SETS,
    RuleSet, RuleSetId, academic_year_of,
};
pub use learner::{Employment, Fact, LearnerProfile, Residency};
pub use provider::Provider;
pub use record::{Record, RecordKind};
pub use rules::{
    AgeBand, Concession, Condition, Document, Fees, Requirement, Template, TemplateError,
};
pub use validate::{
    FieldViolation, MAX_CONCESSIONS, MAX_CONDITIONS, MAX_LIST, MAX_RUNS, MAX_VIOLATIONS,
    RUN_WINDOW_YEARS, SHOWN_CHARS, ValidationErrors, Violations, is_valid_postcode, shown,
    validate_record, validate_record_at,
};
pub use venue::{Accessibility, Address, LatLon, Venue};

/// Record ids are UUIDs assigned by the origin borough and never rewritten.
pub use uuid::Uuid;
