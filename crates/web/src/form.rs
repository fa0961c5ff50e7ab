//! What the link worker typed, checked field by field. Two forms, kept apart on purpose:
//! the course query (a plain GET form, so it works without JavaScript and can be bookmarked)
//! and the client's circumstances (POST only: never in a URL, and never printed by `Debug`).
//! Every problem becomes a [`FormError`] naming the field, shown in the NHS error-summary
//! pattern; nothing here panics on any input.

use prospectus_model::{Attendance, Category, Employment, LearnerProfile, Level, Weekday};

/// The borough value for "lives outside London": any code that is not a London (E09) one.
pub const OUTSIDE_LONDON: &str = "outside";

/// Longest search text accepted (the index's own limit is 1,000 bytes).
pub const MAX_TEXT_CHARS: usize = 200;
/// The radius choices offered, in miles.
pub const RADII_MILES: &[u32] = &[1, 2, 3, 5, 10];
/// "Starts within" choices, in weeks.
pub const WITHIN_WEEKS: &[u32] = &[2, 4, 8, 12];

/// One problem with one field: `field` is the id of the control, so the error summary can
/// link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub field: &'static str,
    pub message: String,
}

/// Time of day a client can manage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeOfDay {
    #[default]
    Any,
    Mornings,
    Afternoons,
    Evenings,
    NotMornings,
}

impl TimeOfDay {
    pub const ALL: &'static [(TimeOfDay, &'static str, &'static str)] = &[
        (TimeOfDay::Any, "any", "Any time"),
        (TimeOfDay::Mornings, "mornings", "Mornings (before 12:00)"),
        (
            TimeOfDay::Afternoons,
            "afternoons",
            "Afternoons (12:00 to 17:00)",
        ),
        (TimeOfDay::Evenings, "evenings", "Evenings (from 17:00)"),
        (
            TimeOfDay::NotMornings,
            "not-mornings",
            "Not mornings (from 12:00)",
        ),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("any", |(_, s, _)| s)
    }

    /// The earliest start and latest start (hour) a run may have, as the index filters them.
    pub fn window(self) -> (Option<u32>, Option<u32>) {
        match self {
            TimeOfDay::Any => (None, None),
            TimeOfDay::Mornings => (None, Some(12)),
            TimeOfDay::Afternoons => (Some(12), Some(17)),
            TimeOfDay::Evenings => (Some(17), None),
            TimeOfDay::NotMornings => (Some(12), None),
        }
    }
}

/// In person or online.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    InPerson,
    Online,
}

/// Result order offered on the page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Relevance,
    Distance,
    Soonest,
    Cheapest,
}

impl SortBy {
    pub const ALL: &'static [(SortBy, &'static str, &'static str)] = &[
        (SortBy::Relevance, "relevance", "Best match"),
        (SortBy::Distance, "distance", "Nearest first"),
        (SortBy::Soonest, "soonest", "Starting soonest"),
        (SortBy::Cheapest, "cheapest", "Cheapest first"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("relevance", |(_, s, _)| s)
    }
}

/// The course query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchForm {
    pub text: String,
    pub category: Option<Category>,
    /// As typed (trimmed, at most 16 characters kept); checked against the outcode table.
    pub postcode: String,
    pub radius_miles: Option<u32>,
    pub days: Vec<Weekday>,
    pub time: TimeOfDay,
    pub attendance: Vec<Attendance>,
    pub delivery: Option<Delivery>,
    pub within_weeks: Option<u32>,
    pub rolling_only: bool,
    pub free_only: bool,
    pub max_fee_pounds: Option<u32>,
    pub mental_health: bool,
    pub step_free: bool,
    /// ISO 639-1 code of the teaching language ("en"), empty for any.
    pub language: String,
    pub sort: SortBy,
    /// The index's page cursor, as handed out by the previous page (opaque here).
    pub after: Option<String>,
}

/// Field names the course query uses (anything else in a request is ignored).
const SEARCH_FIELDS: &[&str] = &[
    "q",
    "category",
    "postcode",
    "radius",
    "day",
    "time",
    "attendance",
    "delivery",
    "within",
    "rolling",
    "free",
    "max_fee",
    "mh",
    "step_free",
    "language",
    "sort",
    "after",
];

fn cut(s: &str, n: usize) -> String {
    s.trim().chars().take(n).collect()
}

fn yes(v: &str) -> bool {
    matches!(v, "1" | "on" | "yes" | "true")
}

