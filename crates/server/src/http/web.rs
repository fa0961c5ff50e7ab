//! The link worker's page on the node's own port, under `/find`: turns requests into
//! `prospectus_web` views (the index's answer, records from the store, the evaluator's answer)
//! and sets the headers that keep the page self-contained and private.
//!
//! Privacy: a client's circumstances come only in POST bodies (client fields in a GET are
//! ignored), are evaluated in memory and dropped; nothing here logs a form value, and every
//! page says `Cache-Control: no-store`. No page loads anything from anywhere but the node
//! (`Content-Security-Policy: default-src 'self'`) or sends a referrer.

use super::{Blocking, HttpState};
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveDate;
use prospectus_model::{
    Attendance, Category, Context, Course, DeliveryMode, Provider, Record, RecordKind, Uuid, Venue,
};
use prospectus_search::{Near, Query as IndexQuery, Sort};
use prospectus_store::Store;
use prospectus_web::{
    ClientForm, CoursePage, CourseView, Delivery, Facets, FormError, OverviewPage, ProvisionRow,
    Results, SearchForm, SearchPage, SheetPage, SortBy,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Results per page.
const PAGE_SIZE: usize = 20;
/// Most courses on one hand-out.
const MAX_SHEET: usize = 50;

type Pairs = Vec<(String, String)>;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/find", get(search).post(search))
        .route("/find/course/{id}", get(course).post(course))
        .route("/find/sheet", get(sheet).post(sheet))
        .route("/find/overview", get(overview))
        .route("/find/assets/{*path}", get(asset))
}

/// An HTML page with the headers every page carries.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(h);
    r
}

/// What every `/find` response says: nothing from elsewhere, no referrer, no framing.
fn secure(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

fn message(status: StatusCode, title: &str, body: &str) -> Response {
    html(status, prospectus_web::message(title, body))
}

fn unreadable() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "The form could not be read",
        "Go back and try again.",
    )
}

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sorry, there is a problem with the service",
        "Try again later.",
    )
}

/// Runs blocking work (index, store) off the async threads, within the blocking permits, and
/// renders its answer.
async fn blocking(pool: Blocking, f: impl FnOnce() -> Response + Send + 'static) -> Response {
    match pool.run(f).await {
        Ok(r) => r,
        Err(super::blocking::Refused::Overloaded) => super::error::overloaded(),
        Err(super::blocking::Refused::Failed(e)) => failed(format!("task: {e}")),
    }
}

fn today() -> NaiveDate {
    prospectus_store::today()
}

fn borough_name(gss: &str) -> &'static str {
    prospectus_geo::borough(gss).map_or("another borough", |b| b.name)
}

// ---------------------------------------------------------------- search

/// A page's form fields: the query string of a GET, the body of a POST. Only a POST may carry
/// a client's circumstances (`post`); a GET's client fields are never read.
struct Input {
    pairs: Pairs,
    post: bool,
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Input {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        if req.method() == axum::http::Method::POST {
            let Form(pairs) = Form::<Pairs>::from_request(req, state)
                .await
                .map_err(|_: FormRejection| unreadable())?;
            Ok(Input { pairs, post: true })
        } else {
            let (parts, _) = req.into_parts();
            let Query(pairs) = Query::<Pairs>::try_from_uri(&parts.uri)
                .map_err(|_: QueryRejection| unreadable())?;
            Ok(Input { pairs, post: false })
        }
    }
}

