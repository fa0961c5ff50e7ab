//! HTTP on the gRPC port: the Open Referral UK 3.0 API, an RPDE change feed of services,
//! `/metrics`, `/healthz` and `/readyz`.
//!
//! It exists so that council and social-prescribing tools that read ORUK feeds, and the
//! admin's Prometheus and load balancer, can use a node without knowing gRPC, on the one port
//! a firewall has to open. Handlers only fetch records and filter/page them; the HSDS shape
//! comes from `prospectus-oruk`. Reads are open (the directory is public); every error is a
//! JSON body, 400 naming the bad parameter or 404 for an unknown id.

use crate::metrics;
use crate::peers::Fed;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, NaiveTime};
use prospectus_model::{Course, Provider, Record, RecordKind, Uuid, Venue, Weekday};
use prospectus_oruk::{self as oruk, Detail, Meta};

/// The funding rules ORUK cost options are described under for a course that names none:
/// this London node's default, the GLA set for the current academic year.
fn default_rules() -> prospectus_model::RuleSetId {
    prospectus_model::Context::london(prospectus_store::today())
        .rules_for(None)
        .id
}
use prospectus_search::Index;
use prospectus_store::Store;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const DEFAULT_PER_PAGE: u64 = 50;
const MAX_PER_PAGE: u64 = 1000;
const DEFAULT_FEED_LIMIT: usize = 500;
/// Search radius when `postcode` is given without `proximity`, in metres.
const DEFAULT_PROXIMITY_M: f64 = 5000.0;

/// What `/readyz` checks. Set by `node::start` as each part comes up.
#[derive(Default)]
pub struct Readiness {
    pub store_open: AtomicBool,
    pub index_built: AtomicBool,
    pub roster_loaded: AtomicBool,
}

#[derive(Clone)]
pub struct HttpState {
    pub store: Arc<Store>,
    pub index: Arc<Index>,
    pub fed: Arc<Fed>,
    pub ready: Arc<Readiness>,
    /// Scheme for absolute URLs (RPDE `next`).
    pub tls: bool,
    /// Results from an origin quiet for longer than this are marked stale.
    pub stale_after: std::time::Duration,
}

/// The HTTP routes (no fallback: `node` sets one that also answers unknown gRPC methods).
pub fn routes(state: HttpState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/services", get(services))
        .route("/services/{id}", get(service_by_id))
        .route("/organizations", get(organizations))
        .route("/organizations/{id}", get(organization_by_id))
        .route("/service_at_locations", get(service_at_locations))
        .route("/service_at_locations/{id}", get(service_at_location_by_id))
        .route("/taxonomies", get(taxonomies))
        .route("/taxonomies/{id}", get(taxonomy_by_id))
        .route("/taxonomy_terms", get(taxonomy_terms))
        .route("/taxonomy_terms/{id}", get(taxonomy_term_by_id))
        .route("/feeds/services", get(feed_services))
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::web::routes())
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
    ::metrics::counter!(metrics::REQUESTS, "kind" => "http", "route" => "unmatched", "status" => "404")
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
}

fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
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

type ApiResult = Result<Response, ApiError>;

fn json_response(v: Value) -> Response {
    axum::Json(v).into_response()
}

/// Runs blocking store work off the async threads.
async fn blocking<F>(f: F) -> ApiResult
where
    F: FnOnce() -> ApiResult + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("task: {e}")))?
}

// ---------------------------------------------------------------- parameters

/// Parsed query parameters. Unknown parameters are ignored (ORUK clients send extras).
#[derive(Debug, Default, Clone)]
struct Params {
    search: Vec<String>,
    page: u64,
    per_page: u64,
    taxonomy_term_id: Option<Uuid>,
    taxonomy_id: Option<Uuid>,
    organization_id: Option<Uuid>,
    modified_after: Option<i64>,
    minimal: bool,
    full: bool,
    full_service: bool,
    ndjson: bool,
    minimum_age: Option<u8>,
    maximum_age: Option<u8>,
    day: Option<Weekday>,
    start_time: Option<NaiveTime>,
    end_time: Option<NaiveTime>,
    postcode: Option<(f64, f64)>,
    proximity_m: Option<f64>,
    parent_id: Option<Uuid>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(name, format!("expected true or false, got {v:?}"))),
    }
}

