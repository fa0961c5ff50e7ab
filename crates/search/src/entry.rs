//! A course as the index holds it: the record with its provider and venues resolved and the
//! facts filters need precomputed (per-run location, step-free, online; boroughs; cheapest
//! possible fee). It exists so a query reads only memory: results show provider and venue
//! without a store read, and filters that tantivy cannot express are cheap checks here.

use prospectus_model::{
    Category, Course, DeliveryMode, LatLon, Provider, Start, Uuid, Venue, Weekday,
};
use std::sync::Arc;

/// What the run-level filters read of one run: its venue's facts and copies of the run's own
/// fields, so the candidate loop reads this row and never the course behind its `Arc` (those
/// loads were the cache misses of `admit`, ≈ half of a search's CPU). They live in the slot
/// table's run arena, in slot order beside the `Hot` rows, not in the `Entry`: a broad query
/// streams through them instead of following a pointer per candidate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunFacts {
    pub online: bool,
    pub location: Option<LatLon>,
    pub step_free: bool,
    pub start: Start,
    /// Bit `d as u8` for each weekday the run meets.
    pub days: u8,
    pub start_time: chrono::NaiveTime,
    pub end_time: chrono::NaiveTime,
    pub places_left: Option<u32>,
}

// ARCHITECTURE.md gives a run's size in the slot table's arena.
const _: () = assert!(std::mem::size_of::<RunFacts>() == 56);

/// The weekday bit mask [`RunFacts::days`] uses.
pub(crate) fn day_mask(days: &[Weekday]) -> u8 {
    days.iter().fold(0, |m, d| m | 1 << (*d as u8))
}

/// Grid cell size for the distance pre-filter, in degrees (~2.2 km north-south in London).
pub(crate) const CELL_DEG: f64 = 0.02;

pub(crate) fn cell(lat: f64, lon: f64) -> String {
    format!(
        "{}:{}",
        (lat / CELL_DEG).floor() as i64,
        (lon / CELL_DEG).floor() as i64
    )
}

/// The term for "has an online run" in the cell field.
pub(crate) const ONLINE_CELL: &str = "online";

/// What the per-candidate loop needs, packed so a broad query streams through memory instead
/// of chasing one pointer per course.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hot {
    pub id: Uuid,
    pub first_start: u64,
    pub category_mask: u32,
    pub borough_mask: u64,
    pub min_fee_pence: u32,
    pub full_fee_pence: u32,
    pub has_eligibility: bool,
    pub eligibility_hash: u64,
    /// The slot's run facts: `runs_len` rows of the slot table's run arena from `runs_at`.
    pub runs_at: u32,
    pub runs_len: u32,
}

// ARCHITECTURE.md gives a slot's size (this row and an entry pointer).
const _: () = assert!(std::mem::size_of::<Hot>() == 64);

impl Hot {
    /// An empty slot's placeholder (its entry is `None`, so nothing reads it).
    pub(crate) const EMPTY: Hot = Hot {
        id: Uuid::nil(),
        first_start: u64::MAX,
        category_mask: 0,
        borough_mask: 0,
        min_fee_pence: 0,
        full_fee_pence: 0,
        has_eligibility: false,
        eligibility_hash: 0,
        runs_at: 0,
        runs_len: 0,
    };
}

/// One live course, resolved.
#[derive(Debug)]
pub struct Entry {
    pub course: Arc<Course>,
    /// GSS code of the borough that published it.
    pub origin: String,
    /// Its entry's seq in the origin's log.
    pub seq: u64,
    /// Its entry's signed timestamp (when the origin last changed it).
    pub modified_millis: i64,
    pub provider: Option<Arc<Provider>>,
    /// The distinct venues of its runs, in run order (those this node has).
    pub venues: Vec<Arc<Venue>>,
    /// GSS codes of the boroughs its venues are in; the origin for online runs.
    pub boroughs: Vec<&'static str>,
    /// Bit i set: has `Category::ALL[i]`.
    pub(crate) category_mask: u32,
    /// The lowest fee any learner could pay (full fee or a concession).
    pub(crate) min_fee_pence: u32,
    /// Positions of `boroughs` in `prospectus_geo::boroughs()`, for facet counting.
    pub(crate) borough_idx: Vec<u8>,
    /// The earliest run's start key (see [`start_key`]).
    pub(crate) first_start: Option<Start>,
    /// Hash of the eligibility rules alone.
    pub(crate) eligibility_hash: u64,
    /// Per concession: hash of its conditions, and its fee.
    pub(crate) concessions: Vec<(u64, u32)>,
}

/// A hash of `v`'s `Debug` text, streamed into the hasher as it is written (no string is built:
/// every course resolved at start or on apply hashes its rules).
pub(crate) fn hash_of(v: &impl std::fmt::Debug) -> u64 {
    use std::fmt::Write;
    use std::hash::Hasher;
    struct Sink(std::collections::hash_map::DefaultHasher);
    impl Write for Sink {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut sink = Sink(std::collections::hash_map::DefaultHasher::new());
    // Writing to a hasher cannot fail; a `Debug` impl that errs still leaves a usable hash.
    let _ = write!(sink, "{v:?}");
    sink.0.finish()
}

pub(crate) fn category_bit(c: Category) -> u32 {
    Category::ALL
        .iter()
        .position(|x| *x == c)
        .map_or(0, |i| 1u32 << i)
}

/// The sort key of a start: flexible starts first ("join now"), then by date.
pub(crate) fn start_key(s: &Start) -> u64 {
    match s {
        Start::Rolling => 0,
        Start::On(d) => {
            use chrono::Datelike;
            (d.num_days_from_ce().max(0) as u64) + 1
        }
    }
}

fn venue_borough(v: &Venue) -> Option<&'static str> {
    let pc = &v.address.as_ref()?.postcode;
    prospectus_geo::borough_of_postcode(pc)
        .ok()
        .flatten()
        .map(|b| b.gss_code)
}

