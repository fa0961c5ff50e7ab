//! The one boundary where typed library errors become gRPC statuses. Field problems become
//! `INVALID_ARGUMENT` carrying `google.rpc.BadRequest` field violations.

use prospectus_model::ValidationErrors;
use prospectus_search::SearchError;
use prospectus_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Field violations as `INVALID_ARGUMENT`, at most `MAX_VIOLATIONS` of them (then "… and K
/// more"), so the answer never grows with a hostile input.
pub fn invalid(errors: &ValidationErrors) -> Status {
    let errors = &errors.clone().capped();
    let mut details = ErrorDetails::new();
    for v in &errors.0 {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    let summary = match errors.0.as_slice() {
        [one] => format!("{}: {}", one.field, one.description),
        many => format!(
            "{} invalid fields, first {}: {}",
            many.len(),
            many.first().map_or("", |v| v.field.as_str()),
            many.first().map_or("", |v| v.description.as_str())
        ),
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
            Status::permission_denied(format!("{field}: {reason}"))
        }
        e @ StoreError::NotFound { .. } => Status::not_found(e.to_string()),
        e @ StoreError::IdempotencyConflict(_) => Status::already_exists(e.to_string()),
        e @ StoreError::FeedExpired { .. } => Status::failed_precondition(e.to_string()),
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
        e => Status::resource_exhausted(e.to_string()),
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