impl SearchForm {
    /// Reads the course query from form pairs (query string or POST body). Returns what could
    /// be read, and one error per bad field.
    pub fn parse(pairs: &[(String, String)]) -> (SearchForm, Vec<FormError>) {
        let mut f = SearchForm::default();
        let mut errors = Vec::new();
        let mut err = |field: &'static str, message: &str| {
            if !errors.iter().any(|e: &FormError| e.field == field) {
                errors.push(FormError {
                    field,
                    message: message.into(),
                });
            }
        };
        for (k, v) in pairs {
            let v = v.as_str();
            match k.as_str() {
                "q" => {
                    if v.chars().count() > MAX_TEXT_CHARS {
                        err(
                            "q",
                            &format!("Search words must be {MAX_TEXT_CHARS} characters or fewer"),
                        );
                    }
                    f.text = cut(v, MAX_TEXT_CHARS);
                }
                "category" if v.is_empty() => {}
                "category" => match v.parse::<Category>() {
                    Ok(c) => f.category = Some(c),
                    Err(_) => err("category", "Choose a category from the list"),
                },
                "postcode" => {
                    f.postcode = cut(v, 16).to_ascii_uppercase();
                    if v.trim().chars().count() > 16 {
                        err("postcode", "Enter a postcode like SE15 or SE15 4QF");
                    }
                }
                "radius" if v.is_empty() => {}
                "radius" => match v.parse::<u32>() {
                    Ok(r) if RADII_MILES.contains(&r) => f.radius_miles = Some(r),
                    _ => err("radius", "Choose a distance from the list"),
                },
                "day" => match v.parse::<Weekday>() {
                    Ok(d) if !f.days.contains(&d) => f.days.push(d),
                    Ok(_) => {}
                    Err(_) => err("day-mon", "Choose days from the list"),
                },
                "time" => match TimeOfDay::ALL.iter().find(|(_, s, _)| *s == v) {
                    Some((t, _, _)) => f.time = *t,
                    None => err("time", "Choose a time of day from the list"),
                },
                "attendance" => match v.parse::<Attendance>() {
                    Ok(a) if !f.attendance.contains(&a) => f.attendance.push(a),
                    Ok(_) => {}
                    Err(_) => err(
                        "attendance-daytime",
                        "Choose when they can attend from the list",
                    ),
                },
                "delivery" => match v {
                    "" | "any" => {}
                    "in-person" => f.delivery = Some(Delivery::InPerson),
                    "online" => f.delivery = Some(Delivery::Online),
                    _ => err("delivery", "Choose in person or online"),
                },
                "within" if v.is_empty() => {}
                "within" => match v.parse::<u32>() {
                    Ok(w) if WITHIN_WEEKS.contains(&w) => f.within_weeks = Some(w),
                    _ => err("within", "Choose a number of weeks from the list"),
                },
                "rolling" => f.rolling_only = yes(v),
                "free" => f.free_only = yes(v),
                "max_fee" if v.trim().is_empty() => {}
                "max_fee" => match v.trim().trim_start_matches('£').parse::<u32>() {
                    Ok(p) if p <= 100_000 => f.max_fee_pounds = Some(p),
                    _ => err(
                        "max_fee",
                        "Enter the most they can pay in whole pounds, like 20",
                    ),
                },
                "mh" => f.mental_health = yes(v),
                "step_free" => f.step_free = yes(v),
                "language" => {
                    let l = cut(v, 8).to_ascii_lowercase();
                    if !(l.is_empty() || l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase()))
                    {
                        err("language", "Choose a language from the list");
                    } else {
                        f.language = l;
                    }
                }
                "sort" => match SortBy::ALL.iter().find(|(_, s, _)| *s == v) {
                    Some((s, _, _)) => f.sort = *s,
                    None => err("sort", "Choose an order from the list"),
                },
                "after" if v.is_empty() => {}
                "after" => f.after = Some(cut(v, 64)),
                _ => {}
            }
        }
        if !f.postcode.is_empty() && prospectus_geo::postcode_centroid(&f.postcode).is_err() {
            err(
                "postcode",
                "Enter a London postcode like SE15 or SE15 4QF (we do not know that one)",
            );
        }
        if f.radius_miles.is_some() && f.postcode.is_empty() {
            err("postcode", "Enter a postcode to search near");
        }
        if f.sort == SortBy::Distance && f.postcode.is_empty() {
            err("postcode", "Enter a postcode to sort by distance");
        }
        (f, errors)
    }

    /// True when nothing was asked: the page shows the form alone.
    pub fn is_empty(&self) -> bool {
        let blank = SearchForm {
            sort: self.sort,
            ..SearchForm::default()
        };
        *self == blank
    }

    /// The radius in kilometres (2 miles when a postcode is given without one).
    pub fn radius_km(&self) -> Option<f64> {
        if self.postcode.is_empty() {
            return None;
        }
        Some(f64::from(self.radius_miles.unwrap_or(2)) * 1.609_344)
    }

    /// The query as form pairs, for links (next page) and hidden fields. The cursor is left
    /// out; callers add it.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, v: String| {
            if !v.is_empty() {
                out.push((k, v))
            }
        };
        put("q", self.text.clone());
        put(
            "category",
            self.category.map(|c| c.as_str().into()).unwrap_or_default(),
        );
        put("postcode", self.postcode.clone());
        put(
            "radius",
            self.radius_miles.map(|r| r.to_string()).unwrap_or_default(),
        );
        for d in &self.days {
            put("day", d.as_str().into());
        }
        if self.time != TimeOfDay::Any {
            put("time", self.time.as_str().into());
        }
        for a in &self.attendance {
            put("attendance", a.as_str().into());
        }
        put(
            "delivery",
            match self.delivery {
                Some(Delivery::InPerson) => "in-person".into(),
                Some(Delivery::Online) => "online".into(),
                None => String::new(),
            },
        );
        put(
            "within",
            self.within_weeks.map(|w| w.to_string()).unwrap_or_default(),
        );
        for (on, k) in [
            (self.rolling_only, "rolling"),
            (self.free_only, "free"),
            (self.mental_health, "mh"),
            (self.step_free, "step_free"),
        ] {
            if on {
                put(k, "1".into());
            }
        }
        put(
            "max_fee",
            self.max_fee_pounds
                .map(|p| p.to_string())
                .unwrap_or_default(),
        );
        put("language", self.language.clone());
        if self.sort != SortBy::Relevance {
            put("sort", self.sort.as_str().into());
        }
        out
    }

    /// Whether a request carried any course-query field at all.
    pub fn asked(pairs: &[(String, String)]) -> bool {
        pairs
            .iter()
            .any(|(k, _)| SEARCH_FIELDS.contains(&k.as_str()))
    }
}

