//! HTTP on the gRPC port: the Open Referral UK 3.0 API, an RPDE change feed of services,
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! It exists so that council and social-prescribing tools that read ORUK feeds, and the
//! admin's Prometheus and load balancer, can use a node without knowing gRPC, on the one port
//! a firewall has to open. ORUK handlers answer from the search index (never the store); the
//! HSDS shape comes from `prospectus-oruk`. Reads are open (the directory is public); every
//! error is a JSON body, 400 naming the bad parameter or 404 for an unknown id.
//!
//! The edge is tower's, configured from one [`Limits`]: the API routes shed load past
//! `http_concurrency` (503 + `Retry-After` at once, never a queue) and time out; every route
//! has the body limit (413), compression when asked (gzip, br) and JSON errors; the node adds
//! CORS over everything.

mod blocking;
mod cache;
mod error;
mod feed;
mod health;
mod oruk;
mod params;
mod projected;
mod records;
mod web;

pub use blocking::Blocking;
pub use health::Readiness;
pub use projected::ProjectedCache;
pub use web::OverviewCache;

use crate::config::Limits;
use crate::peers::Fed;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::{ApiError, ApiResult};
use prospectus_search::Index;
use prospectus_store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;

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
    /// Base of absolute links (RPDE `next`), without a trailing `/`: the configured public
    /// URL, never a request's `Host`.
    pub public_url: String,
    /// Random per start; part of every ETag.
    pub boot: u64,
    /// Results from an origin quiet for longer than this are marked stale.
    pub stale_after: Duration,
    /// Permits for blocking work, sized from `Limits::http_concurrency`.
    pub blocking: Blocking,
    /// `/find/overview` rows per category, kept for one catalog generation.
    pub overview: OverviewCache,
    /// Projected ORUK list items, kept while their course's entry is current.
    pub projected: ProjectedCache,
}

/// The HTTP routes with their edge (no fallback: `node` sets one that also answers unknown
/// gRPC methods).
pub fn routes(state: HttpState, limits: &Limits) -> Router {
    let timeout = Duration::from_millis(limits.http_timeout_ms.max(1));
    let api = Router::new()
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
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cache::conditional,
        ))
        .route("/feeds/services", get(feed::feed_services))
        // The link worker's page: shed and timed like the API, never cached (no-store).
        .merge(web::routes())
        // One semaphore for every API route; a request finding none free is refused at once.
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(error::edge_error))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(
                    limits.http_concurrency.max(1),
                ))
                .timeout(timeout),
        );
    // Health and metrics are not shed: the load balancer and Prometheus must see an overloaded
    // node as alive.
    let ops = Router::new()
        .route("/metrics", get(health::metrics_text))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(error::edge_error))
                .timeout(timeout),
        );
    api.merge(ops)
        .with_state(state)
        .layer(CompressionLayer::new().gzip(true).br(true))
        .layer(RequestBodyLimitLayer::new(limits.http_body_bytes))
        .layer(axum::middleware::from_fn(error::json_errors))
}

/// Open CORS (reads are public): preflights answered, ETag and Retry-After readable by pages.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([header::ETAG, header::LAST_MODIFIED, header::RETRY_AFTER])
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
    ApiError::NotFound(format!(
        "no such path {}",
        prospectus_model::shown(req.uri().path())
    ))
    .into_response()
}

pub(super) fn json_response(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// Runs blocking store work off the async threads, within the blocking permits.
pub(super) async fn blocking<F>(pool: Blocking, f: F) -> ApiResult
where
    F: FnOnce() -> ApiResult + Send + 'static,
{
    match pool.run(f).await {
        Ok(r) => r,
        Err(blocking::Refused::Overloaded) => Err(ApiError::Overloaded),
        Err(blocking::Refused::Failed(e)) => Err(ApiError::Internal(format!("task: {e}"))),
    }
}
