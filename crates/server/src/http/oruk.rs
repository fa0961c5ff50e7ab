//! The Open Referral UK 3.0 endpoints: services, organizations, service_at_locations,
//! taxonomies and taxonomy terms, filtered and paged; the HSDS shape comes from `prospectus-oruk`.
//!
//! Every answer comes from the search index: its catalog (live courses and providers in id
//! order, run and course ids to their course) for plain lists and by-id lookups, and its engine
//! (the same text analysis and filters as `Directory.Search`) for `search=` and filters. No
//! handler here reads the store. Lists are in id order; a page costs O(page) unfiltered and
//! O(matches) filtered (counted for `total_items`, then the page picked by selection, not by
//! sorting everything), whatever the page number. NDJSON is streamed in chunks.

use super::error::{ApiError, ApiResult, bad, path_id};
use super::params::{Params, parse_params};
use super::projected::{Item, page_body};
use super::{Blocking, HttpState, blocking, default_rules, json_response};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prospectus_model::{Context, LatLon, Provider, Run, Uuid, Venue};
use prospectus_oruk::{self as oruk, Detail, Meta, Records};
use prospectus_search::{Entry, Near, SearchError};
use serde_json::Value;
use std::sync::Arc;

/// Search radius when `postcode` is given without `proximity`, in metres.
const DEFAULT_PROXIMITY_M: f64 = 5000.0;
/// Records projected per NDJSON chunk: what is held in memory at once.
const NDJSON_CHUNK: usize = 200;

// ---------------------------------------------------------------- projection

/// A course's provider and venues as the index resolved them.
struct EntryRecords<'a>(&'a Entry);

impl Records for EntryRecords<'_> {
    fn provider(&self, id: Uuid) -> Option<Provider> {
        self.0
            .provider
            .as_ref()
            .filter(|p| p.id == id)
            .map(|p| (**p).clone())
    }
    fn venue(&self, id: Uuid) -> Option<Venue> {
        self.0
            .venues
            .iter()
            .find(|v| v.id == id)
            .map(|v| (**v).clone())
    }
}

fn service_json(e: &Entry, detail: Detail) -> Value {
    let meta = Meta {
        origin: e.origin.clone(),
        modified_millis: e.modified_millis,
        default_rules: default_rules(),
    };
    oruk::service(&e.course, &meta, &EntryRecords(e), detail)
}

fn sal_json(e: &Entry, run: usize, full: bool) -> Value {
    let Some(r) = e.course.runs.get(run) else {
        return Value::Null;
    };
    let venue = EntryRecords(e).venue(r.venue_id);
    let mut v = oruk::service_at_location(&e.course, r, venue.as_ref(), full);
    v["service"] = service_json(e, Detail::Summary);
    v
}

fn detail_of(p: &Params) -> Detail {
    if p.minimal {
        Detail::Minimal
    } else if p.full {
        Detail::Full
    } else {
        Detail::Summary
    }
}

// ---------------------------------------------------------------- selection

fn matches_text(words: &[String], hay: &[&str]) -> bool {
    if words.is_empty() {
        return true;
    }
    let text = hay.join(" ").to_lowercase();
    words.iter().all(|w| text.contains(w.as_str()))
}

/// Whether any parameter narrows the list of courses.
fn filtered(p: &Params) -> bool {
    !p.search.is_empty()
        || p.taxonomy_term_id.is_some()
        || p.taxonomy_id.is_some()
        || p.organization_id.is_some()
        || p.modified_after.is_some()
        || p.minimum_age.is_some()
        || p.maximum_age.is_some()
        || p.day.is_some()
        || p.start_time.is_some()
        || p.end_time.is_some()
        || p.postcode.is_some()
}

/// A bad query field named as the HTTP parameter it came from.
fn search_error(e: SearchError) -> ApiError {
    match e {
        SearchError::BadQuery { field, reason } => {
            let parameter = match field.as_str() {
                "text" => "search",
                "radius_km" => "proximity",
                f => f,
            };
            bad(parameter, reason)
        }
        e => ApiError::Internal(e.to_string()),
    }
}

