//! Fees, concessions and eligibility as structured rules, and the Adult Skills Fund legal
//! entitlements as named templates. Rules are data, not prose, so the evaluator can answer for
//! one learner. Template conditions that differ by funder and academic year (age bands, the
//! low-wage threshold, the unemployed and residency tests) are rule-set-relative `Funding*`
//! conditions, resolved against [`crate::RuleSet`] when a course is evaluated.

use crate::course::{Category, Level, named_enum};
use crate::funding::RuleSet;
use serde::{Deserialize, Serialize};

named_enum! {
    /// An age band of the funding rules, on their reference date (31 August).
    AgeBand {
        Adult = "19-plus" / "aged 19 or over",
        YoungAdult = "19-23" / "aged 19 to 23",
        Older = "24-plus" / "aged 24 or over",
    }
}

impl AgeBand {
    /// Inclusive bounds under `rules`.
    pub fn bounds(self, rules: &RuleSet) -> (u8, Option<u8>) {
        let min = rules.adult_age_min.value;
        let young = rules.young_adult_age_max.value;
        match self {
            AgeBand::Adult => (min, None),
            AgeBand::YoungAdult => (min, Some(young)),
            AgeBand::Older => (young.saturating_add(1), None),
        }
    }
}

/// Something a learner must be or have. Every variant is answerable from a [`crate::LearnerProfile`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Age in whole years, inclusive bounds.
    Age {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u8>,
    },
    /// Lives in one of these boroughs (GSS codes).
    ResidentInBorough {
        boroughs: Vec<String>,
    },
    /// Lives in Greater London (any E09 borough).
    ResidentInLondon,
    /// Immigration/residency status is one of these.
    ResidencyStatus {
        any_of: Vec<crate::Residency>,
    },
    /// Unemployed and looking for work.
    Unemployed,
    /// Receives a means-tested benefit (Universal Credit, income-based JSA/ESA, Pension Credit…).
    MeansTestedBenefits,
    /// Employed or self-employed, earning less than the threshold (gross a year).
    LowWage {
        max_annual_gross_pence: u32,
    },
    /// Has no qualification at or above this level (e.g. "no full level 2" for a first level 2).
    NoQualificationAtOrAbove {
        level: Level,
    },
    /// Referred by a social prescribing link worker or GP.
    ReferredBySocialPrescriber,
    FirstLanguageNotEnglish,
    /// Has no GCSE (or equivalent) at grade 4/C or above in at least one flagged subject.
    NoGcseGrade4 {
        #[serde(default)]
        english: bool,
        #[serde(default)]
        maths: bool,
    },
    /// Claims JSA, Universal Credit or ESA and is looking for work.
    ClaimingJobseekerBenefits,
    /// Claims an in-work benefit.
    InWorkBenefits,
    /// Has lived in the UK for the 3 years before the first day of learning.
    UkResident3Years,
    /// In the funding rules' age band on their reference date (31 August of the academic year).
    FundingAge {
        band: AgeBand,
    },
    /// Employed or self-employed, earning under the funding rules' low-wage threshold, or under
    /// the amount stated here (required when the rule set publishes none).
    FundingLowWage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_annual_gross_pence: Option<u32>,
    },
    /// Unemployed as the funding rules define it (GLA: unemployed and looking for work; DfE:
    /// also claiming JSA, UC or ESA).
    FundingUnemployed,
    /// Meets the funding rules' residency test (GLA: lives in London; DfE: 3 years in the UK and
    /// outside London).
    FundingResidency,
}

impl Condition {
    /// One line a link worker can read to the client, with rule-set values filled in.
    pub fn describe_under(&self, rules: &RuleSet) -> String {
        match self {
            Condition::FundingAge { band } => {
                let (min, max) = band.bounds(rules);
                match max {
                    Some(max) => format!("aged {min} to {max} on {}", ref_day(rules)),
                    None => format!("aged {min} or over on {}", ref_day(rules)),
                }
            }
            Condition::FundingLowWage {
                max_annual_gross_pence,
            } => match rules.low_wage_threshold(*max_annual_gross_pence) {
                Some(t) => format!(
                    "in work and earning under £{} a year ({})",
                    pounds(t),
                    rules.id
                ),
                None => format!(
                    "in work on a low wage (no {} threshold published)",
                    rules.id
                ),
            },
            Condition::FundingUnemployed if rules.unemployed_must_claim_benefit.value => {
                "unemployed, claiming JSA, UC or ESA and looking for work".into()
            }
            Condition::FundingUnemployed => "unemployed and looking for work".into(),
            Condition::FundingResidency if rules.three_year_residency.value => {
                "has lived in the UK for the last 3 years, outside London".into()
            }
            Condition::FundingResidency => "lives in Greater London".into(),
            other => other.describe(),
        }
    }

