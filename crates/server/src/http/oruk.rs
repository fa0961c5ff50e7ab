//! The Open Referral UK 3.0 endpoints: services, organizations, service_at_locations,
//! taxonomies and taxonomy terms, filtered and paged; the HSDS shape comes from `prospectus-oruk`.

use super::error::{ApiError, ApiResult, path_id};
use super::params::{Params, parse_params};
use super::records::{Snapshot, StoreRecords, live_course};
use super::{HttpState, blocking, default_rules, json_response};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prospectus_model::{Course, Provider, Record, RecordKind, Uuid, Venue};
use prospectus_oruk::{self as oruk, Detail, Meta};
use serde_json::Value;

/// Search radius when `postcode` is given without `proximity`, in metres.
const DEFAULT_PROXIMITY_M: f64 = 5000.0;

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
pub(super) async fn root() -> Response {
    json_response(oruk::api_details())
}

#[tracing::instrument(skip_all)]
pub(super) async fn services(
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
pub(super) async fn service_by_id(
    State(st): State<HttpState>,
    Path(raw): Path<String>,
) -> ApiResult {
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
pub(super) async fn organizations(
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
pub(super) async fn organization_by_id(
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
pub(super) async fn service_at_locations(
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
pub(super) async fn service_at_location_by_id(
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
pub(super) async fn taxonomies(
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = parse_params(q)?;
    let items = oruk::TAXONOMIES
        .iter()
        .filter(|t| matches_text(&p.search, &[t.name, t.description, t.key]))
        .collect::<Vec<_>>();
    Ok(paged(&p, items, |t| t.to_json(p.full)))
}

#[tracing::instrument(skip_all, fields(id = %raw))]
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
    Ok(paged(&p, items, |t| t.to_json()))
}

#[tracing::instrument(skip_all, fields(id = %raw))]
pub(super) async fn taxonomy_term_by_id(Path(raw): Path<String>) -> ApiResult {
    let id = path_id("taxonomy_term", &raw)?;
    oruk::term_by_id(id)
        .map(|t| json_response(t.to_json()))
        .ok_or_else(|| ApiError::NotFound(format!("no taxonomy_term with id {id}")))
}
