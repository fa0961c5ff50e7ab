//! `prospectus.v1.Directory`: open reads for link-worker systems. A learner profile in a
//! request is evaluated and dropped; it is never stored, and never logged (its `Debug` is
//! redacted and no span records it).

use crate::errors;
use base64::Engine;
use chrono::{NaiveDate, NaiveTime};
use prospectus_model::{Context, LearnerProfile, Record, RecordKind, Start, Uuid, evaluate};
use prospectus_proto::v1::{self as w, directory_server::Directory};
use prospectus_proto::{FromWire, ToWire, WireEnum};
use prospectus_search::{Cursor, Index, Near, Query, Sort};
use prospectus_store::Store;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::Instrument;

pub struct DirectoryService {
    pub store: Arc<Store>,
    pub index: Arc<Index>,
    /// Wakes WatchChanges streams when anything is applied.
    pub notify: tokio::sync::broadcast::Sender<()>,
    /// Ends open streams at shutdown.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Results from an origin quiet for longer than this are marked stale.
    pub stale_after: std::time::Duration,
    /// Bounds on open streams and stalled consumers (shared with Federation).
    pub streams: Arc<crate::streams::Streams>,
}

fn parse_id(s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s.trim()).map_err(|_| {
        errors::invalid_field(
            "id",
            format!("{} is not a UUID", prospectus_model::shown(s)),
        )
    })
}

fn learner(p: Option<&w::LearnerProfile>) -> Result<Option<LearnerProfile>, Status> {
    let Some(p) = p else { return Ok(None) };
    let l = LearnerProfile::from_wire(p).map_err(|e| errors::invalid(&e.prefixed("learner")))?;
    let problems = l.problems(prospectus_store::today());
    if !problems.is_empty() {
        return Err(errors::invalid(
            &prospectus_model::ValidationErrors(problems).prefixed("learner"),
        ));
    }
    Ok(Some(l))
}

/// The evaluation context of a question asked now: a London node's default rule set is the
/// GLA's for the current academic year.
fn funding_now() -> Context {
    Context::london(prospectus_store::today())
}

/// Page tokens are opaque to clients; they carry the sort and the last hit's sort key, so the
/// next page starts strictly after it whatever changed in between.
pub(crate) fn encode_token(sort: Sort, c: &Cursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "c1:{}:{}:{}",
        sort.code(),
        c.key,
        c.id.simple()
    ))
}

pub(crate) fn decode_token(t: &str, sort: Sort) -> Result<Option<Cursor>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || errors::invalid_field("page_token", "not a token this node issued");
    if t.len() > 200 {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = s.split(':');
    let (Some("c1"), Some(code), Some(key), Some(id), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    if code.parse::<u8>().ok() != Some(sort.code()) {
        return Err(errors::invalid_field(
            "page_token",
            "was issued for a different sort order",
        ));
    }
    Ok(Some(Cursor {
        key: key.parse().map_err(|_| bad())?,
        id: Uuid::parse_str(id).map_err(|_| bad())?,
    }))
}

fn enums<T: WireEnum>(field: &str, values: &[i32]) -> Result<Vec<T>, Status> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            T::from_i32(*v).ok_or_else(|| {
                errors::invalid_field(&format!("{field}[{i}]"), format!("unknown value {v}"))
            })
        })
        .collect()
}

fn time(field: &str, s: &str) -> Result<Option<NaiveTime>, Status> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map(Some)
        .map_err(|_| {
            errors::invalid_field(
                field,
                format!("{} is not a time HH:MM", prospectus_model::shown(s)),
            )
        })
}

fn date(field: &str, s: &str) -> Result<Option<NaiveDate>, Status> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            errors::invalid_field(
                field,
                format!("{} is not a date YYYY-MM-DD", prospectus_model::shown(s)),
            )
        })
}

