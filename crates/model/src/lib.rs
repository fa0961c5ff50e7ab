//! The Prospectus data model: what a borough publishes about its adult-education offer, and the
//! rules that decide who may join a course and what they pay.
//!
//! This crate exists so that every other crate agrees on one meaning of a course. It is pure: no
//! I/O, no clocks (callers pass `today`), no wire formats. Serde derives are here only so offer
//! files and tests can write records as JSON; the replicated wire form lives in `prospectus-proto`.

mod course;
mod evaluate;
mod learner;
mod provider;
mod record;
mod rules;
mod validate;
mod venue;

pub use course::{Attendance, Category, Course, DeliveryMode, Level, Run, Start, Support, Weekday};
pub use evaluate::{
    AppliedConcession, Evaluation, PossibleConcession, Unmet, UnmetReason, evaluate,
};
pub use learner::{Employment, LearnerProfile, Residency};
pub use provider::Provider;
pub use record::{Record, RecordKind};
pub use rules::{
    Concession, Condition, Document, Fees, LOW_WAGE_THRESHOLD_PENCE, Requirement, Template,
    TemplateError,
};
pub use validate::{
    FieldViolation, MAX_CONCESSIONS, MAX_CONDITIONS, MAX_LIST, MAX_RUNS, MAX_VIOLATIONS,
    ValidationErrors, Violations, is_valid_postcode, validate_record,
};
pub use venue::{Accessibility, Address, LatLon, Venue};

/// Record ids are UUIDs assigned by the origin borough and never rewritten.
pub use uuid::Uuid;
