//! The query index over every origin's live courses.
//!
//! It is derived state: rebuilt from the store at start and kept current through the store's
//! [`Observer`] hook, so a query never touches sled. This first version is an in-memory scan
//! with word matching, enough for one borough's offer; the tantivy index (stemming, typo
//! tolerance, distance, stable cursors) replaces its internals behind the same `search` call.

use prospectus_model::{
    Category, Course, Evaluation, LearnerProfile, Record, RecordKind, Uuid, evaluate,
};
use prospectus_store::{Observer, Store, StoreError, Update};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{field}: {reason}")]
    BadQuery { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A query as the index understands it. The learner profile is used to evaluate candidates
/// and then dropped with the query.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub text: String,
    pub categories: Vec<Category>,
    /// GSS codes of publishing boroughs.
    pub boroughs: Vec<String>,
    pub learner: Option<LearnerProfile>,
    pub eligible_only: bool,
    pub offset: usize,
    pub limit: usize,
}

pub const MAX_TEXT_BYTES: usize = 1000;
pub const MAX_PAGE: usize = 100;

#[derive(Debug, Clone)]
pub struct Hit {
    pub course: Arc<Course>,
    pub origin: String,
    pub score: f32,
    pub evaluation: Option<Evaluation>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub hits: Vec<Hit>,
    pub total: usize,
    /// Offset of the next page, if there is one.
    pub next_offset: Option<usize>,
}

struct Indexed {
    course: Arc<Course>,
    origin: String,
    title: String,
    body: String,
}

#[derive(Default)]
struct Inner {
    courses: BTreeMap<Uuid, Indexed>,
    provider_names: HashMap<Uuid, String>,
}

#[derive(Default)]
pub struct Index {
    inner: RwLock<Inner>,
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Index {
    /// Builds the index from everything live in `store`.
    pub fn build(store: &Store) -> Result<Self, SearchError> {
        let index = Index::default();
        for kind in [RecordKind::Provider, RecordKind::Course] {
            for s in store.scan(kind) {
                let s = s?;
                if let Some(r) = s.record {
                    index.put(r, &s.origin);
                }
            }
        }
        Ok(index)
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.courses.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn put(&self, r: Record, origin: &str) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match r {
            Record::Provider(p) => {
                inner.provider_names.insert(p.id, p.name);
            }
            Record::Course(c) => {
                let title = c.title.to_lowercase();
                let mut body = c.description.to_lowercase();
                for cat in &c.categories {
                    body.push(' ');
                    body.push_str(&cat.label().to_lowercase());
                    body.push(' ');
                    body.push_str(cat.as_str());
                }
                inner.courses.insert(
                    c.id,
                    Indexed {
                        course: Arc::new(c),
                        origin: origin.to_string(),
                        title,
                        body,
                    },
                );
            }
            Record::Venue(_) => {}
        }
    }

    fn remove(&self, kind: RecordKind, id: Uuid) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        match kind {
            RecordKind::Course => {
                inner.courses.remove(&id);
            }
            RecordKind::Provider => {
                inner.provider_names.remove(&id);
            }
            RecordKind::Venue => {}
        }
    }

    pub fn search(&self, q: &Query) -> Result<Page, SearchError> {
        if q.text.len() > MAX_TEXT_BYTES {
            return Err(SearchError::BadQuery {
                field: "text",
                reason: format!("must be at most {MAX_TEXT_BYTES} bytes"),
            });
        }
        if q.limit == 0 || q.limit > MAX_PAGE {
            return Err(SearchError::BadQuery {
                field: "page_size",
                reason: format!("must be between 1 and {MAX_PAGE}"),
            });
        }
        let terms = words(&q.text);
        let inner = self.inner.read().map_err(|_| SearchError::BadQuery {
            field: "index",
            reason: "index lock poisoned".into(),
        })?;
        let mut matches: Vec<Hit> = Vec::new();
        for ix in inner.courses.values() {
            let c = &ix.course;
            if !q.categories.is_empty() && !c.categories.iter().any(|x| q.categories.contains(x)) {
                continue;
            }
            if !q.boroughs.is_empty()
                && !q
                    .boroughs
                    .iter()
                    .any(|b| b.eq_ignore_ascii_case(&ix.origin))
            {
                continue;
            }
            let provider = inner
                .provider_names
                .get(&c.provider_id)
                .map(|n| n.to_lowercase())
                .unwrap_or_default();
            let mut score = 0.0f32;
            let mut all = true;
            for t in &terms {
                let s = if ix.title.contains(t.as_str()) {
                    3.0
                } else if ix.body.contains(t.as_str()) {
                    1.0
                } else if provider.contains(t.as_str()) {
                    0.5
                } else {
                    0.0
                };
                if s == 0.0 {
                    all = false;
                    break;
                }
                score += s;
            }
            if !all {
                continue;
            }
            let evaluation = q.learner.as_ref().map(|l| evaluate(c, l));
            if q.eligible_only && !evaluation.as_ref().is_some_and(|e| e.eligible) {
                continue;
            }
            matches.push(Hit {
                course: c.clone(),
                origin: ix.origin.clone(),
                score,
                evaluation,
            });
        }
        // Stable order: score, then title, then id.
        matches.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.course.title.cmp(&b.course.title))
                .then_with(|| a.course.id.cmp(&b.course.id))
        });
        let total = matches.len();
        let end = (q.offset + q.limit).min(total);
        let hits = if q.offset < total {
            matches.drain(q.offset..end).collect()
        } else {
            Vec::new()
        };
        Ok(Page {
            hits,
            total,
            next_offset: (end < total).then_some(end),
        })
    }
}

impl Observer for Index {
    fn updated(&self, u: &Update) {
        match &u.new {
            Some(r) => self.put(r.clone(), &u.origin),
            None => self.remove(u.kind, u.id),
        }
    }
}
