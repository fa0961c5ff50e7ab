//! A learner profile: the client's circumstances as a link worker states them for one query.
//! It is never stored or logged (its `Debug` is redacted); every field is optional because a
//! link worker may not know, and "not stated" is answered differently from "not met".

use crate::course::{Level, named_enum};
use serde::{Deserialize, Serialize};

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LearnerProfile {
    pub age: Option<u8>,
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