impl Entry {
    /// Resolves `course`, appending its run facts to `runs` (the slot table keeps them apart
    /// from the entry, in its run arena).
    pub(crate) fn build(
        course: Arc<Course>,
        origin: &str,
        (seq, modified_millis): (u64, i64),
        provider: Option<Arc<Provider>>,
        venue: impl Fn(Uuid) -> Option<Arc<Venue>>,
        runs: &mut Vec<RunFacts>,
    ) -> Entry {
        let mut venues: Vec<Arc<Venue>> = Vec::new();
        runs.reserve(course.runs.len());
        let mut boroughs: Vec<&'static str> = Vec::new();
        let mut origin_too = false;
        for run in &course.runs {
            let v = venue(run.venue_id);
            let (online, location, step_free) = match &v {
                Some(v) => (v.is_virtual(), v.location, v.accessibility.step_free),
                None => (course.delivery == DeliveryMode::Online, None, false),
            };
            let facts = RunFacts {
                online,
                location,
                step_free,
                start: run.start,
                days: day_mask(&run.days),
                start_time: run.start_time,
                end_time: run.end_time,
                places_left: run.places_left,
            };
            match v.as_deref().and_then(venue_borough) {
                Some(b) if !facts.online => {
                    if !boroughs.contains(&b) {
                        boroughs.push(b);
                    }
                }
                _ => origin_too = true,
            }
            if let Some(v) = v
                && !venues.iter().any(|x| x.id == v.id)
            {
                venues.push(v);
            }
            runs.push(facts);
        }
        if (origin_too || boroughs.is_empty())
            && let Some(b) = prospectus_geo::borough(origin)
            && !boroughs.contains(&b.gss_code)
        {
            boroughs.push(b.gss_code);
        }
        let category_mask = course
            .categories
            .iter()
            .fold(0, |m, c| m | category_bit(*c));
        let min_fee_pence = course
            .fees
            .concessions
            .iter()
            .map(|c| c.fee_pence)
            .fold(course.fees.full_fee_pence, u32::min);
        let all = prospectus_geo::boroughs();
        let borough_idx = boroughs
            .iter()
            .filter_map(|b| all.iter().position(|x| x.gss_code == *b))
            .filter_map(|i| u8::try_from(i).ok())
            .collect();
        let first_start = course.runs.iter().map(|r| r.start).min_by_key(start_key);
        // Conditions are read under the course's funding rules, so the rule set is part of
        // what makes two rules the same.
        let eligibility_hash = hash_of(&(course.funding_rules, &course.eligibility));
        let concessions = course
            .fees
            .concessions
            .iter()
            .map(|c| (hash_of(&(course.funding_rules, &c.conditions)), c.fee_pence))
            .collect();
        Entry {
            eligibility_hash,
            concessions,
            borough_idx,
            first_start,
            course,
            origin: origin.to_string(),
            seq,
            modified_millis,
            provider,
            venues,
            boroughs,
            category_mask,
            min_fee_pence,
        }
    }

    /// Its slot-table row, its run facts at `runs_at` in the run arena.
    pub(crate) fn hot(&self, runs_at: u32, runs_len: u32) -> Hot {
        Hot {
            id: self.course.id,
            first_start: self.first_start.as_ref().map_or(u64::MAX, start_key),
            category_mask: self.category_mask,
            borough_mask: self
                .borough_idx
                .iter()
                .filter(|i| **i < 64)
                .fold(0u64, |m, i| m | (1u64 << i)),
            min_fee_pence: self.min_fee_pence,
            full_fee_pence: self.course.fees.full_fee_pence,
            has_eligibility: !self.course.eligibility.is_empty(),
            eligibility_hash: self.eligibility_hash,
            runs_at,
            runs_len,
        }
    }

    /// Grid cells of the runs' venues (`runs`: its run facts), and `ONLINE_CELL` for online runs.
    pub(crate) fn cells(runs: &[RunFacts]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in runs {
            let c = if r.online {
                ONLINE_CELL.to_string()
            } else if let Some(l) = r.location {
                cell(l.lat, l.lon)
            } else {
                continue;
            };
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// Distinct days any run meets.
    pub(crate) fn days(&self) -> Vec<Weekday> {
        let mut out = Vec::new();
        for r in &self.course.runs {
            for d in &r.days {
                if !out.contains(d) {
                    out.push(*d);
                }
            }
        }
        out
    }

    /// A run at a step-free venue, or online (`runs`: its run facts).
    pub(crate) fn any_step_free(runs: &[RunFacts]) -> bool {
        runs.iter().any(|r| r.online || r.step_free)
    }

    /// Text a link worker may search by, beyond title and description.
    pub(crate) fn extra_text(&self) -> String {
        let c = &self.course;
        let mut s = String::new();
        let mut push = |t: &str| {
            s.push_str(t);
            s.push(' ');
        };
        for cat in &c.categories {
            push(cat.label());
            push(cat.as_str());
        }
        push(c.level.label());
        push(c.delivery.label());
        for a in c.attendance() {
            push(a.label());
        }
        if c.mental_health_focus {
            push("mental health wellbeing");
        }
        if let Some(p) = &self.provider {
            push(&p.name);
        }
        for v in &self.venues {
            push(&v.name);
        }
        for b in &self.boroughs {
            if let Some(b) = prospectus_geo::borough(b) {
                push(b.name);
            }
        }
        s
    }
}