fn sort(v: i32) -> Result<Sort, Status> {
    match w::SortOrder::try_from(v) {
        Ok(w::SortOrder::Unspecified | w::SortOrder::Relevance) => Ok(Sort::Relevance),
        Ok(w::SortOrder::Distance) => Ok(Sort::Distance),
        Ok(w::SortOrder::StartDate) => Ok(Sort::StartDate),
        Ok(w::SortOrder::Fee) => Ok(Sort::Fee),
        Err(_) => Err(errors::invalid_field("sort", format!("unknown value {v}"))),
    }
}

/// Whether the request asks for summary hits (`HIT_VIEW_SUMMARY`); unspecified is full.
fn hit_view(v: i32) -> Result<bool, Status> {
    match w::HitView::try_from(v) {
        Ok(w::HitView::Unspecified | w::HitView::Full) => Ok(false),
        Ok(w::HitView::Summary) => Ok(true),
        Err(_) => Err(errors::invalid_field("view", format!("unknown value {v}"))),
    }
}

/// The wire request as an index query. Every field problem names the field.
#[allow(clippy::result_large_err)]
pub fn query(r: w::SearchRequest) -> Result<Query, Status> {
    let learner = learner(r.learner.as_ref())?;
    let near = match (r.postcode.trim().is_empty(), r.near) {
        (false, Some(_)) => {
            return Err(errors::invalid_field(
                "near",
                "give a postcode or a point, not both",
            ));
        }
        (false, None) => Some(Near::Postcode(r.postcode.clone())),
        (true, Some(p)) => Some(Near::Point(prospectus_model::LatLon {
            lat: p.lat,
            lon: p.lon,
        })),
        (true, None) => None,
    };
    let sort = sort(r.sort)?;
    let limit = if r.page_size == 0 {
        20
    } else {
        usize::try_from(r.page_size).unwrap_or(usize::MAX)
    };
    Ok(Query {
        categories: enums("categories", &r.categories)?,
        boroughs: r.boroughs,
        levels: enums("levels", &r.levels)?,
        delivery: enums("delivery", &r.delivery)?,
        attendance: enums("attendance", &r.attendance)?,
        days: enums("days", &r.days)?,
        time_from: time("time_from", &r.time_from)?,
        time_to: time("time_to", &r.time_to)?,
        starts_after: date("starts_after", &r.starts_after)?,
        starts_before: date("starts_before", &r.starts_before)?,
        flexible_start_only: r.flexible_start_only,
        min_places_left: r.min_places_left,
        max_fee_pence: r.max_fee_pence,
        mental_health_only: r.mental_health_only,
        step_free_only: r.step_free_only,
        languages: r.languages,
        near,
        radius_km: r.radius_km,
        exclude_online: r.exclude_online,
        learner,
        funding: funding_now(),
        eligible_only: r.eligible_only,
        sort,
        after: decode_token(&r.page_token, sort)?,
        limit,
        text: r.text,
    })
}

fn start_text(s: &Start) -> String {
    match s {
        Start::Rolling => "rolling".into(),
        Start::On(d) => prospectus_proto::wire_date(*d),
    }
}

impl DirectoryService {
    fn get(&self, kind: RecordKind, id: Uuid) -> Result<(Record, String), Status> {
        match self.store.get_live(kind, id).map_err(errors::store)? {
            Some(s) => match s.record {
                Some(r) => Ok((r, s.origin)),
                None => Err(Status::not_found(format!("no {kind} with id {id}"))),
            },
            None => Err(Status::not_found(format!("no {kind} with id {id}"))),
        }
    }

    /// A course with its provider and venues, evaluated for the learner if one was given.
    fn view(
        &self,
        course: &prospectus_model::Course,
        origin: String,
        learner: Option<&LearnerProfile>,
    ) -> Result<w::CourseView, Status> {
        course_view(&self.store, course, origin, learner)
    }
}

