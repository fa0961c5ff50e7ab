//! The one boundary where typed library errors become gRPC statuses. Field problems become
//! `INVALID_ARGUMENT` carrying `google.rpc.BadRequest` field violations.

use prospectus_model::ValidationErrors;
use prospectus_search::SearchError;
use prospectus_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Violations one status carries, and the characters of each field path and description: a
/// status travels in HTTP/2 trailers, and every gRPC C-core client (Python, C#, Ruby, PHP, C++)
/// refuses trailers over 16 kB (and may refuse them from 8 kB, its soft limit), seeing only
/// `RESOURCE_EXHAUSTED`. At these caps message and `google.rpc.BadRequest` details (base64 in
/// `grpc-status-details-bin`) stay under ~5 kB whatever the input.
const WIRE_VIOLATIONS: usize = 10;
const WIRE_FIELD_CHARS: usize = 100;
const WIRE_TEXT_CHARS: usize = 160;
/// Longest status message of any kind.
const WIRE_MESSAGE_CHARS: usize = 400;

/// `s` cut after `max` characters, marked with "…".
fn clip(s: &str, max: usize) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// A status whose message is bounded (it may carry text a client sent).
fn short(code: Code, message: impl AsRef<str>) -> Status {
    Status::new(code, clip(message.as_ref(), WIRE_MESSAGE_CHARS))
}

/// Field violations as `INVALID_ARGUMENT`, at most `WIRE_VIOLATIONS` of them (then "… and K
/// more"), each cut short, so the answer never grows with a hostile input.
pub fn invalid(errors: &ValidationErrors) -> Status {
    let errors = errors.clone().capped_to(WIRE_VIOLATIONS);
    let total = errors.total();
    let list: Vec<(String, String)> = errors
        .0
        .iter()
        .map(|v| {
            (
                clip(&v.field, WIRE_FIELD_CHARS),
                clip(&v.description, WIRE_TEXT_CHARS),
            )
        })
        .collect();
    let mut details = ErrorDetails::new();
    for (field, description) in &list {
        details.add_bad_request_violation(field.clone(), description.clone());
    }
    let (field, description) = list.first().cloned().unwrap_or_default();
    let summary = match total {
        1 => format!("{field}: {description}"),
        n => format!("{n} invalid fields, first {field}: {description}"),
    };
    Status::with_error_details(Code::InvalidArgument, summary, details)
}

pub fn invalid_field(field: &str, description: impl Into<String>) -> Status {
    invalid(&ValidationErrors(vec![prospectus_model::FieldViolation {
        field: field.to_string(),
        description: description.into(),
    }]))
}

pub fn store(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(v) => invalid(&v),
        StoreError::Forbidden { field, reason } => {
            short(Code::PermissionDenied, format!("{field}: {reason}"))
        }
        e @ StoreError::NotFound { .. } => short(Code::NotFound, e.to_string()),
        e @ StoreError::IdempotencyConflict(_) => short(Code::AlreadyExists, e.to_string()),
        e @ StoreError::FeedExpired { .. } => short(Code::FailedPrecondition, e.to_string()),
        e @ StoreError::FeedBeyond { .. } => invalid_field("after", e.to_string()),
        e => {
            tracing::error!(error = %e, "store failure");
            Status::internal("storage failure; see the node's log")
        }
    }
}

pub fn search(e: SearchError) -> Status {
    match e {
        SearchError::BadQuery { field, reason } => invalid_field(&field, reason),
        SearchError::Store(e) => store(e),
        e @ SearchError::Engine(_) => {
            tracing::error!(error = %e, "search failure");
            Status::internal("search failure; see the node's log")
        }
    }
}

/// A refused or dropped long-lived stream.
pub fn stream(e: crate::streams::StreamError) -> Status {
    use crate::streams::StreamError as E;
    match e {
        e @ E::TooManySnapshotOrigins { .. } => invalid_field("snapshot_origins", e.to_string()),
        e => short(Code::ResourceExhausted, e.to_string()),
    }
}

pub fn join(e: tokio::task::JoinError) -> Status {
    tracing::error!(error = %e, "worker task failed");
    Status::internal("worker task failed")
}

/// A publish while the join gate is closed: `UNAVAILABLE` (retry later) saying why.
pub fn joining(why: &str) -> Status {
    Status::unavailable(format!("this node does not publish yet: {why}"))
}
