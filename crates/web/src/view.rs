//! What the server hands the page: model records already resolved (provider, venues), the
//! index's answer for this query, and the evaluator's answer for this client. Borrowed, not
//! owned: a page is rendered and dropped within one request.

use crate::form::{ClientForm, FormError, SearchForm};
use chrono::NaiveDate;
use prospectus_model::{Category, Course, Evaluation, Provider, RuleSet, Start, Venue};

/// One course as a result card, the course page and the hand-out show it.
pub struct CourseView<'a> {
    pub course: &'a Course,
    pub provider: Option<&'a Provider>,
    /// The distinct venues of its runs that this node holds.
    pub venues: Vec<&'a Venue>,
    /// Name of the borough that published it.
    pub origin_name: &'static str,
    /// Distance from the searched postcode to the nearest matching run.
    pub distance_km: Option<f64>,
    pub next_start: Option<Start>,
    /// The answer for this client, when one was described.
    pub evaluation: Option<Evaluation>,
    /// The funding rule set the course is read under (for plain-English conditions).
    pub rules: &'static RuleSet,
    /// Its borough's node has not been heard from for a while: details may be out of date.
    pub stale: bool,
}

impl CourseView<'_> {
    pub fn venue(&self, id: prospectus_model::Uuid) -> Option<&Venue> {
        self.venues.iter().copied().find(|v| v.id == id)
    }
}

/// Facet counts for the current query.
#[derive(Default)]
pub struct Facets {
    pub categories: Vec<(Category, u64)>,
    pub boroughs: Vec<(&'static str, u64)>,
}

/// The search page, with or without results.
pub struct SearchPage<'a> {
    pub form: &'a SearchForm,
    pub client: Option<&'a ClientForm>,
    pub errors: Vec<FormError>,
    /// `None` when nothing was asked yet.
    pub results: Option<Results<'a>>,
    pub today: NaiveDate,
}

pub struct Results<'a> {
    pub total: usize,
    pub courses: Vec<CourseView<'a>>,
    pub facets: Facets,
    /// Cursor of the next page, when there is one.
    pub next: Option<String>,
    /// This page is not the first.
    pub paged: bool,
}

/// One course, whole.
pub struct CoursePage<'a> {
    pub view: CourseView<'a>,
    pub client: Option<&'a ClientForm>,
    /// The search the course was opened from (with a client: to go back by POST).
    pub search: Option<&'a SearchForm>,
    pub today: NaiveDate,
}

/// The printable hand-out for the shortlisted courses.
pub struct SheetPage<'a> {
    pub courses: Vec<CourseView<'a>>,
    pub client: Option<&'a ClientForm>,
    /// Shortlisted ids this node does not hold (withdrawn since).
    pub missing: usize,
    pub today: NaiveDate,
}

/// One borough's provision in one category (or all categories).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionRow {
    pub borough: &'static str,
    pub courses: u64,
    pub free: u64,
    /// Has an evening or weekend run.
    pub evening_or_weekend: u64,
    /// Every run is a weekday daytime one.
    pub daytime_only: u64,
    pub online: u64,
    pub step_free: u64,
}

/// The commissioners' view of London's provision.
pub struct OverviewPage<'a> {
    pub category: Option<Category>,
    pub rows: &'a [ProvisionRow],
}
