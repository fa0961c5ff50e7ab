//! A learner profile: the client's circumstances as a link worker states them for one query.
//! It is never stored or logged (its `Debug` is redacted); every field is optional because a
//! link worker may not know, and "not stated" is answered differently from "not met".

use crate::course::{Level, named_enum};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnerProfile {
    /// Age in whole years on the day of the question. The funding rules ask the age on 31
    /// August of the academic year; it is derived from this (or exactly from `date_of_birth`).
    pub age: Option<u8>,
    /// Takes precedence over `age` when both are given.
    pub date_of_birth: Option<NaiveDate>,
    /// GSS code of the borough the learner lives in.
    pub borough: Option<String>,
    pub residency: Option<Residency>,
    pub employment: Option<Employment>,
    pub annual_gross_earnings_pence: Option<u32>,
    pub means_tested_benefits: Option<bool>,
    /// Highest qualification held; `Level::NonAccredited` means none.
    pub highest_qualification: Option<Level>,
    pub referred_by_social_prescriber: Option<bool>,
    pub first_language_english: Option<bool>,
    /// Holds GCSE (or equivalent) English at grade 4/C or above.
    pub gcse_english_grade4: Option<bool>,
    /// Holds GCSE (or equivalent) maths at grade 4/C or above.
    pub gcse_maths_grade4: Option<bool>,
    /// Claims Jobseeker's Allowance, Universal Credit or ESA and is looking for work (distinct
    /// from merely being unemployed).
    pub claiming_jobseeker_benefits: Option<bool>,
    /// Claims an in-work benefit (e.g. Universal Credit while working).
    pub in_work_benefits: Option<bool>,
    /// Has lived in the UK for the 3 years before the first day of learning.
    pub uk_resident_3_years: Option<bool>,
}

impl LearnerProfile {
    /// What a profile cannot truthfully say when asked on `today`: a date of birth in the
    /// future, or an age that contradicts it. Paths are relative to the profile.
    pub fn problems(&self, today: NaiveDate) -> Vec<crate::FieldViolation> {
        let mut out = Vec::new();
        let mut fail = |field: &str, description: String| {
            out.push(crate::FieldViolation {
                field: field.into(),
                description,
            })
        };
        if let Some(dob) = self.date_of_birth {
            if dob > today {
                fail("date_of_birth", format!("{dob} is in the future"));
            } else if let (Some(age), Some(years)) = (self.age, today.years_since(dob))
                && u32::from(age) != years
            {
                fail(
                    "age",
                    format!("contradicts date_of_birth {dob} (which makes {years} today)"),
                );
            }
        }
        out
    }
}

/// Redacted so that a profile can never reach a log line through `{:?}`.
impl std::fmt::Debug for LearnerProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LearnerProfile(<redacted>)")
    }
}

named_enum! {
    Residency {
        BritishOrIrish = "british-or-irish" / "British or Irish citizen",
        SettledStatus = "settled-status" / "EU Settlement Scheme settled status",
        PreSettledStatus = "pre-settled-status" / "EU Settlement Scheme pre-settled status",
        IndefiniteLeave = "indefinite-leave" / "Indefinite leave to remain",
        Refugee = "refugee" / "Refugee or humanitarian protection",
        AsylumSeeker = "asylum-seeker" / "Asylum seeker",
        OtherStatus = "other" / "Other immigration status",
    }
}

named_enum! {
    Employment {
        Employed = "employed" / "Employed",
        SelfEmployed = "self-employed" / "Self-employed",
        Unemployed = "unemployed" / "Unemployed and looking for work",
        NotLooking = "not-looking" / "Not in work and not looking (retired, carer, unwell…)",
    }
}

named_enum! {
    /// A fact a link worker can state about a client; named when an answer depends on it.
    Fact {
        Age = "age" / "age (or date of birth)",
        DateOfBirth = "date-of-birth" / "date of birth (the age given leaves the age on 31 August open)",
        Borough = "borough" / "borough of residence",
        Residency = "residency" / "immigration/residency status",
        Employment = "employment" / "employment status",
        Earnings = "earnings" / "gross annual earnings",
        MeansTestedBenefits = "means-tested-benefits" / "receives a means-tested benefit",
        HighestQualification = "highest-qualification" / "highest qualification held",
        GcseEnglish = "gcse-english" / "holds GCSE English at grade 4/C",
        GcseMaths = "gcse-maths" / "holds GCSE maths at grade 4/C",
        ClaimingJobseekerBenefits = "claiming-jobseeker-benefits" / "claims JSA, UC or ESA and is looking for work",
        InWorkBenefits = "in-work-benefits" / "claims an in-work benefit",
        UkResident3Years = "uk-resident-3-years" / "has lived in the UK for the last 3 years",
        ReferredBySocialPrescriber = "referred-by-social-prescriber" / "referred by a social prescriber",
        FirstLanguageEnglish = "first-language-english" / "first language is English",
    }
}