/// What the client receives, as a benefit question a link worker can ask in one go.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Benefits {
    #[default]
    NotAsked,
    None,
    UniversalCreditLooking,
    UniversalCreditInWork,
    OtherMeansTested,
}

impl Benefits {
    pub const ALL: &'static [(Benefits, &'static str, &'static str)] = &[
        (Benefits::NotAsked, "", "Not asked"),
        (Benefits::None, "none", "No benefits"),
        (
            Benefits::UniversalCreditLooking,
            "uc-looking",
            "Universal Credit, JSA or ESA, and looking for work",
        ),
        (
            Benefits::UniversalCreditInWork,
            "uc-in-work",
            "Universal Credit while in work",
        ),
        (
            Benefits::OtherMeansTested,
            "other",
            "Another means-tested benefit (Pension Credit, Housing Benefit…)",
        ),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(b, _, _)| *b == self)
            .map_or("", |(_, s, _)| s)
    }
}

/// The client's circumstances. Deliberately without a derived `Debug`: it must never reach a
/// log line through `{:?}`.
#[derive(Clone, Default, PartialEq)]
pub struct ClientForm {
    pub age: Option<u8>,
    /// GSS code, or "outside" for outside London.
    pub borough: Option<String>,
    pub employment: Option<Employment>,
    pub benefits: Benefits,
    pub earnings_pounds: Option<u32>,
    pub qualification: Option<Level>,
    pub referred: bool,
}

impl std::fmt::Debug for ClientForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientForm { .. }")
    }
}

