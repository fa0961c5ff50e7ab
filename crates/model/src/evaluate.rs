//! The eligibility & fee evaluator: "can this client join, and what would they pay?"
//!
//! A pure function of a course, a learner profile and a [`Context`] (the date of the question
//! and the node's default rule set; no clock is read here). A condition the profile does not
//! answer is "not stated", never guessed: it makes the answer *depends on* (naming the facts
//! that would settle it) and never earns a concession. A fee is given only with an *eligible*
//! answer, so an ineligible client is never shown a price as theirs.

use crate::course::Course;
use crate::funding::{Context, RuleSet, RuleSetId};
use crate::learner::{Employment, Fact, LearnerProfile};
use crate::rules::{Condition, Document, Template};
use chrono::{Datelike, Months, NaiveDate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotStated,
}

/// A condition's verdict and, when not stated, the facts that would settle it.
type Checked = (Verdict, Vec<Fact>);

fn known(v: Option<bool>, fact: Fact) -> Checked {
    match v {
        None => (Verdict::NotStated, vec![fact]),
        Some(true) => (Verdict::Met, vec![]),
        Some(false) => (Verdict::NotMet, vec![]),
    }
}

/// Three-valued "and": any failure fails; else any unstated leaves it open.
fn all(parts: Vec<Checked>) -> Checked {
    combine(parts, Verdict::NotMet, Verdict::Met)
}

/// `all` and `any` in one: a `decisive` part decides; else an unstated part leaves the answer
/// open (with the facts that would settle it); else every part agrees on `otherwise`.
fn combine(parts: Vec<Checked>, decisive: Verdict, otherwise: Verdict) -> Checked {
    if parts.iter().any(|(v, _)| *v == decisive) {
        return (decisive, vec![]);
    }
    let mut facts = Vec::new();
    let mut open = false;
    for (v, f) in parts {
        if v == Verdict::NotStated {
            open = true;
            add(&mut facts, &f);
        }
    }
    if open {
        (Verdict::NotStated, facts)
    } else {
        (otherwise, vec![])
    }
}