fn parse_uuid(name: &str, v: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(v.trim()).map_err(|_| bad(name, format!("expected a UUID, got {v:?}")))
}

fn parse_time(name: &str, v: &str) -> Result<NaiveTime, ApiError> {
    let v = v.trim();
    NaiveTime::parse_from_str(v, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(v, "%H:%M:%S"))
        .map_err(|_| bad(name, format!("expected a time HH:MM, got {v:?}")))
}

fn parse_day(v: &str) -> Result<Weekday, ApiError> {
    let t = v.trim().to_ascii_lowercase();
    Weekday::ALL
        .iter()
        .copied()
        .find(|d| {
            let s = d.as_str();
            let label = d.label().to_ascii_lowercase();
            t == s || t == label || (t.len() == 2 && s.starts_with(&t))
        })
        .ok_or_else(|| {
            bad(
                "day",
                format!("expected a weekday (mon…sun, MO…SU or Monday…), got {v:?}"),
            )
        })
}

fn parse_datetime(name: &str, v: &str) -> Result<i64, ApiError> {
    let v = v.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis());
    }
    Err(bad(
        name,
        format!("expected an RFC 3339 date-time or YYYY-MM-DD, got {v:?}"),
    ))
}

fn parse_u64(name: &str, v: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(
            name,
            format!("expected an integer from {min} to {max}, got {v:?}"),
        )),
    }
}

fn parse_params(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Params, ApiError> {
    let Query(pairs) = q.map_err(|e| bad("query", e.body_text()))?;
    let mut p = Params {
        page: 1,
        per_page: DEFAULT_PER_PAGE,
        ..Default::default()
    };
    let mut postcode: Option<String> = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "search" | "text" => {
                p.search = v
                    .split_whitespace()
                    .map(|w| w.to_lowercase())
                    .filter(|w| !w.is_empty())
                    .collect()
            }
            "page" => p.page = parse_u64("page", v, 1, u64::from(u32::MAX))?,
            "per_page" => p.per_page = parse_u64("per_page", v, 1, MAX_PER_PAGE)?,
            "taxonomy_term_id" => p.taxonomy_term_id = Some(parse_uuid(k, v)?),
            "taxonomy_id" => p.taxonomy_id = Some(parse_uuid(k, v)?),
            "organization_id" => p.organization_id = Some(parse_uuid(k, v)?),
            "parent_id" => p.parent_id = Some(parse_uuid(k, v)?),
            "modified_after" => p.modified_after = Some(parse_datetime(k, v)?),
            "minimal" => p.minimal = parse_bool(k, v)?,
            "full" => p.full = parse_bool(k, v)?,
            "full_service" => p.full_service = parse_bool(k, v)?,
            "format" => {
                p.ndjson = match v.trim().to_ascii_lowercase().as_str() {
                    "json" | "" => false,
                    "ndjson" => true,
                    _ => return Err(bad("format", format!("expected json or ndjson, got {v:?}"))),
                }
            }
            "minimum_age" => p.minimum_age = Some(parse_u64(k, v, 0, 150)? as u8),
            "maximum_age" => p.maximum_age = Some(parse_u64(k, v, 0, 150)? as u8),
            "day" => p.day = Some(parse_day(v)?),
            "start_time" => p.start_time = Some(parse_time(k, v)?),
            "end_time" => p.end_time = Some(parse_time(k, v)?),
            "postcode" => postcode = Some(v.clone()),
            "proximity" => {
                let m: f64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .ok_or_else(|| bad("proximity", format!("expected metres > 0, got {v:?}")))?;
                p.proximity_m = Some(m);
            }
            _ => {}
        }
    }
    if let (Some(a), Some(b)) = (p.minimum_age, p.maximum_age)
        && a > b
    {
        return Err(bad("minimum_age", "minimum_age is above maximum_age"));
    }
    if let Some(pc) = postcode {
        let c = prospectus_geo::postcode_centroid(&pc)
            .map_err(|e| bad("postcode", format!("{pc:?}: {e}")))?;
        p.postcode = Some((c.lat, c.lon));
    } else if p.proximity_m.is_some() {
        return Err(bad("proximity", "proximity needs a postcode"));
    }
    Ok(p)
}