impl ClientForm {
    /// Reads the client's circumstances from a POST body. `None` when no client field was
    /// filled in.
    pub fn parse(pairs: &[(String, String)]) -> (Option<ClientForm>, Vec<FormError>) {
        let mut c = ClientForm::default();
        let mut errors = Vec::new();
        let mut any = false;
        let mut err = |field: &'static str, message: &str| {
            errors.push(FormError {
                field,
                message: message.into(),
            })
        };
        for (k, v) in pairs {
            let v = v.trim();
            if !k.starts_with("client_") || v.is_empty() {
                continue;
            }
            any = true;
            match k.as_str() {
                "client_age" => match v.parse::<u8>() {
                    Ok(a) if (14..=120).contains(&a) => c.age = Some(a),
                    _ => err("client_age", "Enter their age in years, like 41"),
                },
                "client_borough" => {
                    if v == OUTSIDE_LONDON || prospectus_geo::borough(v).is_some() {
                        c.borough = Some(v.to_string());
                    } else {
                        err(
                            "client_borough",
                            "Choose the borough they live in from the list",
                        );
                    }
                }
                "client_employment" => match v.parse::<Employment>() {
                    Ok(e) => c.employment = Some(e),
                    Err(_) => err(
                        "client_employment",
                        "Choose their work situation from the list",
                    ),
                },
                "client_benefits" => match Benefits::ALL.iter().find(|(_, s, _)| *s == v) {
                    Some((b, _, _)) => c.benefits = *b,
                    None => err("client_benefits", "Choose their benefits from the list"),
                },
                "client_earnings" => {
                    match v.trim_start_matches('£').replace(',', "").parse::<u32>() {
                        Ok(p) if p <= 10_000_000 => c.earnings_pounds = Some(p),
                        _ => err(
                            "client_earnings",
                            "Enter their yearly earnings before tax in whole pounds, like 21000",
                        ),
                    }
                }
                "client_qualification" => match v.parse::<Level>() {
                    Ok(l) => c.qualification = Some(l),
                    Err(_) => err(
                        "client_qualification",
                        "Choose their highest qualification from the list",
                    ),
                },
                "client_referred" => c.referred = yes(v),
                _ => {}
            }
        }
        (any.then_some(c), errors)
    }

    /// The facts as the evaluator reads them. Unstated stays unstated: the answer then says
    /// which fact would settle it.
    pub fn profile(&self) -> LearnerProfile {
        let (means_tested, jobseeker, in_work) = match self.benefits {
            Benefits::NotAsked => (None, None, None),
            Benefits::None => (Some(false), Some(false), Some(false)),
            Benefits::UniversalCreditLooking => (Some(true), Some(true), None),
            Benefits::UniversalCreditInWork => (Some(true), Some(false), Some(true)),
            Benefits::OtherMeansTested => (Some(true), None, None),
        };
        LearnerProfile {
            age: self.age,
            borough: self.borough.clone().map(|b| {
                if b == OUTSIDE_LONDON {
                    "outside-london".into()
                } else {
                    b
                }
            }),
            employment: self.employment,
            annual_gross_earnings_pence: self.earnings_pounds.map(|p| p.saturating_mul(100)),
            means_tested_benefits: means_tested,
            claiming_jobseeker_benefits: jobseeker,
            in_work_benefits: in_work,
            highest_qualification: self.qualification,
            referred_by_social_prescriber: self.referred.then_some(true),
            ..LearnerProfile::default()
        }
    }

    /// The circumstances as form pairs, carried in hidden fields of POST forms only.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(a) = self.age {
            out.push(("client_age", a.to_string()));
        }
        if let Some(b) = &self.borough {
            out.push(("client_borough", b.clone()));
        }
        if let Some(e) = self.employment {
            out.push(("client_employment", e.as_str().to_string()));
        }
        if self.benefits != Benefits::NotAsked {
            out.push(("client_benefits", self.benefits.as_str().to_string()));
        }
        if let Some(p) = self.earnings_pounds {
            out.push(("client_earnings", p.to_string()));
        }
        if let Some(l) = self.qualification {
            out.push(("client_qualification", l.as_str().to_string()));
        }
        if self.referred {
            out.push(("client_referred", "1".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_full_query_reads_back_as_it_was_written() {
        let p = pairs(&[
            ("q", "anxiety"),
            ("category", "wellbeing"),
            ("postcode", "se15"),
            ("radius", "3"),
            ("day", "mon"),
            ("day", "wed"),
            ("time", "not-mornings"),
            ("delivery", "in-person"),
            ("within", "8"),
            ("free", "1"),
            ("step_free", "on"),
            ("sort", "distance"),
        ]);
        let (f, errors) = SearchForm::parse(&p);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(f.postcode, "SE15");
        assert_eq!(f.days, vec![Weekday::Mon, Weekday::Wed]);
        assert_eq!(f.time, TimeOfDay::NotMornings);
        let again: Vec<(String, String)> = f
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert_eq!(SearchForm::parse(&again).0, f);
    }

    #[test]
    fn bad_values_name_their_field_and_never_echo_at_length() {
        let long = "x".repeat(10_000);
        let p = pairs(&[
            ("q", &long),
            ("category", "astrology"),
            ("postcode", "ZZ99 9ZZ"),
            ("max_fee", "lots"),
        ]);
        let (f, errors) = SearchForm::parse(&p);
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["q", "category", "max_fee", "postcode"]);
        assert_eq!(f.text.chars().count(), MAX_TEXT_CHARS);
        assert!(errors.iter().all(|e| e.message.len() < 120));
    }

    #[test]
    fn a_client_on_universal_credit_reads_as_means_tested_and_looking() {
        let p = pairs(&[
            ("client_age", "41"),
            ("client_benefits", "uc-looking"),
            ("client_employment", "unemployed"),
        ]);
        let (c, errors) = ClientForm::parse(&p);
        assert!(errors.is_empty());
        let profile = c.expect("client given").profile();
        assert_eq!(profile.age, Some(41));
        assert_eq!(profile.means_tested_benefits, Some(true));
        assert_eq!(profile.claiming_jobseeker_benefits, Some(true));
        assert_eq!(
            format!("{:?}", ClientForm::parse(&p).0),
            "Some(ClientForm { .. })"
        );
    }

    #[test]
    fn no_client_fields_is_no_client() {
        let (c, errors) = ClientForm::parse(&pairs(&[("q", "art"), ("client_age", "")]));
        assert!(c.is_none() && errors.is_empty());
    }
}