    /// One line a link worker can read to the client.
    pub fn describe(&self) -> String {
        match self {
            Condition::Age {
                min: Some(a),
                max: Some(b),
            } => format!("aged {a} to {b}"),
            Condition::Age {
                min: Some(a),
                max: None,
            } => format!("aged {a} or over"),
            Condition::Age {
                min: None,
                max: Some(b),
            } => format!("aged {b} or under"),
            Condition::Age {
                min: None,
                max: None,
            } => "any age".into(),
            Condition::ResidentInBorough { boroughs } => {
                format!("lives in borough {}", boroughs.join(" or "))
            }
            Condition::ResidentInLondon => "lives in Greater London".into(),
            Condition::ResidencyStatus { any_of } => format!(
                "residency status is one of: {}",
                any_of
                    .iter()
                    .map(|r| r.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Condition::Unemployed => "unemployed and looking for work".into(),
            Condition::MeansTestedBenefits => "receives a means-tested benefit".into(),
            Condition::LowWage {
                max_annual_gross_pence,
            } => format!(
                "in work and earning under £{} a year",
                pounds(*max_annual_gross_pence)
            ),
            Condition::NoQualificationAtOrAbove { level } => {
                format!("has no qualification at {} or above", level.label())
            }
            Condition::ReferredBySocialPrescriber => {
                "referred by a social prescribing link worker or GP".into()
            }
            Condition::FirstLanguageNotEnglish => "first language is not English".into(),
            Condition::NoGcseGrade4 { english, maths } => {
                let subject = match (english, maths) {
                    (true, true) => "English or maths",
                    (true, false) => "English",
                    _ => "maths",
                };
                format!("has no GCSE {subject} at grade 4/C or above")
            }
            Condition::ClaimingJobseekerBenefits => {
                "claims JSA, UC or ESA and is looking for work".into()
            }
            Condition::InWorkBenefits => "claims an in-work benefit".into(),
            Condition::UkResident3Years => "has lived in the UK for the last 3 years".into(),
            Condition::FundingAge { band } => format!("{} on 31 August", band.label()),
            Condition::FundingLowWage {
                max_annual_gross_pence: Some(t),
            } => format!("in work and earning under £{} a year", pounds(*t)),
            Condition::FundingLowWage { .. } => {
                "in work and earning under the funding rules' low-wage threshold".into()
            }
            Condition::FundingUnemployed => "unemployed as the funding rules define it".into(),
            Condition::FundingResidency => "meets the funding rules' residency test".into(),
        }
    }
}

fn ref_day(rules: &RuleSet) -> String {
    rules.reference_date().format("%-d %B %Y").to_string()
}

fn pounds(pence: u32) -> String {
    if pence.is_multiple_of(100) {
        format!("{}", pence / 100)
    } else {
        format!("{}.{:02}", pence / 100, pence % 100)
    }
}

named_enum! {
    /// Evidence a learner brings to enrolment.
    Document {
        ProofOfIdentityAndAge = "proof-of-identity" / "Passport, driving licence or birth certificate (proof of identity and age)",
        ProofOfAddress = "proof-of-address" / "Utility bill, council tax or bank letter from the last 3 months (proof of address)",
        ProofOfResidencyStatus = "proof-of-residency-status" / "UK/Irish passport, or eVisa share code / BRP showing immigration status",
        ProofOfBenefits = "proof-of-benefits" / "Benefit award letter or Universal Credit statement from the last 3 months",
        ProofOfUnemployment = "proof-of-unemployment" / "Jobcentre Plus letter or Universal Credit statement showing you are looking for work (London: a signed declaration is enough)",
        Payslips = "payslips" / "Payslips for the last 3 months, or a P60",
        ReferralLetter = "referral-letter" / "Referral from a social prescribing link worker or GP",
        QualificationsDeclaration = "qualifications-declaration" / "Signed declaration of your highest qualification (form given at enrolment)",
    }
}

/// An eligibility condition and the documents that prove it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub condition: Condition,
    #[serde(default)]
    pub documents: Vec<Document>,
}

/// What a course costs: the full fee and the concessions that lower it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fees {
    pub full_fee_pence: u32,
    /// In the provider's order; the evaluator applies the cheapest whose conditions are all met,
    /// the earliest on a tie.
    #[serde(default)]
    pub concessions: Vec<Concession>,
}

/// A reduced fee for learners who meet every one of `conditions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concession {
    pub name: String,
    /// Set when this concession is a named legal entitlement; its conditions must then be the
    /// template's for the course, so the name can be trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    pub conditions: Vec<Condition>,
    pub fee_pence: u32,
    #[serde(default)]
    pub documents: Vec<Document>,
}