// ---------------------------------------------------------------- data access

/// Providers and venues in memory, plus live courses with their metadata, for one request.
struct Snapshot {
    providers: HashMap<Uuid, Provider>,
    venues: HashMap<Uuid, Venue>,
    /// In course-id order.
    courses: Vec<(Course, Meta)>,
}

impl oruk::Records for Snapshot {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        self.providers.get(&id).cloned()
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        self.venues.get(&id).cloned()
    }
}

impl Snapshot {
    fn load(store: &Store, with_courses: bool) -> Result<Snapshot, ApiError> {
        let mut providers = HashMap::new();
        for s in store.scan(RecordKind::Provider) {
            if let Some(Record::Provider(p)) = s?.record {
                providers.insert(p.id, p);
            }
        }
        let mut venues = HashMap::new();
        for s in store.scan(RecordKind::Venue) {
            if let Some(Record::Venue(v)) = s?.record {
                venues.insert(v.id, v);
            }
        }
        let mut courses = Vec::new();
        if with_courses {
            for s in store.scan(RecordKind::Course) {
                let s = s?;
                if let Some(Record::Course(c)) = s.record {
                    courses.push((
                        c,
                        Meta {
                            origin: s.origin,
                            modified_millis: s.unix_millis,
                            default_rules: default_rules(),
                        },
                    ));
                }
            }
            courses.sort_by_key(|(c, _)| c.id);
        }
        Ok(Snapshot {
            providers,
            venues,
            courses,
        })
    }
}

/// Single-record lookups straight from the store.
struct StoreRecords<'a>(&'a Store);

impl oruk::Records for StoreRecords<'_> {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        match self.0.get_live(RecordKind::Provider, id).ok()??.record? {
            Record::Provider(p) => Some(p),
            _ => None,
        }
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        match self.0.get_live(RecordKind::Venue, id).ok()??.record? {
            Record::Venue(v) => Some(v),
            _ => None,
        }
    }
}

/// Store lookups remembered for one request (a feed page repeats providers and venues).
struct CachedRecords<'a> {
    store: StoreRecords<'a>,
    providers: RefCell<HashMap<Uuid, Option<Provider>>>,
    venues: RefCell<HashMap<Uuid, Option<Venue>>>,
}

impl<'a> CachedRecords<'a> {
    fn new(store: &'a Store) -> Self {
        CachedRecords {
            store: StoreRecords(store),
            providers: RefCell::default(),
            venues: RefCell::default(),
        }
    }
}

impl oruk::Records for CachedRecords<'_> {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        self.providers
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| self.store.provider(id))
            .clone()
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        self.venues
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| self.store.venue(id))
            .clone()
    }
}

fn live_course(store: &Store, id: Uuid) -> Result<Option<(Course, Meta)>, ApiError> {
    Ok(match store.get_live(RecordKind::Course, id)? {
        Some(s) => match s.record {
            Some(Record::Course(c)) => Some((
                c,
                Meta {
                    origin: s.origin,
                    modified_millis: s.unix_millis,
                    default_rules: default_rules(),
                },
            )),
            _ => None,
        },
        None => None,
    })
}

fn path_id(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    // An id that is not a UUID cannot name anything here: 404, like an unknown UUID.
    Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::NotFound(format!("no {what} with id {raw:?}")))
}

// ---------------------------------------------------------------- filtering

fn matches_text(words: &[String], hay: &[&str]) -> bool {
    if words.is_empty() {
        return true;
    }
    let text = hay.join(" ").to_lowercase();
    words.iter().all(|w| text.contains(w.as_str()))
}

