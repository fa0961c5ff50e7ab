//! The JSON error body every HTTP failure answers with, so a client never has to parse text.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prospectus_model::{Uuid, shown};
use serde_json::json;

/// Errors as JSON bodies.
#[derive(Debug)]
pub enum ApiError {
    BadParam {
        parameter: String,
        message: String,
    },
    NotFound(String),
    /// A change-feed consumer positioned before the feed floor: it must start again from
    /// `restart` (the first page) with an empty copy.
    FeedExpired {
        message: String,
        restart: String,
    },
    Internal(String),
    /// Every permit for blocking work is held by work still running: the shedding layer's 503.
    Overloaded,
}

pub(super) fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
    ApiError::BadParam {
        parameter: parameter.to_string(),
        message: message.into(),
    }
}

impl From<prospectus_store::StoreError> for ApiError {
    fn from(e: prospectus_store::StoreError) -> Self {
        match e {
            e @ prospectus_store::StoreError::FeedBeyond { .. } => {
                bad("afterTimestamp", e.to_string())
            }
            e @ prospectus_store::StoreError::FeedExpired { .. } => ApiError::FeedExpired {
                message: e.to_string(),
                restart: "/feeds/services".into(),
            },
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Overloaded => return overloaded(),
            ApiError::BadParam { parameter, message } => (
                StatusCode::BAD_REQUEST,
                json!({"error": "bad_parameter", "parameter": parameter, "message": message}),
            ),
            ApiError::NotFound(m) => (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "message": m}),
            ),
            ApiError::FeedExpired { message, restart } => (
                StatusCode::GONE,
                json!({"error": "feed_expired", "message": message, "restart": restart}),
            ),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "http request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": "internal", "message": "internal error; see the node's log"}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;

pub(super) fn path_id(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    // An id that is not a UUID cannot name anything here: 404, like an unknown UUID.
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::NotFound(format!("no {what} with id {}", shown(raw))))
}

/// What the edge refused before a handler ran (load shedding, timeout), as JSON. Overload and
/// timeout say when to come back (`Retry-After`), so clients back off instead of hammering.
pub(super) async fn edge_error(err: tower::BoxError) -> Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        overloaded()
    } else if err.is::<tower::timeout::error::Elapsed>() {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; retry shortly",
        )
    } else {
        tracing::error!(error = %err, "http edge failed");
        refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the node's log",
        )
    }
}

/// The answer to a request refused for overload, at the edge or for want of a blocking permit.
pub(super) fn overloaded() -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many requests in progress; retry shortly",
    )
}

fn refusal(status: StatusCode, error: &str, message: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({"error": error, "message": message})),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Longest part of a framework error text kept in the JSON message.
const MAX_MESSAGE_CHARS: usize = 200;

/// Turns every error the framework answers itself (405 wrong method, 400 undecodable path,
/// 413 body too large, …) into the same JSON shape as the handlers' errors. gRPC responses,
/// JSON bodies and the link worker's HTML pages (which explain their own errors) pass
/// untouched.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("application/grpc")
        || content_type.starts_with("text/html")
    {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text.chars().take(MAX_MESSAGE_CHARS).collect()
    };
    let mut out = (
        status,
        axum::Json(json!({"error": error, "message": message})),
    )
        .into_response();
    for h in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}
