//! The eligibility & fee evaluator: "can this client join, and what would they pay?"
//!
//! A pure function of a course and a learner profile. A condition the profile does not answer
//! is `NotStated`, never guessed: it makes the learner not (yet) eligible and is reported so the
//! link worker knows what to ask; it never earns a concession.

use crate::course::Course;
use crate::learner::{Employment, LearnerProfile};
use crate::rules::{Condition, Document, Template};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    NotMet,
    NotStated,
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
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedConcession {
    /// Position in the course's `fees.concessions`.
    pub index: usize,
    pub name: String,
    pub template: Option<Template>,
}

/// A cheaper concession the learner might get if the link worker finds out more.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PossibleConcession {
    pub index: usize,
    pub name: String,
    pub fee_pence: u32,
    /// The conditions the profile leaves unanswered (none of its conditions is failed).
    pub not_stated: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Evaluation {
    /// True only when every eligibility condition is met.
    pub eligible: bool,
    /// Eligibility conditions failed or not answered, in the course's order.
    pub unmet: Vec<Unmet>,
    /// What this learner pays: the cheapest concession whose conditions are all met, else full.
    pub fee_pence: u32,
    pub full_fee_pence: u32,
    pub concession: Option<AppliedConcession>,
    /// Evidence to bring: the eligibility proofs, then the applied concession's, no repeats.
    pub documents: Vec<Document>,
    pub possible_concessions: Vec<PossibleConcession>,
}

fn check(condition: &Condition, p: &LearnerProfile) -> Verdict {
    fn known(v: Option<bool>) -> Verdict {
        match v {
            None => Verdict::NotStated,
            Some(true) => Verdict::Met,
            Some(false) => Verdict::NotMet,
        }
    }
    match condition {
        Condition::Age { min, max } => known(
            p.age
                .map(|age| min.is_none_or(|m| age >= m) && max.is_none_or(|m| age <= m)),
        ),
        Condition::ResidentInBorough { boroughs } => known(
            p.borough
                .as_ref()
                .map(|b| boroughs.iter().any(|x| x.eq_ignore_ascii_case(b.trim()))),
        ),
        Condition::ResidentInLondon => known(
            p.borough
                .as_ref()
                .map(|b| b.trim().to_ascii_uppercase().starts_with("E09")),
        ),
        Condition::ResidencyStatus { any_of } => known(p.residency.map(|r| any_of.contains(&r))),
        Condition::Unemployed => known(p.employment.map(|e| e == Employment::Unemployed)),
        Condition::MeansTestedBenefits => known(p.means_tested_benefits),
        Condition::LowWage {
            max_annual_gross_pence,
        } => match p.employment {
            None => Verdict::NotStated,
            Some(Employment::Employed | Employment::SelfEmployed) => known(
                p.annual_gross_earnings_pence
                    .map(|e| e < *max_annual_gross_pence),
            ),
            Some(_) => Verdict::NotMet,
        },
        Condition::NoQualificationAtOrAbove { level } => {
            known(p.highest_qualification.map(|h| h < *level))
        }
        Condition::ReferredBySocialPrescriber => known(p.referred_by_social_prescriber),
        Condition::FirstLanguageNotEnglish => known(p.first_language_english.map(|e| !e)),
    }
}

/// Evaluates `course` for `learner`. Total: every course and profile gets an answer.
pub fn evaluate(course: &Course, learner: &LearnerProfile) -> Evaluation {
    let mut unmet = Vec::new();
    let mut documents: Vec<Document> = Vec::new();
    let add_docs = |docs: &[Document], into: &mut Vec<Document>| {
        for d in docs {
            if !into.contains(d) {
                into.push(*d);
            }
        }
    };
    for req in &course.eligibility {
        match check(&req.condition, learner) {
            Verdict::Met => {}
            Verdict::NotMet => unmet.push(Unmet {
                condition: req.condition.clone(),
                reason: UnmetReason::NotMet,
            }),
            Verdict::NotStated => unmet.push(Unmet {
                condition: req.condition.clone(),
                reason: UnmetReason::NotStated,
            }),
        }
        add_docs(&req.documents, &mut documents);
    }

    let full = course.fees.full_fee_pence;
    let mut best: Option<(usize, u32)> = None;
    let mut maybe: Vec<(usize, u32, Vec<Condition>)> = Vec::new();
    for (i, c) in course.fees.concessions.iter().enumerate() {
        // A concession never raises the fee, even if a provider misconfigured one.
        let fee = c.fee_pence.min(full);
        let verdicts: Vec<Verdict> = c.conditions.iter().map(|x| check(x, learner)).collect();
        if verdicts.contains(&Verdict::NotMet) {
            continue;
        }
        if verdicts.iter().all(|v| *v == Verdict::Met) {
            if best.is_none_or(|(_, f)| fee < f) {
                best = Some((i, fee));
            }
        } else {
            let not_stated = c
                .conditions
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| **v == Verdict::NotStated)
                .map(|(c, _)| c.clone())
                .collect();
            maybe.push((i, fee, not_stated));
        }
    }
    let fee_pence = best.map_or(full, |(_, f)| f);
    let concession = best.map(|(i, _)| {
        let c = &course.fees.concessions[i];
        add_docs(&c.documents, &mut documents);
        AppliedConcession {
            index: i,
            name: c.name.clone(),
            template: c.template,
        }
    });
    let possible_concessions = maybe
        .into_iter()
        .filter(|(_, fee, _)| *fee < fee_pence)
        .map(|(index, fee_pence, not_stated)| PossibleConcession {
            index,
            name: course.fees.concessions[index].name.clone(),
            fee_pence,
            not_stated,
        })
        .collect();

    Evaluation {
        eligible: unmet.is_empty(),
        unmet,
        fee_pence,
        full_fee_pence: full,
        concession,
        documents,
        possible_concessions,
    }
}