fn course_matches(p: &Params, c: &Course, meta: &Meta, snap: &Snapshot) -> bool {
    if p.organization_id.is_some_and(|o| o != c.provider_id) {
        return false;
    }
    if p.modified_after.is_some_and(|t| meta.modified_millis < t) {
        return false;
    }
    if p.taxonomy_term_id.is_some() || p.taxonomy_id.is_some() {
        let terms = oruk::course_terms(c);
        if let Some(t) = p.taxonomy_term_id
            && !terms.iter().any(|x| x.id() == t)
        {
            return false;
        }
        if let Some(t) = p.taxonomy_id
            && !terms.iter().any(|x| x.taxonomy.id() == t)
        {
            return false;
        }
    }
    if p.minimum_age.is_some() || p.maximum_age.is_some() {
        // The course's age range must overlap the requested one.
        let (lo, hi) = oruk::age_range(c);
        if let (Some(want_lo), Some(hi)) = (p.minimum_age, hi)
            && hi < want_lo
        {
            return false;
        }
        if let (Some(want_hi), Some(lo)) = (p.maximum_age, lo)
            && lo > want_hi
        {
            return false;
        }
    }
    if (p.day.is_some() || p.start_time.is_some() || p.end_time.is_some())
        && !c.runs.iter().any(|r| run_matches(p, r))
    {
        return false;
    }
    if p.postcode.is_some()
        && !c
            .runs
            .iter()
            .any(|r| within(p, snap.venues.get(&r.venue_id)))
    {
        return false;
    }
    if !p.search.is_empty() {
        let provider = snap
            .providers
            .get(&c.provider_id)
            .map(|x| x.name.as_str())
            .unwrap_or("");
        if !matches_text(&p.search, &[&c.title, &c.description, provider]) {
            return false;
        }
    }
    true
}

fn run_matches(p: &Params, r: &prospectus_model::Run) -> bool {
    p.day.is_none_or(|d| r.days.contains(&d))
        && p.start_time.is_none_or(|t| r.start_time >= t)
        && p.end_time.is_none_or(|t| r.end_time <= t)
}

fn within(p: &Params, v: Option<&Venue>) -> bool {
    let Some((lat, lon)) = p.postcode else {
        return true;
    };
    let Some(ll) = v.and_then(|v| v.location) else {
        return false;
    };
    let km = prospectus_geo::haversine_km(
        prospectus_model::LatLon { lat, lon },
        prospectus_model::LatLon {
            lat: ll.lat,
            lon: ll.lon,
        },
    );
    km * 1000.0 <= p.proximity_m.unwrap_or(DEFAULT_PROXIMITY_M)
}

/// A page (or the whole list as NDJSON) of `items`.
fn paged<T>(p: &Params, items: Vec<T>, project: impl Fn(&T) -> Value) -> Response {
    if p.ndjson {
        let mut body = String::new();
        for v in &items {
            body.push_str(&project(v).to_string());
            body.push('\n');
        }
        return ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
    }
    // Only the requested page is projected.
    let total = items.len() as u64;
    let skip = (p.page - 1).saturating_mul(p.per_page);
    let contents: Vec<Value> = items
        .iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(p.per_page as usize)
        .map(project)
        .collect();
    json_response(oruk::page(contents, total, p.page, p.per_page))
}

// ---------------------------------------------------------------- handlers

#[tracing::instrument(skip_all)]
async fn root(headers: HeaderMap) -> Response {
    // A browser (asking for HTML first) is sent to the link worker's page; JSON clients get
    // the ORUK API details as before.
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().starts_with("text/html"));
    if wants_html {
        return axum::response::Redirect::to("/find").into_response();
    }
    json_response(oruk::api_details())
}

#[tracing::instrument(skip_all)]
async fn services(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    blocking(move || {
        let snap = Snapshot::load(&st.store, true)?;
        let detail = if p.minimal {
            Detail::Minimal
        } else if p.full {
            Detail::Full
        } else {
            Detail::Summary
        };
        let items: Vec<&(Course, Meta)> = snap
            .courses
            .iter()
            .filter(|(c, m)| course_matches(&p, c, m, &snap))
            .collect();
        Ok(paged(&p, items, |(c, m)| {
            oruk::service(c, m, &snap, detail)
        }))
    })
    .await
}

#[tracing::instrument(skip_all, fields(id = %raw))]
async fn service_by_id(State(st): State<HttpState>, Path(raw): Path<String>) -> ApiResult {
    let id = path_id("service", &raw)?;
    blocking(move || {
        let (c, meta) = live_course(&st.store, id)?
            .ok_or_else(|| ApiError::NotFound(format!("no service with id {id}")))?;
        Ok(json_response(oruk::service(
            &c,
            &meta,
            &StoreRecords(&st.store),
            Detail::Full,
        )))
    })
    .await
}