/// The search-index query for the filters it can answer (text, taxonomy facets it indexes,
/// day and time of a run, distance); `None` when a filter names nothing (an unknown term).
fn index_query(p: &Params) -> Option<prospectus_search::Query> {
    let mut q = prospectus_search::Query {
        text: p.search.join(" "),
        funding: Context::london(prospectus_store::today()),
        limit: 1,
        ..Default::default()
    };
    if let Some(t) = p.taxonomy_term_id {
        let t = oruk::term_by_id(t)?;
        let k = t.taxonomy.key;
        if k == oruk::CATEGORY.key {
            q.categories = vec![t.key.parse().ok()?];
        } else if k == oruk::LEVEL.key {
            q.levels = vec![t.key.parse().ok()?];
        } else if k == oruk::DELIVERY.key {
            q.delivery = vec![t.key.parse().ok()?];
        } else if k == oruk::ATTENDANCE.key {
            q.attendance = vec![t.key.parse().ok()?];
        } else if k == oruk::FOCUS.key {
            q.mental_health_only = true;
        }
        // Support terms are not indexed: checked on the candidates (`keep`).
    }
    if let Some(d) = p.day {
        q.days = vec![d];
    }
    q.time_from = p.start_time;
    q.time_to = p.end_time;
    if let Some((lat, lon)) = p.postcode {
        q.near = Some(Near::Point(LatLon { lat, lon }));
        q.radius_km = Some(p.proximity_m.unwrap_or(DEFAULT_PROXIMITY_M) / 1000.0);
        // ORUK proximity is to a place: online runs are nowhere.
        q.exclude_online = true;
    }
    Some(q)
}

/// What the candidates are checked for beyond the index, resolved once per request (a term
/// id names its term by hashing every term: never per candidate).
struct Post {
    /// A support term (the index holds the other facets and has checked them).
    support: Option<oruk::Term>,
    /// `taxonomy_id`: `Some(None)` when it names no taxonomy (nothing matches).
    taxonomy: Option<Option<oruk::Taxonomy>>,
}

impl Post {
    fn of(p: &Params) -> Post {
        Post {
            support: p
                .taxonomy_term_id
                .and_then(oruk::term_by_id)
                .filter(|t| t.taxonomy.key == oruk::SUPPORT.key),
            taxonomy: p.taxonomy_id.map(oruk::taxonomy_by_id),
        }
    }
}

