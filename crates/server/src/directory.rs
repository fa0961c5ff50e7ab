//! `prospectus.v1.Directory`: open reads for link-worker systems. A learner profile in a
//! request is evaluated and dropped; it is never stored, and never logged (its `Debug` is
//! redacted and no span records it).

use crate::errors;
use base64::Engine;
use prospectus_model::{LearnerProfile, Record, RecordKind, Uuid, evaluate};
use prospectus_proto::v1::{self as w, directory_server::Directory};
use prospectus_proto::{FromWire, ToWire};
use prospectus_search::{Index, Query};
use prospectus_store::Store;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct DirectoryService {
    pub store: Arc<Store>,
    pub index: Arc<Index>,
}

fn parse_id(s: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(s.trim())
        .map_err(|_| errors::invalid_field("id", format!("{s:?} is not a UUID")))
}

fn learner(p: Option<&w::LearnerProfile>) -> Result<Option<LearnerProfile>, Status> {
    p.map(|p| LearnerProfile::from_wire(p).map_err(|e| errors::invalid(&e.prefixed("learner"))))
        .transpose()
}

/// Page tokens are opaque to clients; today they carry an offset.
fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

fn decode_token(t: &str) -> Result<usize, Status> {
    if t.is_empty() {
        return Ok(0);
    }
    let bad = || errors::invalid_field("page_token", "not a token this node issued");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    s.strip_prefix("o:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
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
        let provider = match self
            .store
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
            }) = self
                .store
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
            evaluation: learner.map(|l| evaluate(course, l).to_wire()),
        })
    }
}

#[tonic::async_trait]
impl Directory for DirectoryService {
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
        let mut categories = Vec::new();
        for (i, c) in r.categories.iter().enumerate() {
            categories.push(
                <prospectus_model::Category as prospectus_proto::WireEnum>::from_i32(*c)
                    .ok_or_else(|| {
                        errors::invalid_field(
                            &format!("categories[{i}]"),
                            format!("unknown category {c}"),
                        )
                    })?,
            );
        }
        for (i, b) in r.boroughs.iter().enumerate() {
            if prospectus_geo::borough(b).is_none() {
                return Err(errors::invalid_field(
                    &format!("boroughs[{i}]"),
                    format!("{b:?} is not a London borough GSS code"),
                ));
            }
        }
        let learner = learner(r.learner.as_ref())?;
        if r.eligible_only && learner.is_none() {
            return Err(errors::invalid_field(
                "eligible_only",
                "needs a learner profile",
            ));
        }
        let limit = if r.page_size == 0 {
            20
        } else {
            r.page_size as usize
        };
        let q = Query {
            text: r.text,
            categories,
            boroughs: r.boroughs,
            learner,
            eligible_only: r.eligible_only,
            offset: decode_token(&r.page_token)?,
            limit,
        };
        let index = self.index.clone();
        let page = tokio::task::spawn_blocking(move || index.search(&q))
            .await
            .map_err(errors::join)?
            .map_err(errors::search)?;
        let mut hits = Vec::with_capacity(page.hits.len());
        for h in page.hits {
            let mut view = self.view(&h.course, h.origin, None)?;
            view.evaluation = h.evaluation.map(|e| e.to_wire());
            hits.push(w::SearchHit {
                course: Some(view),
                score: h.score,
            });
        }
        Ok(Response::new(w::SearchResponse {
            hits,
            total_hits: page.total as u64,
            next_page_token: page.next_offset.map(encode_token).unwrap_or_default(),
        }))
    }
}
