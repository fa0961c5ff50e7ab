//! What a link worker can ask, and the checks that turn a request into something the index can
//! answer. It exists apart from the engine so that every bad field is refused, by name, before
//! any work is done: a query either validates whole or is an `INVALID_ARGUMENT` naming the field.

use crate::SearchError;
use chrono::{NaiveDate, NaiveTime};
use prospectus_model::{
    Attendance, Category, DeliveryMode, LatLon, LearnerProfile, Level, Uuid, Weekday,
};

/// Longest free text accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 1000;
/// Most words of free text used (the rest would only slow the query down).
pub const MAX_WORDS: usize = 16;
/// Largest page.
pub const MAX_PAGE: usize = 100;
/// Largest radius: Greater London is ~50 km across; more than this is a mistake.
pub const MAX_RADIUS_KM: f64 = 200.0;
/// Most values in one repeated filter.
pub const MAX_FILTER_VALUES: usize = 64;

/// Where distance is measured from.
#[derive(Debug, Clone, PartialEq)]
pub enum Near {
    /// A full postcode ("SE15 4QF") or an outward code ("SE15"), placed at its outcode centroid.
    Postcode(String),
    Point(LatLon),
}

/// Result order. Every order ends with the course id, so it is total and stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Best text match first; with no text, by id.
    #[default]
    Relevance,
    /// Nearest matching run first (needs `near`); online-only courses last.
    Distance,
    /// Earliest matching run start first; flexible (rolling) starts count as "now".
    StartDate,
    /// Cheapest first: the fee this learner pays, or the full fee without a learner.
    Fee,
}

impl Sort {
    /// Stable number for page tokens.
    pub fn code(self) -> u8 {
        match self {
            Sort::Relevance => 0,
            Sort::Distance => 1,
            Sort::StartDate => 2,
            Sort::Fee => 3,
        }
    }
}

/// Where the previous page stopped: the sort key of its last hit. The next page starts strictly
/// after it, so courses that did not change are seen exactly once however the directory moves
/// between pages (every sort key is a function of the course and the query alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub key: u64,
    pub id: Uuid,
}

/// A query as the index understands it. The learner profile is used to evaluate candidates
/// and is dropped with the query; it is never stored or logged (its `Debug` is redacted).
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// Free text over title, description, categories, provider, venue and borough names.
    pub text: String,
    pub categories: Vec<Category>,
    /// GSS codes: courses with a run at a venue in one of these boroughs (online-only courses:
    /// their publishing borough).
    pub boroughs: Vec<String>,
    pub levels: Vec<Level>,
    pub delivery: Vec<DeliveryMode>,
    pub attendance: Vec<Attendance>,
    /// A run meets on at least one of these days.
    pub days: Vec<Weekday>,
    /// A run starts at or after this time of day.
    pub time_from: Option<NaiveTime>,
    /// A run ends at or before this time of day.
    pub time_to: Option<NaiveTime>,
    /// A run starts on or after this date (flexible starts always qualify).
    pub starts_after: Option<NaiveDate>,
    /// A run starts on or before this date (flexible starts always qualify).
    pub starts_before: Option<NaiveDate>,
    /// Only runs with a flexible (rolling) start.
    pub flexible_start_only: bool,
    /// A run has at least this many places left (runs that do not track places qualify).
    pub min_places_left: Option<u32>,
    /// The fee this learner pays (full fee without a learner) is at most this.
    pub max_fee_pence: Option<u32>,
    pub mental_health_only: bool,
    /// A run at a step-free venue (or online).
    pub step_free_only: bool,
    /// ISO 639-1 codes of the language of delivery.
    pub languages: Vec<String>,
    pub near: Option<Near>,
    /// With `near`: only runs within this distance, or online.
    pub radius_km: Option<f64>,
    /// Leave out online runs even when they would match.
    pub exclude_online: bool,
    pub learner: Option<LearnerProfile>,
    /// The date of the question and the default funding rules the learner is evaluated under.
    pub funding: prospectus_model::Context,
    pub eligible_only: bool,
    pub sort: Sort,
    pub after: Option<Cursor>,
    pub limit: usize,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> SearchError {
    SearchError::BadQuery {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A validated query with its derived values.
pub(crate) struct Checked<'a> {
    pub q: &'a Query,
    pub origin: Option<LatLon>,
    pub words: Vec<String>,
}

/// Words that carry no meaning in a link worker's query ("something for anxiety near SE15").
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "any",
    "at",
    "by",
    "class",
    "classes",
    "course",
    "courses",
    "for",
    "from",
    "her",
    "him",
    "his",
    "i",
    "in",
    "is",
    "me",
    "my",
    "near",
    "of",
    "on",
    "or",
    "she",
    "some",
    "something",
    "the",
    "their",
    "them",
    "they",
    "to",
    "with",
];

pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        if w.is_empty() || w.len() > 40 {
            continue;
        }
        let w = w.to_lowercase();
        if STOPWORDS.contains(&w.as_str()) || out.contains(&w) {
            continue;
        }
        out.push(w);
        if out.len() == MAX_WORDS {
            break;
        }
    }
    out
}

impl Query {
    pub(crate) fn check(&self) -> Result<Checked<'_>, SearchError> {
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(bad(
                "text",
                format!(
                    "is {} bytes; at most {MAX_TEXT_BYTES} are accepted",
                    self.text.len()
                ),
            ));
        }
        if self.limit == 0 || self.limit > MAX_PAGE {
            return Err(bad(
                "page_size",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        for (name, n) in [
            ("categories", self.categories.len()),
            ("boroughs", self.boroughs.len()),
            ("levels", self.levels.len()),
            ("delivery", self.delivery.len()),
            ("attendance", self.attendance.len()),
            ("days", self.days.len()),
            ("languages", self.languages.len()),
        ] {
            if n > MAX_FILTER_VALUES {
                return Err(bad(name, format!("at most {MAX_FILTER_VALUES} values")));
            }
        }
        for (i, b) in self.boroughs.iter().enumerate() {
            if prospectus_geo::borough(b).is_none() {
                return Err(bad(
                    format!("boroughs[{i}]"),
                    format!(
                        "{} is not a London borough GSS code",
                        prospectus_model::shown(b)
                    ),
                ));
            }
        }
        for (i, l) in self.languages.iter().enumerate() {
            if l.len() != 2 || !l.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(bad(
                    format!("languages[{i}]"),
                    format!(
                        "{} is not an ISO 639-1 code such as \"en\"",
                        prospectus_model::shown(l)
                    ),
                ));
            }
        }
        if let (Some(a), Some(b)) = (self.time_from, self.time_to)
            && a >= b
        {
            return Err(bad("time_to", "must be later than time_from"));
        }
        if let (Some(a), Some(b)) = (self.starts_after, self.starts_before)
            && a > b
        {
            return Err(bad("starts_before", "must not be before starts_after"));
        }
        let origin = match &self.near {
            None => None,
            Some(Near::Postcode(p)) => Some(
                prospectus_geo::postcode_centroid(p).map_err(|e| bad("postcode", e.to_string()))?,
            ),
            Some(Near::Point(p)) => {
                if !(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat)) {
                    return Err(bad("near.lat", "must be a latitude between -90 and 90"));
                }
                if !(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon)) {
                    return Err(bad("near.lon", "must be a longitude between -180 and 180"));
                }
                Some(*p)
            }
        };
        if let Some(r) = self.radius_km {
            if !r.is_finite() || r <= 0.0 {
                return Err(bad("radius_km", "must be a positive number of kilometres"));
            }
            if r > MAX_RADIUS_KM {
                return Err(bad(
                    "radius_km",
                    format!("must be at most {MAX_RADIUS_KM} km"),
                ));
            }
            if origin.is_none() {
                return Err(bad("radius_km", "needs a postcode or near point"));
            }
        }
        if self.sort == Sort::Distance && origin.is_none() {
            return Err(bad(
                "sort",
                "sorting by distance needs a postcode or near point",
            ));
        }
        if self.eligible_only && self.learner.is_none() {
            return Err(bad("eligible_only", "needs a learner profile"));
        }
        Ok(Checked {
            q: self,
            origin,
            words: words(&self.text),
        })
    }
}