/// The filters the index does not hold, checked on its candidates (all AND).
fn keep(p: &Params, post: &Post, e: &Entry) -> bool {
    let c = &e.course;
    if p.organization_id.is_some_and(|o| o != c.provider_id) {
        return false;
    }
    if p.modified_after.is_some_and(|t| e.modified_millis < t) {
        return false;
    }
    if post.support.is_some() || post.taxonomy.is_some() {
        let terms = oruk::course_terms(c);
        if let Some(t) = post.support
            && !terms
                .iter()
                .any(|x| x.taxonomy.key == t.taxonomy.key && x.key == t.key)
        {
            return false;
        }
        match post.taxonomy {
            Some(None) => return false,
            Some(Some(t)) if !terms.iter().any(|x| x.taxonomy.key == t.key) => return false,
            _ => {}
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
    true
}

/// How many items a filtered request selects, and one page of them.
type Paged<T> = (usize, Vec<T>);

/// `organization_id` when it is the only filter: the catalog lists a provider's courses.
fn only_org(p: &Params) -> Option<Uuid> {
    p.organization_id.filter(|_| {
        let mut rest = p.clone();
        rest.organization_id = None;
        !filtered(&rest)
    })
}

/// The courses a filtered request selects, in no particular order.
fn select(st: &HttpState, p: &Params) -> Result<Vec<Arc<Entry>>, ApiError> {
    if let Some(org) = only_org(p) {
        return Ok(st.index.catalog().courses_of(org));
    }
    let Some(q) = index_query(p) else {
        return Ok(Vec::new());
    };
    let mut found = st.index.select(&q).map_err(search_error)?;
    let post = Post::of(p);
    found.retain(|e| keep(p, &post, e));
    Ok(found)
}

/// How many courses a filtered request selects, and courses `skip..skip + take` of them in id
/// order. The index orders ids alone: no entry but the page's is cloned or read unless a
/// filter it does not hold (`keep`) needs it.
fn select_page(
    st: &HttpState,
    p: &Params,
    skip: usize,
    take: usize,
) -> Result<Paged<Arc<Entry>>, ApiError> {
    if let Some(org) = only_org(p) {
        let all = st.index.catalog().courses_of(org);
        return Ok((all.len(), all.into_iter().skip(skip).take(take).collect()));
    }
    let Some(q) = index_query(p) else {
        return Ok((0, Vec::new()));
    };
    let post = Post::of(p);
    let page = st
        .index
        .select_page(
            &q,
            |id, e, out| {
                if keep(p, &post, e) {
                    out.push(id);
                }
            },
            skip,
            take,
        )
        .map_err(search_error)?;
    Ok((page.total, page.items.into_iter().map(|(_, e)| e).collect()))
}

fn run_matches(p: &Params, r: &Run) -> bool {
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
    let km = prospectus_geo::haversine_km(LatLon { lat, lon }, ll);
    km * 1000.0 <= p.proximity_m.unwrap_or(DEFAULT_PROXIMITY_M)
}

/// The indexes of `e`'s runs that match the run-level filters.
fn matching_runs<'a>(p: &'a Params, e: &'a Entry) -> impl Iterator<Item = usize> + 'a {
    e.course.runs.iter().enumerate().filter_map(move |(i, r)| {
        let venue = e.venues.iter().find(|v| v.id == r.venue_id);
        (run_matches(p, r) && within(p, venue.map(|v| &**v))).then_some(i)
    })
}

/// The matching runs of the selected courses, as (course, run index).
fn select_runs(st: &HttpState, p: &Params) -> Result<Vec<(Arc<Entry>, usize)>, ApiError> {
    let mut out = Vec::new();
    for e in select(st, p)? {
        out.extend(matching_runs(p, &e).map(|i| (e.clone(), i)));
    }
    Ok(out)
}

/// How many runs of the selected courses match, and runs `skip..skip + take` of them in
/// (course id, run) order, like [`select_page`].
fn select_runs_page(
    st: &HttpState,
    p: &Params,
    skip: usize,
    take: usize,
) -> Result<Paged<(Arc<Entry>, usize)>, ApiError> {
    if let Some(org) = only_org(p) {
        let courses = st.index.catalog().courses_of(org);
        let all: Vec<(Arc<Entry>, usize)> = courses
            .iter()
            .flat_map(|e| matching_runs(p, e).map(|i| (e.clone(), i)))
            .collect();
        return Ok((all.len(), all.into_iter().skip(skip).take(take).collect()));
    }
    let Some(q) = index_query(p) else {
        return Ok((0, Vec::new()));
    };
    let post = Post::of(p);
    let page = st
        .index
        .select_page(
            &q,
            |_, e, out| {
                if keep(p, &post, e) {
                    out.extend(matching_runs(p, e).map(|i| (e.course.id, i)));
                }
            },
            skip,
            take,
        )
        .map_err(search_error)?;
    let runs = page.items.into_iter().map(|((_, i), e)| (e, i)).collect();
    Ok((page.total, runs))
}

fn skip_of(p: &Params) -> usize {
    usize::try_from((p.page - 1).saturating_mul(p.per_page)).unwrap_or(usize::MAX)
}

fn page_response(p: &Params, total: usize, contents: Vec<Value>) -> Response {
    json_response(oruk::page(contents, total as u64, p.page, p.per_page))
}

/// A page of projections kept by [`super::ProjectedCache`]: the same bytes as
/// [`page_response`] of their values.
fn projected_page(p: &Params, total: usize, contents: &[Arc<str>]) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        page_body(contents, total as u64, p.page, p.per_page),
    )
        .into_response()
}

// ---------------------------------------------------------------- NDJSON

