//! The Open Referral UK (HSDS-UK 3.0) view of the Prospectus model, as `serde_json` values.
//!
//! Councils and social-prescribing platforms read ORUK feeds; this crate exists so that the
//! mapping from our records onto HSDS lives in one pure, testable place (docs/oruk-mapping.md
//! describes it). It does no I/O, reads no clock and knows nothing of HTTP: the server fetches
//! the records, calls these functions and sends the values.
//!
//! Ids: records keep their own UUIDs (course → service, run → service_at_location, venue →
//! location, provider → organization). Objects that have no id of their own in the model
//! (schedules, addresses, cost options, attributes…) get a UUIDv5 derived from the owning
//! record's id and their role, so they never change between requests or nodes. Absent values
//! are omitted, never `null`.

mod taxonomy;

pub use taxonomy::{
    ATTENDANCE, CATEGORY, DELIVERY, FOCUS, LEVEL, SUPPORT, TAXONOMIES, Taxonomy, Term, all_terms,
    course_terms, taxonomy_by_id, term_by_id,
};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use prospectus_model::{
    Condition, Course, DeliveryMode, Document, Provider, RuleSet, RuleSetId, Run, Start, Venue,
    Weekday,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Namespace of every derived id (a fixed random UUID; never change it).
pub const NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_3c2e_8d4a_4f0b_9a57_0c3e_2d19_a4b8);

/// The version string ORUK 3.0 feeds announce at `/` (the validator's example response uses
/// exactly this; validators read it to pick the schema set).
pub const HSDS_VERSION: &str = "HSDS-UK-3.0";
/// The ORUK profile this projection follows.
pub const PROFILE_URL: &str =
    "https://github.com/OpenReferralUK/uk-profile/blob/main/docs/index.md";
/// The OpenAPI description of the ORUK 3.0 API (as in the validator's example response).
pub const OPENAPI_URL: &str = "https://docs.openreferraluk.org/en/latest/openapi30.json";

/// A stable id for a sub-object of record `owner` playing `role`.
pub fn derived_id(owner: Uuid, role: &str) -> Uuid {
    Uuid::new_v5(&owner, role.as_bytes())
}

pub(crate) fn put(m: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    m.insert(k.to_string(), v.into());
}

fn put_opt<T: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

/// How much of a service to include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detail {
    /// id, name, status, last_modified: for clients that sync by modification time.
    Minimal,
    /// The service's own fields and its organization (ORUK list item).
    Summary,
    /// Fully nested (ORUK `/services/{id}`).
    Full,
}

/// Where a record came from, as the node knows it. Informational only.
#[derive(Debug, Clone)]
pub struct Meta {
    /// GSS code of the origin borough.
    pub origin: String,
    /// When the origin wrote the record's latest entry (milliseconds since the epoch).
    pub modified_millis: i64,
    /// The funding rules a course that names none is answered under (a London node: the GLA
    /// set for the current academic year). Chosen by the caller: this crate reads no clock.
    pub default_rules: RuleSetId,
}

/// Read access to the records a service refers to.
pub trait Records {
    fn provider(&self, id: Uuid) -> Option<Provider>;
    fn venue(&self, id: Uuid) -> Option<Venue>;
}

/// `GET /`: the API details object.
pub fn api_details() -> Value {
    json!({
        "version": HSDS_VERSION,
        "profile": PROFILE_URL,
        "openapi_url": OPENAPI_URL,
    })
}