async fn search(State(st): State<HttpState>, Input { pairs, post }: Input) -> Response {
    blocking(st.blocking.clone(), move || {
        let (form, mut errors) = SearchForm::parse(&pairs);
        let client = if post {
            let (c, e) = ClientForm::parse(&pairs);
            errors.extend(e);
            c
        } else {
            None
        };
        let today = today();
        let asked = SearchForm::asked(&pairs) || client.is_some();
        let mut page = SearchPage {
            form: &form,
            client: client.as_ref(),
            errors,
            results: None,
            today,
        };
        if !asked || !page.errors.is_empty() {
            let status = if page.errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            return html(status, prospectus_web::search(&page));
        }
        let q = match index_query(&form, client.as_ref(), today) {
            Ok(q) => q,
            Err(e) => {
                page.errors.push(e);
                return html(StatusCode::BAD_REQUEST, prospectus_web::search(&page));
            }
        };
        let sort = q.sort;
        let paged = q.after.is_some();
        let found = match st.index.search(&q) {
            Ok(p) => p,
            Err(prospectus_search::SearchError::BadQuery { field, .. }) => {
                page.errors.push(FormError {
                    field: "q",
                    message: format!(
                        "That search could not be run ({field}); change it and try again"
                    ),
                });
                return html(StatusCode::BAD_REQUEST, prospectus_web::search(&page));
            }
            Err(e) => return failed(e),
        };
        let fresh = match crate::freshness::Freshness::load(&st.store, st.stale_after) {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let ctx = Context::london(today);
        let courses = found
            .hits
            .iter()
            .map(|h| {
                let e = &h.entry;
                CourseView {
                    course: &e.course,
                    provider: e.provider.as_deref(),
                    venues: e.venues.iter().map(|v| v.as_ref()).collect(),
                    origin_name: borough_name(&e.origin),
                    distance_km: h.distance_km,
                    next_start: h.next_start,
                    evaluation: h.evaluation.clone(),
                    rules: ctx.rules_for(e.course.funding_rules),
                    stale: fresh.is_stale(&e.origin),
                }
            })
            .collect();
        page.results = Some(Results {
            total: found.total,
            courses,
            facets: Facets {
                categories: found.facets.categories.clone(),
                boroughs: found
                    .facets
                    .boroughs
                    .iter()
                    .map(|(b, n)| (borough_name(b), *n))
                    .collect(),
            },
            next: found
                .next
                .as_ref()
                .map(|c| crate::directory::encode_token(sort, c)),
            paged,
        });
        html(StatusCode::OK, prospectus_web::search(&page))
    })
    .await
}

/// The page's query as the index's.
fn index_query(
    f: &SearchForm,
    client: Option<&ClientForm>,
    today: NaiveDate,
) -> Result<IndexQuery, FormError> {
    let sort = match f.sort {
        SortBy::Relevance => Sort::Relevance,
        SortBy::Distance => Sort::Distance,
        SortBy::Soonest => Sort::StartDate,
        SortBy::Cheapest => Sort::Fee,
    };
    let after = match &f.after {
        Some(t) => crate::directory::decode_token(t, sort).map_err(|_| FormError {
            field: "q",
            message: "That page of results has expired; search again".into(),
        })?,
        None => None,
    };
    let hour = |h: Option<u32>| h.and_then(|h| chrono::NaiveTime::from_hms_opt(h, 0, 0));
    let (from, to) = f.time.window();
    let (delivery, exclude_online) = match f.delivery {
        Some(Delivery::InPerson) => (vec![DeliveryMode::Classroom, DeliveryMode::Blended], true),
        Some(Delivery::Online) => (vec![DeliveryMode::Online, DeliveryMode::Blended], false),
        None => (Vec::new(), false),
    };
    let max_fee = match (f.free_only, f.max_fee_pounds) {
        (true, _) => Some(0),
        (false, Some(p)) => Some(p.saturating_mul(100)),
        (false, None) => None,
    };
    Ok(IndexQuery {
        text: f.text.clone(),
        categories: f.category.into_iter().collect(),
        delivery,
        exclude_online,
        attendance: f.attendance.clone(),
        days: f.days.clone(),
        time_from: hour(from),
        time_to: hour(to),
        starts_after: f.within_weeks.map(|_| today),
        starts_before: f
            .within_weeks
            .map(|w| today + chrono::Duration::weeks(i64::from(w))),
        flexible_start_only: f.rolling_only,
        max_fee_pence: max_fee,
        mental_health_only: f.mental_health,
        step_free_only: f.step_free,
        languages: if f.language.is_empty() {
            Vec::new()
        } else {
            vec![f.language.clone()]
        },
        near: (!f.postcode.is_empty()).then(|| Near::Postcode(f.postcode.clone())),
        radius_km: f.radius_km(),
        learner: client.map(ClientForm::profile),
        funding: Context::london(today),
        sort,
        after,
        limit: PAGE_SIZE,
        ..IndexQuery::default()
    })
}

// ---------------------------------------------------------------- course, sheet

/// A course with what the page shows beside it, read from the store.
struct Resolved {
    course: Course,
    origin: String,
    provider: Option<Provider>,
    venues: Vec<Venue>,
}

fn live<T>(store: &Store, kind: RecordKind, id: Uuid, pick: fn(Record) -> Option<T>) -> Option<T> {
    store.get_live(kind, id).ok()??.record.and_then(pick)
}

fn resolve(store: &Store, id: Uuid) -> Option<Resolved> {
    let stored = store.get_live(RecordKind::Course, id).ok()??;
    let Some(Record::Course(course)) = stored.record else {
        return None;
    };
    let provider = live(
        store,
        RecordKind::Provider,
        course.provider_id,
        |r| match r {
            Record::Provider(p) => Some(p),
            _ => None,
        },
    );
    let mut venues: Vec<Venue> = Vec::new();
    for run in &course.runs {
        if venues.iter().any(|v| v.id == run.venue_id) {
            continue;
        }
        if let Some(v) = live(store, RecordKind::Venue, run.venue_id, |r| match r {
            Record::Venue(v) => Some(v),
            _ => None,
        }) {
            venues.push(v);
        }
    }
    Some(Resolved {
        course,
        origin: stored.origin,
        provider,
        venues,
    })
}

fn view<'a>(
    r: &'a Resolved,
    client: Option<&ClientForm>,
    ctx: &Context,
    fresh: &crate::freshness::Freshness,
) -> CourseView<'a> {
    CourseView {
        course: &r.course,
        provider: r.provider.as_ref(),
        venues: r.venues.iter().collect(),
        origin_name: borough_name(&r.origin),
        distance_km: None,
        next_start: r.course.runs.iter().map(|run| run.start).min(),
        evaluation: client.map(|c| prospectus_model::evaluate(&r.course, &c.profile(), ctx)),
        rules: ctx.rules_for(r.course.funding_rules),
        stale: fresh.is_stale(&r.origin),
    }
}

