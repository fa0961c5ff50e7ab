//! HTTP on the gRPC port: the Open Referral UK 3.0 API, an RPDE change feed of services,
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! It exists so that council and social-prescribing tools that read ORUK feeds, and the
//! admin's Prometheus and load balancer, can use a node without knowing gRPC, on the one port
//! a firewall has to open. Handlers only fetch records and filter/page them; the HSDS shape
//! comes from `prospectus-oruk`. Reads are open (the directory is public); every error is a
//! JSON body, 400 naming the bad parameter or 404 for an unknown id.

mod error;
mod feed;
mod health;
mod oruk;
mod params;
mod records;

pub use health::Readiness;

use crate::peers::Fed;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::{ApiError, ApiResult};
use prospectus_search::Index;
use prospectus_store::Store;
use serde_json::Value;
use std::sync::Arc;

/// The funding rules ORUK cost options are described under for a course that names none:
/// this London node's default, the GLA set for the current academic year.
pub(super) fn default_rules() -> prospectus_model::RuleSetId {
    prospectus_model::Context::london(prospectus_store::today())
        .rules_for(None)
        .id
}

#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<Store>,
    pub index: Arc<Index>,
    pub fed: Arc<Fed>,
    pub ready: Arc<Readiness>,
    /// Scheme for absolute URLs (RPDE `next`).
    pub tls: bool,
}

/// The HTTP routes (no fallback: `node` sets one that also answers unknown gRPC methods).
pub fn routes(state: HttpState) -> Router {
    Router::new()
        .route("/", get(oruk::root))
        .route("/services", get(oruk::services))
        .route("/services/{id}", get(oruk::service_by_id))
        .route("/organizations", get(oruk::organizations))
        .route("/organizations/{id}", get(oruk::organization_by_id))
        .route("/service_at_locations", get(oruk::service_at_locations))
        .route(
            "/service_at_locations/{id}",
            get(oruk::service_at_location_by_id),
        )
        .route("/taxonomies", get(oruk::taxonomies))
        .route("/taxonomies/{id}", get(oruk::taxonomy_by_id))
        .route("/taxonomy_terms", get(oruk::taxonomy_terms))
        .route("/taxonomy_terms/{id}", get(oruk::taxonomy_term_by_id))
        .route("/feeds/services", get(feed::feed_services))
        .route("/metrics", get(health::metrics_text))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

/// Fallback: unknown gRPC methods get gRPC `UNIMPLEMENTED`, anything else a JSON 404.
pub async fn fallback(req: Request) -> Response {
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    ::metrics::counter!(crate::metrics::REQUESTS, "kind" => "http", "route" => "unmatched", "status" => "404")
        .increment(1);
    ApiError::NotFound(format!("no such path {}", req.uri().path())).into_response()
}

/// Open CORS on HTTP responses (reads are public), and preflight answers.
pub async fn cors(req: Request, next: Next) -> Response {
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        return next.run(req).await;
    }
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    resp
}

pub(super) fn json_response(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// Runs blocking store work off the async threads.
pub(super) async fn blocking<F>(f: F) -> ApiResult
where
    F: FnOnce() -> ApiResult + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("task: {e}")))?
}