/// RFC 3339 UTC timestamp of `millis`, if representable.
pub fn timestamp(millis: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn pounds(pence: u32) -> f64 {
    f64::from(pence) / 100.0
}

fn money(pence: u32) -> String {
    if pence == 0 {
        "free".into()
    } else if pence.is_multiple_of(100) {
        format!("£{}", pence / 100)
    } else {
        format!("£{}.{:02}", pence / 100, pence % 100)
    }
}

/// The age range every eligible learner falls in: the tightest of the eligibility age rules.
pub fn age_range(c: &Course) -> (Option<u8>, Option<u8>) {
    let mut min: Option<u8> = None;
    let mut max: Option<u8> = None;
    for r in &c.eligibility {
        if let Condition::Age { min: a, max: b } = r.condition {
            if let Some(a) = a {
                min = Some(min.map_or(a, |m| m.max(a)));
            }
            if let Some(b) = b {
                max = Some(max.map_or(b, |m| m.min(b)));
            }
        }
    }
    (min, max)
}

/// HSDS `organization`. `Summary` is the list form; `Full` adds identifiers.
pub fn organization(p: &Provider, detail: Detail) -> Value {
    let mut m = Map::new();
    put(&mut m, "id", p.id.to_string());
    put(&mut m, "name", p.name.clone());
    // `description` is required by ORUK; a provider without one is described by its name.
    put(
        &mut m,
        "description",
        p.description.clone().unwrap_or_else(|| p.name.clone()),
    );
    put_opt(&mut m, "email", p.email.clone());
    put_opt(&mut m, "website", p.website.clone());
    if detail == Detail::Full {
        let mut ids = Vec::new();
        if let Some(u) = &p.ukprn {
            ids.push(json!({
                "id": derived_id(p.id, "organization_identifier/ukprn").to_string(),
                "organization_id": p.id.to_string(),
                "identifier_scheme": "GB-UKPRN",
                "identifier_type": "UK Register of Learning Providers number",
                "identifier": u,
            }));
        }
        if let Some(c) = &p.charity_number {
            ids.push(json!({
                "id": derived_id(p.id, "organization_identifier/charity").to_string(),
                "organization_id": p.id.to_string(),
                "identifier_scheme": "GB-CHC",
                "identifier_type": "Registered charity number",
                "identifier": c,
            }));
        }
        if !ids.is_empty() {
            put(&mut m, "organization_identifiers", ids);
        }
        if let Some(phone) = &p.phone {
            put(
                &mut m,
                "phones",
                vec![json!({
                    "id": derived_id(p.id, "phone").to_string(),
                    "organization_id": p.id.to_string(),
                    "number": phone,
                })],
            );
        }
    }
    Value::Object(m)
}

/// HSDS `location` (+ `address`, `accessibility`) for a venue.
pub fn location(v: &Venue, full: bool) -> Value {
    let mut m = Map::new();
    let id = v.id.to_string();
    put(&mut m, "id", id.clone());
    put(
        &mut m,
        "location_type",
        if v.is_virtual() {
            "virtual"
        } else {
            "physical"
        },
    );
    put(&mut m, "name", v.name.clone());
    if let Some(ll) = v.location {
        put(&mut m, "latitude", ll.lat);
        put(&mut m, "longitude", ll.lon);
    }
    put_opt(&mut m, "url", v.virtual_url.clone());
    if !full {
        return Value::Object(m);
    }
    if let Some(a) = &v.address {
        let mut ad = Map::new();
        put(&mut ad, "id", derived_id(v.id, "address").to_string());
        put(&mut ad, "location_id", id.clone());
        let first = a.lines.first().cloned().unwrap_or_else(|| v.name.clone());
        put(&mut ad, "address_1", first);
        if a.lines.len() > 1 {
            put(&mut ad, "address_2", a.lines[1..].join(", "));
        }
        put(&mut ad, "city", a.town.clone());
        put(&mut ad, "state_province", "Greater London");
        put(&mut ad, "postal_code", a.postcode.clone());
        put(&mut ad, "country", "GB");
        put(&mut ad, "address_type", "physical");
        put(&mut m, "addresses", vec![Value::Object(ad)]);
    }
    let acc = v.accessibility;
    let flags = [
        (acc.step_free, "step-free", "Step-free access"),
        (
            acc.accessible_toilet,
            "accessible-toilet",
            "Accessible toilet",
        ),
        (acc.hearing_loop, "hearing-loop", "Hearing loop"),
        (acc.parking, "parking", "Parking"),
    ];
    let items: Vec<Value> = flags
        .iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, key, label)| {
            json!({
                "id": derived_id(v.id, &format!("accessibility/{key}")).to_string(),
                "location_id": id,
                "description": label,
                "accessibility": key,
            })
        })
        .collect();
    if !items.is_empty() {
        put(&mut m, "accessibility", items);
    }
    Value::Object(m)
}

