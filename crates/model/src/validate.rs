//! Validation that reports every problem at once, each with the path of the field at fault
//! (`runs[2].start_time`), so a provider fixes a whole file in one pass.
//!
//! [`validate_record`] checks what a record says about itself; [`validate_record_at`] adds what
//! it may not claim about time as of the publish date the caller passes in (this crate reads no
//! clock): verified in the future, runs decades away.

use crate::course::{Course, DeliveryMode, Start};
use crate::funding::RuleSet;
use crate::provider::Provider;
use crate::record::Record;
use crate::rules::{Concession, Condition};
use crate::venue::Venue;
use chrono::{Months, NaiveDate};

/// Run start dates must fall within this many years either side of the publish date.
pub const RUN_WINDOW_YEARS: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldViolation>);

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// At most [`MAX_VIOLATIONS`], the rest summed up in one last violation (so an already
    /// capped list, with its summary, is left as it is).
    pub fn capped(self) -> Self {
        self.capped_to(MAX_VIOLATIONS)
    }

    /// At most `max` violations, then one "… and K more" summing up the rest (counting those an
    /// earlier summary already stood for).
    pub fn capped_to(self, max: usize) -> Self {
        let mut list = self.0;
        let mut omitted = 0;
        let mut first_omitted = None;
        if let Some(k) = list.last().and_then(|v| summary_count(&v.description)) {
            omitted = k;
            first_omitted = list.pop().map(|v| v.field);
        }
        if list.len() > max {
            let rest = list.split_off(max);
            omitted += rest.len();
            first_omitted = rest.into_iter().next().map(|v| v.field);
        }
        if let Some(field) = first_omitted {
            list.push(summary(field, omitted));
        }
        ValidationErrors(list)
    }

    /// How many problems this list stands for, counting those its summary sums up.
    pub fn total(&self) -> usize {
        match self.0.last().and_then(|v| summary_count(&v.description)) {
            Some(k) => self.0.len() - 1 + k,
            None => self.0.len(),
        }
    }

    /// Prefixes every path, e.g. to place a record's errors inside a batch (`ops[3].course`).
    pub fn prefixed(self, prefix: &str) -> Self {
        ValidationErrors(
            self.0
                .into_iter()
                .map(|v| FieldViolation {
                    field: format!("{prefix}.{}", v.field),
                    description: v.description,
                })
                .collect(),
        )
    }
}

/// Caps that keep one record — and so one request, one replicated entry and the work any
/// query does per course — bounded. Generous for real prospectuses (a course rarely has more
/// than a dozen runs or a handful of concessions); text fields have their own limits below.
pub const MAX_RUNS: usize = 500;
pub const MAX_CONCESSIONS: usize = 20;
/// Conditions per concession, and eligibility requirements per course.
pub const MAX_CONDITIONS: usize = 20;
/// Items in any other list: documents, support needs, boroughs or statuses in a condition,
/// address lines.
pub const MAX_LIST: usize = 40;
/// Violations reported for one record or one batch; the rest are summed up in a last one
/// ("… and K more"), so an error never grows with its input.
pub const MAX_VIOLATIONS: usize = 50;

/// Collects violations, keeping the first [`MAX_VIOLATIONS`] and counting the rest.
#[derive(Debug, Default)]
pub struct Violations {
    kept: Vec<FieldViolation>,
    omitted: usize,
    first_omitted: Option<String>,
}

impl Violations {
    pub fn push(&mut self, v: FieldViolation) {
        if self.kept.len() < MAX_VIOLATIONS {
            self.kept.push(v);
        } else {
            self.omitted += 1;
            self.first_omitted.get_or_insert(v.field);
        }
    }