fn add<T: PartialEq + Copy>(into: &mut Vec<T>, items: &[T]) {
    for i in items {
        if !into.contains(i) {
            into.push(*i);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmetReason {
    /// The profile answers the condition, and fails it.
    NotMet,
    /// The profile does not say; ask the client.
    NotStated,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmet {
    pub condition: Condition,
    pub reason: UnmetReason,
    /// The condition as the rule set in force reads it ("earning under £28,860 a year").
    pub description: String,
    /// With `NotStated`: the facts that would settle it.
    pub facts: Vec<Fact>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedConcession {
    /// Position in the course's `fees.concessions`.
    pub index: usize,
    pub name: String,
    pub template: Option<Template>,
}

/// A cheaper route the learner might get if the link worker finds out more.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PossibleConcession {
    pub index: usize,
    pub name: String,
    pub fee_pence: u32,
    /// The conditions the profile leaves unanswered (none of its conditions is failed).
    pub not_stated: Vec<Condition>,
    pub not_stated_descriptions: Vec<String>,
    /// The facts that would unlock it.
    pub unlock: Vec<Fact>,
}

/// The answer to "can this client join?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Every eligibility condition is met.
    Eligible,
    /// Some eligibility condition is failed: no unstated fact can change this.
    NotEligible,
    /// None is failed but some are not answered: see `depends_on`.
    DependsOn,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evaluation {
    pub answer: Answer,
    /// The rule set the course was evaluated under.
    pub rules: RuleSetId,
    /// Eligibility conditions failed or not answered, in the course's order.
    pub unmet: Vec<Unmet>,
    /// With `DependsOn`: the unstated facts that would change the answer.
    pub depends_on: Vec<Fact>,
    /// What this learner pays — only when eligible: the cheapest route whose conditions are
    /// all met, else the full fee.
    pub fee_pence: Option<u32>,
    pub full_fee_pence: u32,
    /// The cheapest route met (only when eligible).
    pub concession: Option<AppliedConcession>,
    /// Evidence to bring: the eligibility proofs, then the applied route's, no repeats.
    pub documents: Vec<Document>,
    /// Cheaper routes not yet ruled out and what would unlock them (not when ineligible).
    pub possible_concessions: Vec<PossibleConcession>,
}

impl Evaluation {
    pub fn eligible(&self) -> bool {
        self.answer == Answer::Eligible
    }
}

/// Age on `at` for someone born on `dob` (0 if not yet born).
fn age_on(dob: NaiveDate, at: NaiveDate) -> u32 {
    let mut years = at.year() - dob.year();
    if (at.month(), at.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// The learner's possible ages on the rules' reference date: exact from a date of birth, a
/// range from an age given on `today` (the birthday is unknown).
fn ages_on(p: &LearnerProfile, at: NaiveDate, today: NaiveDate) -> Option<(u32, u32)> {
    if let Some(dob) = p.date_of_birth {
        let a = age_on(dob, at);
        return Some((a, a));
    }
    let age = u32::from(p.age?);
    // Born in (today - (age+1) years, today - age years].
    let latest = today.checked_sub_months(Months::new(age.saturating_mul(12)))?;
    let earliest = today
        .checked_sub_months(Months::new(age.saturating_add(1).saturating_mul(12)))?
        .succ_opt()?;
    Some((age_on(latest, at), age_on(earliest, at)))
}

fn age_check(
    p: &LearnerProfile,
    rules: &RuleSet,
    today: NaiveDate,
    min: Option<u8>,
    max: Option<u8>,
) -> Checked {
    let ok =
        |a: u32| min.is_none_or(|m| a >= u32::from(m)) && max.is_none_or(|m| a <= u32::from(m));
    match ages_on(p, rules.reference_date(), today) {
        None => (Verdict::NotStated, vec![Fact::Age]),
        Some((lo, hi)) => {
            let (a, b) = (ok(lo), ok(hi));
            // Both ends in band means every age between is (bands are intervals).
            if a && b {
                (Verdict::Met, vec![])
            } else if !a && !b && (lo..=hi).all(|x| !ok(x)) {
                (Verdict::NotMet, vec![])
            } else {
                (Verdict::NotStated, vec![Fact::DateOfBirth])
            }
        }
    }
}

fn is_london(borough: &str) -> bool {
    borough.trim().to_ascii_uppercase().starts_with("E09")
}

fn low_wage(p: &LearnerProfile, threshold: Option<u32>) -> Checked {
    match p.employment {
        None => (Verdict::NotStated, vec![Fact::Employment]),
        Some(Employment::Employed | Employment::SelfEmployed) => match threshold {
            // A rule set with no published threshold, and none stated on the course: nobody
            // can be shown to qualify (validation keeps this from being published).
            None => (Verdict::NotMet, vec![]),
            Some(t) => known(p.annual_gross_earnings_pence.map(|e| e < t), Fact::Earnings),
        },
        Some(_) => (Verdict::NotMet, vec![]),
    }
}

fn check(c: &Condition, p: &LearnerProfile, rules: &RuleSet, today: NaiveDate) -> Checked {
    match c {
        Condition::Age { min, max } => age_check(p, rules, today, *min, *max),
        Condition::FundingAge { band } => {
            let (min, max) = band.bounds(rules);
            age_check(p, rules, today, Some(min), max)
        }
        Condition::ResidentInBorough { boroughs } => known(
            p.borough
                .as_ref()
                .map(|b| boroughs.iter().any(|x| x.eq_ignore_ascii_case(b.trim()))),
            Fact::Borough,
        ),
        Condition::ResidentInLondon => known(p.borough.as_deref().map(is_london), Fact::Borough),
        Condition::ResidencyStatus { any_of } => {
            known(p.residency.map(|r| any_of.contains(&r)), Fact::Residency)
        }
        Condition::Unemployed => known(
            p.employment.map(|e| e == Employment::Unemployed),
            Fact::Employment,
        ),
        Condition::MeansTestedBenefits => known(p.means_tested_benefits, Fact::MeansTestedBenefits),
        Condition::LowWage {
            max_annual_gross_pence,
        } => low_wage(p, Some(*max_annual_gross_pence)),
        Condition::FundingLowWage {
            max_annual_gross_pence,
        } => low_wage(p, rules.low_wage_threshold(*max_annual_gross_pence)),
        Condition::NoQualificationAtOrAbove { level } => known(
            p.highest_qualification.map(|h| h < *level),
            Fact::HighestQualification,
        ),
        Condition::ReferredBySocialPrescriber => known(
            p.referred_by_social_prescriber,
            Fact::ReferredBySocialPrescriber,
        ),
        Condition::FirstLanguageNotEnglish => known(
            p.first_language_english.map(|e| !e),
            Fact::FirstLanguageEnglish,
        ),
        Condition::NoGcseGrade4 { english, maths } => {
            // Lacking either flagged subject is enough: "or", so any lack meets it.
            let mut parts = Vec::new();
            if *english {
                parts.push(known(p.gcse_english_grade4.map(|h| !h), Fact::GcseEnglish));
            }
            if *maths {
                parts.push(known(p.gcse_maths_grade4.map(|h| !h), Fact::GcseMaths));
            }
            any(parts)
        }
        Condition::ClaimingJobseekerBenefits => known(
            p.claiming_jobseeker_benefits,
            Fact::ClaimingJobseekerBenefits,
        ),
        Condition::InWorkBenefits => known(p.in_work_benefits, Fact::InWorkBenefits),
        Condition::UkResident3Years => known(p.uk_resident_3_years, Fact::UkResident3Years),
        Condition::FundingUnemployed => {
            let unemployed = check(&Condition::Unemployed, p, rules, today);
            if rules.unemployed_must_claim_benefit.value {
                all(vec![
                    unemployed,
                    check(&Condition::ClaimingJobseekerBenefits, p, rules, today),
                ])
            } else {
                unemployed
            }
        }
        Condition::FundingResidency => {
            if rules.three_year_residency.value {
                all(vec![
                    known(p.borough.as_deref().map(|b| !is_london(b)), Fact::Borough),
                    check(&Condition::UkResident3Years, p, rules, today),
                ])
            } else {
                check(&Condition::ResidentInLondon, p, rules, today)
            }
        }
    }
}

/// Three-valued "or": any success succeeds; else any unstated leaves it open.
fn any(parts: Vec<Checked>) -> Checked {
    combine(parts, Verdict::Met, Verdict::NotMet)
}

/// Evaluates `course` for `learner`. Total: every course and profile gets an answer.
pub fn evaluate(course: &Course, learner: &LearnerProfile, ctx: &Context) -> Evaluation {
    let rules = ctx.rules_for(course.funding_rules);
    let today = ctx.today;
    let mut unmet = Vec::new();
    let mut depends_on: Vec<Fact> = Vec::new();
    let mut documents: Vec<Document> = Vec::new();
    let mut failed = false;
    for req in &course.eligibility {
        let (v, facts) = check(&req.condition, learner, rules, today);
        let reason = match v {
            Verdict::Met => None,
            Verdict::NotMet => {
                failed = true;
                Some(UnmetReason::NotMet)
            }
            Verdict::NotStated => {
                add(&mut depends_on, &facts);
                Some(UnmetReason::NotStated)
            }
        };
        if let Some(reason) = reason {
            unmet.push(Unmet {
                condition: req.condition.clone(),
                reason,
                description: req.condition.describe_under(rules),
                facts,
            });
        }
        add(&mut documents, &req.documents);
    }
    let answer = if failed {
        depends_on.clear();
        Answer::NotEligible
    } else if unmet.is_empty() {
        Answer::Eligible
    } else {
        Answer::DependsOn
    };

    let full = course.fees.full_fee_pence;
    let mut best: Option<(usize, u32)> = None;
    let mut maybe: Vec<(usize, u32, Vec<Condition>, Vec<Fact>)> = Vec::new();
    for (i, c) in course.fees.concessions.iter().enumerate() {
        // A concession never raises the fee, even if a provider misconfigured one.
        let fee = c.fee_pence.min(full);
        let checks: Vec<Checked> = c
            .conditions
            .iter()
            .map(|x| check(x, learner, rules, today))
            .collect();
        if checks.iter().any(|(v, _)| *v == Verdict::NotMet) {
            continue;
        }
        if checks.iter().all(|(v, _)| *v == Verdict::Met) {
            if best.is_none_or(|(_, f)| fee < f) {
                best = Some((i, fee));
            }
        } else {
            let mut unlock = Vec::new();
            let mut not_stated = Vec::new();
            for (cond, (v, facts)) in c.conditions.iter().zip(&checks) {
                if *v == Verdict::NotStated {
                    not_stated.push(cond.clone());
                    add(&mut unlock, facts);
                }
            }
            maybe.push((i, fee, not_stated, unlock));
        }
    }
    let route_fee = best.map_or(full, |(_, f)| f);
    let eligible = answer == Answer::Eligible;
    let concession = best.filter(|_| eligible).map(|(i, _)| {
        let c = &course.fees.concessions[i];
        add(&mut documents, &c.documents);
        AppliedConcession {
            index: i,
            name: c.name.clone(),
            template: c.template,
        }
    });
    let possible_concessions = if answer == Answer::NotEligible {
        Vec::new()
    } else {
        maybe
            .into_iter()
            .filter(|(_, fee, _, _)| *fee < route_fee)
            .map(
                |(index, fee_pence, not_stated, unlock)| PossibleConcession {
                    index,
                    name: course.fees.concessions[index].name.clone(),
                    fee_pence,
                    not_stated_descriptions: not_stated
                        .iter()
                        .map(|c| c.describe_under(rules))
                        .collect(),
                    not_stated,
                    unlock,
                },
            )
            .collect()
    };

    Evaluation {
        answer,
        rules: rules.id,
        unmet,
        depends_on,
        fee_pence: eligible.then_some(route_fee),
        full_fee_pence: full,
        concession,
        documents,
        possible_concessions,
    }
}