/// The client described in a POST. One whose facts do not read is left out (the page then
/// shows no answer rather than an error: the search page is where the facts are corrected).
fn client_of(pairs: &Pairs, post: bool) -> Option<ClientForm> {
    if !post {
        return None;
    }
    let (client, errors) = ClientForm::parse(pairs);
    errors.is_empty().then_some(client).flatten()
}

fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Course not found",
        "It may have been withdrawn by its provider. Search again for similar courses.",
    )
}

async fn course(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
    Input { pairs, post }: Input,
) -> Response {
    let Ok(id) = Uuid::parse_str(&raw) else {
        return not_found();
    };
    blocking(st.blocking.clone(), move || {
        let client = client_of(&pairs, post);
        let Some(r) = resolve(&st.store, id) else {
            return not_found();
        };
        let fresh = match crate::freshness::Freshness::load(&st.store, st.stale_after) {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let ctx = Context::london(today());
        let (search, _) = SearchForm::parse(&pairs);
        let page = CoursePage {
            view: view(&r, client.as_ref(), &ctx, &fresh),
            client: client.as_ref(),
            search: Some(&search),
            today: ctx.today,
        };
        html(StatusCode::OK, prospectus_web::course(&page))
    })
    .await
}

async fn sheet(State(st): State<HttpState>, Input { pairs, post }: Input) -> Response {
    blocking(st.blocking.clone(), move || {
        let mut ids: Vec<Uuid> = Vec::new();
        for (k, v) in &pairs {
            if k == "id"
                && let Ok(id) = Uuid::parse_str(v.trim())
                && !ids.contains(&id)
                && ids.len() < MAX_SHEET
            {
                ids.push(id);
            }
        }
        let client = client_of(&pairs, post);
        let resolved: Vec<Resolved> = ids
            .iter()
            .filter_map(|id| resolve(&st.store, *id))
            .collect();
        let fresh = match crate::freshness::Freshness::load(&st.store, st.stale_after) {
            Ok(f) => f,
            Err(e) => return failed(e),
        };
        let ctx = Context::london(today());
        let page = SheetPage {
            courses: resolved
                .iter()
                .map(|r| view(r, client.as_ref(), &ctx, &fresh))
                .collect(),
            client: client.as_ref(),
            missing: ids.len() - resolved.len(),
            today: ctx.today,
        };
        html(StatusCode::OK, prospectus_web::sheet(&page))
    })
    .await
}

// ---------------------------------------------------------------- overview

async fn overview(State(st): State<HttpState>, Input { pairs, .. }: Input) -> Response {
    let category = match pairs.iter().find(|(k, _)| k == "category") {
        Some((_, v)) if !v.is_empty() => match v.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Unknown category",
                    "Choose a category from the list.",
                );
            }
        },
        _ => None,
    };
    let (index, cache) = (st.index.clone(), st.overview.clone());
    blocking(st.blocking.clone(), move || {
        let generation = index.catalog().generation();
        match cache.rows(category, generation, || provision(&index, category)) {
            Ok(rows) => html(
                StatusCode::OK,
                prospectus_web::overview(&OverviewPage {
                    category,
                    rows: &rows,
                }),
            ),
            Err(e) => failed(e),
        }
    })
    .await
}