fn byday(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

/// HSDS `schedule` for one run.
pub fn schedule(c: &Course, run: &Run, venue: Option<&Venue>) -> Value {
    let mut m = Map::new();
    put(&mut m, "id", derived_id(run.id, "schedule").to_string());
    put(&mut m, "service_id", c.id.to_string());
    put(&mut m, "service_at_location_id", run.id.to_string());
    let days: Vec<&str> = run.days.iter().map(|d| byday(*d)).collect();
    let hours = format!(
        "{}-{}",
        run.start_time.format("%H:%M"),
        run.end_time.format("%H:%M")
    );
    let when = match run.start {
        Start::On(d) => {
            put(&mut m, "valid_from", date(d));
            put(&mut m, "dtstart", date(d));
            if let Some(w) = run.weeks.filter(|w| *w > 0) {
                let end = d + Duration::days(i64::from(w) * 7 - 1);
                put(&mut m, "valid_to", date(end));
            }
            format!("starts {}", date(d))
        }
        Start::Rolling => "rolling start: join any week".to_string(),
    };
    if !days.is_empty() {
        put(&mut m, "freq", "WEEKLY");
        put(&mut m, "interval", 1);
        put(&mut m, "byday", days.join(","));
        put(
            &mut m,
            "opens_at",
            run.start_time.format("%H:%M:%S").to_string(),
        );
        put(
            &mut m,
            "closes_at",
            run.end_time.format("%H:%M:%S").to_string(),
        );
    }
    let weeks = run
        .weeks
        .map(|w| format!(", {w} weeks"))
        .unwrap_or_default();
    let day_names: Vec<&str> = run.days.iter().map(|d| d.label()).collect();
    let description = if day_names.is_empty() {
        format!("Self-paced; {when}{weeks}")
    } else {
        format!("{} {hours}; {when}{weeks}", day_names.join(", "))
    };
    put(&mut m, "description", description);
    let online = venue.is_some_and(Venue::is_virtual) || c.delivery == DeliveryMode::Online;
    put(
        &mut m,
        "attending_type",
        if online { "online" } else { "in_person" },
    );
    let mut notes = Vec::new();
    match run.places_left {
        Some(0) => notes.push("Full".to_string()),
        Some(n) => notes.push(format!("{n} places left")),
        None => {}
    }
    if let Some(w) = run.waiting_weeks {
        notes.push(format!("typical wait {w} weeks"));
    }
    if !notes.is_empty() {
        put(&mut m, "notes", notes.join("; "));
    }
    Value::Object(m)
}

fn describe_all(conditions: &[Condition], rules: &RuleSet) -> String {
    conditions
        .iter()
        .map(|c| c.describe_under(rules))
        .collect::<Vec<_>>()
        .join("; ")
}

/// True for a condition whose meaning comes from the funding rule set (and so from its year).
fn rule_set_relative(c: &Condition) -> bool {
    matches!(
        c,
        Condition::FundingAge { .. }
            | Condition::FundingLowWage { .. }
            | Condition::FundingUnemployed
            | Condition::FundingResidency
    )
}

/// HSDS `cost_option`s: the full fee, then each concession in the provider's order, its
/// conditions read under `rules` (the course's funding rules). A concession that turns on the
/// rule set is priced for that academic year only: `valid_from`/`valid_to` say so. The price
/// is the route's; whether a given learner may join at all is the evaluator's answer, which
/// ORUK has no place for.
pub fn cost_options(c: &Course, rules: &RuleSet) -> Vec<Value> {
    let full = c.fees.full_fee_pence;
    let mut out = vec![json!({
        "id": derived_id(c.id, "cost_option/full").to_string(),
        "service_id": c.id.to_string(),
        "option": "Full fee",
        "amount": pounds(full),
        "currency": "GBP",
        "amount_description": format!("Full course fee: {}", money(full)),
    })];
    for (i, k) in c.fees.concessions.iter().enumerate() {
        let fee = k.fee_pence.min(full);
        let mut desc = format!(
            "{} for learners who meet all of: {}",
            money(fee),
            describe_all(&k.conditions, rules)
        );
        let yearly = k.conditions.iter().any(rule_set_relative);
        if yearly {
            desc.push_str(&format!(
                " (under {}: {})",
                rules.id.as_str(),
                rules.id.label()
            ));
        }
        if !k.documents.is_empty() {
            let docs: Vec<&str> = k.documents.iter().map(|d| d.label()).collect();
            desc.push_str(&format!(". Bring: {}", docs.join("; ")));
        }
        let mut m = Map::new();
        put(
            &mut m,
            "id",
            derived_id(c.id, &format!("cost_option/concession/{i}")).to_string(),
        );
        put(&mut m, "service_id", c.id.to_string());
        put(&mut m, "option", k.name.clone());
        put(&mut m, "amount", pounds(fee));
        put(&mut m, "currency", "GBP");
        put(&mut m, "amount_description", desc);
        if yearly {
            let y = rules.academic_year;
            put_opt(
                &mut m,
                "valid_from",
                NaiveDate::from_ymd_opt(y, 8, 1).map(date),
            );
            put_opt(
                &mut m,
                "valid_to",
                NaiveDate::from_ymd_opt(y + 1, 7, 31).map(date),
            );
        }
        put_opt(&mut m, "template", k.template.map(|t| t.as_str()));
        out.push(Value::Object(m));
    }
    out
}

/// Every document the course's eligibility rules or concessions ask for, once each.
pub fn documents(c: &Course) -> Vec<Document> {
    let mut out: Vec<Document> = Vec::new();
    let all = c
        .eligibility
        .iter()
        .flat_map(|r| r.documents.iter())
        .chain(c.fees.concessions.iter().flat_map(|k| k.documents.iter()));
    for d in all {
        if !out.contains(d) {
            out.push(*d);
        }
    }
    out
}

/// HSDS `required_document`s.
pub fn required_documents(c: &Course) -> Vec<Value> {
    documents(c)
        .into_iter()
        .map(|d| {
            json!({
                "id": derived_id(c.id, &format!("required_document/{}", d.as_str())).to_string(),
                "service_id": c.id.to_string(),
                "document": d.label(),
            })
        })
        .collect()
}

/// HSDS `attribute`s linking the course to its taxonomy terms.
pub fn attributes(c: &Course) -> Vec<Value> {
    course_terms(c)
        .iter()
        .map(|t| {
            json!({
                "id": derived_id(c.id, &format!("attribute/{}/{}", t.taxonomy.key, t.key)).to_string(),
                "link_id": c.id.to_string(),
                "link_type": "service",
                "taxonomy_term_id": t.id().to_string(),
                "taxonomy_term": t.to_json(),
            })
        })
        .collect()
}

/// HSDS `service_at_location` for one run: the venue, and the run's schedule.
pub fn service_at_location(c: &Course, run: &Run, venue: Option<&Venue>, full: bool) -> Value {
    let mut m = Map::new();
    put(&mut m, "id", run.id.to_string());
    put(&mut m, "service_id", c.id.to_string());
    put(&mut m, "location_id", run.venue_id.to_string());
    if let Some(v) = venue {
        put(&mut m, "location", location(v, full));
    }
    if full {
        put(&mut m, "schedules", vec![schedule(c, run, venue)]);
    }
    Value::Object(m)
}

/// HSDS `service` for a course.
pub fn service(c: &Course, meta: &Meta, recs: &dyn Records, detail: Detail) -> Value {
    let mut m = Map::new();
    let id = c.id.to_string();
    put(&mut m, "id", id.clone());
    put(&mut m, "name", c.title.clone());
    // Every live course is published as active; a full run says so in its schedule notes.
    put(&mut m, "status", "active");
    put_opt(&mut m, "last_modified", timestamp(meta.modified_millis));
    if detail == Detail::Minimal {
        return Value::Object(m);
    }
    put(&mut m, "organization_id", c.provider_id.to_string());
    put(&mut m, "description", c.description.clone());
    put_opt(&mut m, "url", c.url.clone());
    put_opt(&mut m, "email", c.contact_email.clone());
    let full_fee = c.fees.full_fee_pence;
    let fees = if c.fees.concessions.is_empty() {
        format!("Full fee {}", money(full_fee))
    } else {
        format!(
            "Full fee {}; {} concession(s) available, see cost options",
            money(full_fee),
            c.fees.concessions.len()
        )
    };
    put(&mut m, "fees", fees);
    if let Some(level) = (c.level != prospectus_model::Level::NonAccredited).then_some(c.level) {
        put(&mut m, "accreditations", level.label());
    }
    let (min_age, max_age) = age_range(c);
    put_opt(&mut m, "minimum_age", min_age);
    put_opt(&mut m, "maximum_age", max_age);
    put(&mut m, "assured_date", date(c.last_verified));
    let provider = recs.provider(c.provider_id);
    if let Some(p) = &provider {
        put(&mut m, "organization", organization(p, detail));
    }
    if detail == Detail::Summary {
        return Value::Object(m);
    }

    let rules = RuleSet::get(c.funding_rules.unwrap_or(meta.default_rules));
    if !c.eligibility.is_empty() {
        let conds: Vec<Condition> = c.eligibility.iter().map(|r| r.condition.clone()).collect();
        put(
            &mut m,
            "eligibility_description",
            describe_all(&conds, rules),
        );
    }
    put(
        &mut m,
        "languages",
        vec![json!({
            "id": derived_id(c.id, "language").to_string(),
            "service_id": id,
            "code": c.language,
        })],
    );
    if let Some(b) = prospectus_geo::borough(&meta.origin) {
        put(
            &mut m,
            "service_areas",
            vec![json!({
                "id": derived_id(c.id, "service_area").to_string(),
                "service_id": id,
                "name": b.name,
                "service_area": b.name,
                "extent_type": "borough",
                "description": format!("Published by the {} node ({})", b.name, b.gss_code),
            })],
        );
    }
    let mut sals = Vec::new();
    let mut schedules = Vec::new();
    for run in &c.runs {
        let venue = recs.venue(run.venue_id);
        sals.push(service_at_location(c, run, venue.as_ref(), true));
        schedules.push(schedule(c, run, venue.as_ref()));
    }
    put(&mut m, "service_at_locations", sals);
    put(&mut m, "schedules", schedules);
    put(&mut m, "cost_options", cost_options(c, rules));
    let docs = required_documents(c);
    if !docs.is_empty() {
        put(&mut m, "required_documents", docs);
    }
    put(&mut m, "attributes", attributes(c));
    let email = c
        .contact_email
        .clone()
        .or_else(|| provider.as_ref().and_then(|p| p.email.clone()));
    let phone = provider.as_ref().and_then(|p| p.phone.clone());
    if email.is_some() || phone.is_some() {
        let mut ct = Map::new();
        put(&mut ct, "id", derived_id(c.id, "contact").to_string());
        put(&mut ct, "service_id", id.clone());
        put_opt(
            &mut ct,
            "name",
            provider.as_ref().map(|p| format!("{} enquiries", p.name)),
        );
        put(&mut ct, "title", "Course enquiries");
        put_opt(&mut ct, "email", email);
        if let Some(n) = phone {
            put(
                &mut ct,
                "phones",
                vec![json!({
                    "id": derived_id(c.id, "contact/phone").to_string(),
                    "contact_id": derived_id(c.id, "contact").to_string(),
                    "number": n,
                })],
            );
        }
        put(&mut m, "contacts", vec![Value::Object(ct)]);
    }
    Value::Object(m)
}

/// ORUK `Page` envelope around `contents`.
pub fn page(contents: Vec<Value>, total_items: u64, page_number: u64, per_page: u64) -> Value {
    let per = per_page.max(1);
    let total_pages = total_items.div_ceil(per).max(1);
    json!({
        "total_items": total_items,
        "total_pages": total_pages,
        "page_number": page_number,
        "size": contents.len(),
        "first_page": page_number <= 1,
        "last_page": page_number >= total_pages,
        "empty": contents.is_empty(),
        "contents": contents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = Uuid::from_u128(1);
        assert_eq!(derived_id(a, "schedule"), derived_id(a, "schedule"));
        assert_ne!(derived_id(a, "schedule"), derived_id(a, "address"));
        assert_ne!(
            derived_id(a, "schedule"),
            derived_id(Uuid::from_u128(2), "schedule")
        );
        // Pinned: changing the derivation would change every published id.
        assert_eq!(
            CATEGORY.id(),
            Uuid::new_v5(&NAMESPACE, b"taxonomy/prospectus-category")
        );
    }

    #[test]
    fn every_term_id_is_unique_and_found() {
        let terms = all_terms();
        let mut ids: Vec<Uuid> = terms.iter().map(Term::id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), terms.len());
        for t in &terms {
            assert_eq!(term_by_id(t.id()), Some(*t));
        }
    }

    #[test]
    fn page_envelope_counts() {
        let p = page(vec![json!(1), json!(2)], 5, 3, 2);
        assert_eq!(p["total_pages"], 3);
        assert_eq!(p["last_page"], true);
        assert_eq!(p["first_page"], false);
        let e = page(vec![], 0, 1, 10);
        assert_eq!(e["total_pages"], 1);
        assert_eq!(e["empty"], true);
    }
}