named_enum! {
    /// Named, reusable concession rules for the Adult Education Budget legal entitlements and the
    /// common London local offers. See [`Template::concession`].
    Template {
        FirstFull19To23 = "aeb-19-23-first-full" / "Age 19–23, first full level 2 or level 3 (legal entitlement)",
        LowWage24PlusFirstFull = "aeb-24plus-low-wage-first-full" / "Age 24+, low wage, first full level 2 or level 3",
        EnglishMaths19Plus = "aeb-english-maths" / "Age 19+, English or maths up to level 2 without a GCSE grade 4/C (legal entitlement)",
        UnemployedUpToLevel2 = "aeb-unemployed-up-to-level-2" / "Unemployed, courses up to level 2",
        LowWageEsolUpToLevel2 = "aeb-low-wage-esol" / "Low wage, ESOL up to level 2",
        LowWageUpToLevel2 = "asf-low-wage-up-to-level-2" / "Age 19+, low wage, courses up to level 2",
        MeansTestedBenefits = "means-tested-benefits" / "Receives a means-tested benefit",
        SocialPrescriberReferral = "social-prescriber-referral" / "Referred by a social prescriber",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template} does not apply to this course: {reason}")]
pub struct TemplateError {
    pub template: Template,
    pub reason: String,
}

impl Template {
    /// The concession this template stands for on a course of `level` in `categories`, at a
    /// fee of `fee_pence` (legal entitlements are normally fully funded, i.e. 0).
    pub fn concession(
        self,
        level: Level,
        categories: &[Category],
        fee_pence: u32,
    ) -> Result<Concession, TemplateError> {
        use Condition as C;
        use Document as D;
        let fail = |reason: &str| TemplateError {
            template: self,
            reason: reason.to_string(),
        };
        // Every Adult Skills Fund route asks the funder's age and residency tests; the local
        // offers (benefits, social prescribing) are the provider's own and ask neither.
        let funded = |band: AgeBand, mut rest: Vec<Condition>| {
            let mut v = vec![C::FundingAge { band }];
            v.append(&mut rest);
            v.push(C::FundingResidency);
            v
        };
        let low_wage = C::FundingLowWage {
            max_annual_gross_pence: None,
        };
        let (conditions, documents) = match self {
            Template::FirstFull19To23 => {
                if !matches!(level, Level::L2 | Level::L3) {
                    return Err(fail("only for level 2 or level 3 courses"));
                }
                (
                    funded(
                        AgeBand::YoungAdult,
                        vec![C::NoQualificationAtOrAbove { level }],
                    ),
                    vec![D::ProofOfIdentityAndAge, D::QualificationsDeclaration],
                )
            }
            Template::LowWage24PlusFirstFull => {
                if !matches!(level, Level::L2 | Level::L3) {
                    return Err(fail("only for level 2 or level 3 courses"));
                }
                (
                    funded(
                        AgeBand::Older,
                        vec![low_wage, C::NoQualificationAtOrAbove { level }],
                    ),
                    vec![
                        D::ProofOfIdentityAndAge,
                        D::Payslips,
                        D::QualificationsDeclaration,
                    ],
                )
            }
            Template::EnglishMaths19Plus => {
                if level > Level::L2 {
                    return Err(fail("only for courses up to level 2"));
                }
                let english = categories.contains(&Category::English);
                let maths = categories.contains(&Category::Maths);
                if !english && !maths {
                    return Err(fail("only for English or maths courses"));
                }
                (
                    funded(AgeBand::Adult, vec![C::NoGcseGrade4 { english, maths }]),
                    vec![D::ProofOfIdentityAndAge, D::QualificationsDeclaration],
                )
            }
            Template::UnemployedUpToLevel2 => {
                if level > Level::L2 {
                    return Err(fail("only for courses up to level 2"));
                }
                (
                    funded(AgeBand::Adult, vec![C::FundingUnemployed]),
                    vec![D::ProofOfUnemployment],
                )
            }
            Template::LowWageEsolUpToLevel2 => {
                if level > Level::L2 {
                    return Err(fail("only for courses up to level 2"));
                }
                if !categories.contains(&Category::Esol) {
                    return Err(fail("only for ESOL courses"));
                }
                (funded(AgeBand::Adult, vec![low_wage]), vec![D::Payslips])
            }
            Template::LowWageUpToLevel2 => {
                if level > Level::L2 {
                    return Err(fail("only for courses up to level 2"));
                }
                (funded(AgeBand::Adult, vec![low_wage]), vec![D::Payslips])
            }
            Template::MeansTestedBenefits => {
                (vec![C::MeansTestedBenefits], vec![D::ProofOfBenefits])
            }
            Template::SocialPrescriberReferral => {
                (vec![C::ReferredBySocialPrescriber], vec![D::ReferralLetter])
            }
        };
        Ok(Concession {
            name: self.label().to_string(),
            template: Some(self),
            conditions,
            fee_pence,
            documents,
        })
    }
}