/// Streams NDJSON: `next(cursor)` gives the next chunk's records and the cursor after it, or
/// `None` at the end. Each chunk is built off the async threads; only one is held at a time.
fn ndjson<C, F>(pool: Blocking, start: C, next: F) -> Response
where
    C: Send + 'static,
    F: Fn(C) -> Option<(Vec<Value>, C)> + Send + Sync + 'static,
{
    let next = Arc::new(next);
    let stream = futures::stream::unfold(Some(start), move |cur| {
        let (next, pool) = (next.clone(), pool.clone());
        async move {
            let cur = cur?;
            let (values, cur) = pool.run_waiting(move || next(cur)).await.ok().flatten()?;
            let mut chunk = String::new();
            for v in values {
                chunk.push_str(&v.to_string());
                chunk.push('\n');
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), Some(cur)))
        }
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// NDJSON of items already selected (held as pointers), in `key` order.
fn ndjson_of<T, K>(
    pool: Blocking,
    mut items: Vec<T>,
    key: impl Fn(&T) -> K,
    project: impl Fn(&T) -> Value + Send + Sync + 'static,
) -> Response
where
    T: Send + Sync + 'static,
    K: Ord,
{
    items.sort_unstable_by_key(key);
    let items = Arc::new(items);
    ndjson(pool, 0usize, move |at| {
        let chunk = items.get(at..)?;
        if chunk.is_empty() {
            return None;
        }
        let n = chunk.len().min(NDJSON_CHUNK);
        Some((chunk[..n].iter().map(&project).collect(), at + n))
    })
}

/// A fixed list (taxonomies, terms): a page, or all of it as NDJSON.
fn static_list<T>(p: &Params, items: Vec<T>, project: impl Fn(&T) -> Value) -> Response {
    if p.ndjson {
        let body: String = items.iter().map(|t| format!("{}\n", project(t))).collect();
        return ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response();
    }
    let contents = items
        .iter()
        .skip(skip_of(p))
        .take(p.per_page as usize)
        .map(project)
        .collect();
    page_response(p, items.len(), contents)
}

// ---------------------------------------------------------------- handlers

#[tracing::instrument(skip_all)]
pub(super) async fn root(headers: axum::http::HeaderMap) -> Response {
    // A browser (asking for HTML first) is sent to the link worker's page; JSON clients get
    // the ORUK API details as before.
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().starts_with("text/html"));
    if wants_html {
        return axum::response::Redirect::to("/find").into_response();
    }
    json_response(oruk::api_details())
}

#[tracing::instrument(skip_all)]
pub(super) async fn services(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    let detail = detail_of(&p);
    blocking(st.blocking.clone(), move || {
        if p.ndjson {
            if !filtered(&p) {
                return Ok(ndjson(
                    st.blocking.clone(),
                    Some(None),
                    move |after: Option<Option<Uuid>>| {
                        let page = st.index.catalog().courses_after(after?, NDJSON_CHUNK);
                        let last = page.last().map(|e| e.course.id);
                        let values = page.iter().map(|e| service_json(e, detail)).collect();
                        Some((values, last.map(Some)))
                    },
                ));
            }
            let found = select(&st, &p)?;
            return Ok(ndjson_of(
                st.blocking.clone(),
                found,
                |e| e.course.id,
                move |e| service_json(e, detail),
            ));
        }
        let (skip, take) = (skip_of(&p), p.per_page as usize);
        let (total, page) = if filtered(&p) {
            select_page(&st, &p, skip, take)?
        } else {
            let cat = st.index.catalog();
            (cat.courses_len(), cat.course_page(skip, take))
        };
        let contents: Vec<Arc<str>> = page
            .iter()
            .map(|e| {
                st.projected
                    .get(e, Item::Service(detail), |e| service_json(e, detail))
            })
            .collect();
        Ok(projected_page(&p, total, &contents))
    })
    .await
}

#[tracing::instrument(skip_all, fields(id = %prospectus_model::shown(&raw)))]
pub(super) async fn service_by_id(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = path_id("service", &raw)?;
    let e = st
        .index
        .catalog()
        .course(id)
        .ok_or_else(|| ApiError::NotFound(format!("no service with id {id}")))?;
    Ok(json_response(service_json(&e, Detail::Full)))
}

#[tracing::instrument(skip_all)]
pub(super) async fn organizations(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    blocking(st.blocking.clone(), move || {
        let mut providers = st.index.catalog().providers();
        providers.retain(|x| {
            let desc = x.description.as_deref().unwrap_or("");
            matches_text(&p.search, &[&x.name, desc])
        });
        let detail = if p.full || p.full_service {
            Detail::Full
        } else {
            Detail::Summary
        };
        let full_service = p.full_service;
        let pool = st.blocking.clone();
        let project = move |x: &Arc<Provider>| {
            let mut v = oruk::organization(x, detail);
            if full_service {
                let svcs = st.index.catalog().courses_of(x.id);
                v["services"] = svcs.iter().map(|e| service_json(e, Detail::Full)).collect();
            }
            v
        };
        if p.ndjson {
            return Ok(ndjson_of(pool, providers, |x| x.id, project));
        }
        let total = providers.len();
        let contents = providers
            .iter()
            .skip(skip_of(&p))
            .take(p.per_page as usize)
            .map(project)
            .collect();
        Ok(page_response(&p, total, contents))
    })
    .await
}