#[tracing::instrument(skip_all)]
async fn organizations(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    blocking(move || {
        let snap = Snapshot::load(&st.store, p.full_service)?;
        let mut providers: Vec<&Provider> = snap
            .providers
            .values()
            .filter(|x| {
                let desc = x.description.as_deref().unwrap_or("");
                matches_text(&p.search, &[&x.name, desc])
            })
            .collect();
        providers.sort_by_key(|x| x.id);
        let detail = if p.full || p.full_service {
            Detail::Full
        } else {
            Detail::Summary
        };
        Ok(paged(&p, providers, |x| {
            let mut v = oruk::organization(x, detail);
            if p.full_service {
                let svcs: Vec<Value> = snap
                    .courses
                    .iter()
                    .filter(|(c, _)| c.provider_id == x.id)
                    .map(|(c, m)| oruk::service(c, m, &snap, Detail::Full))
                    .collect();
                v["services"] = Value::Array(svcs);
            }
            v
        }))
    })
    .await
}

#[tracing::instrument(skip_all, fields(id = %raw))]
async fn organization_by_id(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id = path_id("organization", &raw)?;
    let p = parse_params(q)?;
    blocking(move || {
        let provider = StoreRecords(&st.store)
            .provider_live(id)
            .ok_or_else(|| ApiError::NotFound(format!("no organization with id {id}")))?;
        let snap = Snapshot::load(&st.store, true)?;
        let detail = if p.full_service {
            Detail::Full
        } else {
            Detail::Summary
        };
        let svcs: Vec<Value> = snap
            .courses
            .iter()
            .filter(|(c, _)| c.provider_id == id)
            .map(|(c, m)| oruk::service(c, m, &snap, detail))
            .collect();
        let mut v = oruk::organization(&provider, Detail::Full);
        v["services"] = Value::Array(svcs);
        Ok(json_response(v))
    })
    .await
}

impl StoreRecords<'_> {
    fn provider_live(&self, id: Uuid) -> Option<Provider> {
        oruk::Records::provider(self, id)
    }
}

fn sal_json(
    c: &Course,
    run: &prospectus_model::Run,
    meta: &Meta,
    recs: &dyn oruk::Records,
    full: bool,
) -> Value {
    let venue = recs.venue(run.venue_id);
    let mut v = oruk::service_at_location(c, run, venue.as_ref(), full);
    v["service"] = oruk::service(c, meta, recs, Detail::Summary);
    v
}

#[tracing::instrument(skip_all)]
async fn service_at_locations(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    blocking(move || {
        let snap = Snapshot::load(&st.store, true)?;
        let mut items = Vec::new();
        for (c, m) in &snap.courses {
            if !course_matches(&p, c, m, &snap) {
                continue;
            }
            for run in &c.runs {
                if !run_matches(&p, run) || !within(&p, snap.venues.get(&run.venue_id)) {
                    continue;
                }
                items.push((c, run, m));
            }
        }
        Ok(paged(&p, items, |(c, run, m)| {
            sal_json(c, run, m, &snap, p.full)
        }))
    })
    .await
}

#[tracing::instrument(skip_all, fields(id = %raw))]
async fn service_at_location_by_id(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = path_id("service_at_location", &raw)?;
    blocking(move || {
        // A run id is not indexed on its own: find the course that has it.
        for s in st.store.scan(RecordKind::Course) {
            let s = s?;
            if let Some(Record::Course(c)) = &s.record
                && let Some(run) = c.runs.iter().find(|r| r.id == id)
            {
                let meta = Meta {
                    origin: s.origin.clone(),
                    modified_millis: s.unix_millis,
                    default_rules: default_rules(),
                };
                return Ok(json_response(sal_json(
                    c,
                    run,
                    &meta,
                    &StoreRecords(&st.store),
                    true,
                )));
            }
        }
        Err(ApiError::NotFound(format!(
            "no service_at_location with id {id}"
        )))
    })
    .await
}