/// A course with its provider and venues (from the store), evaluated for the learner if given.
fn course_view(
    store: &Store,
    course: &prospectus_model::Course,
    origin: String,
    learner: Option<&LearnerProfile>,
) -> Result<w::CourseView, Status> {
    let provider = match store
        .get_live(RecordKind::Provider, course.provider_id)
        .map_err(errors::store)?
    {
        Some(prospectus_store::Stored {
            record: Some(Record::Provider(p)),
            ..
        }) => Some(p.to_wire()),
        _ => None,
    };
    let mut venues = Vec::new();
    for run in &course.runs {
        if venues
            .iter()
            .any(|v: &w::Venue| v.id == run.venue_id.to_string())
        {
            continue;
        }
        if let Some(prospectus_store::Stored {
            record: Some(Record::Venue(v)),
            ..
        }) = store
            .get_live(RecordKind::Venue, run.venue_id)
            .map_err(errors::store)?
        {
            venues.push(v.to_wire());
        }
    }
    Ok(w::CourseView {
        course: Some(course.to_wire()),
        origin,
        provider,
        venues,
        evaluation: learner.map(|l| evaluate(course, l, &funding_now()).to_wire()),
    })
}

/// Reads the next feed page after `after`: course changes as the wire shows them, and the
/// position reached (which moves past non-course changes too).
fn feed_page(store: &Store, after: u64) -> Result<(Vec<w::CourseChange>, u64), Status> {
    let items = store.changes_after(after, 500).map_err(errors::store)?;
    let mut pos = after;
    let mut out = Vec::new();
    for it in items {
        pos = it.pos;
        if it.kind != RecordKind::Course {
            continue;
        }
        let (origin, course) = match &it.stored {
            Some(s) => (
                s.origin.clone(),
                match &s.record {
                    Some(Record::Course(c)) => Some(c),
                    _ => None,
                },
            ),
            None => (String::new(), None),
        };
        out.push(w::CourseChange {
            position: it.pos,
            id: it.id.to_string(),
            deleted: course.is_none(),
            course: match course {
                Some(c) => Some(course_view(store, c, origin.clone(), None)?),
                None => None,
            },
            origin,
        });
    }
    Ok((out, pos))
}

type ChangeStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<w::CourseChange, Status>> + Send>>;

#[tonic::async_trait]
impl Directory for DirectoryService {
    type WatchChangesStream = ChangeStream;