/// `/find/overview` rows per category, each kept while the catalog generation and the date
/// (the funding rules' year) it was counted under are current: an unauthenticated GET then
/// costs a lookup, not five index searches. At most one entry per category (and one for all).
#[derive(Clone, Default)]
pub struct OverviewCache {
    rows: Arc<Mutex<HashMap<Option<Category>, Counted>>>,
}

struct Counted {
    generation: u64,
    day: NaiveDate,
    rows: Arc<Vec<ProvisionRow>>,
}

impl OverviewCache {
    /// The rows for `category`, from the cache when counted under `generation` (read before
    /// `count` searches, so rows counted while a commit landed are at least that new) and
    /// today's date; else from `count`, and kept.
    fn rows<E>(
        &self,
        category: Option<Category>,
        generation: u64,
        count: impl FnOnce() -> Result<Vec<ProvisionRow>, E>,
    ) -> Result<Arc<Vec<ProvisionRow>>, E> {
        let day = today();
        if let Some(c) = self.lock().get(&category)
            && c.generation == generation
            && c.day == day
        {
            return Ok(c.rows.clone());
        }
        let rows = Arc::new(count()?);
        self.lock().insert(
            category,
            Counted {
                generation,
                day,
                rows: rows.clone(),
            },
        );
        Ok(rows)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<Category>, Counted>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Per borough: courses, free, evening/weekend, weekday-daytime only, online, step-free — each
/// a count from one index query's borough facet (a course counts in every borough it runs in).
fn provision(
    index: &Arc<prospectus_search::Index>,
    category: Option<prospectus_model::Category>,
) -> Result<Vec<ProvisionRow>, prospectus_search::SearchError> {
    let base = IndexQuery {
        categories: category.into_iter().collect(),
        funding: Context::london(today()),
        limit: 1,
        ..IndexQuery::default()
    };
    let counts = |q: IndexQuery| -> Result<Vec<(String, u64)>, prospectus_search::SearchError> {
        Ok(index.search(&q)?.facets.boroughs)
    };
    let all = counts(base.clone())?;
    let free = counts(IndexQuery {
        max_fee_pence: Some(0),
        ..base.clone()
    })?;
    let out_of_hours = counts(IndexQuery {
        attendance: vec![Attendance::Evening, Attendance::Weekend],
        ..base.clone()
    })?;
    let online = counts(IndexQuery {
        delivery: vec![DeliveryMode::Online, DeliveryMode::Blended],
        ..base.clone()
    })?;
    let step_free = counts(IndexQuery {
        step_free_only: true,
        exclude_online: true,
        ..base
    })?;
    let of = |v: &[(String, u64)], b: &str| v.iter().find(|(x, _)| x == b).map_or(0, |(_, n)| *n);
    Ok(prospectus_geo::boroughs()
        .iter()
        .map(|b| {
            let courses = of(&all, b.gss_code);
            let evening_or_weekend = of(&out_of_hours, b.gss_code);
            ProvisionRow {
                borough: b.name,
                courses,
                free: of(&free, b.gss_code),
                evening_or_weekend,
                daytime_only: courses.saturating_sub(evening_or_weekend),
                online: of(&online, b.gss_code),
                step_free: of(&step_free, b.gss_code),
            }
        })
        .collect())
}

// ---------------------------------------------------------------- assets

async fn asset(Path(path): Path<String>) -> Response {
    match prospectus_web::asset(&path) {
        Some((bytes, content_type)) => {
            let mut r = bytes.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            secure(h);
            r
        }
        None => message(
            StatusCode::NOT_FOUND,
            "Page not found",
            "Check the address.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn overview_rows_are_counted_once_per_category_and_generation() {
        let cache = OverviewCache::default();
        let counted = Cell::new(0);
        let count = || {
            counted.set(counted.get() + 1);
            Ok::<_, ()>(Vec::new())
        };
        let arts = Some(Category::ALL[0]);
        for _ in 0..3 {
            cache.rows(None, 7, count).expect("rows");
        }
        assert_eq!(counted.get(), 1, "repeats are a lookup");
        cache.rows(arts, 7, count).expect("rows");
        assert_eq!(counted.get(), 2, "each category its own rows");
        cache.rows(None, 8, count).expect("rows");
        cache.rows(None, 8, count).expect("rows");
        assert_eq!(counted.get(), 3, "a new generation is counted again, once");
        assert!(
            cache.rows(arts, 9, || Err(())).is_err(),
            "errors are not kept"
        );
        cache.rows(arts, 9, count).expect("rows");
        assert_eq!(counted.get(), 4);
    }
}