#[tracing::instrument(skip_all)]
async fn taxonomies(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> ApiResult {
    let p = parse_params(q)?;
    let items = oruk::TAXONOMIES
        .iter()
        .filter(|t| matches_text(&p.search, &[t.name, t.description, t.key]))
        .collect::<Vec<_>>();
    Ok(paged(&p, items, |t| t.to_json(p.full)))
}

#[tracing::instrument(skip_all, fields(id = %raw))]
async fn taxonomy_by_id(Path(raw): Path<String>) -> ApiResult {
    let id = path_id("taxonomy", &raw)?;
    oruk::taxonomy_by_id(id)
        .map(|t| json_response(t.to_json(true)))
        .ok_or_else(|| ApiError::NotFound(format!("no taxonomy with id {id}")))
}

#[tracing::instrument(skip_all)]
async fn taxonomy_terms(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> ApiResult {
    let p = parse_params(q)?;
    let items = oruk::all_terms()
        .into_iter()
        .filter(|t| p.taxonomy_id.is_none_or(|x| t.taxonomy.id() == x))
        // Every term is top-level: none has a parent.
        .filter(|_| p.parent_id.is_none())
        .filter(|t| matches_text(&p.search, &[t.label, t.key]))
        .collect::<Vec<_>>();
    Ok(paged(&p, items, |t| t.to_json()))
}

#[tracing::instrument(skip_all, fields(id = %raw))]
async fn taxonomy_term_by_id(Path(raw): Path<String>) -> ApiResult {
    let id = path_id("taxonomy_term", &raw)?;
    oruk::term_by_id(id)
        .map(|t| json_response(t.to_json()))
        .ok_or_else(|| ApiError::NotFound(format!("no taxonomy_term with id {id}")))
}

/// RPDE feed of services. `modified` is this node's local change-feed position (an integer,
/// strictly increasing, never a wall clock), `id` the course id: following `next` from the
/// start visits every course's latest state once, deletions included.
#[tracing::instrument(skip_all)]
async fn feed_services(
    State(st): State<HttpState>,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let Query(pairs) = q.map_err(|e| bad("query", e.body_text()))?;
    let mut after: u64 = 0;
    let mut after_id: Option<Uuid> = None;
    let mut limit = DEFAULT_FEED_LIMIT;
    for (k, v) in &pairs {
        match k.as_str() {
            "afterTimestamp" => after = parse_u64(k, v, 0, u64::MAX)?,
            "afterId" => after_id = Some(parse_uuid(k, v)?),
            "limit" => limit = parse_u64(k, v, 1, MAX_PER_PAGE)? as usize,
            _ => {}
        }
    }
    if after_id.is_some() && !pairs.iter().any(|(k, _)| k == "afterTimestamp") {
        return Err(bad("afterId", "afterId needs afterTimestamp"));
    }
    let scheme = if st.tls { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    blocking(move || {
        let mut items = Vec::new();
        let mut pos = after;
        let mut last: Option<(u64, Uuid)> = None;
        let recs = CachedRecords::new(&st.store);
        'scan: loop {
            let chunk = st
                .store
                .changes_after(pos, 1000)
                .map_err(|e| match e.into() {
                    ApiError::FeedExpired { message, .. } => ApiError::FeedExpired {
                        message,
                        restart: format!("{scheme}://{host}/feeds/services"),
                    },
                    other => other,
                })?;
            if chunk.is_empty() {
                break;
            }
            for it in chunk {
                pos = it.pos;
                if it.kind != RecordKind::Course {
                    continue;
                }
                let mut item = json!({
                    "id": it.id.to_string(),
                    "kind": "Service",
                    "modified": it.pos,
                });
                // A position whose record is gone (removed by a snapshot re-sync, or unreadable)
                // is a deletion.
                match it
                    .stored
                    .and_then(|s| s.record.map(|r| (r, s.origin, s.unix_millis)))
                {
                    Some((Record::Course(c), origin, modified_millis)) => {
                        let meta = Meta {
                            origin,
                            modified_millis,
                            default_rules: default_rules(),
                        };
                        item["state"] = json!("updated");
                        item["data"] = oruk::service(&c, &meta, &recs, Detail::Full);
                    }
                    Some(_) => continue,
                    None => item["state"] = json!("deleted"),
                }
                last = Some((it.pos, it.id));
                items.push(item);
                if items.len() >= limit {
                    break 'scan;
                }
            }
        }
        let (next_ts, next_id) = match (last, after_id) {
            (Some((t, id)), _) => (t, Some(id)),
            (None, id) => (after, id),
        };
        let mut next = format!("{scheme}://{host}/feeds/services?afterTimestamp={next_ts}");
        if let Some(id) = next_id {
            next.push_str(&format!("&afterId={id}"));
        }
        if limit != DEFAULT_FEED_LIMIT {
            next.push_str(&format!("&limit={limit}"));
        }
        Ok(json_response(json!({
            "next": next,
            "items": items,
            "license": "https://creativecommons.org/licenses/by/4.0/",
        })))
    })
    .await
}

#[tracing::instrument(skip_all)]
async fn metrics_text(State(st): State<HttpState>) -> Response {
    let Some(handle) = metrics::handle() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    let st2 = st.clone();
    let gauges = tokio::task::spawn_blocking(move || scrape_gauges(&st2)).await;
    if let Ok(Err(e)) | Err(e) = gauges.map_err(|e| e.to_string()) {
        tracing::warn!(error = %e, "metrics gauges");
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// State gauges, computed at scrape time.
fn scrape_gauges(st: &HttpState) -> Result<(), String> {
    ::metrics::gauge!("prospectus_index_courses").set(st.index.len() as f64);
    let bytes = st.store.size_on_disk().map_err(|e| e.to_string())?;
    ::metrics::gauge!("prospectus_store_bytes").set(bytes as f64);
    let best = st.fed.heads.all();
    let own = st.store.origin().to_string();
    for o in st.store.origins().map_err(|e| e.to_string())? {
        let labels = [("origin", o.origin.clone())];
        ::metrics::gauge!("prospectus_origin_live_records", &labels).set(o.live_count as f64);
        ::metrics::gauge!("prospectus_origin_seq", &labels).set(o.seq as f64);
        if o.origin == own && !st.fed.recovering.load(Ordering::SeqCst) {
            continue;
        }
        let lag = lag(best.get(&o.origin).copied(), (o.epoch, o.seq));
        ::metrics::gauge!(metrics::LAG, &labels).set(lag as f64);
    }
    // Origins a peer reported that this node holds nothing of yet.
    for (origin, head) in best {
        if origin != own
            && st
                .store
                .origin_info(&origin)
                .map(|i| i.seq == 0 && i.epoch == 0)
                .unwrap_or(true)
        {
            ::metrics::gauge!(metrics::LAG, "origin" => origin).set(lag(Some(head), (0, 0)) as f64);
        }
    }
    Ok(())
}

/// Entries between what this node holds and the best head a peer reported. Across an epoch
/// change the whole new epoch is counted (its entries are numbered from 1).
fn lag(best: Option<(u64, u64)>, held: (u64, u64)) -> u64 {
    match best {
        None => 0,
        Some(b) if b <= held => 0,
        Some((be, bs)) if be == held.0 => bs - held.1,
        Some((_, bs)) => bs,
    }
}

async fn healthz() -> Response {
    json_response(json!({"status": "ok"}))
}

async fn readyz(State(st): State<HttpState>) -> Response {
    let store = st.ready.store_open.load(Ordering::SeqCst);
    let index = st.ready.index_built.load(Ordering::SeqCst);
    let roster = st.ready.roster_loaded.load(Ordering::SeqCst);
    let ready = store && index && roster;
    let body = json!({
        "ready": ready,
        "store_open": store,
        "index_built": index,
        "roster_loaded": roster,
        "restoring_own_origin": st.fed.recovering.load(Ordering::SeqCst),
        "index_courses": st.index.len(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_entries_behind() {
        assert_eq!(lag(None, (1, 5)), 0);
        assert_eq!(lag(Some((1, 5)), (1, 5)), 0);
        assert_eq!(lag(Some((1, 9)), (1, 5)), 4);
        assert_eq!(lag(Some((2, 3)), (1, 5)), 3);
        assert_eq!(lag(Some((1, 3)), (1, 5)), 0);
    }

    #[test]
    fn days_parse_in_every_spelling() {
        for s in ["mon", "MO", "Monday", "monday"] {
            assert_eq!(parse_day(s).ok(), Some(Weekday::Mon), "{s}");
        }
        assert!(parse_day("funday").is_err());
    }
}