    pub fn extend(&mut self, errors: ValidationErrors) {
        for v in errors.0 {
            self.push(v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// `Ok` when nothing was pushed.
    pub fn finish(self) -> Result<(), ValidationErrors> {
        let mut out = self.kept;
        if out.is_empty() {
            return Ok(());
        }
        if let Some(field) = self.first_omitted {
            out.push(summary(field, self.omitted));
        }
        Err(ValidationErrors(out))
    }
}

const SUMMARY_PREFIX: &str = "… and ";
const SUMMARY_SUFFIX: &str = " more problems not listed";

/// The last violation of a capped list: the first field left out, and how many were.
fn summary(field: String, omitted: usize) -> FieldViolation {
    FieldViolation {
        field,
        description: format!("{SUMMARY_PREFIX}{omitted}{SUMMARY_SUFFIX}"),
    }
}

/// K, when `description` is a [`summary`]'s.
fn summary_count(description: &str) -> Option<usize> {
    description
        .strip_prefix(SUMMARY_PREFIX)?
        .strip_suffix(SUMMARY_SUFFIX)?
        .parse()
        .ok()
}

/// Most characters of an offending value an error message repeats.
pub const SHOWN_CHARS: usize = 80;

/// An offending value as an error message repeats it: quoted, and cut after [`SHOWN_CHARS`]
/// characters (with its full size), so an error never grows with its input.
pub fn shown(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    if chars.next().is_none() {
        format!("{head:?}")
    } else {
        format!("{head:?}… ({} bytes)", value.len())
    }
}

/// Collects violations under a growing field path.
struct Check {
    out: Violations,
}

impl Check {
    fn fail(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.out.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// False (and one violation) when `len` exceeds `max`: the caller skips the items.
    fn at_most(&mut self, field: &str, len: usize, max: usize) -> bool {
        if len > max {
            self.fail(field, format!("at most {max} allowed, got {len}"));
            return false;
        }
        true
    }

    fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.fail(field, "must not contain control characters");
        }
    }

    fn opt_text(&mut self, field: &str, value: &Option<String>, max: usize) {
        if let Some(v) = value {
            self.text(field, v, max);
        }
    }

    fn url(&mut self, field: &str, value: &Option<String>) {
        if let Some(v) = value {
            let ok = (v.starts_with("https://") || v.starts_with("http://"))
                && v.len() > "https://".len()
                && v.len() <= 2000
                && !v.chars().any(char::is_whitespace);
            if !ok {
                self.fail(field, "must be an http(s) URL");
            }
        }
    }

    fn email(&mut self, field: &str, value: &Option<String>) {
        if let Some(v) = value {
            let ok = v.len() <= 254
                && v.split_once('@').is_some_and(|(a, b)| {
                    !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.')
                })
                && !v.chars().any(char::is_whitespace);
            if !ok {
                self.fail(field, "must be an email address");
            }
        }
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        self.out.finish()
    }
}

/// True for a syntactically valid UK postcode, full ("SE15 4QF") or outward code only ("SE15").
/// Case and whitespace are ignored. The outward code has one of the shapes A9, A99, A9A, AA9,
/// AA99 or AA9A; the inward code is 9AA.
pub fn is_valid_postcode(s: &str) -> bool {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    // Byte slicing below is only sound on ASCII; no postcode contains anything else.
    if !compact.is_ascii() {
        return false;
    }
    let b = compact.as_bytes();
    if outward_ok(b) {
        return true;
    }
    if !(5..=7).contains(&b.len()) {
        return false;
    }
    let (out, inw) = b.split_at(b.len() - 3);
    outward_ok(out)
        && inw[0].is_ascii_digit()
        && inw[1].is_ascii_alphabetic()
        && inw[2].is_ascii_alphabetic()
}

/// An outward code (postcode area + district): one or two letters, a digit, then optionally a
/// second digit or a letter.
fn outward_ok(o: &[u8]) -> bool {
    let letters = o.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if !(1..=2).contains(&letters) {
        return false;
    }
    match &o[letters..] {
        [d] => d.is_ascii_digit(),
        [d, e] => d.is_ascii_digit() && e.is_ascii_alphanumeric(),
        _ => false,
    }
}

fn is_gss_borough(code: &str) -> bool {
    code.len() == 9 && code.starts_with("E09") && code[3..].bytes().all(|b| b.is_ascii_digit())
}

/// Validates one record; errors carry paths relative to the record.
pub fn validate_record(record: &Record) -> Result<(), ValidationErrors> {
    let mut c = Check {
        out: Violations::default(),
    };
    match record {
        Record::Provider(p) => provider(&mut c, p),
        Record::Venue(v) => venue(&mut c, v),
        Record::Course(x) => course(&mut c, x),
    }
    c.finish()
}

/// [`validate_record`], plus the dates a record cannot truthfully carry when published on
/// `today`: `last_verified` after `today`, or a run starting more than [`RUN_WINDOW_YEARS`]
/// from it.
pub fn validate_record_at(record: &Record, today: NaiveDate) -> Result<(), ValidationErrors> {
    let mut c = Check {
        out: Violations::default(),
    };
    match record {
        Record::Provider(p) => {
            provider(&mut c, p);
            verified(&mut c, p.last_verified, today);
        }
        Record::Venue(v) => venue(&mut c, v),
        Record::Course(x) => {
            course(&mut c, x);
            verified(&mut c, x.last_verified, today);
            let window = Months::new(RUN_WINDOW_YEARS * 12);
            let (lo, hi) = (
                today.checked_sub_months(window).unwrap_or(NaiveDate::MIN),
                today.checked_add_months(window).unwrap_or(NaiveDate::MAX),
            );
            for (i, r) in x.runs.iter().enumerate() {
                if let Start::On(d) = r.start
                    && !(lo..=hi).contains(&d)
                {
                    c.fail(
                        format!("runs[{i}].start"),
                        format!(
                            "{d} is more than {RUN_WINDOW_YEARS} years from today ({today}); between {lo} and {hi}"
                        ),
                    );
                }
            }
        }
    }
    c.finish()
}

fn verified(c: &mut Check, last_verified: NaiveDate, today: NaiveDate) {
    if last_verified > today {
        c.fail(
            "last_verified",
            format!("{last_verified} is in the future (today is {today})"),
        );
    }
}

fn provider(c: &mut Check, p: &Provider) {
    if p.id.is_nil() {
        c.fail("id", "must not be the nil UUID");
    }
    c.text("name", &p.name, 200);
    if let Some(u) = &p.ukprn
        && !(u.len() == 8 && u.starts_with('1') && u.bytes().all(|b| b.is_ascii_digit()))
    {
        c.fail("ukprn", "must be 8 digits starting with 1");
    }
    c.opt_text("charity_number", &p.charity_number, 20);
    c.opt_text("description", &p.description, 5000);
    c.email("email", &p.email);
    c.opt_text("phone", &p.phone, 40);
    c.url("website", &p.website);
}

fn venue(c: &mut Check, v: &Venue) {
    if v.id.is_nil() {
        c.fail("id", "must not be the nil UUID");
    }
    if v.provider_id.is_nil() {
        c.fail("provider_id", "must not be the nil UUID");
    }
    c.text("name", &v.name, 200);
    match (&v.address, &v.virtual_url) {
        (Some(_), Some(_)) => c.fail(
            "virtual_url",
            "a venue has an address or a virtual URL, not both",
        ),
        (None, None) => c.fail(
            "address",
            "a physical venue needs an address (or set virtual_url)",
        ),
        _ => {}
    }
    if let Some(a) = &v.address {
        if a.lines.is_empty() {
            c.fail("address.lines", "must have at least one line");
        }
        if c.at_most("address.lines", a.lines.len(), MAX_LIST) {
            for (i, l) in a.lines.iter().enumerate() {
                c.text(&format!("address.lines[{i}]"), l, 200);
            }
        }
        c.text("address.town", &a.town, 100);
        // A full postcode has an inward code: at least five characters besides spaces.
        let significant = a.postcode.chars().filter(|c| !c.is_whitespace()).count();
        if !is_valid_postcode(&a.postcode) || significant < 5 {
            c.fail(
                "address.postcode",
                format!("{} is not a full UK postcode", shown(&a.postcode)),
            );
        }
    }
    if let Some(l) = &v.location {
        // Generous box around the UK: catches swapped or zeroed coordinates.
        if !(49.0..=61.0).contains(&l.lat) {
            c.fail("location.lat", "must be a UK latitude (49 to 61)");
        }
        if !(-9.0..=2.5).contains(&l.lon) {
            c.fail("location.lon", "must be a UK longitude (-9 to 2.5)");
        }
    }
    c.url("virtual_url", &v.virtual_url);
}

fn course(c: &mut Check, x: &Course) {
    if x.id.is_nil() {
        c.fail("id", "must not be the nil UUID");
    }
    if x.provider_id.is_nil() {
        c.fail("provider_id", "must not be the nil UUID");
    }
    c.text("title", &x.title, 200);
    c.text("description", &x.description, 10_000);
    if x.categories.is_empty() {
        c.fail("categories", "must name at least one category");
    }
    if c.at_most("categories", x.categories.len(), MAX_LIST) {
        for (i, cat) in x.categories.iter().enumerate() {
            if x.categories[..i].contains(cat) {
                c.fail(format!("categories[{i}]"), format!("{cat} is listed twice"));
            }
        }
    }
    c.at_most("support", x.support.len(), MAX_LIST);
    let lang = x.language.trim();
    if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_lowercase()) {
        c.fail("language", "must be an ISO 639 code such as \"en\"");
    }
    c.url("url", &x.url);
    c.email("contact_email", &x.contact_email);

    if x.runs.is_empty() {
        c.fail("runs", "a course needs at least one run");
    }
    let runs: &[crate::Run] = if c.at_most("runs", x.runs.len(), MAX_RUNS) {
        &x.runs
    } else {
        &[]
    };
    for (i, r) in runs.iter().enumerate() {
        let p = format!("runs[{i}]");
        if r.id.is_nil() {
            c.fail(format!("{p}.id"), "must not be the nil UUID");
        }
        if x.runs[..i].iter().any(|o| o.id == r.id) {
            c.fail(format!("{p}.id"), "duplicate run id");
        }
        if r.venue_id.is_nil() {
            c.fail(format!("{p}.venue_id"), "must not be the nil UUID");
        }
        if r.days.is_empty() && x.delivery != DeliveryMode::Online {
            c.fail(
                format!("{p}.days"),
                "name the days it meets (only online courses may be self-paced)",
            );
        }
        let days = if c.at_most(&format!("{p}.days"), r.days.len(), 7) {
            r.days.as_slice()
        } else {
            &[]
        };
        for (j, d) in days.iter().enumerate() {
            if r.days[..j].contains(d) {
                c.fail(format!("{p}.days[{j}]"), format!("{d} is listed twice"));
            }
        }
        if r.end_time <= r.start_time {
            c.fail(format!("{p}.end_time"), "must be after start_time");
        }
        if let Some(w) = r.weeks
            && !(1..=104).contains(&w)
        {
            c.fail(format!("{p}.weeks"), "must be between 1 and 104");
        }
        if let Some(w) = r.waiting_weeks
            && w > 104
        {
            c.fail(format!("{p}.waiting_weeks"), "must be at most 104");
        }
    }

    let full = x.fees.full_fee_pence;
    if full > 10_000_000 {
        c.fail("fees.full_fee_pence", "must be at most £100,000");
    }
    if c.at_most(
        "fees.concessions",
        x.fees.concessions.len(),
        MAX_CONCESSIONS,
    ) {
        for (i, con) in x.fees.concessions.iter().enumerate() {
            concession(c, &format!("fees.concessions[{i}]"), con, x, full);
        }
    }
    if c.at_most("eligibility", x.eligibility.len(), MAX_CONDITIONS) {
        for (i, req) in x.eligibility.iter().enumerate() {
            let p = format!("eligibility[{i}].condition");
            condition(c, &p, &req.condition);
            funded_condition(c, &p, &req.condition, x);
            c.at_most(
                &format!("eligibility[{i}].documents"),
                req.documents.len(),
                MAX_LIST,
            );
        }
    }
}

/// A templated concession's conditions must be the template's. Where the template asks for the
/// rule set's low-wage threshold, the provider may instead state an amount: required when the
/// course's named rule set publishes none, otherwise it must be that set's threshold.
fn template_conditions_match(
    expected: &[Condition],
    given: &[Condition],
    named: Option<&RuleSet>,
) -> bool {
    expected.len() == given.len()
        && expected.iter().zip(given).all(|(e, g)| match (e, g) {
            (
                Condition::FundingLowWage {
                    max_annual_gross_pence: None,
                },
                Condition::FundingLowWage {
                    max_annual_gross_pence: Some(x),
                }
                | Condition::LowWage {
                    max_annual_gross_pence: x,
                },
            ) => named.is_some_and(|r| r.low_wage_threshold_pence.value.is_none_or(|t| t == *x)),
            _ => e == g,
        })
}

fn concession(c: &mut Check, p: &str, con: &Concession, x: &Course, full: u32) {
    c.text(&format!("{p}.name"), &con.name, 200);
    if con.fee_pence > full {
        c.fail(
            format!("{p}.fee_pence"),
            "a concession cannot cost more than the full fee",
        );
    }
    if con.conditions.is_empty() {
        c.fail(
            format!("{p}.conditions"),
            "a concession needs at least one condition",
        );
    }
    c.at_most(&format!("{p}.documents"), con.documents.len(), MAX_LIST);
    if !c.at_most(
        &format!("{p}.conditions"),
        con.conditions.len(),
        MAX_CONDITIONS,
    ) {
        return;
    }
    for (j, cond) in con.conditions.iter().enumerate() {
        condition(c, &format!("{p}.conditions[{j}]"), cond);
        funded_condition(c, &format!("{p}.conditions[{j}]"), cond, x);
    }
    if let Some(t) = con.template {
        let named = x.funding_rules.map(RuleSet::get);
        match t.concession(x.level, &x.categories, con.fee_pence) {
            Err(e) => c.fail(format!("{p}.template"), e.to_string()),
            Ok(expected)
                if !template_conditions_match(&expected.conditions, &con.conditions, named) =>
            {
                c.fail(
                    format!("{p}.conditions"),
                    match named {
                        Some(r) => format!(
                            "must be exactly the conditions of template {t} (a low-wage amount, if stated, must be {}'s threshold)",
                            r.id
                        ),
                        None => format!(
                            "must be exactly the conditions of template {t} (to state a low-wage amount, name the course's funding_rules)"
                        ),
                    },
                )
            }
            Ok(_) => {}
        }
    }
}

/// A rule-set-relative condition must be answerable under the course's named rule set.
fn funded_condition(c: &mut Check, p: &str, cond: &Condition, x: &Course) {
    if let (
        Condition::FundingLowWage {
            max_annual_gross_pence: None,
        },
        Some(id),
    ) = (cond, x.funding_rules)
        && RuleSet::get(id).low_wage_threshold_pence.value.is_none()
    {
        c.fail(
            format!("{p}.max_annual_gross_pence"),
            format!("rule set {id} publishes no low-wage threshold: state it here"),
        );
    }
}

fn condition(c: &mut Check, p: &str, cond: &Condition) {
    match cond {
        Condition::Age { min, max } => {
            if min.is_none() && max.is_none() {
                c.fail(p.to_string(), "an age condition needs min or max");
            }
            if let (Some(a), Some(b)) = (min, max)
                && a > b
            {
                c.fail(format!("{p}.min"), "must not exceed max");
            }
            if min.is_some_and(|a| a > 120) || max.is_some_and(|a| a > 120) {
                c.fail(p.to_string(), "ages must be at most 120");
            }
        }
        Condition::ResidentInBorough { boroughs } => {
            if boroughs.is_empty() {
                c.fail(format!("{p}.boroughs"), "name at least one borough");
            }
            if !c.at_most(&format!("{p}.boroughs"), boroughs.len(), MAX_LIST) {
                return;
            }
            for (i, b) in boroughs.iter().enumerate() {
                if !is_gss_borough(b) {
                    c.fail(
                        format!("{p}.boroughs[{i}]"),
                        format!("{} is not a London borough GSS code (E09…)", shown(b)),
                    );
                }
            }
        }
        Condition::ResidencyStatus { any_of } => {
            if any_of.is_empty() {
                c.fail(format!("{p}.any_of"), "name at least one status");
            }
            c.at_most(&format!("{p}.any_of"), any_of.len(), MAX_LIST);
        }
        Condition::LowWage {
            max_annual_gross_pence,
        } => {
            if *max_annual_gross_pence == 0 {
                c.fail(format!("{p}.max_annual_gross_pence"), "must be above zero");
            }
        }
        Condition::FundingLowWage {
            max_annual_gross_pence: Some(0),
        } => c.fail(format!("{p}.max_annual_gross_pence"), "must be above zero"),
        Condition::NoGcseGrade4 {
            english: false,
            maths: false,
        } => c.fail(p.to_string(), "flag english, maths or both"),
        Condition::FundingLowWage { .. }
        | Condition::NoGcseGrade4 { .. }
        | Condition::ClaimingJobseekerBenefits
        | Condition::InWorkBenefits
        | Condition::UkResident3Years
        | Condition::FundingAge { .. }
        | Condition::FundingUnemployed
        | Condition::FundingResidency
        | Condition::ResidentInLondon
        | Condition::Unemployed
        | Condition::MeansTestedBenefits
        | Condition::NoQualificationAtOrAbove { .. }
        | Condition::ReferredBySocialPrescriber
        | Condition::FirstLanguageNotEnglish => {}
    }
}