#[tracing::instrument(skip_all, fields(id = %prospectus_model::shown(&raw)))]
pub(super) async fn organization_by_id(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id = path_id("organization", &raw)?;
    let p = parse_params(q)?;
    blocking(st.blocking.clone(), move || {
        let (provider, svcs) = {
            let cat = st.index.catalog();
            let provider = cat
                .provider(id)
                .ok_or_else(|| ApiError::NotFound(format!("no organization with id {id}")))?;
            (provider, cat.courses_of(id))
        };
        let detail = if p.full_service {
            Detail::Full
        } else {
            Detail::Summary
        };
        let mut v = oruk::organization(&provider, Detail::Full);
        v["services"] = svcs.iter().map(|e| service_json(e, detail)).collect();
        Ok(json_response(v))
    })
    .await
}

#[tracing::instrument(skip_all)]
pub(super) async fn service_at_locations(
    State(st): State<HttpState>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    let full = p.full;
    blocking(st.blocking.clone(), move || {
        let key = |x: &(Arc<Entry>, usize)| (x.0.course.id, x.1);
        if p.ndjson {
            if !filtered(&p) {
                return Ok(ndjson(
                    st.blocking.clone(),
                    Some(None),
                    move |after: Option<Option<(Uuid, u16)>>| {
                        let page = st.index.catalog().runs_after(after?, NDJSON_CHUNK);
                        let last = page
                            .last()
                            .map(|(e, i)| (e.course.id, u16::try_from(*i).unwrap_or(u16::MAX)));
                        let values = page.iter().map(|(e, i)| sal_json(e, *i, full)).collect();
                        Some((values, last.map(Some)))
                    },
                ));
            }
            let runs = select_runs(&st, &p)?;
            return Ok(ndjson_of(st.blocking.clone(), runs, key, move |(e, i)| {
                sal_json(e, *i, full)
            }));
        }
        let (skip, take) = (skip_of(&p), p.per_page as usize);
        let (total, page) = if filtered(&p) {
            select_runs_page(&st, &p, skip, take)?
        } else {
            let cat = st.index.catalog();
            (cat.runs_len(), cat.run_page(skip, take))
        };
        let contents: Vec<Arc<str>> = page
            .iter()
            .map(|(e, i)| {
                let item = Item::ServiceAtLocation { run: *i, full };
                st.projected.get(e, item, |e| sal_json(e, *i, full))
            })
            .collect();
        Ok(projected_page(&p, total, &contents))
    })
    .await
}

#[tracing::instrument(skip_all, fields(id = %prospectus_model::shown(&raw)))]
pub(super) async fn service_at_location_by_id(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
) -> ApiResult {
    let id = path_id("service_at_location", &raw)?;
    let (e, i) = st
        .index
        .catalog()
        .run(id)
        .ok_or_else(|| ApiError::NotFound(format!("no service_at_location with id {id}")))?;
    Ok(json_response(sal_json(&e, i, true)))
}

#[tracing::instrument(skip_all)]
pub(super) async fn taxonomies(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    let items = oruk::TAXONOMIES
        .iter()
        .filter(|t| matches_text(&p.search, &[t.name, t.description, t.key]))
        .collect::<Vec<_>>();
    Ok(static_list(&p, items, |t| t.to_json(p.full)))
}

#[tracing::instrument(skip_all, fields(id = %prospectus_model::shown(&raw)))]
pub(super) async fn taxonomy_by_id(Path(raw): Path<String>) -> ApiResult {
    let id = path_id("taxonomy", &raw)?;
    oruk::taxonomy_by_id(id)
        .map(|t| json_response(t.to_json(true)))
        .ok_or_else(|| ApiError::NotFound(format!("no taxonomy with id {id}")))
}

#[tracing::instrument(skip_all)]
pub(super) async fn taxonomy_terms(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    let items = oruk::all_terms()
        .into_iter()
        .filter(|t| p.taxonomy_id.is_none_or(|x| t.taxonomy.id() == x))
        // Every term is top-level: none has a parent.
        .filter(|_| p.parent_id.is_none())
        .filter(|t| matches_text(&p.search, &[t.label, t.key]))
        .collect::<Vec<_>>();
    Ok(static_list(&p, items, |t| t.to_json()))
}

#[tracing::instrument(skip_all, fields(id = %prospectus_model::shown(&raw)))]
pub(super) async fn taxonomy_term_by_id(Path(raw): Path<String>) -> ApiResult {
    let id = path_id("taxonomy_term", &raw)?;
    oruk::term_by_id(id)
        .map(|t| json_response(t.to_json()))
        .ok_or_else(|| ApiError::NotFound(format!("no taxonomy_term with id {id}")))
}