    async fn watch_changes(
        &self,
        req: Request<w::WatchChangesRequest>,
    ) -> Result<Response<ChangeStream>, Status> {
        let peer = crate::streams::peer_identity(None, req.remote_addr());
        let mut pos = req.into_inner().after;
        // A position this node never issued, or one a purge has made inexact, is refused
        // before the stream opens (and again on every page, should a purge overtake it).
        let store = self.store.clone();
        self.streams
            .read(move || store.changes_after(pos, 0))
            .await?
            .map_err(errors::store)?;
        let permit = self.streams.admit(&peer).map_err(|e| {
            metrics::counter!(crate::metrics::STREAMS_REFUSED, "reason" => e.label()).increment(1);
            errors::stream(e)
        })?;
        let (out, body) = self.streams.channel(permit);
        let (store, streams) = (self.store.clone(), self.streams.clone());
        let mut wake = self.notify.subscribe();
        let mut stopping = self.stopping.clone();
        tokio::spawn(
            async move {
                loop {
                    // Drain everything after `pos`, page by page.
                    loop {
                        let s = store.clone();
                        let page = match streams.read(move || feed_page(&s, pos)).await {
                            Ok(Ok(p)) => p,
                            Ok(Err(status)) | Err(status) => {
                                out.fail(status).await;
                                return;
                            }
                        };
                        let (changes, next) = page;
                        if next == pos {
                            break;
                        }
                        pos = next;
                        for c in changes {
                            if out.send(Ok(c)).await.is_err() {
                                return;
                            }
                        }
                    }
                    tokio::select! {
                        r = wake.recv() => {
                            if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                                return;
                            }
                            while wake.try_recv().is_ok() {}
                        }
                        _ = out.closed() => return,
                        _ = stopping.changed() => return,
                    }
                }
            }
            .instrument(tracing::Span::current()),
        );
        Ok(Response::new(Box::pin(body)))
    }

    async fn get_course(
        &self,
        req: Request<w::GetRequest>,
    ) -> Result<Response<w::CourseView>, Status> {
        let r = req.into_inner();
        let id = parse_id(&r.id)?;
        let learner = learner(r.learner.as_ref())?;
        let (rec, origin) = self.get(RecordKind::Course, id)?;
        let Record::Course(c) = rec else {
            return Err(Status::internal("record kind mismatch"));
        };
        Ok(Response::new(self.view(&c, origin, learner.as_ref())?))
    }

    async fn get_provider(
        &self,
        req: Request<w::GetRequest>,
    ) -> Result<Response<w::Provider>, Status> {
        let id = parse_id(&req.get_ref().id)?;
        match self.get(RecordKind::Provider, id)?.0 {
            Record::Provider(p) => Ok(Response::new(p.to_wire())),
            _ => Err(Status::internal("record kind mismatch")),
        }
    }

    async fn get_venue(&self, req: Request<w::GetRequest>) -> Result<Response<w::Venue>, Status> {
        let id = parse_id(&req.get_ref().id)?;
        match self.get(RecordKind::Venue, id)?.0 {
            Record::Venue(v) => Ok(Response::new(v.to_wire())),
            _ => Err(Status::internal("record kind mismatch")),
        }
    }

    async fn search(
        &self,
        req: Request<w::SearchRequest>,
    ) -> Result<Response<w::SearchResponse>, Status> {
        let r = req.into_inner();
        let summary = hit_view(r.view)?;
        let q = query(r)?;
        let sort_order = q.sort;
        let index = self.index.clone();
        let (page, heads) = tokio::task::spawn_blocking(move || {
            let heads = index.heads();
            index.search(&q).map(|p| (p, heads))
        })
        .await
        .map_err(errors::join)?
        .map_err(errors::search)?;
        let fresh = crate::freshness::Freshness::load(&self.store, self.stale_after)
            .map_err(errors::store)?;
        let mut hits = Vec::with_capacity(page.hits.len());
        for h in page.hits {
            let e = &h.entry;
            let evaluation = h.evaluation.map(|ev| ev.to_wire());
            hits.push(w::SearchHit {
                course: Some(if summary {
                    w::CourseView {
                        course: Some(prospectus_proto::course_summary(&e.course)),
                        origin: e.origin.clone(),
                        provider: e
                            .provider
                            .as_deref()
                            .map(prospectus_proto::provider_summary),
                        venues: e
                            .venues
                            .iter()
                            .map(|v| prospectus_proto::venue_summary(v))
                            .collect(),
                        evaluation,
                    }
                } else {
                    w::CourseView {
                        course: Some(e.course.to_wire()),
                        origin: e.origin.clone(),
                        provider: e.provider.as_ref().map(|p| p.to_wire()),
                        venues: e.venues.iter().map(|v| v.to_wire()).collect(),
                        evaluation,
                    }
                }),
                score: h.score,
                distance_km: h.distance_km,
                next_start: h.next_start.as_ref().map(start_text).unwrap_or_default(),
                fee_pence: h.fee_pence,
                freshness: Some(w::Freshness {
                    course_last_verified: prospectus_proto::wire_date(e.course.last_verified),
                    provider_last_verified: e
                        .provider
                        .as_ref()
                        .map(|p| prospectus_proto::wire_date(p.last_verified))
                        .unwrap_or_default(),
                    origin_last_seen_unix_millis: fresh.last_seen(&e.origin),
                    stale: fresh.is_stale(&e.origin),
                }),
            });
        }
        let facet = |(value, count): (String, u64)| w::FacetCount { value, count };
        Ok(Response::new(w::SearchResponse {
            hits,
            total_hits: page.total as u64,
            next_page_token: page
                .next
                .map(|c| encode_token(sort_order, &c))
                .unwrap_or_default(),
            category_facets: page
                .facets
                .categories
                .into_iter()
                .map(|(c, n)| facet((c.as_str().to_string(), n)))
                .collect(),
            borough_facets: page.facets.boroughs.into_iter().map(facet).collect(),
            index_heads: heads
                .into_iter()
                .map(|(origin, (epoch, seq))| w::IndexHead { origin, seq, epoch })
                .collect(),
        }))
    }
}
